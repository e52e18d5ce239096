/**
 * `npm run build:wasm`: compile lib/backend/simd/kernels.wat into lib/backend/simd/kernels.wasm and
 * kernels-single.wasm (committed, so that installs need no toolchain; test/simd.test.ts checks that the binaries are
 * what this source compiles to). The two differ only in their memory import: tfjs's threaded build has a shared
 * memory with a 4 GB maximum, its single-threaded build (XAI3D_THREADS=1) a plain memory without a maximum.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../lib/io/atomic';

export const WAT_FILE = path.join(__dirname, '..', 'lib', 'backend', 'simd', 'kernels.wat');
export const WASM_FILE = path.join(__dirname, '..', 'lib', 'backend', 'simd', 'kernels.wasm');
export const WASM_SINGLE_FILE = path.join(__dirname, '..', 'lib', 'backend', 'simd', 'kernels-single.wasm');

const SHARED_MEMORY = '(memory (import "env" "memory") 1 65536 shared)';
const PLAIN_MEMORY = '(memory (import "env" "memory") 1)';

/** The source for the single-threaded build: the same kernels on a plain (unshared, unbounded) memory. */
export function singleThreadedSource(text: string): string {
  if (!text.includes(SHARED_MEMORY)) throw new Error(`${WAT_FILE} must import its memory as ${SHARED_MEMORY}`);
  return text.replace(SHARED_MEMORY, PLAIN_MEMORY);
}

/** Compile WebAssembly text (SIMD and threads enabled) to a binary; V8 validates it when it is instantiated. */
export async function compileWat(text: string, file = WAT_FILE): Promise<Uint8Array> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const wabt = await (require('wabt') as () => Promise<{
    parseWat(name: string, text: string, features: Record<string, boolean>): {
      toBinary(opts: Record<string, boolean>): { buffer: Uint8Array };
      destroy(): void;
    };
  }>)();
  const mod = wabt.parseWat(path.basename(file), text, { simd: true, threads: true });
  try {
    const bytes = mod.toBinary({ log: false, write_debug_names: false }).buffer;
    new WebAssembly.Module(bytes); // throws with the reason if the module is invalid
    return bytes;
  } finally {
    mod.destroy();
  }
}

async function main(): Promise<void> {
  const text = fs.readFileSync(WAT_FILE, 'utf8');
  for (const [file, source] of [
    [WASM_FILE, text],
    [WASM_SINGLE_FILE, singleThreadedSource(text)],
  ] as const) {
    const bytes = await compileWat(source);
    writeFileAtomic(file, bytes);
    process.stdout.write(`wrote ${path.relative(process.cwd(), file)} (${bytes.length} bytes)\n`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`build-wasm: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
