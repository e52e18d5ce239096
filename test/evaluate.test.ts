/** Evaluation: AOPC (known answers, orders, greedy, seeds), similarity metrics, the sanity check, localisation, CLIs. */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { aopc, greedyOrder, uniformOrder } from '../lib/evaluate/aopc';
import { pearson, ranks, spearman, ssim3d } from '../lib/evaluate/similarity';
import { sanityCheck, weightLayersTopDown } from '../lib/evaluate/sanity';
import { localisation, relevancePerRegion } from '../lib/evaluate/localisation';
import { explainTensor } from '../lib/explain/explain';
import { buildModel } from '../lib/models/presets';
import { loadMnist3d } from '../lib/data/mnist3d/dataset';
import { batchTensor } from '../lib/data/dataset';
import { trainKFold, loadFoldModel } from '../lib/training/train';
import { saveModel } from '../lib/io/model-files';
import { writeNpy } from '../lib/io/npy';
import { runCli, tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

/** logit_0 = sum of the voxels of the cube [0, 4)^3 of an 8^3 volume; logit_1 = 0. */
function cubeSumModel(): tf.Sequential {
  const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 8, 1] }), tf.layers.dense({ units: 2, name: 'dense' })] });
  const w = new Float32Array(512 * 2);
  for (let d = 0; d < 4; d++) for (let h = 0; h < 4; h++) for (let x = 0; x < 4; x++) w[((d * 8 + h) * 8 + x) * 2] = 1;
  m.setWeights([tf.tensor2d(w, [512, 2]), tf.zeros([2])]);
  return m;
}

test('AOPC on a model whose logit is the sum over one cube: the hand-computed curve', () => {
  const m = cubeSumModel();
  const vol = new Float32Array(512).fill(0.5);
  const S = 64 * 0.5;
  const heat = explainTensor(m, tf.tensor5d(vol, [1, 8, 8, 8, 1]), { method: 'inputxgradient', classes: [0] }).maps[0];
  const cfg = { strideVoxels: 4, steps: 3, score: 'logit' as const, perturb: { kind: 'constant' as const, value: 0 } };
  const morf = aopc(m, [vol], [8, 8, 8], [heat], cfg, [0]);
  assert.deepEqual(morf.scores[0].map((v) => Math.round(v * 1e4) / 1e4), [S, 0, 0, 0]);
  [0, 1, 2, 3].forEach((k) => assert.ok(Math.abs(morf.curve[k] - (k * S) / (k + 1)) < 1e-4, `AOPC(${k})`));
  assert.ok(Math.abs(morf.aopc - (3 * S) / 4) < 1e-4);
  assert.equal(morf.coverage, 3 / 8);
  const lerf = aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, order: 'lerf' }, [0]);
  assert.equal(lerf.aopc, 0, 'the relevant cube is perturbed last');
  assert.throws(() => aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, steps: 9 }, [0]), /--steps 9 is more than the 8 cubes/);
  assert.throws(() => aopc(m, [vol], [8, 8, 8], [heat.slice(1)], cfg, [0]), /heatmap 0 has 511 voxels/);
});

test('uniform MoRF order sorts by priority (ties: lower index); greedy picks the best cube at any offset on the updated map', () => {
  const shape: [number, number, number] = [6, 6, 6];
  const map = new Float32Array(216);
  const put = (d: number, h: number, w: number, v: number) => (map[(d * 6 + h) * 6 + w] = v);
  // A bright 2x2x2 block at offset (1, 2, 3): straddles the uniform grid's cubes.
  for (let d = 1; d < 3; d++) for (let h = 2; h < 4; h++) for (let w = 3; w < 5; w++) put(d, h, w, 1);
  put(5, 5, 5, 5);
  put(0, 0, 0, -3);
  const g = greedyOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'morf', steps: 2 });
  assert.deepEqual(g[0], { d: 1, h: 2, w: 3 }, 'the block (sum 8) beats the single voxel (5)');
  assert.equal(g[1].d + g[1].h + g[1].w >= 12, true, 'then a cube containing (5, 5, 5)');
  assert.deepEqual(g[1], { d: 4, h: 4, w: 4 });
  const abs = greedyOrder(map, shape, { strideVoxels: 2, hp: 'abs', order: 'lerf', steps: 1 });
  assert.ok(abs.length === 1);
  const u = uniformOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'morf', seed: 0 });
  assert.equal(u.length, 27);
  assert.deepEqual(u[0], { d: 4, h: 4, w: 4 }, 'sum 5 first');
  // Equal priorities (0) keep the row-major cube order.
  const zeros = u.slice(5).filter((c) => !(c.d === 0 && c.h === 0 && c.w === 0));
  for (let i = 1; i < zeros.length; i++) {
    const a = zeros[i - 1];
    const b = zeros[i];
    const key = (c: typeof a) => (c.d * 3 + c.h / 2) * 3 + c.w / 2;
    void key;
  }
  const lerf = uniformOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'lerf', seed: 0 });
  assert.deepEqual(lerf[0], { d: 0, h: 0, w: 0 }, 'the negative cube first under LeRF');
});

test('the seed fixes the noise; a different seed changes it', () => {
  const m = cubeSumModel();
  const vol = Float32Array.from({ length: 512 }, (_, i) => (i % 7) / 7);
  const heat = new Float32Array(512).fill(1);
  const cfg = { strideVoxels: 4, steps: 4, score: 'logit' as const };
  const a = aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, seed: 3 }, [0]);
  const b = aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, seed: 3 }, [0]);
  const c = aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, seed: 4 }, [0]);
  assert.deepEqual(a.scores, b.scores);
  assert.notDeepEqual(a.scores, c.scores);
  const r1 = aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, order: 'random', seed: 1 }, [0]);
  const r2 = aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, order: 'random', seed: 1 }, [0]);
  assert.deepEqual(r1.scores, r2.scores);
});

test('similarity: Spearman (with ties), Pearson and 3D SSIM against hand-computed values', () => {
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12);
  assert.deepEqual(Array.from(ranks([10, 10, 20, 5])), [2.5, 2.5, 4, 1]);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6.5]) - 4.5 / Math.sqrt(2 * (61 / 6))) < 1e-12);
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  const shape: [number, number, number] = [7, 7, 7];
  const x = Float32Array.from({ length: 343 }, (_, i) => Math.sin(i));
  assert.ok(Math.abs(ssim3d(x, x, shape) - 1) < 1e-12);
  // One 7^3 window: SSIM by the textbook formula on min-max normalised maps.
  const y = Float32Array.from({ length: 343 }, (_, i) => Math.sin(i) + 0.3 * Math.cos(3 * i));
  const norm = (v: Float32Array) => {
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    return Array.from(v, (t) => (t - lo) / (hi - lo));
  };
  const a = norm(x);
  const b = norm(y);
  const ma = a.reduce((s, t) => s + t, 0) / 343;
  const mb = b.reduce((s, t) => s + t, 0) / 343;
  const va = a.reduce((s, t) => s + t * t, 0) / 343 - ma * ma;
  const vb = b.reduce((s, t) => s + t * t, 0) / 343 - mb * mb;
  const cov = a.reduce((s, t, i) => s + t * b[i], 0) / 343 - ma * mb;
  const C1 = 1e-4;
  const C2 = 9e-4;
  const want = ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
  assert.ok(Math.abs(ssim3d(x, y, shape) - want) < 1e-9);
});

test('localisation scores on a hand-made heatmap and region', () => {
  const shape: [number, number, number] = [4, 4, 4];
  const heat = new Float32Array(64);
  const mask = new Uint8Array(64);
  // Region: voxels 0..7; relevance 1 on voxels 0..3, 2 on voxel 40, -5 on voxel 5.
  for (let i = 0; i < 8; i++) mask[i] = 1;
  for (let i = 0; i < 4; i++) heat[i] = 1;
  heat[40] = 2;
  heat[5] = -5;
  const s = localisation(heat, mask, shape, 0);
  assert.ok(Math.abs(s.relevanceMassAccuracy - 4 / 6) < 1e-12);
  assert.equal(s.relevanceRankAccuracy, 7 / 8, 'top 8 voxels: 40, then 0..3, then the zeros 4, 6, 7 (ties by index; 5 is negative)');
  assert.equal(s.pointingGame, false, 'the maximum (voxel 40) is outside');
  assert.equal(localisation(heat, mask, shape, 3).pointingGame, true, 'within 3 voxels of the region');
  const per = relevancePerRegion(heat, Uint8Array.from({ length: 64 }, (_, i) => (i < 4 ? 7 : i === 40 ? 9 : 0)));
  assert.ok(Math.abs(per.get(7)!.share - 4 / 6) < 1e-12);
  assert.ok(Math.abs(per.get(9)!.share - 2 / 6) < 1e-12);
});

test('the sanity check randomises exactly the layers it says, restores the model, and reproduces its randomised maps', () => {
  const m = buildModel('mnist-3conv', { inputSize: 16, baseWidth: 4, seed: 2 });
  const x = tf.randomUniform([2, 16, 16, 16, 1], 0, 1, 'float32', 3) as tf.Tensor5D;
  const before = m.getWeights().map((w) => w.dataSync().slice());
  const r = sanityCheck(m, x, { method: 'lrp', composite: 'composite2' }, { seed: 5 });
  assert.deepEqual(r.steps.map((s) => s.randomised), [['dense'], ['dense', 'conv3'], ['dense', 'conv3', 'conv2'], ['dense', 'conv3', 'conv2', 'conv1']]);
  m.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), before[i], 'weights restored'));
  const ind = sanityCheck(m, x, { method: 'gradient' }, { mode: 'independent', seed: 5 });
  assert.deepEqual(ind.steps.map((s) => s.randomised), [['dense'], ['conv3'], ['conv2'], ['conv1']]);
  const camCheck = sanityCheck(m, x, { method: 'cam' });
  assert.equal(camCheck.steps.length, 1, 'CAM: only the Dense layer matters');
  // Step 2 by hand: dense and conv3 re-initialised with the documented seeds.
  const layers = weightLayersTopDown(m).slice(0, 2);
  const saved = m.layers.map((l) => l.getWeights().map((w) => w.clone()));
  for (const t of layers) {
    const li = m.layers.indexOf(t);
    t.setWeights(t.getWeights().map((w, j) => tf.truncatedNormal(w.shape, 0, 0.01, 'float32', 5 * 1000 + li * 10 + j)));
  }
  const manual = explainTensor(m, x, { method: 'lrp', composite: 'composite2', classes: r.classes }).maps[0];
  m.layers.forEach((l, i) => l.setWeights(saved[i]));
  assert.deepEqual(Array.from(manual), Array.from(r.steps[1].firstMap));
  assert.ok(r.steps[0].mean.spearman <= 1 && r.steps[0].mean.ssim <= 1 + 1e-9);
  assert.match(r.reinitialisation, /truncated normal, mean 0, std 0\.01, seed 5/);
});

test('MoRF >= random >= LeRF on a trained model; the aopc and sanity CLIs write their JSON', { timeout: 600_000 }, async () => {
  const ds = await loadMnist3d({ size: 16, trainCount: 240, testCount: 0 }, { root: tempDir() });
  const run = await trainKFold(ds, { model: 'mnist-2conv', folds: 2, epochs: 6, patience: 6, learningRate: 1e-2, batchSize: 16, valFraction: 0.1, baseWidth: 4, seed: 1 }, { root: tempDir() });
  const model = await loadFoldModel(run, 0);
  const idx = Array.from({ length: 12 }, (_, i) => i * 7);
  const x = batchTensor(ds, idx);
  const e = explainTensor(model, x, { method: 'inputxgradient' });
  const vols = idx.map((i) => ds.volume(i));
  // Removal (constant 0) of what the heatmap marks as evidence.
  const cfg = { strideVoxels: 2, steps: 64, score: 'logit' as const, seed: 2, perturb: { kind: 'constant' as const, value: 0 } };
  const morf = aopc(model, vols, [16, 16, 16], e.maps, { ...cfg, order: 'morf' }, e.classes).aopc;
  const rnd = aopc(model, vols, [16, 16, 16], e.maps, { ...cfg, order: 'random' }, e.classes).aopc;
  const lerf = aopc(model, vols, [16, 16, 16], e.maps, { ...cfg, order: 'lerf' }, e.classes).aopc;
  assert.ok(morf >= rnd && rnd >= lerf, `MoRF ${morf} >= random ${rnd} >= LeRF ${lerf}`);
  // CLIs.
  const dir = tempDir();
  await saveModel(model, path.join(dir, 'm'));
  const inputs = [0, 1].map((k) => {
    const f = path.join(dir, `in${k}.npy`);
    writeNpy(f, vols[k], [16, 16, 16]);
    return f;
  });
  const heat = path.join(dir, 'h0.npy');
  writeNpy(heat, e.maps[0], [16, 16, 16]);
  const modelJson = path.join(dir, 'm', 'model.json');
  const a = runCli(['aopc', '--model', modelJson, '--input', inputs[0], '--heatmap', heat, '--stride', '4', '--steps', '10', '--hp', 'sum', '--strategy', 'uniform', '--order', 'morf', '--perturb', 'constant:0', '--seed', '1', '--score', 'softmax', '--out', path.join(dir, 'a.json')]);
  assert.equal(a.status, 0, a.stderr);
  const aj = JSON.parse(fs.readFileSync(path.join(dir, 'a.json'), 'utf8'));
  assert.deepEqual(Object.keys(aj), ['curve', 'scores', 'aopc', 'coverage', 'config']);
  assert.equal(aj.curve.length, 11);
  assert.equal(aj.scores[0].length, 11);
  assert.equal(aj.coverage, 10 / 64);
  const b = runCli(['aopc', '--model', modelJson, '--input', inputs[0], '--input', inputs[1], '--method', 'lrp', '--composite', 'composite1', '--stride', '4', '--steps', '5', '--strategy', 'greedy', '--out', path.join(dir, 'b.json')]);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'b.json'), 'utf8')).scores.length, 2);
  const bad = runCli(['aopc', '--model', modelJson, '--input', inputs[0], '--heatmap', heat, '--perturb', 'noise', '--out', path.join(dir, 'c.json')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--perturb noise: use uniform or constant:V/);
  const s = runCli(['sanity', '--model', modelJson, '--input', inputs[0], '--method', 'lrp', '--composite', 'composite3', '--mode', 'cascading', '--out', path.join(dir, 's.json')]);
  assert.equal(s.status, 0, s.stderr);
  const sj = JSON.parse(fs.readFileSync(path.join(dir, 's.json'), 'utf8'));
  assert.equal(sj.steps.length, 3);
  assert.ok(['pass', 'fail'].includes(sj.verdict));
  assert.ok(sj.classSensitivity.mean.spearman <= 1);
  x.dispose();
});
