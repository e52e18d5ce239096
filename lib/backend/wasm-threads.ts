/**
 * Worker threads for tfjs's wasm backend in Node.
 *
 * tfjs-backend-wasm 4.22 turns threads off in Node (its WASM_HAS_MULTITHREAD_SUPPORT flag returns false there), and
 * its Emscripten pthread pool starts workers from blob: URLs and hands them the module factory as a Blob, neither of
 * which Node's worker_threads can load. This module replaces worker_threads.Worker (which Emscripten reads when the
 * backend initialises) by a subclass that
 *  1. starts pthread workers from the package's own worker script file instead of the blob: URL,
 *  2. replaces the factory Blob in the workers' "load" message by the package's factory file,
 *  3. never holds a reference on the event loop, so a process ends on its own when its work is done (XNNPACK's
 *     pool threads idle between ops; the main thread always waits for their work synchronously).
 * Then it sets the flag and the thread count. It must run before the wasm backend initialises.
 */
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as WorkerThreads from 'worker_threads';

// The module object itself (an `import * as` namespace has read-only getters under some loaders).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const workerThreads = require('worker_threads') as typeof WorkerThreads;

let patched = false;
/** Until the backend has started, workers keep the process alive (it waits for them to load); then never again. */
let released = false;
const workers = new Set<WorkerThreads.Worker>();

function wasmOutFile(name: string): string {
  const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  const file = path.join(dist, '..', 'wasm-out', name);
  if (!fs.existsSync(file)) throw new Error(`tfjs-backend-wasm file missing: ${file} (reinstall with npm ci)`);
  return file;
}

/**
 * The pthread worker script as a file. The package ships it as a string export (what tfjs turns into a blob: URL,
 * with its newlines escaped the same way); it is written once per content into the temporary folder.
 */
function workerScriptFile(): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { wasmWorkerContents } = require(wasmOutFile('tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const dir = path.join(os.tmpdir(), 'xai3d-wasm');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `pthread-worker-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.js`);
  if (!fs.existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  }
  return file;
}

function patchWorker(): void {
  if (patched) return;
  const workerScript = workerScriptFile();
  const factoryScript = wasmOutFile('tfjs-backend-wasm-threaded-simd.js');
  const OriginalWorker = workerThreads.Worker;
  class PthreadWorker extends OriginalWorker {
    constructor(filename: string | URL, options?: WorkerThreads.WorkerOptions) {
      const blob = typeof filename === 'string' && filename.startsWith('blob:');
      super(blob ? workerScript : filename, options);
      if (blob) {
        workers.add(this);
        if (released) super.unref();
      }
    }

    override postMessage(value: unknown, transferList?: readonly WorkerThreads.TransferListItem[]): void {
      if (value !== null && typeof value === 'object' && (value as { cmd?: unknown }).cmd === 'load') {
        const msg = value as { urlOrBlob?: unknown };
        if (typeof msg.urlOrBlob !== 'string') msg.urlOrBlob = factoryScript;
      }
      super.postMessage(value, transferList);
    }

    override ref(): void {
      // Emscripten refs a worker while it runs a pthread; XNNPACK's pool threads live as long as the backend.
      if (!released) super.ref();
    }
  }
  (workerThreads as { Worker: typeof WorkerThreads.Worker }).Worker = PthreadWorker;
  patched = true;
}

// The real os module object: XNNPACK sizes its pool from Emscripten's core count, os.cpus().length / 2.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const osModule = require('os') as typeof os & { cpus: typeof os.cpus };
let realCpus: typeof os.cpus | undefined;

/** Call once the wasm backend has started: from then on its worker threads never keep the process alive. */
export function releaseWasmWorkers(): void {
  released = true;
  for (const w of workers) w.unref();
  if (realCpus) {
    osModule.cpus = realCpus;
    realCpus = undefined;
  }
}

/** Use `threads` wasm threads (1: the single-threaded SIMD build, nothing patched). Call before the backend starts. */
export function enableWasmThreads(threads: number): void {
  if (threads <= 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    setThreadsCount(1);
    return;
  }
  patchWorker();
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  // tfjs caps XNNPACK's pool at half the logical cores (1 on a 2-core machine): report 2x`threads` cores while
  // the backend initialises; releaseWasmWorkers() restores os.cpus.
  if (realCpus === undefined) {
    realCpus = osModule.cpus;
    const cpus = realCpus();
    osModule.cpus = () => Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % cpus.length]);
  }
}
