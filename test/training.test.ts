/** Training: early stopping, determinism, best-weights restore, resume after a kill, the summary table, the CLI. */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { loadMnist3d } from '../lib/data/mnist3d/dataset';
import { kFoldSplits } from '../lib/data/folds';
import { EarlyStopping, evaluate, loadFoldModel, trainKFold, trainRunDir, trainStep, accuracyTableCsv } from '../lib/training/train';
import { PROJECT_ROOT } from '../lib/env/paths';
import { buildModel, parameterCount, PRESET_NAMES } from '../lib/models/presets';
import { TINY_TRAIN } from './fixtures/train-config';
import { runCli, tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';
const dataRoot = tempDir();

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const data = () => loadMnist3d({ size: 16, trainCount: 60, testCount: 0 }, { root: dataRoot });

test('presets: the thesis architectures, layer names, parameter counts', () => {
  for (const name of PRESET_NAMES) {
    const m = buildModel(name, { inputSize: name.startsWith('oasis') ? 64 : 16 });
    assert.equal(m.countParams(), parameterCount(name), name);
    const kinds = m.layers.map((l) => l.getClassName());
    assert.equal(kinds[kinds.length - 1], 'Dense');
    assert.equal(kinds[kinds.length - 2], 'GlobalAveragePooling3D');
    const convs = kinds.filter((k) => k === 'Conv3D').length;
    assert.equal(convs, Number(/(\d)conv/.exec(name)![1]), name);
    assert.equal((m.layers[m.layers.length - 1].getConfig() as { activation: string }).activation, 'linear', 'logits out');
    m.dispose();
  }
  const six = buildModel('mnist-6conv');
  assert.deepEqual(six.layers.map((l) => l.name), ['conv1', 'conv2', 'pool1', 'conv3', 'conv4', 'pool2', 'conv5', 'conv6', 'gap', 'dense']);
  assert.deepEqual(buildModel('oasis-6conv').layers.map((l) => l.getClassName()).filter((k) => k === 'MaxPooling3D').length, 6);
  // The CAM grid stays at least 2^3: at 64^3 oasis-6conv drops its last pooling (the 128^3 geometry scaled).
  const at = (size: number) => buildModel('oasis-6conv', { inputSize: size });
  const grid = (m: ReturnType<typeof at>) => m.layers.find((l) => l.name === 'gap')!.inputSpec?.[0]?.shape ?? (m.getLayer('gap').input as { shape: number[] }).shape;
  assert.deepEqual(grid(at(128)).slice(1, 4), [2, 2, 2]);
  assert.deepEqual(grid(at(64)).slice(1, 4), [2, 2, 2]);
  assert.equal(at(64).layers.filter((l) => l.getClassName() === 'MaxPooling3D').length, 5);
  assert.deepEqual(grid(at(32)).slice(1, 4), [2, 2, 2]);
  assert.throws(() => buildModel('oasis-6conv', { inputSize: 1 }), /inputSize 1 must be an integer >= 2/);
  assert.throws(() => buildModel('resnet'), /unknown model preset "resnet"/);
});

test('early stopping stops after `patience` epochs without improvement and remembers the best', () => {
  const es = new EarlyStopping(3);
  const losses = [1.0, 0.8, 0.9, 0.85, 0.95];
  const stops = losses.map((l, e) => es.update(e, l));
  assert.deepEqual(stops, [false, false, false, false, true]);
  assert.equal(es.bestEpoch, 1);
  assert.equal(es.best, 0.8);
  // An improvement resets the wait.
  const es2 = new EarlyStopping(2);
  assert.deepEqual([1, 0.9, 0.95, 0.5, 0.6, 0.7].map((l, e) => es2.update(e, l)), [false, false, false, false, false, true]);
  assert.equal(es2.bestEpoch, 3);
  // Warm-up (Keras's start_from_epoch): the first epochs are neither the best nor counted as waiting.
  const es3 = new EarlyStopping(2, 0, 3);
  assert.deepEqual([0.5, 0.9, 0.95, 0.9, 0.92, 0.93].map((l, e) => es3.update(e, l)), [false, false, false, false, false, true]);
  assert.equal(es3.bestEpoch, 3, 'epoch 0 (the lowest loss) was in the warm-up');
});

test('one training step equals Keras trainOnBatch (loss and updated weights) and counts the batch\'s correct predictions', async () => {
  const make = () => buildModel('mnist-2conv', { inputSize: 8, classes: 3, baseWidth: 2, seed: 5 });
  const x = tf.randomUniform([6, 8, 8, 8, 1], 0, 1, 'float32', 11);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32'), 3);
  const keras = make();
  keras.compile({ optimizer: tf.train.adam(0.01), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b) });
  const ours = make();
  const opt = tf.train.adam(0.01);
  // Predictions before the step: the hits are counted on the forward pass the gradient is taken through.
  const before = (ours.predict(x) as tf.Tensor2D).argMax(1).arraySync() as number[];
  const expectHits = before.filter((p, i) => p === [0, 1, 2, 2, 1, 0][i]).length;
  for (let k = 0; k < 3; k++) {
    const kl = (await keras.trainOnBatch(x, y)) as number;
    const r = trainStep(ours, opt, x, y);
    assert.ok(Math.abs(kl - r.loss) <= 1e-6 * Math.max(1, Math.abs(kl)), `step ${k}: loss ${r.loss} vs trainOnBatch ${kl}`);
    if (k === 0) assert.equal(r.hits, expectHits);
  }
  const a = keras.getWeights().map((w) => w.dataSync());
  const b = ours.getWeights().map((w) => w.dataSync());
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) assert.ok(Math.abs(a[i][j] - b[i][j]) <= 1e-6, `weight ${i}[${j}]: ${b[i][j]} vs ${a[i][j]}`);
  tf.dispose([x, y]);
  opt.dispose();
  keras.dispose();
  ours.dispose();
});

test("fused Adam (one SIMD kernel per variable) gives tfjs's Adam weights bit for bit, variables of every size", async () => {
  const { adam, FusedAdamOptimizer } = await import('../lib/training/adam');
  const { kernelCalls } = await import('../lib/backend/kernels3d');
  // baseWidth 3: kernels and biases whose sizes are not multiples of 4 (the kernel's scalar tail).
  const make = () => buildModel('mnist-3conv', { inputSize: 8, classes: 3, baseWidth: 3, seed: 9 });
  const x = tf.randomUniform([6, 8, 8, 8, 1], 0, 1, 'float32', 13);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32'), 3);
  const stock = make();
  const fused = make();
  const optStock = tf.train.adam(0.01);
  const optFused = adam(0.01);
  assert.ok(optFused instanceof FusedAdamOptimizer);
  const calls = kernelCalls['Xai3dAdam:simd'] ?? 0;
  for (let k = 0; k < 4; k++) {
    trainStep(stock, optStock, x, y);
    trainStep(fused, optFused, x, y);
  }
  assert.equal((kernelCalls['Xai3dAdam:simd'] ?? 0) - calls, 4 * fused.trainableWeights.length, 'one fused update per variable and step');
  const a = stock.getWeights().map((w) => Array.from(new Uint32Array(w.dataSync().buffer.slice(0))));
  const b = fused.getWeights().map((w) => Array.from(new Uint32Array(w.dataSync().buffer.slice(0))));
  assert.deepEqual(b, a, 'the same bits');
  // Moments and step counters too: the optimizers' saved state is the same.
  const ws = async (o: tf.Optimizer) => (await o.getWeights()).map((w) => Array.from(w.tensor.dataSync()));
  assert.deepEqual(await ws(optFused), await ws(optStock));
  tf.dispose([x, y]);
  optStock.dispose();
  optFused.dispose();
  stock.dispose();
  fused.dispose();
});

test('same seed and config give the same weights; the saved model holds the best epoch', { timeout: 300_000 }, async () => {
  const ds = await data();
  const a = await trainKFold(ds, TINY_TRAIN, { root: tempDir() });
  const b = await trainKFold(ds, TINY_TRAIN, { root: tempDir() });
  assert.deepEqual(a.accuracies, b.accuracies);
  const curves = (x: typeof a) => x.folds.map((f) => f.history.map(({ seconds, ...rest }) => (void seconds, rest)));
  assert.deepEqual(curves(a), curves(b));
  const ma = await loadFoldModel(a, 0);
  const mb = await loadFoldModel(b, 0);
  ma.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), mb.getWeights()[i].dataSync(), `weight ${i}`));
  // The saved weights are those of the epoch with the lowest validation loss.
  const folds = kFoldSplits(ds.labels, ds.groups, TINY_TRAIN.folds, { seed: TINY_TRAIN.seed, valFraction: TINY_TRAIN.valFraction });
  const f0 = a.folds[0];
  const best = Math.min(...f0.history.map((h) => h.valLoss));
  assert.equal(f0.bestEpoch, f0.history.findIndex((h) => h.valLoss === best) + 1);
  const val = evaluate(ma, ds, folds[0].val, 16);
  assert.ok(Math.abs(val.loss - best) < 1e-5, `restored val loss ${val.loss} vs best ${best}`);
  const test0 = evaluate(ma, ds, folds[0].test, 16);
  assert.equal(test0.accuracy, f0.testAccuracy);
  // A different seed gives different weights.
  const c = await trainKFold(ds, { ...TINY_TRAIN, seed: 12 }, { root: tempDir() });
  const mc = await loadFoldModel(c, 0);
  assert.notDeepEqual(mc.getWeights()[0].dataSync(), ma.getWeights()[0].dataSync());
  tf.dispose([ma, mb, mc] as unknown as tf.Tensor[]);
});

test('a run killed mid-fold resumes: finished folds are read back, the killed fold restarts, results equal an uninterrupted run', { timeout: 300_000 }, async () => {
  const ds = await data();
  const root = tempDir();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'train-interrupted.ts'), dataRoot, root], { encoding: 'utf8', cwd: PROJECT_ROOT, env: { ...process.env, XAI3D_QUIET: '1' } });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  const runDir = trainRunDir(ds, TINY_TRAIN, root);
  assert.ok(fs.existsSync(path.join(runDir, 'fold-1', 'metrics.json')), 'fold 1 finished before the kill');
  assert.ok(!fs.existsSync(path.join(runDir, 'fold-2')), 'no fold-2 folder: the killed fold left only a temporary folder');
  assert.ok(fs.readdirSync(runDir).some((f) => f.startsWith('.tmp-fold-2')), 'the killed fold left its temporary folder');
  assert.ok(!fs.existsSync(path.join(runDir, 'summary.json')));
  const mtime = fs.statSync(path.join(runDir, 'fold-1', 'metrics.json')).mtimeMs;
  const resumed = await trainKFold(ds, TINY_TRAIN, { root });
  assert.equal(fs.statSync(path.join(runDir, 'fold-1', 'metrics.json')).mtimeMs, mtime, 'fold 1 not retrained');
  assert.ok(!fs.readdirSync(runDir).some((f) => f.startsWith('.tmp-')), 'temporary folders removed');
  const clean = await trainKFold(ds, TINY_TRAIN, { root: tempDir() });
  assert.deepEqual(resumed.accuracies, clean.accuracies);
  assert.deepEqual(resumed.folds.map((f) => f.history.map((h) => h.valLoss)), clean.folds.map((f) => f.history.map((h) => h.valLoss)));
  // Finished: the summary is read from disk.
  const again = await trainKFold(ds, TINY_TRAIN, { root });
  assert.deepEqual(again, resumed);
  for (const f of ['summary.json', 'summary.csv', 'manifest.json', 'folds.json']) assert.ok(fs.existsSync(path.join(runDir, f)), f);
  const manifest = JSON.parse(fs.readFileSync(path.join(runDir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.seed, TINY_TRAIN.seed);
  assert.equal(manifest.backend.name, 'wasm');
});

test('the accuracy table (Tables 3 and 5) is CSV that danfojs reads as a DataFrame', { timeout: 300_000 }, async () => {
  const ds = await data();
  const s = await trainKFold(ds, TINY_TRAIN, { root: tempDir() });
  const file = path.join(tempDir(), 'table.csv');
  fs.writeFileSync(file, accuracyTableCsv([s, { ...s, model: 'mnist-6conv' }]));
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const dfd = require('danfojs-node');
  const df = await dfd.readCSV(file);
  assert.deepEqual(df.shape, [2, 6]);
  assert.deepEqual(df.columns, ['model', 'parameters', 'fold 1', 'fold 2', 'mean', 'std']);
  assert.ok(Math.abs(df['mean'].values[0] - s.mean) < 1e-9);
  const summaryCsv = await dfd.readCSV(path.join(s.runDir, 'summary.csv'));
  assert.deepEqual(summaryCsv.columns, ['model', 'parameters', 'fold1', 'fold2', 'mean', 'std']);
});

test('xai3d train: usage errors say what to change', () => {
  const r = runCli(['train', '--dataset', 'mnist3d', '--model', 'oasis-3conv']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--model oasis-3conv is not a mnist3d preset/);
  const r2 = runCli(['train', '--dataset', 'cifar']);
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /--dataset must be one of mnist3d, oasis2 \(got "cifar"\)/);
  const r3 = runCli(['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', '--lr', 'fast']);
  assert.equal(r3.status, 2);
  assert.match(r3.stderr, /--lr fast: expected a number/);
});
