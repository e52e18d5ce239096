/**
 * The notebook chain: committed notebooks carry no outputs; 00-setup runs headless through the runner and its HTML
 * draws the Plotly figure with the network off (headless Chromium); a failing cell fails the run with its error.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';
import { runTsx, tempDir } from './helpers';

const RUNNER = path.join(PROJECT_ROOT, 'scripts', 'run-notebooks.ts');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

/** Render a file in headless Chromium with every network request refused, and return the DOM after scripts ran. */
function renderOffline(file: string): string {
  const r = spawnSync(
    CHROMIUM!,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', `--user-data-dir=${tempDir('xai3d-chromium-')}`,
      '--proxy-server=127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND', '--virtual-time-budget=10000',
      '--dump-dom', `file://${file}`,
    ],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('committed notebooks have no outputs and use the tslab kernel', () => {
  const dir = path.join(PROJECT_ROOT, 'notebooks');
  const notebooks = fs.readdirSync(dir).filter((f) => /^\d\d-.*\.ipynb$/.test(f));
  assert.ok(notebooks.includes('00-setup.ipynb'));
  for (const f of notebooks) {
    const nb = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    assert.equal(nb.metadata.kernelspec.name, 'tslab', f);
    for (const cell of nb.cells) {
      if (cell.cell_type === 'code') {
        assert.deepEqual(cell.outputs, [], `${f}: a code cell has outputs`);
        assert.equal(cell.execution_count, null, `${f}: a code cell has an execution count`);
      }
    }
  }
});

test('the pipeline runs every notebook top to bottom at the tiny profile and writes the report', { timeout: 1_200_000 }, () => {
  const out = tempDir();
  const results = tempDir('xai3d-results-');
  const r = runTsx(RUNNER, ['--pipeline', '--out', out, '--profile', 'tiny'], { XAI3D_RESULTS: results }, 1_200_000);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const report = fs.readFileSync(path.join(results, 'report', 'index.html'), 'utf8');
  assert.match(report, /The thesis's claims/);
  assert.match(report, /3D MNIST accuracy rises with depth/);
  assert.doesNotMatch(report, /<script[^>]*\ssrc=/i, 'the report is self-contained');
  for (const f of ['aopc', 'sanity', 'localisation']) assert.ok(fs.existsSync(path.join(results, 'findings', 'tiny', `${f}.json`)), f);
  const notebooks = fs.readdirSync(path.join(PROJECT_ROOT, 'notebooks')).filter((f) => /^\d\d-.*\.ipynb$/.test(f));
  for (const f of notebooks) {
    assert.ok(fs.existsSync(path.join(out, f)), `executed ${f}`);
    assert.ok(fs.existsSync(path.join(out, f.replace(/\.ipynb$/, '.html'))), `HTML of ${f}`);
  }
  const nb = JSON.parse(fs.readFileSync(path.join(out, '00-setup.ipynb'), 'utf8'));
  const outputs = nb.cells.flatMap((c: { outputs?: unknown[] }) => c.outputs ?? []);
  const html = outputs.filter((o: any) => o.data?.['text/html']).map((o: any) => [].concat(o.data['text/html']).join(''));
  assert.ok(html.some((h: string) => h.includes('Plotly.newPlot')), 'a Plotly figure was displayed');
  assert.equal(html.filter((h: string) => h.includes('window.define=undefined')).length, 1, 'plotly.js inlined once');
  // Each figure is also Plotly's MIME type (JupyterLab and VS Code render it natively), with the HTML beside it.
  const mime = outputs.filter((o: any) => o.data?.['application/vnd.plotly.v1+json']);
  assert.ok(mime.length > 0 && mime.every((o: any) => Array.isArray(o.data['application/vnd.plotly.v1+json'].data) && o.data['text/html']), 'figures carry the Plotly MIME bundle');
  // Executed copies are signed, so Jupyter runs their figure scripts ("Trusted") for this user.
  const trust = spawnSync('/usr/bin/python3', ['-c', 'import sys, nbformat; from nbformat.sign import NotebookNotary; print(NotebookNotary().check_signature(nbformat.read(sys.argv[1], as_version=4)))', path.join(out, '00-setup.ipynb')], { encoding: 'utf8' });
  assert.equal(trust.stdout.trim(), 'True', `executed notebook is trusted (${trust.stderr})`);
  const page = fs.readFileSync(path.join(out, '00-setup.html'), 'utf8');
  assert.doesNotMatch(page, /<script[^>]*\ssrc="(https?|file):/i, 'no remote or machine-local scripts');
  assert.match(page, /backend: (wasm|cpu|tensorflow)/);
  // Committed notebook untouched.
  const committed = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'notebooks', '00-setup.ipynb'), 'utf8'));
  assert.ok(committed.cells.every((c: any) => c.cell_type !== 'code' || c.outputs.length === 0));

  if (!CHROMIUM) {
    assert.ok(!process.env.CI, 'CI must install chromium (.ci/run) to check offline rendering');
    return;
  }
  const dom = renderOffline(path.join(out, '00-setup.html'));
  assert.ok(/class="xai3d-figure"[^>]*>(<[^>]*>)*?[^<]*<div class="plot-container/.test(dom) || dom.includes('class="main-svg"'), 'Plotly drew the figure offline');
  assert.ok(dom.includes('class="main-svg"'), 'Plotly drew an SVG offline');
});

test('a failing cell makes the runner exit non-zero and print the notebook, the cell and the error', { timeout: 300_000 }, () => {
  const dir = tempDir();
  const file = path.join(dir, '99-broken.ipynb');
  const cell = (id: string, source: string) => ({ cell_type: 'code', id, metadata: {}, execution_count: null, outputs: [], source });
  fs.writeFileSync(
    file,
    JSON.stringify({
      cells: [cell('a', 'const x: number = 1;\nconsole.log("first cell ran", x);'), cell('b', 'throw new Error("deliberate failure 4711");'), cell('c', 'console.log("never");')],
      metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
      nbformat: 4,
      nbformat_minor: 5,
    }),
  );
  const out = path.join(dir, 'out');
  const r = runTsx(RUNNER, [file, '--out', out]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /NOTEBOOK FAILED: .*99-broken\.ipynb/);
  assert.match(r.stderr, /cell 2 of 3/);
  assert.match(r.stderr, /deliberate failure 4711/);
  assert.doesNotMatch(r.stdout + r.stderr, /never\n/);
  // The partial notebook is kept for inspection.
  assert.ok(fs.existsSync(path.join(out, '99-broken.ipynb')));
});

test('a type error fails the cell too (tslab type-checks)', { timeout: 300_000 }, () => {
  const dir = tempDir();
  const file = path.join(dir, '98-typo.ipynb');
  fs.writeFileSync(
    file,
    JSON.stringify({
      cells: [{ cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [], source: 'const n: number = "not a number";' }],
      metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
      nbformat: 4,
      nbformat_minor: 5,
    }),
  );
  const r = runTsx(RUNNER, [file, '--out', path.join(dir, 'out')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /not assignable to type 'number'/);
});
