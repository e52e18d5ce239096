/**
 * Running independent items of CPU-bound work (phantom scans, scan preprocessing) on worker threads. A worker loads
 * the TypeScript module that defines the work through tsx, calls the named export on each of its items and reports
 * each result; items are dealt round-robin. XAI3D_WORKERS sets the thread count (0 or 1: the calling thread).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as WorkerThreads from 'worker_threads';

/** Threads for CPU-bound data work: XAI3D_WORKERS, default min(cores, 4). */
export function dataWorkers(): number {
  const env = process.env.XAI3D_WORKERS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 64) throw new Error(`XAI3D_WORKERS=${env}: use an integer from 0 (the calling thread) to 64`);
    return n;
  }
  return Math.max(1, Math.min(4, os.cpus().length));
}

/** The .ts source of a module (workers load sources through tsx), given its __filename. */
export function sourceOf(filename: string): string {
  const ts = filename.replace(/\.js$/, '.ts');
  return fs.existsSync(ts) ? ts : filename;
}

/**
 * Call `module[exportName](shared, item)` for every item on `workers` threads; `onResult` gets each result (in
 * completion order) with the item's index. `shared` is cloned once per worker.
 */
export async function runInWorkers<I, R>(moduleFile: string, exportName: string, shared: unknown, items: I[], workers: number, onResult: (index: number, result: R) => void): Promise<void> {
  const wt = require('worker_threads') as typeof WorkerThreads;
  const tsx = require.resolve('tsx/cjs');
  const code = `
const { workerData, parentPort } = require('worker_threads');
require(${JSON.stringify(tsx)});
const m = require(workerData.module);
for (const [index, item] of workerData.items) {
  try {
    parentPort.postMessage({ index, result: m[workerData.exportName](workerData.shared, item) });
  } catch (err) {
    parentPort.postMessage({ index, error: (err && err.stack) || String(err) });
    break;
  }
}`;
  const parts = Array.from({ length: Math.max(1, Math.min(workers, items.length)) }, (_, k) => items.map((it, i) => [i, it] as [number, I]).filter(([i]) => i % Math.max(1, workers) === k));
  await Promise.all(parts.map((part) => new Promise<void>((resolve, reject) => {
    const w = new wt.Worker(code, { eval: true, workerData: { module: path.resolve(moduleFile), exportName, shared, items: part } });
    let failed = false;
    w.on('message', (m: { index: number; result?: R; error?: string }) => {
      if (m.error !== undefined) {
        failed = true;
        reject(new Error(m.error));
        void w.terminate();
      } else onResult(m.index, m.result as R);
    });
    w.on('error', (e) => {
      failed = true;
      reject(e);
    });
    w.on('exit', (c) => (failed ? undefined : c === 0 ? resolve() : reject(new Error(`worker thread exited with code ${c}`))));
  })));
}
