/** The metrics registry: built-ins agree with the functions they wrap; a user metric runs the same way. */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { buildModel } from '../lib/models/presets';
import { aopc } from '../lib/evaluate/aopc';
import { localisation, positiveShareInside, type Shape3 } from '../lib/evaluate/localisation';
import { evaluateMetric, metricNames, registerMetric, userMetricDefinition } from '../lib/evaluate/metrics';

before(async () => {
  await initBackend({ backend: 'cpu' });
});

const shape: Shape3 = [8, 8, 8];
const n = 512;
let seed = 11;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

test('the localisation metrics: a map equal to the region scores 1, others agree with localisation()', () => {
  assert.deepEqual(metricNames().slice(0, 5), ['aopc', 'relevance-mass-accuracy', 'relevance-rank-accuracy', 'pointing-game', 'inside-mask']);
  const region = Uint8Array.from({ length: n }, (_, i) => (i % 64 < 8 ? 1 : 0));
  const brain = Uint8Array.from({ length: n }, (_, i) => (i < 384 ? 1 : 0));
  const maps = [Float32Array.from(region), Float32Array.from({ length: n }, () => rand() - 0.3)];
  const input = { shape, volumes: maps.map(() => new Float32Array(n)), maps, classes: [0, 0], regions: [region, region], masks: [brain, brain] };
  const mass = evaluateMetric('relevance-mass-accuracy', input).scores;
  const rank = evaluateMetric('relevance-rank-accuracy', input).scores;
  const point = evaluateMetric('pointing-game', input, { toleranceVoxels: 0 });
  assert.deepEqual([mass[0], rank[0], point.scores[0]], [1, 1, 1], 'the heatmap equal to the mask');
  assert.deepEqual(point.config, { toleranceVoxels: 0 });
  const ref = localisation(maps[1], region, shape, 2, brain);
  assert.equal(mass[1], ref.relevanceMassAccuracy);
  assert.equal(rank[1], ref.relevanceRankAccuracy);
  assert.equal(evaluateMetric('pointing-game', input).scores[1], ref.pointingGame);
  assert.equal(evaluateMetric('inside-mask', input).scores[1], positiveShareInside(maps[1], brain));
  assert.ok(Number.isNaN(evaluateMetric('relevance-mass-accuracy', { ...input, regions: [null, region] }).scores[0]), 'no ground truth: NaN, not 0');
  assert.throws(() => evaluateMetric('pointing-game', input, { toleranceVoxels: -1 }), /toleranceVoxels -1: must be an integer >= 0/);
  assert.throws(() => evaluateMetric('pointing-game', input, { tolerance: 1 }), /tolerance: not an option of the localisation metrics/);
  assert.throws(() => evaluateMetric('pointing-game', { ...input, regions: undefined }), /metric pointing-game needs regions/);
  assert.throws(() => evaluateMetric('pointing-game', { ...input, maps: [maps[0]] }), /2 volumes, 1 maps and 2 classes/);
  assert.throws(() => evaluateMetric('nothing', input), /unknown metric "nothing"; use one of aopc/);
});

test('the aopc metric is aopc() per volume; a user metric registers, resolves and evaluates the same way', () => {
  const model = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 4, seed: 3 });
  const volumes = [0, 1, 2].map(() => Float32Array.from({ length: n }, rand));
  const maps = volumes.map((v) => v.map((x) => x - 0.5));
  const input = { shape, volumes, maps, classes: [0, 1, 2], model };
  const cfg = { strideVoxels: 4, steps: 6, seed: 1 };
  const r = evaluateMetric('aopc', input, cfg);
  const ref = aopc(model, volumes, shape, maps, cfg, [0, 1, 2]);
  assert.ok(Math.abs(r.scores.reduce((a, b) => a + b, 0) / 3 - ref.aopc) < 1e-12);
  assert.equal(r.config.steps, 6);
  assert.equal(r.config.hp, 'sum', 'defaults filled in');
  assert.throws(() => evaluateMetric('aopc', { ...input, model: undefined }, cfg), /metric aopc needs model/);
  // A user metric (the share of voxels with positive relevance), as a notebook cell would add it.
  registerMetric<{ above: number }>({
    name: 'positive-share',
    needs: [],
    higherIsBetter: false,
    defaults: { above: 0 },
    resolve: (p) => {
      const above = p.above ?? 0;
      if (!Number.isFinite(above)) throw new Error(`above ${above}: must be a finite number`);
      return { above };
    },
    evaluate: (inp, c) => inp.maps.map((m) => m.filter((v) => v > c.above).length / m.length),
  });
  const mine = evaluateMetric('positive-share', input, { above: 0.25 });
  assert.deepEqual(mine.scores, maps.map((m) => m.filter((v) => v > 0.25).length / n));
  assert.throws(() => evaluateMetric('positive-share', input, { above: NaN }), /above NaN: must be a finite number/);
  assert.throws(() => registerMetric({ name: 'aopc', needs: [], higherIsBetter: true, defaults: {}, resolve: () => ({}), evaluate: () => [] }), /already registered/);
  assert.match(userMetricDefinition('positive-share')!, /inp\.maps\.map/, 'its source is part of cache keys');
  assert.equal(userMetricDefinition('aopc'), null);
  model.dispose();
  void tf;
});
