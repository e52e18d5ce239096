/**
 * Input centering (lib/models/reference-centering.ts): the layer computes (x - r) * s; the explanation chain keeps it
 * as its first step (the chain's logits equal the model's); explanations are of the centred input: LRP-0 with wta
 * pooling equals gradient x centred input, a voxel at the reference gets no LRP-0 relevance, zB's [0, 1] bounds map
 * to (bound - r) s; CAM mean + bias = logit; a saved model loads with its reference.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { buildModel, describeArchitecture } from '../lib/models/presets';
import { CENTRED_RMS, referenceOf } from '../lib/models/reference-centering';
import { disposeChain, forwardChain, modelChain } from '../lib/explain/chain';
import { applyRule, lrp } from '../lib/explain/lrp/lrp';
import { zbRule } from '../lib/explain/lrp/rules';
import { cam, gradients } from '../lib/explain/cam';
import { loadModel, saveModel } from '../lib/io/model-files';
import { relErr, tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

function centredModel(size: number, seed: number): { model: tf.Sequential; reference: Float32Array; scale: number } {
  const reference = Float32Array.from({ length: size ** 3 }, (_, i) => 0.3 + 0.4 * Math.sin(i * 0.37 + seed));
  const scale = 2.5;
  const model = buildModel('oasis-3conv', { inputSize: size, baseWidth: 4, seed, centering: { reference, scale } });
  model.setWeights(model.getWeights().map((w, i) => (w.shape.length === 1 ? tf.randomNormal(w.shape, 0, 0.05, 'float32', seed * 100 + i) : w)));
  return { model, reference, scale };
}

test('referenceOf: the mean volume, and a scale that gives the centred volumes an RMS of CENTRED_RMS', () => {
  const vols = [Float32Array.from([0, 1, 2, 3]), Float32Array.from([2, 1, 0, 5])];
  const { reference, scale } = referenceOf(vols);
  assert.deepEqual(Array.from(reference), [1, 1, 1, 4]);
  // Deviations: +-1, 0, +-1, +-1 -> mean square 0.75.
  assert.ok(Math.abs(scale - CENTRED_RMS / Math.sqrt(0.75)) < 1e-9);
  assert.throws(() => referenceOf([]), /no volumes/);
  assert.throws(() => referenceOf([vols[0], vols[0]]), /identical/);
  assert.throws(() => referenceOf([vols[0], new Float32Array(3)]), /differ in size/);
});

test('the centering layer computes (x - r) * s, and the chain computes the model with it as its first step', () => {
  const { model, reference, scale } = centredModel(8, 1);
  assert.equal(model.layers[0].name, 'center');
  assert.equal(model.layers[0].trainableWeights.length, 0, 'the reference is never trained');
  const x = tf.randomUniform([2, 8, 8, 8, 1], 0, 1, 'float32', 3) as tf.Tensor5D;
  // By hand: the same model without the layer, applied to (x - r) * s.
  const plain = buildModel('oasis-3conv', { inputSize: 8, baseWidth: 4, seed: 1 });
  plain.layers.forEach((l, i) => l.setWeights(model.layers[i + 1].getWeights()));
  const centred = tf.tidy(() => x.sub(tf.tensor(reference, [8, 8, 8, 1])).mul(scale));
  const want = plain.predict(centred) as tf.Tensor;
  const got = model.predict(x) as tf.Tensor;
  assert.ok(relErr(got.dataSync(), want.dataSync()) < 1e-5, 'the layer');
  const steps = modelChain(model);
  assert.deepEqual([steps[0].kind, steps[0].name, steps[1].name], ['center', 'center', 'conv1']);
  const { logits } = forwardChain(steps, x);
  assert.ok(relErr(logits.dataSync(), want.dataSync()) < 1e-5, 'the chain');
  disposeChain(steps);
});

test('explanations of a centred model are of the centred input: LRP-0 (wta) = gradient x (x - r) s; zB bounds mapped; CAM mean + bias = logit', () => {
  const { model, reference, scale } = centredModel(16, 2);
  // Half of the voxels exactly at the reference: their deviation is 0, so LRP-0 gives them no relevance.
  const xs = tf.randomUniform([2, 16, 16, 16, 1], 0, 1, 'float32', 4).dataSync() as Float32Array;
  for (let k = 0; k < 2; k++) for (let j = 0; j < reference.length; j += 2) xs[k * reference.length + j] = reference[j];
  const x = tf.tensor5d(xs, [2, 16, 16, 16, 1]);
  const r = lrp(model, x, { pool: 'wta' });
  const g = gradients(model, x, { timesInput: true, classes: r.classes });
  for (let k = 0; k < 2; k++) assert.ok(relErr(r.maps[k], g.maps[k]) < 1e-4, `volume ${k}: ${relErr(r.maps[k], g.maps[k])}`);
  assert.ok(r.maps[0].every((v, j) => j % 2 === 1 || v === 0), 'no LRP-0 relevance at the reference');
  assert.ok(r.maps[0].some((v) => v !== 0));
  // By hand: the plain model on x' = (x - r) s, with zB bounds (0 - r) s and (1 - r) s at conv1.
  const plain = buildModel('oasis-3conv', { inputSize: 16, baseWidth: 4, seed: 2 });
  plain.layers.forEach((l, i) => l.setWeights(model.layers[i + 1].getWeights()));
  const xc = tf.tidy(() => x.sub(tf.tensor(reference, [16, 16, 16, 1])).mul(scale)) as tf.Tensor5D;
  const zb = lrp(model, x, { rules: { conv1: { rule: 'zb' } }, classes: r.classes, keepLayers: true });
  // The relevance at conv1's output is what pool1 received (the ReLU passes it unchanged).
  const atPool1 = zb.layers!.find((l) => l.layer === 'pool1')!;
  const steps = modelChain(plain);
  const ref = tf.tensor(reference, [1, 16, 16, 16, 1]);
  const R = tf.tensor(Float32Array.from([...atPool1.values[0], ...atPool1.values[1]]), [2, ...atPool1.shape]);
  const rule = zbRule(0, 1, (v) => tf.scalar(v).sub(ref).mul(scale));
  const byHand = [applyRule(steps[0], rule, xc, R, false).dataSync().slice(0, 16 ** 3)];
  const unmapped = applyRule(steps[0], zbRule(0, 1), xc, R, false).dataSync().slice(0, 16 ** 3);
  disposeChain(steps);
  assert.ok(relErr(unmapped, byHand[0]) > 1e-2, 'the mapping matters');
  assert.ok(relErr(zb.maps[0], byHand[0]) < 1e-4, `zB in the centred input: ${relErr(zb.maps[0], byHand[0])}`);
  const c = cam(model, x, r.classes);
  const logits = (model.predict(x) as tf.Tensor).arraySync() as number[][];
  const bias = model.getLayer('dense').getWeights()[1].dataSync();
  for (let k = 0; k < 2; k++) {
    const raw = c.rawMaps[k];
    const m = raw.reduce((a, b) => a + b, 0) / raw.length;
    assert.ok(Math.abs(m + bias[r.classes[k]] - logits[k][r.classes[k]]) < 1e-4, 'CAM mean + bias = logit');
  }
});

test('a centred model saves and loads with its reference; the architecture key says so', async () => {
  const { model } = centredModel(8, 3);
  const dir = path.join(tempDir('centering'), 'model');
  await saveModel(model, dir);
  const back = await loadModel(dir);
  assert.equal(back.layers[0].getClassName(), 'ReferenceCentering3D');
  const x = tf.randomUniform([1, 8, 8, 8, 1], 0, 1, 'float32', 5) as tf.Tensor5D;
  assert.ok(relErr((back.predict(x) as tf.Tensor).dataSync(), (model.predict(x) as tf.Tensor).dataSync()) < 1e-6);
  assert.ok(fs.existsSync(path.join(dir, 'model.json')));
  assert.notEqual(describeArchitecture('oasis-3conv', { inputSize: 8, centred: true }), describeArchitecture('oasis-3conv', { inputSize: 8 }));
});

test('AOPC with the reference perturbation: a region replaced by the reference; a volume equal to it never changes; refused without a centering', () => {
  const { model, reference } = centredModel(16, 4);
  const { aopc } = require('../lib/evaluate/aopc') as typeof import('../lib/evaluate/aopc');
  const heat = Float32Array.from({ length: 16 ** 3 }, (_, i) => Math.sin(i));
  const same = aopc(model, [reference.slice()], [16, 16, 16], [heat], { strideVoxels: 8, steps: 8, perturb: { kind: 'reference' }, score: 'logit' });
  assert.ok(same.scores[0].every((v) => Math.abs(v - same.scores[0][0]) < 1e-5), 'nothing to remove');
  const other = Float32Array.from({ length: 16 ** 3 }, (_, i) => (i % 7) / 7);
  const all = aopc(model, [other], [16, 16, 16], [heat], { strideVoxels: 8, steps: 8, perturb: { kind: 'reference' }, score: 'logit' });
  const atRef = (model.predict(tf.tensor5d(reference, [1, 16, 16, 16, 1])) as tf.Tensor).dataSync()[all.classes[0]];
  assert.ok(Math.abs(all.scores[0][8] - atRef) < 1e-4, 'all 8 cubes replaced: the reference volume itself');
  const plain = buildModel('oasis-3conv', { inputSize: 16, baseWidth: 4, seed: 1 });
  assert.throws(() => aopc(plain, [other], [16, 16, 16], [heat], { strideVoxels: 8, steps: 8, perturb: { kind: 'reference' } }), /needs a model with an input centering/);
});

test("IG and occlusion with baseline 'reference': completeness against the mean brain, nothing to occlude at it; refused without a centering", () => {
  const { model, reference } = centredModel(16, 5);
  const { integratedGradients, occlusion } = require('../lib/explain/attribution') as typeof import('../lib/explain/attribution');
  const x = tf.tensor5d(Float32Array.from({ length: 16 ** 3 }, (_, i) => (i % 11) / 11), [1, 16, 16, 16, 1]);
  const ig = integratedGradients(model, x, { steps: 64, baseline: 'reference' });
  const logits = (v: Float32Array) => (model.predict(tf.tensor5d(v, [1, 16, 16, 16, 1])) as tf.Tensor).dataSync();
  const c = ig.classes[0];
  const expected = logits(x.dataSync() as Float32Array)[c] - logits(reference)[c];
  assert.ok(Math.abs(expected - ig.reference[0]) < 1e-4, 'the reported reference difference is against the mean brain');
  const total = ig.maps[0].reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - expected) <= 0.01 * Math.abs(expected), `completeness: sum ${total} vs logit(x) - logit(reference) ${expected}`);
  // Occluding the reference volume with itself changes nothing; another volume's map is the logit drop per window.
  const atRef = occlusion(model, tf.tensor5d(reference, [1, 16, 16, 16, 1]), { window: 8, stride: 8, baseline: 'reference' });
  assert.ok(atRef.maps[0].every((v) => Math.abs(v) < 1e-5), 'nothing to occlude at the reference');
  const occ = occlusion(model, x, { window: 8, stride: 8, baseline: 'reference' });
  const v = Float32Array.from(x.dataSync());
  for (let d = 0; d < 8; d++) for (let h = 0; h < 8; h++) for (let w = 0; w < 8; w++) { const i = (d * 16 + h) * 16 + w; v[i] = reference[i]; }
  const drop = logits(x.dataSync() as Float32Array)[occ.classes[0]] - logits(v)[occ.classes[0]];
  assert.ok(Math.abs(occ.maps[0][0] - drop) < 1e-4, `first window: ${occ.maps[0][0]} vs ${drop}`);
  const plain = buildModel('oasis-3conv', { inputSize: 16, baseWidth: 4, seed: 1 });
  assert.throws(() => occlusion(plain, x, { window: 8, stride: 8, baseline: 'reference' }), /baseline "reference" needs a model with an input centering/);
  assert.throws(() => integratedGradients(plain, x, { baseline: 'reference' }), /integrated gradients: baseline "reference"/);
  x.dispose();
});
