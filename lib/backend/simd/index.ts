/**
 * xai3d's own SIMD kernels (kernels.wat, compiled to kernels.wasm), instantiated on tfjs-backend-wasm's shared
 * memory so that they read and write tensors in place, with one worker thread that instantiates the same module on
 * the same memory. A kernel call splits its work range [0, total) in two: the worker takes the upper part, the main
 * thread the lower part, and the main thread waits (Atomics) until the worker is done. No message passing or copies:
 * arguments go through a small shared control block.
 *
 * Why: XNNPACK (behind tfjs's matMul and conv2d) packs its weight operand on every call, single-threaded; for the
 * 3D filter gradient that operand is the whole output gradient (the reduction runs over every output position), so
 * packing, not arithmetic, bounded it. Max pooling in plain JS was the other large cost of a training step.
 */
import { envSwitch } from '../../env/switches';
import * as fs from 'fs';
import * as path from 'path';
import type * as WorkerThreads from 'worker_threads';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const workerThreads = require('worker_threads') as typeof WorkerThreads;

export const SIMD_KERNELS = [
  'filterGrad',
  'maxPool2',
  'maxPool2Grad',
  'colSum',
  'conv',
  'convDot',
  'avgPool2',
  'avgPool2Grad',
  'rowSums',
  'stabilisedDivide',
  'biasAdd',
  'relu',
  'reluGrad',
  'adam',
] as const;
export type SimdKernelName = (typeof SIMD_KERNELS)[number];

type KernelFn = (...args: number[]) => void;

/** The parts of the WebAssembly API used here (typed locally: tslab's TypeScript has no WebAssembly typings). */
export interface WasmMemoryLike {
  buffer: ArrayBufferLike;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Control block (Int32): request seq, done seq, kernel index, arg count, error flag, then the arguments. */
const CTRL_REQ = 0;
const CTRL_DONE = 1;
const CTRL_FN = 2;
const CTRL_NARGS = 3;
const CTRL_ERROR = 4;
const CTRL_ARGS = 8;
const MAX_ARGS = 56;

export interface SimdRuntime {
  /** Threads that share each call (1 or 2). */
  threads: number;
  /**
   * Run kernel `name` over the work range [0, total): `args` are its parameters without the trailing (t0, t1).
   * With two threads the range is split at `split(total)` (default: the middle).
   */
  run(name: SimdKernelName, args: number[], total: number, split?: number): void;
}

let runtime: SimdRuntime | undefined;
let disabledWhy: string | undefined;
let stopWorker: (() => Promise<void>) | undefined;
/** XAI3D_SIMD=0 turns the SIMD kernels off (the JS/XNNPACK paths run instead); setSimdEnabled switches at run time. */
let enabled: boolean | undefined; // read from XAI3D_SIMD on first use (an invalid value is an error then, not at import)

/** The compiled kernels: for a shared memory (threaded tfjs build) or a plain one (single-threaded build). */
export function wasmFile(shared = true): string {
  return path.join(__dirname, shared ? 'kernels.wasm' : 'kernels-single.wasm');
}

const WORKER_SOURCE = `
const { workerData, parentPort } = require('worker_threads');
const { module, memory, ctrl, names } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = names.map((n) => instance.exports[n]);
const c = new Int32Array(ctrl);
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  Atomics.wait(c, ${CTRL_REQ}, seen);
  seen = Atomics.load(c, ${CTRL_REQ});
  const fn = c[${CTRL_FN}];
  if (fn < 0) break;
  try {
    fns[fn](...Array.from(c.subarray(${CTRL_ARGS}, ${CTRL_ARGS} + c[${CTRL_NARGS}])));
  } catch (err) {
    Atomics.store(c, ${CTRL_ERROR}, 1);
  }
  Atomics.store(c, ${CTRL_DONE}, seen);
  Atomics.notify(c, ${CTRL_DONE});
}
`;

/**
 * Instantiate the kernels on `memory` (tfjs-backend-wasm's memory: shared in its threaded build) with `threads`
 * threads (1 or 2; 2 needs a shared memory). Resolves when the worker is ready. On failure the runtime stays off
 * (simd() returns undefined) and the reason is returned.
 */
export async function startSimd(memory: WasmMemoryLike, threads: number): Promise<string | undefined> {
  if (runtime) return undefined;
  try {
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    if (threads >= 2 && !shared) throw new Error('two threads need a shared wasm memory');
    const module = new WA.Module(fs.readFileSync(wasmFile(shared)));
    const instance = new WA.Instance(module, { env: { memory } });
    const fns = SIMD_KERNELS.map((n) => instance.exports[n] as unknown as KernelFn);
    if (threads < 2) {
      runtime = {
        threads: 1,
        run(name, args, total) {
          try {
            fns[SIMD_KERNELS.indexOf(name)](...args, 0, total);
          } catch (err) {
            throw new Error(`SIMD kernel ${name} failed: ${(err as Error).message}`);
          }
        },
      };
      return undefined;
    }
    const ctrlBuffer = new SharedArrayBuffer(4 * (CTRL_ARGS + MAX_ARGS));
    const ctrl = new Int32Array(ctrlBuffer);
    const worker = new workerThreads.Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module, memory, ctrl: ctrlBuffer, names: [...SIMD_KERNELS] },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the SIMD worker exited (code ${code}) before it was ready`)));
    });
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    // Should the worker ever end (it does not on its own), later calls run on the main thread alone instead of
    // waiting for it forever.
    let workerAlive = true;
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      workerAlive = false;
    });
    worker.unref(); // a process ends on its own; the worker only ever waits on the control block
    let seq = 0;
    stopWorker = async () => {
      if (!workerAlive) return;
      // Keep the event loop alive until the exit is seen (the worker itself never holds it: Worker is patched to
      // stay unref'd, lib/backend/wasm-threads.ts).
      const keepAlive = setInterval(() => undefined, 1000);
      const exited = new Promise<void>((resolve) =>
        worker.once('exit', () => {
          clearInterval(keepAlive);
          resolve();
        }),
      );
      ctrl[CTRL_FN] = -1; // the worker's loop ends on a negative kernel index
      seq = (seq + 1) | 0;
      Atomics.store(ctrl, CTRL_REQ, seq);
      Atomics.notify(ctrl, CTRL_REQ);
      await exited;
    };
    const runHere = (name: SimdKernelName, fn: number, args: number[], t0: number, t1: number) => {
      try {
        fns[fn](...args, t0, t1);
      } catch (err) {
        throw new Error(`SIMD kernel ${name} failed: ${(err as Error).message}`);
      }
    };
    runtime = {
      threads: 2,
      run(name, args, total, split) {
        if (args.length + 2 > MAX_ARGS) throw new Error(`SIMD kernel ${name}: too many arguments`);
        const mid = Math.max(0, Math.min(total, split ?? Math.floor(total / 2)));
        const fn = SIMD_KERNELS.indexOf(name);
        if (mid >= total || !workerAlive) {
          runHere(name, fn, args, 0, total);
          return;
        }
        for (let i = 0; i < args.length; i++) ctrl[CTRL_ARGS + i] = args[i];
        ctrl[CTRL_ARGS + args.length] = mid;
        ctrl[CTRL_ARGS + args.length + 1] = total;
        ctrl[CTRL_NARGS] = args.length + 2;
        ctrl[CTRL_FN] = fn;
        ctrl[CTRL_ERROR] = 0;
        seq = (seq + 1) | 0;
        Atomics.store(ctrl, CTRL_REQ, seq);
        Atomics.notify(ctrl, CTRL_REQ);
        let mine: unknown;
        try {
          if (mid > 0) runHere(name, fn, args, 0, mid);
        } catch (err) {
          mine = err;
        }
        let done: number;
        while ((done = Atomics.load(ctrl, CTRL_DONE)) !== seq) Atomics.wait(ctrl, CTRL_DONE, done);
        if (mine) throw mine;
        if (ctrl[CTRL_ERROR] !== 0) throw new Error(`SIMD kernel ${name} failed in the worker thread`);
      },
    };
    return undefined;
  } catch (err) {
    disabledWhy = `SIMD kernels unavailable: ${(err as Error).message}`;
    return disabledWhy;
  }
}

/**
 * End the worker thread; later kernel calls run on the main thread alone (the same results, half the speed). For
 * tests, and for hosts that want every thread gone before they exit.
 */
export async function stopSimdWorker(): Promise<void> {
  await stopWorker?.();
}

/** The running SIMD kernels, or undefined when they are off (not started, disabled, or failed to start). */
export function simd(): SimdRuntime | undefined {
  if (enabled === undefined) enabled = envSwitch('XAI3D_SIMD', true);
  return enabled ? runtime : undefined;
}

/** Turn the SIMD kernels on or off (tests and benchmarks compare both paths). */
export function setSimdEnabled(on: boolean): void {
  enabled = on;
}

/** Why the SIMD kernels are off, if they failed to start. */
export function simdDisabledReason(): string | undefined {
  return disabledWhy;
}
