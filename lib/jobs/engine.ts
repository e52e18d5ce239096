/**
 * Running a profile's job graph: one unit (`xai3d job`), all of them with N local worker processes (`xai3d run`), or
 * as Slurm jobs (`xai3d submit --engine slurm`), and what is done, running or failed (`xai3d status`).
 * Every unit records its state in results/jobs/<profile>/<id>.status.json; finished units are cache hits, so running
 * or submitting again only does what is missing.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pidAlive, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { PROJECT_ROOT, resultsDir } from '../env/paths';
import type { ProfileName } from '../env/profile';
import { findJob, isDone, profileJobs, runJob, STAGES, type JobSpec, type Stage } from './graph';

export type JobState = 'done' | 'running' | 'failed' | 'pending' | 'submitted';

export interface JobStatus {
  id: string;
  state: JobState;
  host?: string;
  pid?: number;
  slurmJobId?: string;
  started?: string;
  ended?: string;
  error?: string;
  log?: string;
}

const BIN = path.join(PROJECT_ROOT, 'bin', 'xai3d.js');

export function jobsDir(profile: ProfileName, root = resultsDir()): string {
  return path.join(root, 'jobs', profile);
}

const statusFile = (profile: ProfileName, id: string, root: string) => path.join(jobsDir(profile, root), `${id.replace(/\//g, '_')}.status.json`);

function readStatus(profile: ProfileName, id: string, root: string): JobStatus | null {
  try {
    return JSON.parse(fs.readFileSync(statusFile(profile, id, root), 'utf8')) as JobStatus;
  } catch {
    return null;
  }
}

function writeStatus(profile: ProfileName, s: JobStatus, root: string): void {
  writeJsonAtomic(statusFile(profile, s.id, root), s);
}

/** Run one unit in this process, recording its state. */
export async function runOne(profile: ProfileName, id: string, root = resultsDir()): Promise<void> {
  const job = findJob(profile, id);
  const submitted = readStatus(profile, id, root);
  const base: JobStatus = { id, state: 'running', ...(submitted?.log ? { log: submitted.log } : {}), host: os.hostname(), pid: process.pid, started: new Date().toISOString(), ...(process.env.SLURM_JOB_ID ? { slurmJobId: `${process.env.SLURM_ARRAY_JOB_ID ?? process.env.SLURM_JOB_ID}${process.env.SLURM_ARRAY_TASK_ID ? `_${process.env.SLURM_ARRAY_TASK_ID}` : ''}` } : {}) };
  for (const d of job.deps) {
    if (!(await isDone(profile, findJob(profile, d), root))) throw new Error(`${id}: its dependency ${d} is not done; run it first (xai3d job ${d} --profile ${profile})`);
  }
  writeStatus(profile, base, root);
  try {
    await runJob(profile, job, root, () => runReport(profile));
    writeStatus(profile, { ...base, state: 'done', ended: new Date().toISOString() }, root);
  } catch (err) {
    writeStatus(profile, { ...base, state: 'failed', ended: new Date().toISOString(), error: (err as Error).message }, root);
    throw err;
  }
}

/** The report unit: every notebook (reading the cache the other units filled) and the report. */
async function runReport(profile: ProfileName): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(PROJECT_ROOT, 'scripts', 'run-notebooks.ts'), '--pipeline', '--jobs', '0', '--profile', profile], { stdio: 'inherit', env: process.env });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`the notebooks and report failed (exit ${code})`))));
  });
}

function squeueIds(): Set<string> | null {
  const r = spawnSync('squeue', ['-h', '-o', '%i', '--me'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return new Set(r.stdout.split('\n').map((s) => s.trim()).filter(Boolean));
}

/** The state of every unit: done (in the cache), running / submitted (status file and, for Slurm, squeue), failed, pending. */
export async function profileStatus(profile: ProfileName, root = resultsDir()): Promise<JobStatus[]> {
  const queue = squeueIds();
  const out: JobStatus[] = [];
  for (const job of profileJobs(profile)) {
    if (await isDone(profile, job, root)) {
      out.push({ ...(readStatus(profile, job.id, root) ?? {}), id: job.id, state: 'done' });
      continue;
    }
    const s = readStatus(profile, job.id, root);
    if (!s) {
      out.push({ id: job.id, state: 'pending' });
      continue;
    }
    if (s.state === 'running' || s.state === 'submitted') {
      const alive = s.slurmJobId ? (queue ? [...queue].some((q) => q === s.slurmJobId || s.slurmJobId!.startsWith(q.replace(/\[.*$/, ''))) : true) : s.host !== os.hostname() || (s.pid !== undefined && pidAlive(s.pid));
      out.push(alive ? s : { ...s, state: 'failed', error: s.error ?? 'the job ended without finishing (killed or node lost)' });
      continue;
    }
    out.push(s);
  }
  return out;
}

/** Per unit: its own estimated seconds plus the longest chain of units that wait for it. */
export function remainingPathSeconds(jobs: JobSpec[]): Map<string, number> {
  const out = new Map<string, number>();
  const dependents = new Map<string, JobSpec[]>();
  for (const j of jobs) for (const d of j.deps) dependents.set(d, [...(dependents.get(d) ?? []), j]);
  const visit = (j: JobSpec): number => {
    const known = out.get(j.id);
    if (known !== undefined) return known;
    const v = j.cpuSeconds + Math.max(0, ...(dependents.get(j.id) ?? []).map(visit));
    out.set(j.id, v);
    return v;
  };
  for (const j of jobs) visit(j);
  return out;
}

/** Run the graph locally with `workers` processes (each with its own wasm threads). Stops at the first failure. */
export async function runLocal(profile: ProfileName, workers: number, stages: Stage[] = STAGES, root = resultsDir(), log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<void> {
  const jobs = profileJobs(profile).filter((j) => stages.includes(j.stage));
  const done = new Set<string>();
  for (const j of profileJobs(profile)) if (await isDone(profile, j, root)) done.add(j.id);
  const todo = jobs.filter((j) => !done.has(j.id));
  if (todo.length === 0) {
    log(`run: nothing to do for profile ${profile} (every unit of stages ${stages.join(', ')} is done)`);
    return;
  }
  const pathSeconds = remainingPathSeconds(jobs);
  const started = new Map<string, number>();
  const running = new Map<string, Promise<{ id: string; code: number | null }>>();
  const threads = Math.max(1, Math.floor(os.cpus().length / workers));
  let failed: string | undefined;
  while ((todo.length > 0 || running.size > 0) && !failed) {
    // Longest remaining path first (the critical path's units start as soon as they can).
    const ready = todo.filter((j) => j.deps.every((d) => done.has(d) || !jobs.some((x) => x.id === d))).sort((a, b) => pathSeconds.get(b.id)! - pathSeconds.get(a.id)!);
    while (running.size < workers && ready.length > 0) {
      const job = ready.shift()!;
      todo.splice(todo.indexOf(job), 1);
      const logFile = path.join(jobsDir(profile, root), 'logs', `${job.id.replace(/\//g, '_')}.log`);
      fs.mkdirSync(path.dirname(logFile), { recursive: true });
      const out = fs.openSync(logFile, 'w');
      log(`run: start ${job.id} (log ${logFile})`);
      started.set(job.id, Date.now());
      const child = spawn(process.execPath, [BIN, 'job', job.id, '--profile', profile], { stdio: ['ignore', out, out], env: { ...process.env, XAI3D_RESULTS: root, XAI3D_THREADS: process.env.XAI3D_THREADS ?? String(threads) } });
      running.set(job.id, new Promise((resolve) => child.on('close', (code) => { fs.closeSync(out); resolve({ id: job.id, code }); })));
    }
    if (running.size === 0) {
      const blocked = todo.map((j) => j.id).join(', ');
      throw new Error(`run: ${blocked} cannot start: a dependency is neither done nor part of stages ${stages.join(', ')}`);
    }
    const r = await Promise.race(running.values());
    running.delete(r.id);
    if (r.code === 0) {
      done.add(r.id);
      log(`run: done ${r.id} in ${((Date.now() - started.get(r.id)!) / 1000).toFixed(0)} s (${done.size}/${profileJobs(profile).length} units done)`);
    } else failed = r.id;
  }
  if (failed) {
    await Promise.all(running.values());
    throw new Error(`run: ${failed} failed; its log: ${path.join(jobsDir(profile, root), 'logs', `${failed.replace(/\//g, '_')}.log`)}`);
  }
}

export interface SlurmOptions {
  partition?: string;
  time?: string;
  cpus?: number;
  mem?: string;
  gpus?: number;
  account?: string;
  stages?: Stage[];
  wait?: boolean;
  /** Poll period of --wait (default 5 s). */
  pollMs?: number;
}

function sbatchHeader(name: string, o: SlurmOptions, logPattern: string, job: JobSpec | undefined): string[] {
  const lines = ['#!/bin/bash', `#SBATCH --job-name=${name}`, `#SBATCH --output=${logPattern}`, `#SBATCH --cpus-per-task=${o.cpus ?? 2}`];
  const mem = o.mem ?? (job ? `${Math.max(1000, job.memoryMb)}M` : undefined);
  if (mem) lines.push(`#SBATCH --mem=${mem}`);
  if (o.partition) lines.push(`#SBATCH --partition=${o.partition}`);
  if (o.time) lines.push(`#SBATCH --time=${o.time}`);
  if (o.account) lines.push(`#SBATCH --account=${o.account}`);
  if (o.gpus) lines.push(`#SBATCH --gres=gpu:${o.gpus}`);
  return lines;
}

function sbatch(script: string, deps: string[]): string {
  const args = ['--parsable', ...(deps.length > 0 ? [`--dependency=afterok:${deps.join(':')}`] : []), script];
  const r = spawnSync('sbatch', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`sbatch is not available (${(r.error as NodeJS.ErrnoException).code}): install Slurm's client tools or use \`xai3d run --jobs N\``);
  if (r.status !== 0) throw new Error(`sbatch ${script} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim().split(';')[0];
}

/**
 * Submit the units that are not done (and not already running) as Slurm jobs: one job array per stage, each stage
 * after the previous one (--dependency=afterok). Scripts and logs stay under results/jobs/<profile>/slurm/.
 * Returns the submitted Slurm job ids by stage.
 */
export async function submitSlurm(profile: ProfileName, o: SlurmOptions = {}, root = resultsDir(), log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<Record<string, string>> {
  const stages = o.stages ?? STAGES;
  const status = new Map((await profileStatus(profile, root)).map((s) => [s.id, s]));
  const dir = path.join(jobsDir(profile, root), 'slurm');
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const submitted: Record<string, string> = {};
  let previous: string[] = [];
  const env = [`export XAI3D_RESULTS=${JSON.stringify(root)}`, ...(process.env.XAI3D_DATA ? [`export XAI3D_DATA=${JSON.stringify(process.env.XAI3D_DATA)}`] : []), ...(process.env.XAI3D_OASIS_ROOT ? [`export XAI3D_OASIS_ROOT=${JSON.stringify(process.env.XAI3D_OASIS_ROOT)}`] : []), `cd ${JSON.stringify(PROJECT_ROOT)}`];
  for (const stage of stages) {
    const units = profileJobs(profile).filter((j) => j.stage === stage && !['done', 'running', 'submitted'].includes(status.get(j.id)?.state ?? 'pending'));
    if (units.length === 0) continue;
    const list = path.join(dir, `${stage}.jobs`);
    writeFileAtomic(list, units.map((u) => u.id).join('\n') + '\n');
    const script = path.join(dir, `${stage}.sbatch`);
    const biggest = units.reduce((a, b) => (b.memoryMb > a.memoryMb ? b : a));
    const lines = [
      ...sbatchHeader(`xai3d-${profile}-${stage}`, o, path.join(dir, 'logs', `${stage}-%A_%a.log`), biggest),
      `#SBATCH --array=0-${units.length - 1}`,
      'set -euo pipefail',
      ...env,
      `ID=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" ${JSON.stringify(list)})`,
      `echo "xai3d job $ID (profile ${profile}) on $(hostname)"`,
      `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} job "$ID" --profile ${profile}`,
    ];
    writeFileAtomic(script, lines.join('\n') + '\n');
    const id = sbatch(script, previous);
    submitted[stage] = id;
    units.forEach((u, i) => writeStatus(profile, { id: u.id, state: 'submitted', slurmJobId: `${id}_${i}`, log: path.join(dir, 'logs', `${stage}-${id}_${i}.log`) }, root));
    log(`submit: ${stage}: ${units.length} unit(s) as Slurm job array ${id}${previous.length ? ` (after ${previous.join(', ')})` : ''}; script ${script}`);
    previous = [id];
  }
  if (Object.keys(submitted).length === 0) log(`submit: nothing to do for profile ${profile} (every unit is done or already running)`);
  if (o.wait) await waitSlurm(profile, Object.values(submitted), root, o.pollMs ?? 5000, log);
  return submitted;
}

/** Follow submitted jobs until they leave the queue; throws naming the failed unit and its log. */
export async function waitSlurm(profile: ProfileName, ids: string[], root: string, pollMs: number, log: (s: string) => void): Promise<void> {
  if (ids.length === 0) return;
  let last = '';
  for (;;) {
    const q = squeueIds();
    if (q === null) throw new Error('squeue is not available or the Slurm controller does not answer');
    const live = [...q].filter((j) => ids.some((id) => j === id || j.startsWith(`${id}_`)));
    const st = await profileStatus(profile, root);
    const failed = st.find((s) => s.state === 'failed');
    if (failed) {
      for (const id of ids) spawnSync('scancel', [id]);
      throw new Error(`Slurm job ${failed.slurmJobId ?? '?'} (${failed.id}) failed: ${failed.error ?? 'see its log'}; log ${failed.log ?? '(none)'}`);
    }
    const counts = st.reduce<Record<string, number>>((a, s) => ((a[s.state] = (a[s.state] ?? 0) + 1), a), {});
    const line = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ');
    if (line !== last) log(`wait: ${line}`);
    last = line;
    if (live.length === 0) {
      // Jobs whose dependencies failed stay pending forever in some configurations; none are left in the queue here.
      const notDone = st.filter((s) => s.state === 'submitted' || s.state === 'running');
      if (notDone.length > 0) throw new Error(`Slurm jobs left the queue but ${notDone.map((s) => `${s.id} (${s.slurmJobId})`).join(', ')} did not finish; logs under ${path.join(jobsDir(profile, root), 'slurm', 'logs')}`);
      return;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
