/**
 * A saved notebook renders its figures after any re-run: checked in the real Notebook UI (jupyter-notebook serving a
 * signed notebook whose only figure output does not carry plotly.js, as after re-running the first figure cell) with
 * headless Chromium. Skipped where jupyter-notebook or chromium is missing.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';
import { figureHtml } from '../lib/viz/plotly';
import { tempDir } from './helpers';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = has('jupyter-notebook') && has('chromium') ? false : 'jupyter-notebook or chromium is not installed';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

test('a figure whose output lost the inlined plotly.js still draws in the Notebook UI after a reload', { skip, timeout: 180_000 }, async () => {
  assert.ok(fs.existsSync(path.join(PROJECT_ROOT, '.jupyter', 'share', 'jupyter', 'nbextensions', 'xai3d', 'plotly.min.js')), 'npm run kernel installed plotly.js for the UI');
  const dir = tempDir();
  const html = figureHtml({ data: [{ type: 'scatter', y: [1, 3, 2] }], layout: { title: { text: 'after a re-run' } } }, { includeLibrary: false });
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: [{ id: 'c1', cell_type: 'code', execution_count: 2, metadata: {}, source: ['showFigure(fig);'], outputs: [{ output_type: 'display_data', data: { 'text/html': [html], 'text/plain': ['figure'] }, metadata: {} }] }],
  };
  const file = path.join(dir, 'saved.ipynb');
  fs.writeFileSync(file, JSON.stringify(nb));
  const sign = spawnSync('/usr/bin/python3', ['-c', 'import sys, nbformat; from nbformat.sign import NotebookNotary; nb = nbformat.read(sys.argv[1], as_version=4); NotebookNotary().sign(nb); nbformat.write(nb, sys.argv[1])', file], { encoding: 'utf8' });
  assert.equal(sign.status, 0, sign.stderr);
  const port = await freePort();
  const server = spawn('jupyter-notebook', ['--no-browser', `--port=${port}`, '--ip=127.0.0.1', `--notebook-dir=${dir}`, '--NotebookApp.token=', '--NotebookApp.password=', ...(process.getuid?.() === 0 ? ['--allow-root'] : [])], {
    env: { ...process.env, JUPYTER_PATH: path.join(PROJECT_ROOT, '.jupyter', 'share', 'jupyter'), PYDEVD_DISABLE_FILE_VALIDATION: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  server.stderr.on('data', (d) => (log += d));
  try {
    for (let i = 0; i < 100 && !/is running at|Jupyter Server .* is running/.test(log); i++) await new Promise((r) => setTimeout(r, 200));
    assert.match(log, /running at/, log);
    const profile = tempDir();
    const dom = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync', `--user-data-dir=${profile}`, '--virtual-time-budget=20000', '--dump-dom', `http://127.0.0.1:${port}/notebooks/saved.ipynb`], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 2 ** 20 });
    assert.ok(dom.stdout.length > 1000, `chromium printed the page (${dom.stderr.slice(0, 300)})`);
    const i = dom.stdout.indexOf('class="xai3d-figure');
    assert.ok(i > 0, 'the figure output is on the page');
    const around = dom.stdout.slice(i, i + 3000);
    assert.doesNotMatch(around, /^[^>]*>plotly\.js is not loaded/, 'the figure found plotly.js');
    assert.match(around, /class="main-svg"/, `Plotly drew the figure: ${around.slice(0, 300)}`);
  } finally {
    server.kill();
  }
});
