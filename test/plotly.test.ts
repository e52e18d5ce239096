import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { figureHtml, plotlyMime, scriptJson, writeFigureHtml, plotlyLibraryPath, showFigure } from '../lib/viz/plotly';
import { tableHtml } from '../lib/viz/table';
import { tempDir } from './helpers';

test('figure JSON turns typed arrays into arrays, NaN into null, and cannot close the script tag', () => {
  const json = scriptJson({ y: new Float32Array([1, 2.5]), z: [NaN, Infinity], name: '</script><b>' });
  assert.deepEqual(JSON.parse(json), { y: [1, 2.5], z: [null, null], name: '</script><b>' });
  assert.ok(!json.includes('</script'));
});

test('the Plotly MIME value is plain JSON of the figure (typed arrays as arrays, NaN as null, the modebar config kept)', () => {
  const m = plotlyMime({ data: [{ type: 'heatmap', z: [Float32Array.from([1, NaN])] as unknown as number[][], name: '</script>' }], layout: { title: { text: 'a' } }, config: { displayModeBar: true } });
  assert.deepEqual(m.data, [{ type: 'heatmap', z: [[1, null]], name: '</script>' }]);
  assert.deepEqual(m.layout, { title: { text: 'a' } });
  assert.equal(m.config.displayModeBar, true);
  assert.equal(m.config.displaylogo, false);
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

test('showFigure saves every figure as results/figures/<profile>/<notebook>/<title>.html with plotly.js beside it; a re-run overwrites it', () => {
  const results = tempDir();
  const prev = process.env.XAI3D_RESULTS;
  process.env.XAI3D_RESULTS = results;
  process.env.XAI3D_NOTEBOOK = '05-aopc';
  try {
    const file = showFigure({ data: [{ y: [1, 2] }], layout: { title: { text: 'AOPC: <b>CAM</b> over depth' } } })!;
    assert.equal(path.basename(file), 'aopc-cam-over-depth.html');
    assert.equal(path.basename(path.dirname(file)), '05-aopc');
    const again = showFigure({ data: [{ y: [3, 4] }], layout: { title: { text: 'AOPC: <b>CAM</b> over depth' } } })!;
    assert.equal(again, file, 'the same figure re-shown is the same file');
    assert.equal(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.html')).length, 1);
    assert.match(fs.readFileSync(file, 'utf8'), /\[3,4\]/);
    assert.ok(fs.existsSync(path.join(path.dirname(file), 'plotly.min.js')));
    const html = fs.readFileSync(file, 'utf8');
    assert.match(html, /<script src="plotly\.min\.js"><\/script>/);
    assert.ok(html.length < 20000, 'the library is not inlined in every file');
    // A title with a subtitle line keeps the two apart in the page's heading.
    const sub = fs.readFileSync(showFigure({ data: [{ y: [1] }], layout: { title: { text: 'OASIS-2 AOPC<br><sub>L = 50</sub>' } } })!, 'utf8');
    assert.match(sub, /<h1[^>]*>OASIS-2 AOPC · L = 50<\/h1>/);
  } finally {
    delete process.env.XAI3D_NOTEBOOK;
    if (prev === undefined) delete process.env.XAI3D_RESULTS;
    else process.env.XAI3D_RESULTS = prev;
  }
});

test('a figure page copied alone says where plotly.min.js must sit; XAI3D_FIGURES_INLINE=1 writes self-contained pages', () => {
  const results = tempDir();
  const prev = process.env.XAI3D_RESULTS;
  process.env.XAI3D_RESULTS = results;
  try {
    const sibling = showFigure({ data: [{ y: [1] }], layout: { title: { text: 'sibling page' } } })!;
    assert.match(fs.readFileSync(sibling, 'utf8'), /needs plotly\.min\.js in the same folder/);
    process.env.XAI3D_FIGURES_INLINE = '1';
    const inline = showFigure({ data: [{ y: [1] }], layout: { title: { text: 'inline page' } } })!;
    const html = fs.readFileSync(inline, 'utf8');
    assert.doesNotMatch(html, /<script src="plotly\.min\.js">/);
    assert.ok(html.length > 1_000_000, 'plotly.js is inlined');
  } finally {
    delete process.env.XAI3D_FIGURES_INLINE;
    if (prev === undefined) delete process.env.XAI3D_RESULTS;
    else process.env.XAI3D_RESULTS = prev;
  }
});
