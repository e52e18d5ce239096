/**
 * A lock per cache key, safe on a shared filesystem (NFS, Lustre) where several jobs of a cluster may ask for the same
 * result: the first creates `<key>.lock` exclusively (O_EXCL) and computes; the others wait, then find the published
 * result and reuse it. The lock file holds its owner (host, pid, start time) and a heartbeat refreshed every few
 * seconds; a lock whose heartbeat is older than the stale limit (a killed job: kill -9, node failure), or whose owner is
 * a dead process on this host, is taken over. The heartbeat is the lock file's modification time, touched by a
 * worker thread. Results themselves are still published atomically (rename), so a reader
 * never sees half a result whatever happens to the lock.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { pidAlive } from '../io/atomic';

export interface LockOwner {
  host: string;
  pid: number;
  startedAt: string;
  heartbeatMs: number;
}

export interface LockOptions {
  /** Heartbeat period (default 5 s). */
  heartbeatMs?: number;
  /** A lock whose heartbeat is older than this is stale (default 60 s; >= 3 heartbeats). */
  staleMs?: number;
  /** Poll period while waiting (default 500 ms). */
  pollMs?: number;
  /** Give up waiting after this long (default: never). */
  timeoutMs?: number;
  /** Called once when this process starts waiting for another owner. */
  onWait?: (owner: LockOwner | null) => void;
}

function readOwner(file: string): LockOwner | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return null; // being written or removed right now
  }
}

function isStale(file: string, owner: LockOwner | null, staleMs: number): boolean {
  let mtime: number;
  try {
    mtime = fs.statSync(file).mtimeMs;
  } catch {
    return false; // gone: not stale, just free
  }
  if (owner && owner.host === os.hostname() && owner.pid !== process.pid && !pidAlive(owner.pid)) return true;
  return Date.now() - Math.max(mtime, owner?.heartbeatMs ?? 0) > staleMs;
}

function tryCreate(file: string): boolean {
  const me: LockOwner = { host: os.hostname(), pid: process.pid, startedAt: new Date().toISOString(), heartbeatMs: Date.now() };
  try {
    const fd = fs.openSync(file, 'wx');
    fs.writeSync(fd, JSON.stringify(me));
    fs.closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot create lock ${file}: ${(err as Error).message}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `compute` holding the lock `lockFile`, unless `done()` says the result already exists (then return undefined
 * without computing). Waiting processes re-check `done()` once the lock is free, so exactly one computes.
 */
export async function withLock<T>(lockFile: string, done: () => boolean, compute: () => Promise<T>, opts: LockOptions = {}): Promise<{ computed: boolean; value?: T }> {
  const heartbeatMs = opts.heartbeatMs ?? 5000;
  const staleMs = Math.max(opts.staleMs ?? 60_000, 3 * heartbeatMs);
  const pollMs = opts.pollMs ?? 500;
  const started = Date.now();
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  let waited = false;
  for (;;) {
    if (done()) return { computed: false };
    if (tryCreate(lockFile)) break;
    const owner = readOwner(lockFile);
    if (isStale(lockFile, owner, staleMs)) {
      // Take over: move the stale lock aside under a unique name first, so two waiters cannot both remove it and
      // both create a new one (only one rename of the same file succeeds).
      const aside = `${lockFile}.stale-${os.hostname()}-${process.pid}-${Date.now()}`;
      try {
        fs.renameSync(lockFile, aside);
        fs.rmSync(aside, { force: true });
      } catch {
        // Someone else took it over first.
      }
      continue;
    }
    if (!waited) {
      waited = true;
      opts.onWait?.(owner);
    }
    if (opts.timeoutMs !== undefined && Date.now() - started > opts.timeoutMs) {
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${lockFile} (held by ${owner ? `${owner.host} pid ${owner.pid}` : 'an unknown owner'})`);
    }
    await sleep(pollMs);
  }
  // The heartbeat runs on its own thread, so it keeps beating while the computation blocks this one (an LRP pass
  // over a batch of 128^3 volumes runs for minutes without yielding).
  const beat = new Worker(
    `const { workerData } = require('worker_threads'); const fs = require('fs');
     setInterval(() => { try { const t = new Date(); fs.utimesSync(workerData.file, t, t); } catch (e) {} }, workerData.ms);`,
    { eval: true, workerData: { file: lockFile, ms: heartbeatMs } },
  );
  beat.unref();
  try {
    // Another owner may have finished between our check and our lock.
    if (done()) return { computed: false };
    return { computed: true, value: await compute() };
  } finally {
    void beat.terminate(); // not awaited: the thread is unref'd, and its exit must not hold or stall the caller
    const owner = readOwner(lockFile);
    if (owner && owner.pid === process.pid && owner.host === os.hostname()) fs.rmSync(lockFile, { force: true });
  }
}
