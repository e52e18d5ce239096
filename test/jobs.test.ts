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
  const nb = runTsx(path.join(PROJECT_ROOT, 'scripts', 'run-notebooks.ts'), ['05', '06', '--profile', 'tiny', '--out', path.join(results, 'nb')], env);
  assert.equal(nb.status, 0, nb.stderr + nb.stdout);
  assert.deepEqual(entries(), before, 'the notebooks computed nothing new: every AOPC and sanity result was a cache hit');
});
