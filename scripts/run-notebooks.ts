/**
 * The notebook runner: `npm run notebooks [-- NAMES...]` and `npm run pipeline`.
 *
 * Executes notebooks/NN-*.ipynb in order (or the ones named: paths or prefixes such as 00, 03-cam), headless on the
 * project-local tslab kernel, saving executed copies and offline HTML to results/notebooks/ (the committed notebooks
 * stay without outputs). On failure it prints the notebook, the cell and the kernel's error, and exits non-zero.
 *
 * Options: --profile tiny|quick|thesis (sets XAI3D_PROFILE for the notebooks; default quick),
 *          --out DIR (default results/notebooks), --timeout SECONDS per cell (default 7200), --pipeline,
 *          --jobs N (with --pipeline: first compute the profile's job graph - data, training folds, evaluation studies -
 *          with N worker processes of cores/N wasm threads each, `xai3d run`; the notebooks then read that cache.
 *          Default: one worker per core, at most 2. 0: the notebooks compute everything in their own kernel).
 *
 * Why workers: a training step uses the second wasm thread poorly (oasis-6conv at 64^3: 267 ms on two threads, 292 ms
 * on one), so two one-thread processes training two folds at once finish the training stage about 1.7x sooner. The
 * numbers are bit-identical whatever the thread count (test/kernels3d.test.ts), so the cache the workers fill is the
 * one the notebooks would have filled.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { ensureWritable, PROJECT_ROOT, resultsDir, writableWorkDirs } from '../lib/env/paths';

const PYTHON = process.env.XAI3D_PYTHON ?? '/usr/bin/python3';
const JUPYTER_PATH = path.join(PROJECT_ROOT, '.jupyter', 'share', 'jupyter');
const PROFILES = ['tiny', 'quick', 'thesis'];

function fail(msg: string): never {
  process.stderr.write(`run-notebooks: ${msg}\n`);
  process.exit(2);
}

/** Make sure Jupyter (Debian's python3 packages) and the project-local tslab kernel are there. */
export function ensureKernel(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import nbclient, nbconvert, nbformat, jupyter_client, ipykernel'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    fail(
      `Jupyter is not installed for ${PYTHON} (${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}).\n` +
        'Run `npm run setup` (as root it installs the Debian packages; otherwise it prints the apt-get command).',
    );
  }
  const spec = path.join(JUPYTER_PATH, 'kernels', 'tslab', 'kernel.json');
  let ok = false;
  if (fs.existsSync(spec)) {
    try {
      const argv0 = JSON.parse(fs.readFileSync(spec, 'utf8')).argv[0] as string;
      ok = fs.existsSync(argv0);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    const r = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-kernel.sh')], { stdio: 'inherit' });
    if (r.status !== 0) fail('registering the tslab kernel failed (scripts/install-kernel.sh)');
  }
}

export function listNotebooks(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

function resolveSelection(names: string[], all: string[]): string[] {
  if (names.length === 0) return all;
  return names.map((n) => {
    if (fs.existsSync(n) && n.endsWith('.ipynb')) return path.resolve(n);
    const hit = all.filter((p) => path.basename(p).startsWith(n));
    if (hit.length !== 1) {
      fail(`notebook "${n}" matches ${hit.length} notebooks in notebooks/ (have: ${all.map((p) => path.basename(p)).join(', ')})`);
    }
    return hit[0];
  });
}

const USAGE = `usage: npm run notebooks [-- [NAMES...] [--profile tiny|quick|thesis] [--out DIR] [--timeout SECONDS]]
       npm run pipeline [-- [--profile P] [--jobs N] ...]   (the job graph, all notebooks, then the report)
  NAMES: notebook paths or prefixes of notebooks/NN-*.ipynb (e.g. 00, 03-cam); default all, in order
  --profile   run profile (sets XAI3D_PROFILE; default quick)
  --out       folder of the executed notebooks and their HTML (default results/notebooks)
  --timeout   seconds per cell (default 7200)
  --pipeline  first compute the job graph (xai3d run), then the notebooks, then the report (results/report/index.html)
  --jobs      with --pipeline: worker processes for the job graph (default one per core, at most 2; 0 = none, the
              notebooks compute everything themselves)`;

function main(): void {
  let parsed: ReturnType<typeof parseArgs<{ options: { profile: { type: 'string' }; out: { type: 'string' }; timeout: { type: 'string' }; jobs: { type: 'string' }; pipeline: { type: 'boolean' }; help: { type: 'boolean'; short: 'h' } }; allowPositionals: true }>>;
  try {
    parsed = parseArgs({
      options: {
        profile: { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        jobs: { type: 'string' },
        pipeline: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  } catch (err) {
    fail(`${(err as Error).message.split('\n')[0]} (see --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const source = values.profile !== undefined ? '--profile' : 'XAI3D_PROFILE';
  const profile = (values.profile ?? process.env.XAI3D_PROFILE ?? 'quick').trim().toLowerCase() || 'quick';
  if (!PROFILES.includes(profile)) fail(`${source} ${values.profile ?? process.env.XAI3D_PROFILE}: use one of ${PROFILES.join(', ')}`);
  const timeoutS = values.timeout !== undefined ? Number(values.timeout) : 7200;
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) fail(`--timeout ${values.timeout}: expected seconds > 0`);
  const jobs = values.jobs !== undefined ? Number(values.jobs) : Math.min(2, os.cpus().length);
  if (!Number.isInteger(jobs) || jobs < 0 || jobs > 64) fail(`--jobs ${values.jobs}: expected an integer from 0 to 64`);
  if (values.jobs !== undefined && !values.pipeline) fail('--jobs needs --pipeline');
  const all = listNotebooks(path.join(PROJECT_ROOT, 'notebooks'));
  const selected = resolveSelection(positionals, all);
  const outDir = path.resolve(values.out ?? path.join(resultsDir(), 'notebooks'));
  try {
    writableWorkDirs();
    ensureWritable(outDir, '--out');
  } catch (err) {
    fail((err as Error).message);
  }
  ensureKernel();
  const started = Date.now();
  if (values.pipeline && jobs > 0) {
    process.stdout.write(`pipeline: the job graph of profile ${profile} with ${jobs} worker process(es)\n`);
    const g = spawnSync(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'xai3d.js'), 'run', '--profile', profile, '--jobs', String(jobs), '--stages', 'data,train,summary,eval'], { stdio: 'inherit', env: process.env });
    if (g.status !== 0) {
      process.stderr.write(`run-notebooks: the job graph failed after ${((Date.now() - started) / 1000).toFixed(1)} s (profile ${profile})\n`);
      process.exit(g.status ?? 1);
    }
    process.stdout.write(`pipeline: job graph done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  }
  const job = { notebooks: selected, outDir, kernel: 'tslab', timeoutS, jupyterPath: JUPYTER_PATH };
  const notebooksStarted = Date.now();
  const r = spawnSync(PYTHON, [path.join(PROJECT_ROOT, 'scripts', 'nbrun.py'), JSON.stringify(job)], {
    stdio: 'inherit',
    env: { ...process.env, XAI3D_PROFILE: profile, PYDEVD_DISABLE_FILE_VALIDATION: '1' },
  });
  const seconds = ((Date.now() - notebooksStarted) / 1000).toFixed(1);
  if (r.status !== 0) {
    process.stderr.write(`run-notebooks: failed after ${seconds} s (profile ${profile})\n`);
    process.exit(r.status ?? 1);
  }
  process.stdout.write(`run-notebooks: ${selected.length} notebook(s) in ${seconds} s (profile ${profile})\n`);
  if (values.pipeline) {
    const rep = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'scripts', 'report.ts'), '--profile', profile, '--notebooks', outDir], {
      stdio: 'inherit',
      env: { ...process.env, XAI3D_PROFILE: profile },
    });
    if (rep.status !== 0) {
      process.stderr.write('run-notebooks: the report failed\n');
      process.exit(rep.status ?? 1);
    }
    process.stdout.write(`pipeline: done in ${((Date.now() - started) / 1000).toFixed(1)} s; open ${path.join(resultsDir(), 'report', 'index.html')}\n`);
  }
}

if (require.main === module) main();
