import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { figureHtml, scriptJson, writeFigureHtml, plotlyLibraryPath, showFigure } from '../lib/viz/plotly';
import { tableHtml } from '../lib/viz/table';
import { tempDir } from './helpers';

test('figure JSON turns typed arrays into arrays, NaN into null, and cannot close the script tag', () => {
  const json = scriptJson({ y: new Float32Array([1, 2.5]), z: [NaN, Infinity], name: '</script><b>' });
  assert.deepEqual(JSON.parse(json), { y: [1, 2.5], z: [null, null], name: '</script><b>' });
  assert.ok(!json.includes('</script'));
});

test('a figure fragment references no remote script and inlines plotly.js only when asked', () => {
  const fig = { data: [{ x: [1, 2], y: [3, 4], type: 'scatter' }], layout: { height: 300 } };
  const small = figureHtml(fig);
  const big = figureHtml(fig, { includeLibrary: true });
  assert.ok(small.length < 2000);
  assert.ok(big.length > fs.statSync(plotlyLibraryPath()).size);
  assert.doesNotMatch(big, /<script[^>]*src=/);
  assert.match(small, /Plotly\.newPlot/);
  assert.match(small, /height:300px/);
});

test('a standalone figure file is complete offline HTML with plotly.js inlined once', () => {
  const file = path.join(tempDir(), 'fig.html');
  writeFigureHtml([{ data: [{ y: [1, 2] }] }, { data: [{ y: [3, 1] }] }], file, 'Two & <figures>');
  const html = fs.readFileSync(file, 'utf8');
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>Two &amp; &lt;figures&gt;<\/title>/);
  assert.equal(html.match(/Plotly\.newPlot\(/g)?.length, 2);
  assert.equal(html.split('window.define=undefined').length - 1, 1, 'library inlined exactly once');
});

test('tables escape their cells and format numbers', () => {
  const html = tableHtml([{ model: '<b>', acc: 0.912345, n: 3 }, { model: 'x', extra: true }], { digits: 2 });
  assert.match(html, /<td>&lt;b&gt;<\/td><td>0\.91<\/td><td>3<\/td><td><\/td>/);
  assert.match(html, /<th>extra<\/th>/);
});

test('showFigure also saves every figure under results/figures/<profile>/ with plotly.js beside it', () => {
  const results = tempDir();
  const prev = process.env.XAI3D_RESULTS;
  process.env.XAI3D_RESULTS = results;
  try {
    const file = showFigure({ data: [{ y: [1, 2] }], layout: { title: { text: 'AOPC: <b>CAM</b> over depth' } } })!;
    assert.match(path.basename(file), /^\d{3}-aopc-cam-over-depth\.html$/);
    assert.ok(fs.existsSync(path.join(path.dirname(file), 'plotly.min.js')));
    const html = fs.readFileSync(file, 'utf8');
    assert.match(html, /<script src="plotly\.min\.js"><\/script>/);
    assert.ok(html.length < 20000, 'the library is not inlined in every file');
  } finally {
    if (prev === undefined) delete process.env.XAI3D_RESULTS;
    else process.env.XAI3D_RESULTS = prev;
  }
});
