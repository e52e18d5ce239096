/**
 * The results cache: results/<experiment>/<hash of config>/ holding result.json, manifest.json and any files the
 * computation writes.
 *
 * A run is computed in a temporary folder beside its final place and renamed into place only when complete, with
 * its manifest written last; so a crash at any point leaves no half-written result where a reader looks, and a
 * folder that exists under its hash is always complete. Re-running with the same config reads from disk;
 * `force: true` recomputes and replaces the old folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { backendInfo, initBackend, type BackendInfo } from '../backend/select';
import { resultsDir } from '../env/paths';
import { gitState, hostInfo, versions, type GitState, type HostInfo, type Versions } from '../env/versions';
import { readJson, sweepAbandoned, writeJsonAtomic } from '../io/atomic';
import { withLock } from './lock';
import { configHash, stableStringify } from '../util/hash';

export const MANIFEST_FILE = 'manifest.json';
export const RESULT_FILE = 'result.json';

export interface Manifest {
  schema: 1;
  experiment: string;
  configHash: string;
  config: unknown;
  seed: number | null;
  createdAt: string;
  versions: Versions;
  backend: BackendInfo | null;
  git: GitState | null;
  host: HostInfo;
  /** Wall times in milliseconds: `total`, plus whatever the computation recorded with ctx.time(). */
  timingsMs: Record<string, number>;
}

export interface RunContext {
  /** Folder to write this run's files into (it becomes the result folder when the run completes). */
  dir: string;
  experiment: string;
  configHash: string;
  seed: number | null;
  /** Time a step; the duration is recorded under `label` in the manifest's timingsMs. */
  time<T>(label: string, step: () => T | Promise<T>): Promise<T>;
  /** Extra entries merged into the manifest (e.g. dataset checksums). */
  extra: Record<string, unknown>;
}

export interface CachedRun<T> {
  /** The result folder (results/<experiment>/<hash>). */
  dir: string;
  result: T;
  manifest: Manifest;
  /** True when the result was read from disk rather than computed now. */
  fromCache: boolean;
}

export interface CacheOptions {
  /** Recompute even when a result exists, replacing it. */
  force?: boolean;
  /** Results root (default resultsDir()). */
  root?: string;
}

const EXPERIMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

function checkExperimentName(experiment: string): void {
  if (!EXPERIMENT_NAME.test(experiment)) {
    throw new Error(
      `experiment name "${experiment}" is not valid: use letters, digits, '.', '_', '-' and '/' between parts`,
    );
  }
}

/** A manifest for a result: config, seed, versions, backend, git commit, host and timings (plus `extra`). */
export function buildManifest(
  experiment: string,
  hash: string,
  config: unknown,
  seed: number | null,
  startedMs: number,
  timingsMs: Record<string, number>,
  extra: Record<string, unknown> = {},
): Manifest {
  return {
    schema: 1,
    experiment,
    configHash: hash,
    config: JSON.parse(stableStringify(config)),
    seed,
    createdAt: new Date(startedMs).toISOString(),
    versions: versions(),
    backend: backendInfo() ?? null,
    git: gitState(),
    host: hostInfo(),
    timingsMs,
    ...extra,
  };
}

/** The folder a config's result lives in (whether or not it exists yet). */
export function runDir(experiment: string, config: unknown, opts: CacheOptions = {}): string {
  checkExperimentName(experiment);
  return path.join(opts.root ?? resultsDir(), experiment, configHash(config));
}

function seedOf(config: unknown): number | null {
  if (config !== null && typeof config === 'object' && 'seed' in config) {
    const s = (config as { seed: unknown }).seed;
    if (typeof s === 'number') return s;
  }
  return null;
}

function isComplete(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST_FILE)) && fs.existsSync(path.join(dir, RESULT_FILE));
}

/** Read a completed run, or undefined when the config has not been run. */
export function loadRun<T>(experiment: string, config: unknown, opts: CacheOptions = {}): CachedRun<T> | undefined {
  const dir = runDir(experiment, config, opts);
  if (!isComplete(dir)) return undefined;
  const manifest = readJson<Manifest>(path.join(dir, MANIFEST_FILE));
  if (stableStringify(manifest.config) !== stableStringify(config)) {
    throw new Error(`${dir}: manifest config does not match the requested config (hash collision or edited file)`);
  }
  return { dir, result: readJson<T>(path.join(dir, RESULT_FILE)), manifest, fromCache: true };
}

let tmpCounter = 0;

/**
 * Return the cached result for (experiment, config), computing it with `compute` when absent (or when `force`).
 * `config` must be JSON data; its `seed` field, if any, is recorded as the run's seed.
 */
export async function cachedRun<T>(
  experiment: string,
  config: unknown,
  compute: (ctx: RunContext) => T | Promise<T>,
  opts: CacheOptions = {},
): Promise<CachedRun<T>> {
  const finalDir = runDir(experiment, config, opts);
  if (!opts.force) {
    const hit = loadRun<T>(experiment, config, opts);
    if (hit) return hit;
  }
  // One process computes a key; concurrent ones (other jobs on a shared filesystem) wait and then reuse its result.
  const locked = await withLock(`${finalDir}.lock`, () => !opts.force && isComplete(finalDir), () => computeRun(experiment, config, compute, opts, finalDir));
  if (locked.computed) return locked.value!;
  return loadRun<T>(experiment, config, opts)!;
}

async function computeRun<T>(experiment: string, config: unknown, compute: (ctx: RunContext) => T | Promise<T>, opts: CacheOptions, finalDir: string): Promise<CachedRun<T>> {
  const parent = path.dirname(finalDir);
  fs.mkdirSync(parent, { recursive: true });
  sweepAbandoned(parent);
  const hash = path.basename(finalDir);
  tmpCounter += 1;
  const tmpDir = path.join(parent, `.tmp-${hash}-${process.pid}-${Date.now()}-${tmpCounter}`);
  fs.mkdirSync(tmpDir);
  const timingsMs: Record<string, number> = {};
  const started = Date.now();
  const t0 = performance.now();
  const ctx: RunContext = {
    dir: tmpDir,
    experiment,
    configHash: hash,
    seed: seedOf(config),
    extra: {},
    async time<R>(label: string, step: () => R | Promise<R>): Promise<R> {
      const t0 = performance.now();
      try {
        return await step();
      } finally {
        timingsMs[label] = (timingsMs[label] ?? 0) + (performance.now() - t0);
      }
    },
  };
  try {
    await initBackend();
    const result = await compute(ctx);
    timingsMs.total = performance.now() - t0;
    const manifest = buildManifest(experiment, hash, config, ctx.seed, started, timingsMs, ctx.extra);
    writeJsonAtomic(path.join(tmpDir, RESULT_FILE), result === undefined ? null : result);
    writeJsonAtomic(path.join(tmpDir, MANIFEST_FILE), manifest);
    publish(tmpDir, finalDir);
    return {
      dir: finalDir,
      result: readJson<T>(path.join(finalDir, RESULT_FILE)),
      manifest: readJson<Manifest>(path.join(finalDir, MANIFEST_FILE)),
      fromCache: false,
    };
  } catch (err) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/** Move a completed temporary folder into place; an existing folder (force) is moved aside first, then deleted. */
function publish(tmpDir: string, finalDir: string): void {
  let old: string | undefined;
  if (fs.existsSync(finalDir)) {
    old = path.join(path.dirname(finalDir), `.old-${path.basename(finalDir)}-${process.pid}-${Date.now()}`);
    fs.renameSync(finalDir, old);
  }
  try {
    fs.renameSync(tmpDir, finalDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && isComplete(finalDir)) {
      // Another process finished the same config first: its result is equivalent; keep it.
      fs.rmSync(tmpDir, { recursive: true, force: true });
    } else {
      if (old !== undefined && !fs.existsSync(finalDir)) fs.renameSync(old, finalDir);
      throw err;
    }
  }
  if (old !== undefined) fs.rmSync(old, { recursive: true, force: true });
}
