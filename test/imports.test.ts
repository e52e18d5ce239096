/** The import graph of the library, benchmarks and scripts: no module imports itself back through others (type imports included). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Relative imports and re-exports of a file (static `from '...'`, `import('...')` and `require('...')`), as resolved files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.flatMap((s) => {
    const base = path.resolve(path.dirname(file), s);
    const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
    return hit ? [hit] : [];
  });
}

/** Every cycle's first occurrence, as a list of files relative to the project. */
export function importCycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g].map((x) => path.relative(PROJECT_ROOT, x)));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return cycles;
}

test('lib/, bench/ and scripts/ have no import cycles', () => {
  const cycles = importCycles(['lib', 'bench', 'scripts'].flatMap((d) => sources(path.join(PROJECT_ROOT, d))));
  assert.deepEqual(cycles, [], cycles.map((c) => c.join(' -> ')).join('\n'));
});

test('the cycle finder finds a planted cycle', () => {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'cycles'));
  fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b';\n");
  fs.writeFileSync(path.join(dir, 'b.ts'), "import type { c } from './c';\n");
  fs.writeFileSync(path.join(dir, 'c.ts'), "export { a } from './a';\n");
  const cycles = importCycles(['a', 'b', 'c'].map((n) => path.join(dir, `${n}.ts`)));
  assert.equal(cycles.length, 1);
  assert.deepEqual(cycles[0].map((f) => path.basename(f)), ['a.ts', 'b.ts', 'c.ts', 'a.ts']);
});
