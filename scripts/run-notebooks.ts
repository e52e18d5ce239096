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
 *          Default: one worker per core, at most 2. 0: the notebooks compute everything in their own kernel),
 *          --parallel N (notebooks executed at once, each kernel on one wasm thread when N > 1; default 1, with
 *          --pipeline one per core, at most 2: after the job graph the notebooks mostly read the cache).
 *
 * Why workers: a training step uses the second wasm thread poorly (oasis-6conv at 64^3: 267 ms on two threads, 292 ms
 * on one), so two one-thread processes training two folds at once finish the training stage about 1.7x sooner. The
 * numbers are bit-identical whatever the thread count (test/kernels3d.test.ts), so the cache the workers fill is the
 * one the notebooks would have filled.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { ensureWritable, PROJECT_ROOT, resultsDir, writableWorkDirs } from '../lib/env/paths';
import { writeJsonAtomic } from '../lib/io/atomic';

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

/** All notebooks in one runner, one after the other, its output straight to the terminal. */
function runSequential(notebooks: string[], outDir: string, timeoutS: number, env: NodeJS.ProcessEnv): boolean {
  const job = { notebooks, outDir, kernel: 'tslab', timeoutS, jupyterPath: JUPYTER_PATH };
  const r = spawnSync(PYTHON, [path.join(PROJECT_ROOT, 'scripts', 'nbrun.py'), JSON.stringify(job)], { stdio: 'inherit', env });
  return r.status === 0;
}

/**
 * The notebooks on `parallel` runners at once, one notebook per runner, each kernel on one wasm thread (the numbers
 * do not depend on the thread count). Longest first, by the last recorded timings (results/notebooks/timings.json),
 * else from the last notebook back: the later notebooks evaluate and take longer. Each output line is prefixed with
 * its notebook; after a failure no new notebook starts. Writes timings.json once at the end.
 */
async function runParallel(notebooks: string[], outDir: string, timeoutS: number, env: NodeJS.ProcessEnv, parallel: number): Promise<boolean> {
  const timingsFile = path.join(outDir, 'timings.json');
  let previous: Record<string, number> = {};
  try {
    previous = JSON.parse(fs.readFileSync(timingsFile, 'utf8')) as Record<string, number>;
  } catch {
    previous = {};
  }
  const name = (p: string) => path.basename(p, '.ipynb');
  const order = notebooks.map((p, i) => ({ p, i })).sort((a, b) => (previous[name(b.p)] ?? 0) - (previous[name(a.p)] ?? 0) || b.i - a.i);
  process.stdout.write(`run-notebooks: ${notebooks.length} notebooks, ${parallel} at once\n`);
  const seconds: Record<string, number> = {};
  let failed = false;
  let next = 0;
  const runOne = (p: string, index: number) =>
    new Promise<boolean>((resolve) => {
      const job = { notebooks: [p], outDir, kernel: 'tslab', timeoutS, jupyterPath: JUPYTER_PATH, index, total: notebooks.length, timings: false };
      const child = spawn(PYTHON, [path.join(PROJECT_ROOT, 'scripts', 'nbrun.py'), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, XAI3D_THREADS: '1' } });
      const tag = name(p).slice(0, 2);
      for (const [stream, out] of [
        [child.stdout, process.stdout],
        [child.stderr, process.stderr],
      ] as const) {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          buf += chunk;
          const lines = buf.split('\n');
          buf = lines.pop() ?? '';
          for (const line of lines) {
            const m = /^XAI3D_NB_SECONDS (\S+) ([\d.]+)$/.exec(line);
            if (m) seconds[m[1]] = Number(m[2]);
            else out.write(`${tag}| ${line}\n`);
          }
        });
        stream.on('end', () => buf && out.write(`${tag}| ${buf}\n`));
      }
      child.on('close', (code) => resolve(code === 0));
    });
  const worker = async () => {
    while (!failed && next < order.length) {
      const { p, i } = order[next++];
      if (!(await runOne(p, i + 1))) failed = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, order.length) }, worker));
  const timings = { ...previous, ...Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Math.round(v * 100) / 100])) };
  writeJsonAtomic(timingsFile, timings);
  return !failed;
}

const USAGE = `usage: npm run notebooks [-- [NAMES...] [--profile tiny|quick|thesis] [--out DIR] [--timeout SECONDS]]
       npm run pipeline [-- [--profile P] [--jobs N] ...]   (the job graph, all notebooks, then the report)
  NAMES: notebook paths or prefixes of notebooks/NN-*.ipynb (e.g. 00, 03-cam); default all, in order
  --profile   run profile (sets XAI3D_PROFILE; default quick)
  --out       folder of the executed notebooks and their HTML (default results/notebooks)
  --timeout   seconds per cell (default 7200)
  --pipeline  first compute the job graph (xai3d run), then the notebooks, then the report (results/report/index.html)
  --jobs      with --pipeline: worker processes for the job graph (default one per core, at most 2; 0 = none, the
              notebooks compute everything themselves)
  --parallel  notebooks executed at once (default 1; with --pipeline one per core, at most 2), each on one wasm thread`;

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseArgs<{ options: { profile: { type: 'string' }; out: { type: 'string' }; timeout: { type: 'string' }; jobs: { type: 'string' }; parallel: { type: 'string' }; pipeline: { type: 'boolean' }; help: { type: 'boolean'; short: 'h' } }; allowPositionals: true }>>;
  try {
    parsed = parseArgs({
      options: {
        profile: { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        jobs: { type: 'string' },
        parallel: { type: 'string' },
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
  const parallel = values.parallel !== undefined ? Number(values.parallel) : values.pipeline ? Math.min(2, os.cpus().length) : 1;
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 16) fail(`--parallel ${values.parallel}: expected an integer from 1 to 16`);
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
  const notebooksStarted = Date.now();
  const env = { ...process.env, XAI3D_PROFILE: profile, PYDEVD_DISABLE_FILE_VALIDATION: '1' };
  const ok = parallel === 1 || selected.length === 1 ? runSequential(selected, outDir, timeoutS, env) : await runParallel(selected, outDir, timeoutS, env, parallel);
  const seconds = ((Date.now() - notebooksStarted) / 1000).toFixed(1);
  if (!ok) {
    process.stderr.write(`run-notebooks: failed after ${seconds} s (profile ${profile})\n`);
    process.exit(1);
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

if (require.main === module) void main();
