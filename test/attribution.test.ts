/** The anchors' methods against their definitions: IG completeness, occlusion by hand, SmoothGrad, Grad-CAM++. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { buildModel } from '../lib/models/presets';
import { gradCamPlusPlus, integratedGradients, occlusion, smoothGrad, windowStarts } from '../lib/explain/attribution';
import { gradients } from '../lib/explain/cam';
import { explainTensor } from '../lib/explain/explain';
import { globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';

process.env.XAI3D_QUIET = '1';

const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);

test('integrated gradients are complete: the map sums to logit(x) - logit(baseline) within 1 % at 64 steps', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const m = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 4, classes: 3, seed: 5 });
  const x = tf.randomUniform([3, 8, 8, 8, 1], 0, 1, 'float32', 11) as tf.Tensor5D;
  for (const baseline of [0, 0.5]) {
    const r = integratedGradients(m, x, { steps: 64, baseline });
    r.maps.forEach((map, i) => {
      const ref = r.reference[i];
      assert.ok(Math.abs(ref) > 1e-3, 'the test needs a logit that moves');
      assert.ok(Math.abs(sum(map) - ref) <= 0.01 * Math.abs(ref), `volume ${i}, baseline ${baseline}: sum ${sum(map)} vs ${ref}`);
    });
  }
  // Through explainTensor the reference travels with the maps.
  const e = explainTensor(m, x, { method: 'integrated-gradients', steps: 64 });
  assert.equal(e.reference?.length, 3);
  x.dispose();
  m.dispose();
});

test('occlusion equals its definition on a hand-built linear model', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const S = 6;
  const n = S * S * S;
  const model = tf.sequential();
  model.add(tf.layers.flatten({ inputShape: [S, S, S, 1] }));
  model.add(tf.layers.dense({ units: 2, useBias: true }));
  const w = new Float32Array(n * 2).map((_, i) => Math.sin(i * 1.7));
  model.layers[1].setWeights([tf.tensor2d(w, [n, 2]), tf.tensor1d([0.3, -0.2])]);
  const xs = new Float32Array(n).map((_, i) => Math.cos(i * 0.9));
  const x = tf.tensor5d(xs, [1, S, S, S, 1]);
  const win = 3;
  const stride = 2;
  const base = 0.25;
  const r = occlusion(model, x, { window: win, stride, baseline: base, classes: [1] });
  // By hand: f(x) - f(x occluded) = sum over the window of w_i1 (x_i - base); a voxel's value is the mean over the
  // windows that cover it; starts 0, 2 (4 would not fit in 6 with a window of 3), so voxels at index 5 are uncovered.
  assert.deepEqual(windowStarts(S, win, stride), [0, 2]);
  const expect = new Float64Array(n);
  const count = new Float64Array(n);
  for (const d0 of [0, 2]) for (const h0 of [0, 2]) for (const w0 of [0, 2]) {
    let delta = 0;
    const cells: number[] = [];
    for (let d = d0; d < d0 + win; d++) for (let h = h0; h < h0 + win; h++) for (let ww = w0; ww < w0 + win; ww++) cells.push((d * S + h) * S + ww);
    for (const i of cells) delta += w[i * 2 + 1] * (xs[i] - base);
    for (const i of cells) {
      expect[i] += delta;
      count[i] += 1;
    }
  }
  for (let i = 0; i < n; i++) {
    const e = count[i] > 0 ? expect[i] / count[i] : 0;
    assert.ok(Math.abs(r.maps[0][i] - e) < 1e-4, `voxel ${i}: ${r.maps[0][i]} vs ${e}`);
  }
  assert.equal(r.maps[0][5], 0, 'a voxel no window covers is 0');
  x.dispose();
  model.dispose();
});

test('SmoothGrad with zero noise equals the gradient; with noise it is seeded and reproducible', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const m = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 4, classes: 3, seed: 2 });
  const x = tf.randomUniform([2, 8, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor5D;
  const g = gradients(m, x);
  const s0 = smoothGrad(m, x, { samples: 3, noiseLevel: 0 });
  s0.maps.forEach((map, i) => map.forEach((v, j) => assert.ok(Math.abs(v - g.maps[i][j]) < 1e-6)));
  const a = smoothGrad(m, x, { samples: 4, noiseLevel: 0.2, seed: 9 });
  const b = smoothGrad(m, x, { samples: 4, noiseLevel: 0.2, seed: 9 });
  const c = smoothGrad(m, x, { samples: 4, noiseLevel: 0.2, seed: 10 });
  assert.deepEqual(Array.from(a.maps[1]), Array.from(b.maps[1]));
  assert.notDeepEqual(Array.from(a.maps[1]), Array.from(c.maps[1]));
  assert.notDeepEqual(Array.from(a.maps[1]), Array.from(g.maps[1]));
  x.dispose();
  m.dispose();
});

test('Grad-CAM++ on a one-channel model equals the hand-computed formula', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const S = 5;
  const model = tf.sequential();
  model.add(tf.layers.conv3d({ inputShape: [S, S, S, 1], name: 'conv1', filters: 1, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.randomNormal({ seed: 4 }), biasInitializer: tf.initializers.constant({ value: 0.1 }) }));
  model.add(globalAveragePooling3d({ name: 'gap' }));
  model.add(tf.layers.dense({ name: 'dense', units: 2, kernelInitializer: tf.initializers.constant({ value: 0.7 }) }));
  const x = tf.randomUniform([1, S, S, S, 1], 0, 1, 'float32', 8) as tf.Tensor5D;
  const r = gradCamPlusPlus(model, x, { classes: [0] });
  // By hand: A = ReLU(conv(x)); d logit_0 / d A = w / N at every voxel (GAP then Dense); alpha = g^2 / (2 g^2 + sum(A) g^3);
  // weight = N alpha ReLU(g); map = ReLU(weight A).
  const A = (model.layers[0].apply(x) as tf.Tensor).dataSync() as Float32Array;
  const N = S * S * S;
  const wd = (model.layers[2].getWeights()[0].dataSync() as Float32Array)[0];
  const g = wd / N;
  const sA = A.reduce((s, v) => s + v, 0);
  const alpha = (g * g) / (2 * g * g + sA * g * g * g);
  const weight = N * alpha * Math.max(0, g);
  assert.ok(sA > 0);
  A.forEach((a, i) => assert.ok(Math.abs(r.rawMaps[0][i] - Math.max(0, weight * a)) < 1e-5, `voxel ${i}`));
  x.dispose();
  model.dispose();
});

test('LRP with keepLayers returns the relevance at every layer input: the last is the input map, each sum is its audit entry', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const { lrp } = await import('../lib/explain/lrp/lrp');
  const m = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 4, classes: 3, seed: 6 });
  const x = tf.randomUniform([2, 8, 8, 8, 1], 0, 1, 'float32', 12) as tf.Tensor5D;
  const r = lrp(m, x, { keepLayers: true });
  const layers = r.layers!;
  assert.deepEqual(layers.map((l) => l.layer), r.audit.map((a) => a.layer));
  const last = layers[layers.length - 1];
  assert.deepEqual(last.shape, [8, 8, 8, 1]);
  for (let v = 0; v < 2; v++) {
    assert.deepEqual(Array.from(last.values[v]), Array.from(r.mapsWithChannels[v]));
    // LRP-0 with zero biases conserves relevance exactly at every layer: each sum is the logit.
    for (const l of layers) assert.ok(Math.abs(l.sums[v] - r.logits[v]) < 1e-4 * Math.max(1, Math.abs(r.logits[v])), `${l.layer}: ${l.sums[v]} vs ${r.logits[v]}`);
  }
  layers.forEach((l, i) => assert.ok(Math.abs((l.sums[0] + l.sums[1]) / 2 - r.audit[i].relevanceIn) < 1e-6));
  x.dispose();
  m.dispose();
});

test('saveHeatmap writes a NIfTI with the volume geometry in one call', async () => {
  const { saveHeatmap } = await import('../lib/explain/heatmap-io');
  const { readNifti } = await import('../lib/io/nifti');
  const os = await import('os');
  const fs = await import('fs');
  const path = await import('path');
  const affine: [number[], number[], number[], number[]] = [[0, 0, -2, 90], [-2, 0, 0, 120], [0, -2, 0, 100], [0, 0, 0, 1]];
  const ds = { name: 'toy', shape: [4, 4, 4] as [number, number, number], spacingMm: [2, 2, 2] as [number, number, number], affine: () => affine };
  const map = new Float32Array(64).map((_, i) => i - 32);
  const file = saveHeatmap(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xai3d-')), 'h.nii.gz'), map, ds, 0);
  const back = readNifti(file);
  assert.deepEqual(Array.from(back.data), Array.from(map));
  back.affine.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - affine[i][j]) < 1e-5, `affine[${i}][${j}]`)));
  assert.throws(() => saveHeatmap('x.nii', new Float32Array(3), ds, 0), /3 values, toy volumes have 4x4x4/);
});
