/**
 * The tiny profile through a real Slurm (scripts/slurm-local.sh start; .ci/run starts one): results equal a local
 * run's, a second submit submits nothing, a failure names its job and log. Skipped where no Slurm controller answers.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runCli, tempDir } from './helpers';

const sinfo = spawnSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8' });
const slurmUp = !sinfo.error && sinfo.status === 0 && /idle|mixed|allocated/.test(sinfo.stdout);
const skip = slurmUp ? false : 'no Slurm controller answers here (bash scripts/slurm-local.sh start)';

/** Every metrics/history file (timings removed) and every weight file name (a content hash) under a results folder. */
function trainingFingerprint(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const strip = (x: unknown): unknown => (Array.isArray(x) ? x.map(strip) : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).filter(([k]) => k !== 'seconds').map(([k, v]) => [k, strip(v)])) : x);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'metrics.json' || e.name === 'history.json' || e.name === 'predictions.json') out[path.relative(root, p)] = JSON.stringify(strip(JSON.parse(fs.readFileSync(p, 'utf8'))));
      else if (e.name.endsWith('.bin')) out[path.relative(root, p)] = 'weights';
    }
  };
  walk(path.join(root, 'train'));
  return out;
}

test('the tiny profile through Slurm gives the same models and metrics as a local run; a second submit does nothing', { skip, timeout: 900_000 }, () => {
  const local = tempDir();
  const viaSlurm = tempDir();
  const env = { XAI3D_QUIET: '1' };
  const a = runCli(['run', '--profile', 'tiny', '--jobs', '2', '--stages', 'data,train,summary'], { ...env, XAI3D_RESULTS: local });
  assert.equal(a.status, 0, a.stderr);
  const b = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'xai3d.js'), 'submit', '--engine', 'slurm', '--profile', 'tiny', '--stages', 'data,train,summary', '--wait'], { encoding: 'utf8', env: { ...process.env, ...env, XAI3D_RESULTS: viaSlurm }, timeout: 800_000 });
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stderr, /train: \d+ unit\(s\) as Slurm job array \d+ \(after \d+\)/);
  const fa = trainingFingerprint(local);
  const fb = trainingFingerprint(viaSlurm);
  assert.ok(Object.keys(fa).length >= 10, 'the local run trained its folds');
  assert.deepEqual(fb, fa, 'identical folds, weight files (named by content hash) and metrics');
  const scripts = fs.readdirSync(path.join(viaSlurm, 'jobs', 'tiny', 'slurm'));
  assert.ok(scripts.includes('train.sbatch') && scripts.includes('data.sbatch'));
  assert.match(fs.readFileSync(path.join(viaSlurm, 'jobs', 'tiny', 'slurm', 'train.sbatch'), 'utf8'), /#SBATCH --array=0-\d+/);
  const again = runCli(['submit', '--engine', 'slurm', '--profile', 'tiny', '--stages', 'data,train,summary'], { ...env, XAI3D_RESULTS: viaSlurm });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /nothing to do/);
  const st = runCli(['status', '--profile', 'tiny', '--json'], { ...env, XAI3D_RESULTS: viaSlurm });
  const units = JSON.parse(st.stdout).units as { id: string; state: string }[];
  assert.ok(units.filter((u) => u.id !== 'report' && !u.id.startsWith('eval/')).every((u) => u.state === 'done'), st.stdout);
  assert.ok(units.filter((u) => u.id.startsWith('eval/')).every((u) => u.state === 'pending'), 'stages not submitted stay pending');
});

test('a unit that fails under Slurm makes --wait exit non-zero, naming the job and its log', { skip, timeout: 300_000 }, () => {
  const results = tempDir();
  // An OASIS-2 root that does not exist: the data/oasis2 unit fails inside its Slurm job.
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'xai3d.js'), 'submit', '--engine', 'slurm', '--profile', 'tiny', '--stages', 'data', '--wait'], { encoding: 'utf8', env: { ...process.env, XAI3D_QUIET: '1', XAI3D_RESULTS: results, XAI3D_OASIS_ROOT: path.join(results, 'no-such-oasis') }, timeout: 280_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Slurm job \d+_\d+ \(data\/oasis2\) failed: .*no-such-oasis.*; log .*data-\d+_\d+\.log/);
});

test('submit without a cluster engine or with an unknown one is one clear line', () => {
  const r = runCli(['submit', '--engine', 'pbs', '--profile', 'tiny']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--engine pbs: the supported engine is slurm/);
  // A PATH with node and nothing else: no sbatch.
  const bin = tempDir();
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const noSbatch = runCli(['submit', '--engine', 'slurm', '--profile', 'tiny', '--stages', 'data'], { PATH: bin, XAI3D_RESULTS: tempDir(), XAI3D_QUIET: '1' });
  assert.equal(noSbatch.status, 1);
  assert.match(noSbatch.stderr, /sbatch is not available/);
  assert.doesNotMatch(noSbatch.stderr, /^\s+at /m);
});
