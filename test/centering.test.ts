/**
 * Input centering (lib/models/reference-centering.ts): the layer computes (x - r) * s; the explanation chain folds it
 * into conv1 exactly (the chain's logits equal the model's, borders included); LRP-0 with wta pooling still equals
 * gradient x input on the [0, 1] input; CAM mean + bias = logit; a saved model loads with its reference; training
 * with inputCentering takes the reference from the fold's training volumes only.
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
import { lrp } from '../lib/explain/lrp/lrp';
import { cam, gradients } from '../lib/explain/cam';
import { loadModel, saveModel } from '../lib/io/model-files';
import { tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / (s || 1);
}

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

test('the centering layer computes (x - r) * s, and the chain folds it into conv1 exactly (borders included)', () => {
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
  assert.equal(steps[0].name, 'conv1+center');
  assert.deepEqual(steps[0].bias!.shape, [8, 8, 8, 4], 'a bias volume');
  const { logits } = forwardChain(steps, x);
  assert.ok(relErr(logits.dataSync(), want.dataSync()) < 1e-5, 'the folded chain');
  disposeChain(steps);
});

test('explanations of a centred model: LRP-0 (wta) = gradient x input on x itself; CAM mean + bias = logit', () => {
  const { model } = centredModel(16, 2);
  const x = tf.randomUniform([2, 16, 16, 16, 1], 0, 1, 'float32', 4) as tf.Tensor5D;
  const r = lrp(model, x, { pool: 'wta' });
  const g = gradients(model, x, { timesInput: true, classes: r.classes });
  for (let k = 0; k < 2; k++) assert.ok(relErr(r.maps[k], g.maps[k]) < 1e-4, `volume ${k}: ${relErr(r.maps[k], g.maps[k])}`);
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
