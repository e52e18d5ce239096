/** Evaluation: AOPC (known answers, orders, greedy, seeds), similarity metrics, the sanity check, localisation, CLIs. */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { aopc, greedyOrder, uniformOrder, resolveAopcConfig } from '../lib/evaluate/aopc';
import { pearson, ranks, similarity, spearman, ssim3d } from '../lib/evaluate/similarity';
import { layerSeed, normalisedChange, sanityCheck, stepStatus, weightLayersTopDown } from '../lib/evaluate/sanity';
import { localisation, positiveShareInside, relevancePerRegion, selectKth, topKInside } from '../lib/evaluate/localisation';
import { modelChain, disposeChain, forwardChain } from '../lib/explain/chain';
import { explainTensor } from '../lib/explain/explain';
import { buildModel } from '../lib/models/presets';
import { globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';
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

/** 3D SSIM of the maps built in the similarity test, computed with scikit-image 0.19.3 (see that test). */
const SSIM_REFERENCE: { shape: [number, number, number]; noise: number; ssim: number }[] = [
  { shape: [7, 7, 7], noise: 0.3, ssim: 0.8544513111873768 },
  { shape: [9, 10, 11], noise: 0.8, ssim: 0.710202429700124 },
  { shape: [12, 12, 12], noise: 0.1, ssim: 0.8787421590625025 },
];

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
  assert.throws(() => aopc(m, [vol], [8, 8, 8], [heat], { ...cfg, steps: 9 }, [0]), /steps 9 is more than the 8 cubes/);
  assert.throws(() => aopc(m, [vol], [8, 8, 8], [heat.slice(1)], cfg, [0]), /heatmap 0 has 511 voxels/);
});

test('uniform MoRF order sorts by priority, ties by the lower cube index', () => {
  const shape: [number, number, number] = [6, 6, 6];
  const map = new Float32Array(216);
  const put = (d: number, h: number, w: number, v: number) => (map[(d * 6 + h) * 6 + w] = v);
  put(5, 5, 5, 5);
  put(0, 0, 0, -3);
  put(2, 2, 2, 1);
  const u = uniformOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'morf', seed: 0 });
  assert.equal(u.length, 27);
  assert.deepEqual(u[0], { d: 4, h: 4, w: 4 }, 'sum 5 first');
  assert.deepEqual(u[1], { d: 2, h: 2, w: 2 }, 'then sum 1');
  // The 24 cubes of priority 0 follow in row-major cube order.
  const key = (c: { d: number; h: number; w: number }) => ((c.d / 2) * 3 + c.h / 2) * 3 + c.w / 2;
  const zeros = u.slice(2, 26).map(key);
  assert.deepEqual(zeros, [...zeros].sort((a, b) => a - b), 'ties keep the lower cube index first');
  assert.equal(zeros.length, 24);
  assert.deepEqual(u[26], { d: 0, h: 0, w: 0 }, 'the negative cube last');
  const lerf = uniformOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'lerf', seed: 0 });
  assert.deepEqual(lerf[0], { d: 0, h: 0, w: 0 }, 'the negative cube first under LeRF');
  const abs = uniformOrder(map, shape, { strideVoxels: 2, hp: 'abs', order: 'morf', seed: 0 });
  assert.deepEqual(abs.slice(0, 3).map(key), [26, 0, 13], '|sum| ranks 5, |-3|, 1');
});

test('greedy search: a new cube every step, on a signed map, for MoRF/LeRF x sum/abs; coverage counts perturbed voxels', () => {
  const shape: [number, number, number] = [16, 16, 16];
  const map = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * Math.cos(i * 0.011) - 0.2);
  for (const order of ['morf', 'lerf'] as const) {
    for (const hp of ['sum', 'abs'] as const) {
      const g = greedyOrder(map, shape, { strideVoxels: 4, hp, order, steps: 20, candidateStride: 1 });
      const keys = new Set(g.map((c) => `${c.d},${c.h},${c.w}`));
      assert.equal(keys.size, 20, `${order}/${hp}: 20 distinct cubes (got ${keys.size})`);
    }
  }
  // Coverage is the share of voxels actually perturbed (overlaps counted once).
  const m = cubeSumModel();
  const vol = new Float32Array(512).fill(0.5);
  const heat = new Float32Array(512);
  heat[0] = 1; // one hot voxel: overlapping cubes around it all hold positive relevance only at first
  const r = aopc(m, [vol], [8, 8, 8], [heat], { strideVoxels: 4, steps: 3, strategy: 'greedy', candidateStride: 1, score: 'logit', perturb: { kind: 'constant', value: 0 } }, [0]);
  const touched = new Uint8Array(512);
  const g = greedyOrder(heat, [8, 8, 8], { strideVoxels: 4, hp: 'sum', order: 'morf', steps: 3 });
  for (const c of g) for (let d = c.d; d < c.d + 4; d++) for (let h = c.h; h < c.h + 4; h++) for (let w = c.w; w < c.w + 4; w++) touched[(d * 8 + h) * 8 + w] = 1;
  assert.equal(r.coverage, touched.reduce((a, t) => a + t, 0) / 512);
  assert.ok(r.coverage < 3 * 64 / 512, 'overlapping cubes cover fewer voxels than 3 disjoint ones');
  // candidateStride: corners only on its grid.
  const g2 = greedyOrder(map, shape, { strideVoxels: 4, hp: 'sum', order: 'morf', steps: 10, candidateStride: 4 });
  assert.ok(g2.every((c) => c.d % 4 === 0 && c.h % 4 === 0 && c.w % 4 === 0));
  assert.throws(() => resolveAopcConfig({ strategy: 'greedy', strideVoxels: 4, steps: 28, candidateStride: 4 }, [8, 8, 8]), /steps 28 is more than the 8 greedy candidates/);
  assert.throws(() => resolveAopcConfig({ candidateStride: 0 }, [8, 8, 8]), /candidateStride 0: must be an integer >= 1/);
});

test('greedy search by hand: overlapping candidates, priority over the voxels not yet perturbed', () => {
  // 1-voxel-thick volume 1x1x6 is not allowed (s <= every side), so use 2x2x6 with cubes of side 2: candidates at
  // w = 0..4. Relevance per column w (both rows equal): [0, 3, 3, 0, 2, 2] / 4 per voxel.
  const shape: [number, number, number] = [2, 2, 6];
  const col = [0, 3, 3, 0, 2, 2];
  const map = Float32Array.from({ length: 24 }, (_, i) => col[i % 6] / 4);
  // Step 1: sums per candidate w=0..4: [3, 6, 3, 2, 4] -> w=1 (columns 1-2).
  // Step 2: columns 1-2 perturbed; remaining: w=0: col0 = 0, w=2: col3 = 0, w=3: col3+col4 = 2, w=4: 4 -> w=4.
  // Step 3: w=0 (0, one free column), w=2 (0), w=3 (col3 = 0): all 0 -> the lowest index, w=0.
  // Step 4: w=2 (col 3 free, 0) and w=3 (col 3 free, 0): tie -> w=2. Then no candidate holds a free voxel.
  const g = greedyOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'morf', steps: 4 });
  assert.deepEqual(g.map((c) => c.w), [1, 4, 0, 2]);
  assert.throws(() => greedyOrder(map, shape, { strideVoxels: 2, hp: 'sum', order: 'morf', steps: 5 }), /only 4 cubes of side 2 can be chosen/);
  // The old rule (perturbed voxels zeroed, any cube allowed) would pick the perturbed w=1 again at step 3 for a
  // negative map: here a map that is negative outside columns 1-2.
  const neg = Float32Array.from({ length: 24 }, (_, i) => ([1, 2].includes(i % 6) ? 1 : -1));
  const gn = greedyOrder(neg, shape, { strideVoxels: 2, hp: 'sum', order: 'morf', steps: 3 });
  assert.equal(new Set(gn.map((c) => c.w)).size, 3, 'three different cubes');
});

test('AOPC scores from the logits: a softmax-output model gives the curves of its linear twin; score logit returns logits', () => {
  const build = (activation: 'softmax' | 'linear') => {
    const m = tf.sequential({ layers: [tf.layers.conv3d({ inputShape: [8, 8, 8, 1], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' }), tf.layers.flatten(), tf.layers.dense({ units: 3, activation, name: 'dense' })] });
    return m;
  };
  const lin = build('linear');
  const soft = build('softmax');
  soft.setWeights(lin.getWeights());
  const vol = Float32Array.from({ length: 512 }, (_, i) => ((i * 7919) % 97) / 97);
  const heat = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i));
  for (const score of ['softmax', 'logit'] as const) {
    const cfg = { strideVoxels: 4, steps: 5, score, seed: 3 };
    const a = aopc(lin, [vol], [8, 8, 8], [heat], cfg, [1]);
    const b = aopc(soft, [vol], [8, 8, 8], [heat], cfg, [1]);
    assert.deepEqual(b.scores, a.scores, `${score}: identical scores`);
  }
  const chain = modelChain(lin);
  const z = tf.tidy(() => forwardChain(chain, tf.tensor5d(vol, [1, 8, 8, 8, 1])).logits.arraySync()[0][1]);
  disposeChain(chain);
  const r = aopc(soft, [vol], [8, 8, 8], [heat], { strideVoxels: 4, steps: 2, score: 'logit' }, [1]);
  assert.ok(Math.abs(r.scores[0][0] - z) < 1e-5, `logit ${r.scores[0][0]} = ${z}`);
  const p = aopc(soft, [vol], [8, 8, 8], [heat], { strideVoxels: 4, steps: 2, score: 'softmax' }, [1]).scores[0][0];
  const probs = tf.tidy(() => (soft.predict(tf.tensor5d(vol, [1, 8, 8, 8, 1])) as tf.Tensor2D).arraySync()[0]);
  assert.ok(Math.abs(p - probs[1]) < 1e-5, 'softmax score = the model\'s own probability, not a softmax of it');
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

test('similarity: Spearman (with ties) and Pearson by hand; 3D SSIM against scikit-image; constant maps are undefined', () => {
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12);
  assert.deepEqual(Array.from(ranks([10, 10, 20, 5])), [2.5, 2.5, 4, 1]);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6.5]) - 4.5 / Math.sqrt(2 * (61 / 6))) < 1e-12);
  assert.equal(spearman([1, 2, 3], [3, 2, 1]), -1);
  // Reference: skimage.metrics.structural_similarity(a, b, win_size=7, data_range=1, gaussian_weights=False,
  // use_sample_covariance=False) on the min-max normalised maps (scikit-image 0.19.3, Debian python3-skimage);
  // see SSIM_REFERENCE below for the inputs.
  for (const ref of SSIM_REFERENCE) {
    const shape = ref.shape;
    const n = shape[0] * shape[1] * shape[2];
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) + 0.5 * Math.cos(i * 0.13));
    const y = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) + ref.noise * Math.cos(i * 1.9));
    assert.ok(Math.abs(ssim3d(x, y, shape) - ref.ssim) < 1e-5, `${shape.join('x')} noise ${ref.noise}: ${ssim3d(x, y, shape)} vs scikit-image ${ref.ssim}`);
  }
  const c = new Float32Array(343).fill(0.3);
  const v = Float32Array.from({ length: 343 }, (_, i) => i);
  assert.ok(Number.isNaN(pearson(c, v)) && Number.isNaN(spearman(c, c)), 'a constant map has no correlation');
  const sim = similarity(c, v, [7, 7, 7]);
  assert.ok(Object.values(sim).every((t) => Number.isNaN(t)), 'every similarity with a constant map is NaN');
});

test('localisation scores on a hand-made heatmap and region; chance levels; ties; empty region', () => {
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
  assert.equal(s.pointingGame, 0, 'the maximum (voxel 40) is outside');
  assert.equal(s.chanceMass, 8 / 64);
  assert.equal(localisation(heat, mask, shape, 3).pointingGame, 1, 'within 3 voxels of the region');
  // A heatmap equal to the mask: mass 1, rank 1, pointing 1 (all maxima tie, every one inside).
  const same = localisation(Float32Array.from(mask), mask, shape, 0);
  assert.deepEqual([same.relevanceMassAccuracy, same.relevanceRankAccuracy, same.pointingGame], [1, 1, 1]);
  // Ties for the maximum: one inside is enough.
  const tie = new Float32Array(64);
  tie[63] = 3;
  tie[2] = 3;
  assert.equal(localisation(tie, mask, shape, 0).pointingGame, 1);
  tie[2] = 2.9;
  assert.equal(localisation(tie, mask, shape, 0).pointingGame, 0);
  // An empty region: NaN, never 0.
  const empty = localisation(heat, new Uint8Array(64), shape, 0);
  assert.ok(Number.isNaN(empty.relevanceMassAccuracy) && Number.isNaN(empty.relevanceRankAccuracy) && Number.isNaN(empty.pointingGame));
  const flat = localisation(new Float32Array(64).fill(0.56), mask, shape, 0);
  assert.ok(Number.isNaN(flat.pointingGame) && Number.isNaN(flat.relevanceMassAccuracy), 'a constant map localises nothing');
  // Chance within a brain mask: the region's share of the brain.
  const brain = Uint8Array.from({ length: 64 }, (_, i) => (i < 32 ? 1 : 0));
  assert.equal(localisation(heat, mask, shape, 0, brain).chanceMass, 8 / 32);
  assert.ok(Math.abs(positiveShareInside(heat, brain) - 4 / 6) < 1e-12, 'voxel 40 lies outside the brain');
  assert.throws(() => localisation(Float32Array.from(heat, (v, i) => (i === 9 ? NaN : v)), mask, shape), /non-finite value \(NaN\) at voxel 9/);
  const per = relevancePerRegion(heat, Uint8Array.from({ length: 64 }, (_, i) => (i < 4 ? 7 : i === 40 ? 9 : 0)));
  assert.ok(Math.abs(per.get(7)!.share - 4 / 6) < 1e-12);
  assert.ok(Math.abs(per.get(9)!.share - 2 / 6) < 1e-12);
});

test('the sanity check: the full cascade for every method, distinct non-zero seeds, restored weights, reproducible maps', () => {
  const m = buildModel('mnist-3conv', { inputSize: 16, baseWidth: 4, seed: 2 });
  const x = tf.randomUniform([2, 16, 16, 16, 1], 0, 1, 'float32', 3) as tf.Tensor5D;
  const before = m.getWeights().map((w) => w.dataSync().slice());
  const r = sanityCheck(m, x, { method: 'lrp', composite: 'composite2' }, { seed: 5, resamples: 200 });
  assert.deepEqual(r.steps.map((s) => s.randomised), [['dense'], ['dense', 'conv3'], ['dense', 'conv3', 'conv2'], ['dense', 'conv3', 'conv2', 'conv1']]);
  m.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), before[i], 'weights restored'));
  const ind = sanityCheck(m, x, { method: 'gradient' }, { mode: 'independent', seed: 5, resamples: 200 });
  assert.deepEqual(ind.steps.map((s) => s.randomised), [['dense'], ['conv3'], ['conv2'], ['conv1']]);
  const camCheck = sanityCheck(m, x, { method: 'cam' }, { resamples: 200 });
  assert.equal(camCheck.steps.length, 4, 'CAM gets the full cascade');
  assert.equal(sanityCheck(m, x, { method: 'cam' }, { camLayers: 'dense-only', resamples: 200 }).steps.length, 1, "the thesis's Dense-only CAM variant");
  // Step 2 by hand: dense and conv3 re-initialised with the documented seeds.
  const layers = weightLayersTopDown(m).slice(0, 2);
  const saved = m.layers.map((l) => l.getWeights().map((w) => w.clone()));
  for (const t of layers) {
    const li = m.layers.indexOf(t);
    t.setWeights(t.getWeights().map((w, j) => tf.truncatedNormal(w.shape, 0, 0.01, 'float32', layerSeed(5, li, j))));
  }
  const manual = explainTensor(m, x, { method: 'lrp', composite: 'composite2', classes: r.classes }).maps[0];
  m.layers.forEach((l, i) => l.setWeights(saved[i]));
  assert.deepEqual(Array.from(manual), Array.from(r.steps[1].firstMap));
  // Seeds: distinct and never 0 (tfjs treats 0 as unseeded), so seed 0 is as reproducible as seed 1.
  const seeds = new Set<number>();
  for (const sd of [0, 1]) for (let li = 0; li < 12; li++) for (let j = 0; j < 2; j++) seeds.add(layerSeed(sd, li, j));
  assert.equal(seeds.size, 48);
  assert.ok(![...seeds].includes(0));
  for (const seed of [0, 1]) {
    const a = sanityCheck(m, x, { method: 'gradient' }, { seed, resamples: 200 });
    const b = sanityCheck(m, x, { method: 'gradient' }, { seed, resamples: 200 });
    assert.deepEqual(a.steps.map((s) => s.mean), b.steps.map((s) => s.mean), `seed ${seed}: identical curves`);
    assert.deepEqual(Array.from(a.steps[3].firstMap), Array.from(b.steps[3].firstMap));
  }
  assert.throws(() => sanityCheck(m, x, { method: 'cam' }, { threshold: 2 }), /threshold 2: the normalised change lies in \[0, 1\]/);
  assert.throws(() => sanityCheck(m, x, { method: 'cam' }, { std: 0 }), /std 0: must be a number > 0/);
  x.dispose();
});

test('sanity verdict rule: the normalised change against the null, with its interval; constant maps are degenerate', () => {
  // Similarities 0.95 per volume against a null of 0.2: change (1-0.95)/(1-0.2) = 0.0625: unchanged.
  const un = normalisedChange([0.95, 0.94, 0.96, 0.95], [0.2, 0.25, 0.15, 0.2], 500, 0);
  assert.ok(Math.abs(un.estimate - 0.05 / 0.8) < 1e-9);
  assert.equal(stepStatus(un, 0.5), 'unchanged');
  const ch = normalisedChange([0.25, 0.2, 0.3, 0.2], [0.2, 0.25, 0.15, 0.2], 500, 0);
  assert.equal(stepStatus(ch, 0.5), 'changed');
  const mixed = normalisedChange([0.1, 0.9, 0.2, 0.8], [0.2, 0.2, 0.2, 0.2], 500, 0);
  assert.equal(stepStatus(mixed, 0.5), 'inconclusive', `interval ${mixed.lo}..${mixed.hi} contains 0.5`);
  assert.equal(stepStatus(normalisedChange([NaN, NaN], [0.2, 0.2], 500, 0), 0.5), 'degenerate');
  // A model whose CAM grid is 1x1x1 gives a constant map: every step degenerate, the verdict degenerate.
  const m = tf.sequential({ layers: [
    tf.layers.conv3d({ inputShape: [4, 4, 4, 1], filters: 2, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' }),
    tf.layers.maxPooling3d({ poolSize: 4, strides: 4, name: 'pool' }),
    globalAveragePooling3d({ name: 'gap' }),
    tf.layers.dense({ units: 2, name: 'dense' }),
  ] });
  const x = tf.randomUniform([3, 4, 4, 4, 1], 0, 1, 'float32', 1) as tf.Tensor5D;
  const r = sanityCheck(m, x, { method: 'cam' }, { resamples: 200 });
  assert.ok(r.steps.every((s) => s.status === 'degenerate'), r.steps.map((s) => s.status).join());
  assert.equal(r.verdict, 'degenerate');
  assert.ok(Number.isNaN(r.steps[0].mean.spearmanAbs));
  x.dispose();
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
  // Known result (Sixt et al. 2020): the z+ rule (alpha1beta0) keeps its map under top-layer randomisation far more
  // than input x gradient does.
  const sx = batchTensor(ds, idx.slice(0, 6));
  const zplus = sanityCheck(model, sx, { method: 'lrp', rules: { conv1: { rule: 'alphabeta', alpha: 1, beta: 0 }, conv2: { rule: 'alphabeta', alpha: 1, beta: 0 }, dense: { rule: 'zero' } } }, { resamples: 300 });
  const ixg = sanityCheck(model, sx, { method: 'inputxgradient' }, { resamples: 300 });
  // |Spearman| is near 1 for every map on these sparse volumes (the empty voxels tie at 0), so the null matters: the
  // normalised change separates the two (measured: z+ 0.37 [0.29, 0.47], input x gradient 0.65 [0.59, 0.72]).
  assert.ok(zplus.steps[0].change.hi < ixg.steps[0].change.lo, `z+ change ${JSON.stringify(zplus.steps[0].change)} vs input x gradient ${JSON.stringify(ixg.steps[0].change)}`);
  assert.equal(zplus.verdict, 'fail', 'z+ keeps its map: fails the check');
  assert.equal(ixg.verdict, 'pass');
  sx.dispose();
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
  assert.equal(aj.coverage, 10 / 64, 'uniform grid: 10 of 64 cubes perturbed');
  const b = runCli(['aopc', '--model', modelJson, '--input', inputs[0], '--input', inputs[1], '--method', 'lrp', '--composite', 'composite1', '--stride', '4', '--steps', '5', '--strategy', 'greedy', '--out', path.join(dir, 'b.json')]);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'b.json'), 'utf8')).scores.length, 2);
  const bad = runCli(['aopc', '--model', modelJson, '--input', inputs[0], '--heatmap', heat, '--perturb', 'noise', '--out', path.join(dir, 'c.json')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--perturb noise: use uniform, constant:V \(e.g. constant:0\) or reference/);
  const s = runCli(['sanity', '--model', modelJson, '--input', inputs[0], '--method', 'lrp', '--composite', 'composite3', '--mode', 'cascading', '--out', path.join(dir, 's.json')]);
  assert.equal(s.status, 0, s.stderr);
  const sj = JSON.parse(fs.readFileSync(path.join(dir, 's.json'), 'utf8'));
  assert.equal(sj.steps.length, 3);
  const st = sj.steps[0];
  const expected = st.status === 'changed' ? 'pass' : st.status === 'unchanged' ? 'fail' : st.status;
  assert.equal(sj.verdict, expected, 'the verdict follows the top-layer step');
  assert.ok(st.change.lo <= st.change.estimate && st.change.estimate <= st.change.hi);
  assert.ok(Math.abs(st.change.estimate - (1 - st.mean.spearmanAbs) / (1 - sj.null.mean)) < 1e-9, 'change = (1 - s) / (1 - null)');
  const badT = runCli(['sanity', '--model', modelJson, '--input', inputs[0], '--method', 'cam', '--threshold', '2', '--out', path.join(dir, 't.json')]);
  assert.equal(badT.status, 2);
  assert.match(badT.stderr, /--threshold 2: the normalised change lies in \[0, 1\]/);
  assert.ok(!fs.existsSync(path.join(dir, 't.json')));
  x.dispose();
});

test('selectKth: the value a numeric sort puts at index k, with ties, signed zeros and sorted or reversed inputs', () => {
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const inputs: Float64Array[] = [Float64Array.of(5), Float64Array.from({ length: 200 }, (_, i) => i), Float64Array.from({ length: 200 }, (_, i) => -i), new Float64Array(100).fill(2)];
  for (let t = 0; t < 30; t++) inputs.push(Float64Array.from({ length: 1 + Math.floor(rand() * 500) }, () => (t % 2 ? Math.floor(rand() * 5) - 2 : rand() - 0.5)));
  for (const a of inputs) {
    const sorted = Float64Array.from(a).sort();
    for (const k of [0, a.length - 1, Math.floor(a.length / 2), Math.floor(rand() * a.length)]) assert.equal(selectKth(Float64Array.from(a), k), sorted[k], `n ${a.length}, k ${k}`);
  }
  assert.throws(() => selectKth(new Float64Array(3), 3), /k 3 outside \[0, 3\)/);
});

test('rank accuracy: the top-k count without a comparator sort equals sorting every voxel by (value desc, index asc)', () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 40; trial++) {
    const n = 50 + Math.floor(rand() * 400);
    // Few distinct values (many ties), zeros of both signs, negatives.
    const map = Float32Array.from({ length: n }, () => { const v = Math.floor(rand() * 7) - 3; return v === 0 && rand() < 0.5 ? -0 : v / 2; });
    const region = Uint8Array.from({ length: n }, () => (rand() < 0.3 ? 1 : 0));
    for (const k of [0, 1, Math.floor(n / 3), n - 1, n]) {
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => map[b] - map[a] || a - b);
      const want = order.slice(0, k).filter((i) => region[i]).length;
      assert.equal(topKInside(map, region, k), want, `trial ${trial}, n ${n}, k ${k}`);
    }
  }
});
