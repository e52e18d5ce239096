/** The job graph runs locally and fills exactly the cache the notebooks read. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';
import { runCli, runTsx, tempDir } from './helpers';

test('xai3d plan lists the units with dependencies; unknown ids and stages are one-line errors', () => {
  const r = runCli(['plan', '--profile', 'tiny', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const jobs = JSON.parse(r.stdout).jobs as { id: string; deps: string[]; stage: string }[];
  const ids = new Set(jobs.map((j) => j.id));
  for (const j of jobs) for (const d of j.deps) assert.ok(ids.has(d), `${j.id} depends on a unit of the graph (${d})`);
  // Dependencies come first.
  jobs.forEach((j, i) => j.deps.forEach((d) => assert.ok(jobs.findIndex((x) => x.id === d) < i)));
  assert.ok(ids.has('train/mnist3d/mnist-2conv/fold-1') && ids.has('eval/sanity/oasis2') && ids.has('report'));
  const bad = runCli(['job', 'train/nothing', '--profile', 'tiny']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no job "train\/nothing" in profile tiny/);
  const st = runCli(['run', '--profile', 'tiny', '--stages', 'data,fly']);
  assert.equal(st.status, 2);
  assert.match(st.stderr, /"fly" is not a stage/);
});

test('xai3d run --jobs 2 computes the sanity and AOPC studies the notebooks then read from the cache', { timeout: 600_000 }, () => {
  const results = tempDir();
  const env = { XAI3D_RESULTS: results, XAI3D_QUIET: '1' };
  const r = runCli(['run', '--profile', 'tiny', '--jobs', '2', '--stages', 'data,train,summary,eval'], env);
  assert.equal(r.status, 0, r.stderr);
  const entries = () => ['sanity', 'aopc'].flatMap((k) => fs.readdirSync(path.join(results, k)).filter((f) => !f.startsWith('.')).map((f) => `${k}/${f}`)).sort();
  const before = entries();
  assert.ok(before.filter((e) => e.startsWith('sanity/')).length >= 3, 'the eval units computed sanity checks');
  assert.ok(before.filter((e) => e.startsWith('aopc/')).length >= 10, 'the eval units computed AOPC curves');
  const again = runCli(['run', '--profile', 'tiny', '--stages', 'data,train,summary,eval'], env);
  assert.match(again.stderr, /nothing to do/);
  const nb = runTsx(path.join(PROJECT_ROOT, 'scripts', 'run-notebooks.ts'), ['05', '06', '--profile', 'tiny', '--out', path.join(results, 'nb'), '--parallel', '2'], env);
  assert.equal(nb.status, 0, nb.stderr + nb.stdout);
  assert.deepEqual(entries(), before, 'the notebooks computed nothing new: every AOPC and sanity result was a cache hit');
  // Two runners at once: each line names its notebook, both executed copies exist, timings.json has both.
  assert.match(nb.stdout, /^05\| \[\d\/2\] 05-aopc: ok in/m);
  assert.match(nb.stdout, /^06\| \[\d\/2\] 06-sanity-check: ok in/m);
  const timings = JSON.parse(fs.readFileSync(path.join(results, 'nb', 'timings.json'), 'utf8')) as Record<string, number>;
  assert.deepEqual(Object.keys(timings).sort(), ['05-aopc', '06-sanity-check']);
  for (const n of Object.keys(timings)) assert.ok(fs.existsSync(path.join(results, 'nb', `${n}.html`)), n);
});

test('local workers start the unit with the longest remaining chain first; the quick graph has a localisation unit per brain model', () => {
  const { remainingPathSeconds } = require('../lib/jobs/engine') as typeof import('../lib/jobs/engine');
  const { profileJobs } = require('../lib/jobs/graph') as typeof import('../lib/jobs/graph');
  const job = (id: string, cpuSeconds: number, deps: string[] = []) => ({ id, stage: 'train' as const, deps, cpuSeconds, memoryMb: 1 });
  // a (10) -> c (100); b (50) alone: a's chain is 110 s, b's 50 s, so a goes first although it is shorter itself.
  const paths = remainingPathSeconds([job('a', 10), job('b', 50), job('c', 100, ['a'])]);
  assert.deepEqual([...paths.entries()].sort(), [['a', 110], ['b', 50], ['c', 100]]);
  const quick = profileJobs('quick');
  for (const m of ['oasis-3conv', 'oasis-6conv']) {
    const loc = quick.find((j) => j.id === `eval/localisation/oasis2/${m}`);
    assert.ok(loc, m);
    assert.deepEqual(loc!.deps, [`train/oasis2/${m}/summary`]);
    assert.ok(quick.find((j) => j.id === 'report')!.deps.includes(loc!.id), 'the report waits for it');
  }
});

test('the localisation sessions: half of each class in test order, the other class filling up when one runs out', () => {
  const { localisationSessions } = require('../lib/workflow/spec') as typeof import('../lib/workflow/spec');
  const labels = [0, 0, 0, 1, 0, 1, 0, 0, 1, 0];
  const test = [9, 0, 1, 3, 2, 4, 5, 8, 6, 7];
  assert.deepEqual(localisationSessions(test, labels, 4), [9, 0, 3, 5]);
  // Three AD sessions only: all three, the rest NC.
  assert.deepEqual(localisationSessions(test, labels, 8), [9, 0, 1, 3, 2, 4, 5, 8]);
  assert.deepEqual(localisationSessions(test, labels, 20), test, 'never more than the fold has');
});

test('a unit marker written by other code versions or settings does not count as done', async () => {
  const { isDone, findJob, unitKey } = require('../lib/jobs/graph') as typeof import('../lib/jobs/graph');
  const root = tempDir();
  const job = findJob('tiny', 'eval/sanity/mnist3d');
  const file = path.join(root, 'jobs', 'tiny', 'eval_sanity_mnist3d.done');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, new Date().toISOString() + '\n'); // the old marker format: a date only
  assert.equal(await isDone('tiny', job, root), false);
  fs.writeFileSync(file, JSON.stringify({ key: 'an older key' }));
  assert.equal(await isDone('tiny', job, root), false);
  fs.writeFileSync(file, JSON.stringify({ key: unitKey('tiny', job.id) }));
  assert.equal(await isDone('tiny', job, root), true);
  assert.notEqual(unitKey('tiny', job.id), unitKey('quick', job.id), 'the profile is part of the key');
});

test('a dataset registered from user code gets data, training and summary units, trains through the unit runner and learns', { timeout: 300_000 }, async () => {
  const { registerDataset, datasetNames, datasetEntry } = require('../lib/data/registry') as typeof import('../lib/data/registry');
  const { profileJobs, runJob, isDone } = require('../lib/jobs/graph') as typeof import('../lib/jobs/graph');
  const { initBackend } = require('../lib/backend/select') as typeof import('../lib/backend/select');
  await initBackend({ backend: 'cpu' });
  const root = tempDir();
  process.env.XAI3D_RESULTS = root;
  // 48 volumes of 8^3 noise; class 1 has a bright 3^3 cube at a fixed place, class 0 none.
  let seed = 5;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const count = 48;
  const vols = Array.from({ length: count }, (_, i) => Float32Array.from({ length: 512 }, (_, v) => {
    const [d, h, w] = [v >> 6, (v >> 3) & 7, v & 7];
    return 0.3 * rand() + (i % 2 === 1 && d >= 2 && d < 5 && h >= 2 && h < 5 && w >= 2 && w < 5 ? 0.7 : 0);
  }));
  const ds = {
    name: 'blobs', shape: [8, 8, 8] as [number, number, number], count, labels: Int32Array.from({ length: count }, (_, i) => i % 2), classNames: ['empty', 'cube'],
    groups: vols.map((_, i) => `b${i}`), ids: vols.map((_, i) => `b${i}`), spacingMm: [1, 1, 1] as [number, number, number], volume: (i: number) => vols[i].slice(), meta: { seed: 5 }, fingerprint: 'blobs-v1',
  };
  registerDataset({
    name: 'blobs', title: 'Blobs', load: async () => ds, side: () => 8, volumes: () => count, models: () => ['mnist-2conv'], presets: ['mnist-2conv'],
    training: () => ({ folds: 2, epochs: 12, patience: 4, learningRate: 1e-2, batchSize: 8, valFraction: 0.2, baseWidth: 4 }),
    buildSeconds: () => 1, secondsPerVolumeEpoch64: () => 0.25,
  });
  assert.throws(() => registerDataset({ ...datasetEntry('blobs') }), /already registered/);
  assert.throws(() => registerDataset({ ...datasetEntry('blobs'), name: 'blobs2', presets: ['nope' as never] }), /unknown preset "nope"/);
  assert.deepEqual(datasetNames().slice(0, 3), ['mnist3d', 'oasis2', 'blobs']);
  const jobs = profileJobs('tiny').filter((j) => j.dataset === 'blobs');
  assert.deepEqual(jobs.map((j) => j.id), ['data/blobs', 'train/blobs/mnist-2conv/fold-1', 'train/blobs/mnist-2conv/fold-2', 'train/blobs/mnist-2conv/summary']);
  assert.ok(profileJobs('tiny').find((j) => j.id === 'report')!.deps.includes('train/blobs/mnist-2conv/summary'));
  try {
    for (const j of jobs) await runJob('tiny', j, root, async () => undefined);
    for (const j of jobs) assert.ok(await isDone('tiny', j, root), `${j.id} done`);
    const { trainKFold } = require('../lib/training/train') as typeof import('../lib/training/train');
    const run = await trainKFold(ds, { ...datasetEntry('blobs').training(undefined as never), model: 'mnist-2conv', seed: 0 }, { onlyFolds: [] });
    assert.equal(run.folds.length, 2, 'a cache hit: both folds trained by the units');
    assert.ok(run.mean > 0.8, `the cube is learned (test accuracy ${run.mean})`);
  } finally {
    delete process.env.XAI3D_RESULTS;
  }
});
