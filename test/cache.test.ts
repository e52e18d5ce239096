import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cachedRun, loadRun, runDir } from '../lib/cache/results';
import { writeFileAtomic, readJson } from '../lib/io/atomic';
import { configHash, stableStringify } from '../lib/util/hash';
import { PROJECT_ROOT } from '../lib/env/paths';
import { tempDir } from './helpers';

process.env.XAI3D_BACKEND = 'cpu';
process.env.XAI3D_QUIET = '1';

test('config hashes ignore key order and differ for different values', () => {
  assert.equal(configHash({ a: 1, b: { c: 2, d: [1, 2] } }), configHash({ b: { d: [1, 2], c: 2 }, a: 1 }));
  assert.notEqual(configHash({ a: 1 }), configHash({ a: 2 }));
  assert.notEqual(configHash({ a: [1, 2] }), configHash({ a: [2, 1] }));
  assert.equal(stableStringify({ b: 1, a: undefined, c: 'x' }), '{"b":1,"c":"x"}');
  assert.throws(() => configHash({ a: NaN }), /non-finite/);
});

test('the same config twice computes once; force recomputes', async () => {
  const root = tempDir();
  let calls = 0;
  const config = { model: 'mnist-2conv', seed: 7, folds: 5 };
  const compute = async () => {
    calls += 1;
    return { accuracy: 0.5 + calls / 100 };
  };
  const a = await cachedRun('exp/test', config, compute, { root });
  const b = await cachedRun('exp/test', { folds: 5, seed: 7, model: 'mnist-2conv' }, compute, { root });
  assert.equal(calls, 1);
  assert.equal(a.fromCache, false);
  assert.equal(b.fromCache, true);
  assert.deepEqual(b.result, { accuracy: 0.51 });
  assert.equal(a.dir, b.dir);
  const c = await cachedRun('exp/test', config, compute, { root, force: true });
  assert.equal(calls, 2);
  assert.equal(c.fromCache, false);
  assert.deepEqual(loadRun('exp/test', config, { root })?.result, { accuracy: 0.52 });
  // Only the final folder is left: no temporary or old folders.
  assert.deepEqual(fs.readdirSync(path.join(root, 'exp', 'test')), [configHash(config)]);
});

test('the manifest records config, seed, versions, backend, git and timings', async () => {
  const root = tempDir();
  const run = await cachedRun(
    'manifest',
    { seed: 3, size: 8 },
    async (ctx) => {
      await ctx.time('step', () => new Promise((r) => setTimeout(r, 20)));
      fs.writeFileSync(path.join(ctx.dir, 'extra.bin'), Buffer.from([1, 2, 3]));
      return 42;
    },
    { root },
  );
  const m = readJson<Record<string, any>>(path.join(run.dir, 'manifest.json'));
  assert.deepEqual(m.config, { seed: 3, size: 8 });
  assert.equal(m.seed, 3);
  assert.equal(m.backend.name, 'cpu');
  assert.equal(m.versions.packages['@tensorflow/tfjs'], '4.22.0');
  assert.ok(m.timingsMs.step >= 15, JSON.stringify(m.timingsMs));
  assert.ok(m.timingsMs.total >= m.timingsMs.step);
  assert.ok('git' in m);
  assert.deepEqual([...fs.readFileSync(path.join(run.dir, 'extra.bin'))], [1, 2, 3]);
  assert.equal(run.result, 42);
});

test('a computation that throws leaves nothing behind', async () => {
  const root = tempDir();
  await assert.rejects(
    cachedRun('boom', { seed: 1 }, async (ctx) => {
      fs.writeFileSync(path.join(ctx.dir, 'partial.bin'), 'half');
      throw new Error('disk on fire');
    }, { root }),
    /disk on fire/,
  );
  assert.deepEqual(fs.readdirSync(path.join(root, 'boom')), []);
  assert.equal(loadRun('boom', { seed: 1 }, { root }), undefined);
});

test('a process killed between writing and renaming leaves no result; the next run computes and cleans up', async () => {
  const root = tempDir();
  const config = { seed: 5, what: 'killed' };
  // A child process writes its files, then dies (SIGKILL) before the rename that would publish them.
  const script = `
    process.env.XAI3D_BACKEND = 'cpu'; process.env.XAI3D_QUIET = '1';
    const fs = require('fs'); const path = require('path');
    const { cachedRun } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'lib/cache/results.ts'))});
    cachedRun('crash', ${JSON.stringify(config)}, async (ctx) => {
      fs.writeFileSync(path.join(ctx.dir, 'weights.bin'), Buffer.alloc(1024));
      fs.writeFileSync(path.join(ctx.dir, 'result.json'), '{"half":');
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => {});
    }, { root: ${JSON.stringify(root)} });`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', cwd: PROJECT_ROOT });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  const final = runDir('crash', config, { root });
  assert.equal(fs.existsSync(final), false, 'no final folder after the crash');
  assert.equal(loadRun('crash', config, { root }), undefined);
  // The killed run leaves its work folder and its lock (with the dead owner's pid): both are taken over below.
  const leftovers = fs.readdirSync(path.join(root, 'crash')).sort();
  assert.equal(leftovers.length, 2, leftovers.join(', '));
  assert.match(leftovers[0], /^\.tmp-/);
  assert.equal(leftovers[1], `${path.basename(final)}.lock`);
  let calls = 0;
  const run = await cachedRun('crash', config, async () => ++calls, { root });
  assert.equal(calls, 1);
  assert.equal(run.result, 1);
  assert.deepEqual(fs.readdirSync(path.join(root, 'crash')), [path.basename(final)], 'the dead run was swept');
});

test('writeFileAtomic replaces whole files and keeps the old one when the write fails', () => {
  const dir = tempDir();
  const file = path.join(dir, 'a.json');
  writeFileAtomic(file, 'old');
  writeFileAtomic(file, 'new');
  assert.equal(fs.readFileSync(file, 'utf8'), 'new');
  // A folder in the way of the rename: the write fails, the error names the target, no temp file remains.
  const blocked = path.join(dir, 'blocked');
  fs.mkdirSync(path.join(blocked, 'x'), { recursive: true });
  assert.throws(() => writeFileAtomic(blocked, 'data'), new RegExp(`could not write ${blocked}`));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['a.json', 'blocked']);
});

test('experiment names are validated', async () => {
  await assert.rejects(cachedRun('../escape', {}, () => 1, { root: tempDir() }), /experiment name "..\/escape" is not valid/);
});

test('training runs are keyed on what the volumes are made of and on the training code, not only on names and labels', async () => {
  const { trainRunDir, TRAINING_CODE_VERSION } = await import('../lib/training/train');
  const { loadMnist3d } = await import('../lib/data/mnist3d/dataset');
  const root = tempDir();
  const prev = process.env.XAI3D_DATA;
  process.env.XAI3D_DATA = root;
  try {
    const density = await loadMnist3d({ size: 8, trainCount: 20, testCount: 10, mode: 'density' });
    const occupancy = await loadMnist3d({ size: 8, trainCount: 20, testCount: 10, mode: 'occupancy' });
    // Same name, ids and labels: only the voxels differ.
    assert.equal(density.name, occupancy.name);
    assert.deepEqual(Array.from(density.labels), Array.from(occupancy.labels));
    assert.notEqual(density.fingerprint, occupancy.fingerprint);
    const cfg = { model: 'mnist-2conv' as const, folds: 2, epochs: 1, patience: 1, learningRate: 1e-3, batchSize: 8, valFraction: 0.1, seed: 0 };
    assert.notEqual(trainRunDir(density, cfg, root), trainRunDir(occupancy, cfg, root));
    assert.equal(trainRunDir(density, cfg, root), trainRunDir(density, { ...cfg }, root));
    assert.ok(Number.isInteger(TRAINING_CODE_VERSION));
  } finally {
    if (prev === undefined) delete process.env.XAI3D_DATA;
    else process.env.XAI3D_DATA = prev;
  }
});

test('the code lock: every cached computation\'s sources match the digest recorded with its version, and a change without a decision is refused', () => {
  const lockMod = require('../lib/cache/code-lock') as typeof import('../lib/cache/code-lock');
  assert.deepEqual(lockMod.lockProblems(), [], 'lib/cache/code-lock.json is out of date');
  const lock = lockMod.readLock();
  // Sources changed, version kept: the lock names the constant to bump and refuses to record it silently.
  const stale = { ...lock, training: { ...lock.training, digest: '0000000000000000' } };
  const problems = lockMod.lockProblems(stale);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /training: its sources changed since version \d+ was recorded: if its numbers can change, bump TRAINING_CODE_VERSION/);
  assert.throws(() => lockMod.updatedLock([], stale), /training: its sources changed but TRAINING_CODE_VERSION \(lib\/training\/train.ts\) is still \d+/);
  assert.deepEqual(lockMod.updatedLock(['training'], stale), lock, 'declared same numbers: the digest is recorded');
  // A bumped version is recorded without question.
  const older = { ...lock, explanations: { version: lock.explanations.version - 1, digest: '0000000000000000' } };
  assert.deepEqual(lockMod.updatedLock([], older), lock);
  assert.throws(() => lockMod.updatedLock(['nothing'], lock), /--same-numbers nothing: not a computation/);
});
