/**
 * Reliability: bad inputs refused by name, nothing overwritten, temporary folders of live runs left alone.
 * The probe (scripts/probe.ts) runs the whole table of bad inputs through the real CLI and notebook runner.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { sweepAbandoned, temporaryOwner } from '../lib/io/atomic';
import { envSwitch } from '../lib/env/switches';
import { assertFinite, indexText } from '../lib/util/finite';
import { outputPath } from '../lib/cli/args';
import { checkNiftiBody, writeNifti } from '../lib/io/nifti';
import { loadModel, saveModel } from '../lib/io/model-files';
import { buildModel } from '../lib/models/presets';
import { aopc } from '../lib/evaluate/aopc';
import { initBackend } from '../lib/backend/select';
import { runProbe } from '../scripts/probe';
import { tempDir } from './helpers';

process.env.XAI3D_BACKEND = 'cpu';
process.env.XAI3D_QUIET = '1';

test('temporary folders are swept only when their owner process is gone', async () => {
  const dir = tempDir();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
  const live = `.tmp-fold-1-${child.pid}-${Date.now()}-1`;
  // A pid that no process has: the largest pid the kernel hands out, plus one.
  const dead = `.tmp-fold-2-4194305-${Date.now()}-1`;
  const oldDead = `.old-fold-3-4194305-${Date.now()}`;
  for (const d of [live, dead, oldDead, 'fold-4']) fs.mkdirSync(path.join(dir, d));
  assert.equal(temporaryOwner(live), child.pid);
  assert.equal(temporaryOwner('fold-4'), null);
  try {
    const removed = sweepAbandoned(dir).sort();
    assert.deepEqual(removed, [dead, oldDead].sort());
    assert.ok(fs.existsSync(path.join(dir, live)), 'a live run keeps its work folder');
    assert.ok(fs.existsSync(path.join(dir, 'fold-4')));
  } finally {
    child.kill();
  }
});

test('on/off environment variables accept 1/0 (and words) and refuse anything else by name', () => {
  process.env.XAI3D_TEST_SWITCH = 'maybe';
  assert.throws(() => envSwitch('XAI3D_TEST_SWITCH', true), /XAI3D_TEST_SWITCH="maybe"/);
  process.env.XAI3D_TEST_SWITCH = 'off';
  assert.equal(envSwitch('XAI3D_TEST_SWITCH', true), false);
  process.env.XAI3D_TEST_SWITCH = '1';
  assert.equal(envSwitch('XAI3D_TEST_SWITCH', false), true);
  delete process.env.XAI3D_TEST_SWITCH;
  assert.equal(envSwitch('XAI3D_TEST_SWITCH', true), true);
});

test('non-finite values are reported with their index', () => {
  const a = new Float32Array(24);
  a[1 * 12 + 2 * 4 + 3] = NaN;
  assert.equal(indexText(1 * 12 + 2 * 4 + 3, [2, 3, 4]), '(1, 2, 3)');
  assert.throws(() => assertFinite(a, 'x.npy', [2, 3, 4]), /x\.npy: non-finite value \(NaN\) at index \(1, 2, 3\)/);
  assert.doesNotThrow(() => assertFinite(new Float32Array(3), 'y'));
});

test('an output path must have the written extension and must not be an input', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.npy');
  fs.writeFileSync(input, 'x');
  assert.throws(() => outputPath(input, '--out', ['.npy'], [input]), /--out .*in\.npy is one of this command's inputs/);
  assert.throws(() => outputPath(path.join(dir, 'a.txt'), '--out', ['.json'], []), /must end in \.json/);
  // The same file under another name (a hard link) is the same input.
  const link = path.join(dir, 'link.npy');
  fs.linkSync(input, link);
  assert.throws(() => outputPath(link, '--out', ['.npy'], [input]), /inputs/);
  assert.equal(outputPath(path.join(dir, 'out.npy'), '--out', ['.npy'], [input]), path.join(dir, 'out.npy'));
});

test('a NIfTI body is checked against its header: missing, truncated and oversized image files are named', () => {
  const dir = tempDir();
  const geom = { dims: [4, 4, 4] as [number, number, number], pixdim: [1, 1, 1] as [number, number, number], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] as [number[], number[], number[], number[]] };
  writeNifti(path.join(dir, 'v.nii'), { ...geom, data: new Float32Array(64) }, { datatype: 'float32' });
  assert.equal(checkNiftiBody(path.join(dir, 'v.nii')).needed, 352 + 64 * 4);
  const full = fs.readFileSync(path.join(dir, 'v.nii'));
  fs.writeFileSync(path.join(dir, 't.nii'), full.subarray(0, full.length - 1));
  assert.throws(() => checkNiftiBody(path.join(dir, 't.nii')), /t\.nii: truncated: 607 bytes, the header promises 608/);
  writeNifti(path.join(dir, 'p.hdr'), { ...geom, data: new Float32Array(64) }, { datatype: 'float32' });
  fs.appendFileSync(path.join(dir, 'p.img'), Buffer.alloc(4));
  assert.throws(() => checkNiftiBody(path.join(dir, 'p.hdr')), /p\.img: 260 bytes do not match its header's 256/);
  fs.rmSync(path.join(dir, 'p.img'));
  assert.throws(() => checkNiftiBody(path.join(dir, 'p.hdr')), /p\.img: missing/);
  const neg = Buffer.from(full);
  neg.writeFloatLE(-999983232, 108);
  fs.writeFileSync(path.join(dir, 'n.nii'), neg);
  assert.throws(() => checkNiftiBody(path.join(dir, 'n.nii')), /n\.nii: vox_offset -999983232 is negative/);
});

test('a saved model whose weight file no longer matches the hash in its name is refused', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const dir = tempDir();
  const m = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 2, classes: 3 });
  await saveModel(m, dir);
  m.dispose();
  const reloaded = await loadModel(dir);
  reloaded.dispose();
  const w = fs.readdirSync(dir).find((f) => f.endsWith('.bin'))!;
  const b = fs.readFileSync(path.join(dir, w));
  b.writeFloatLE(0.5, 16);
  fs.writeFileSync(path.join(dir, w), b);
  await assert.rejects(loadModel(dir), /contents do not match the hash in its name/);
});

test('AOPC refuses a heatmap with a NaN instead of scoring it like zeros', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const m = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 2, classes: 3 });
  const vol = new Float32Array(512).fill(0.5);
  const heat = new Float32Array(512);
  heat[9] = NaN;
  assert.throws(() => aopc(m, [vol], [8, 8, 8], [heat], { steps: 2, strideVoxels: 2 }), /heatmap 0: non-finite value \(NaN\) at index \(0, 1, 1\)/);
  m.dispose();
  tf.disposeVariables();
});

test('the probe: every bad input in the table exits non-zero, names its culprit, prints no stack trace and touches no file', async () => {
  const { results, totals } = await runProbe();
  const bad = results.filter((r) => r.outcome !== 'clean');
  assert.ok(totals.tried >= 60, `the table has ${totals.tried} cases`);
  assert.deepEqual(bad, [], bad.map((r) => `${r.name}: ${r.outcome} (exit ${r.code}) ${r.message}`).join('\n'));
});

test('explanations run in planned chunks: the same maps as one volume at a time, and an explicit batch that cannot fit is an error', async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const { explainTensor } = await import('../lib/explain/explain');
  const m = buildModel('mnist-2conv', { inputSize: 8, baseWidth: 2, classes: 3, seed: 3 });
  const x = tf.randomUniform([5, 8, 8, 8, 1], 0, 1, 'float32', 7) as tf.Tensor5D;
  for (const method of ['gradient', 'lrp'] as const) {
    const chunked = explainTensor(m, x, { method, composite: method === 'lrp' ? 'composite3' : undefined, batchSize: 2 });
    for (let i = 0; i < 5; i++) {
      const one = tf.slice(x, [i, 0, 0, 0, 0], [1, -1, -1, -1, -1]) as tf.Tensor5D;
      const single = explainTensor(m, one, { method, composite: method === 'lrp' ? 'composite3' : undefined });
      assert.deepEqual(Array.from(chunked.maps[i]), Array.from(single.maps[0]), `${method} volume ${i}`);
      assert.equal(chunked.classes[i], single.classes[0]);
      one.dispose();
    }
  }
  assert.throws(() => explainTensor(m, x, { method: 'lrp', batchSize: 10_000_000 }), /batch size 10000000 does not fit.*use batch size \d+ or less/);
  x.dispose();
  m.dispose();
});
