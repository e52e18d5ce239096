/**
 * Backend selection: which tfjs engine runs the tensors, chosen once per process.
 *
 * XAI3D_BACKEND = auto | tensorflow | wasm | cpu
 *   auto        the native TensorFlow backend of @tensorflow/tfjs-node-gpu when it loads (GPU with CUDA 11.2 and
 *               cuDNN 8.1), else wasm (with xai3d's fast 3D kernels), else the pure-JS cpu backend.
 *   tensorflow  the native backend or a clear error saying why it cannot load.
 *   wasm        WebAssembly (XNNPACK) with xai3d's Conv3D / pooling / reduction kernels (lib/backend/wasm-3d.ts).
 *   cpu         tfjs's pure-JS reference backend (slow; used by the tests as the reference).
 * XAI3D_THREADS = number of wasm threads (default: 2 where the machine has 2+ cores, else 1).
 *
 * The choice is logged once (one line on stderr) and recorded in every result manifest (backendInfo()).
 */
import { envSwitch } from '../env/switches';
import * as tf from '@tensorflow/tfjs';
import * as os from 'os';
import { inNotebook } from '../viz/notebook';
import { configureWasm, wasmKernelChoice, type WasmSetup } from './wasm-3d';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

export interface BackendInfo {
  /** The tfjs backend in use. */
  name: BackendName;
  /** What was asked for (XAI3D_BACKEND or the option). */
  requested: BackendChoice;
  /** Worker threads used by the backend's kernels (1 for cpu; the native backend manages its own). */
  threads: number;
  /** True when xai3d's replacement wasm kernels for 3D convolution are installed. */
  fast3dKernels: boolean;
  /** True when xai3d's SIMD kernels (lib/backend/simd/: convolutions, pooling, sums, LRP's division) are running. */
  simdKernels: boolean;
  /** True when xai3d's native AVX2 + FMA convolution kernels (lib/backend/native.ts) run in place of the SIMD ones. */
  nativeKernels: boolean;
  /** Why a preferred backend was skipped under `auto`, if it was. */
  notes: string[];
}

let chosen: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

/** Parse XAI3D_BACKEND (or an option); throws an error listing the valid values. */
export function parseBackendChoice(value: string | undefined, source = 'XAI3D_BACKEND'): BackendChoice {
  if (value === undefined || value.trim() === '') return 'auto';
  const v = value.trim().toLowerCase();
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`${source}="${value}" is not a valid backend; use one of: ${BACKEND_CHOICES.join(', ')}`);
}

/** Default wasm thread count: 2 where the machine has 2+ cores (tfjs caps its pool at half the logical cores otherwise). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(2, os.cpus().length));
}

/** Parse XAI3D_THREADS; throws naming the variable when it is not a positive integer. */
export function parseThreads(value: string | undefined, source = 'XAI3D_THREADS'): number {
  if (value === undefined || value.trim() === '') return defaultThreads();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(`${source}="${value}" is not a valid thread count; use an integer from 1 to 64`);
  }
  return n;
}

export interface InitBackendOptions {
  backend?: BackendChoice | string;
  threads?: number;
  /** Do not print the one-line backend report. */
  quiet?: boolean;
}

/** Load @tensorflow/tfjs-node-gpu if it is installed and binds to libtensorflow; returns a reason when not. */
function tryNativeBackend(): string | undefined {
  try {
    // The package name @tensorflow/tfjs-node is a shim for danfojs (re-exports tfjs): only tfjs-node-gpu counts.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('@tensorflow/tfjs-node-gpu');
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0];
    return /Cannot find module '@tensorflow\/tfjs-node-gpu'/.test(msg)
      ? '@tensorflow/tfjs-node-gpu is not installed (it needs a machine that can download libtensorflow)'
      : `@tensorflow/tfjs-node-gpu did not load: ${msg}`;
  }
  if (tf.findBackend('tensorflow') === null && tf.engine().registryFactory['tensorflow'] === undefined) {
    return '@tensorflow/tfjs-node-gpu loaded but registered no "tensorflow" backend (a different tfjs-core copy?)';
  }
  return undefined;
}

async function useBackend(name: BackendName): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs could not initialise the ${name} backend`);
  await tf.ready();
}

async function initWasm(threads: number): Promise<WasmSetup> {
  return configureWasm(threads, useBackend);
}

async function choose(opts: InitBackendOptions): Promise<BackendInfo> {
  const requested = parseBackendChoice(
    opts.backend ?? process.env.XAI3D_BACKEND,
    opts.backend !== undefined ? 'backend option' : 'XAI3D_BACKEND',
  );
  const threads = opts.threads ?? parseThreads(process.env.XAI3D_THREADS);
  // Configuration errors are the user's to fix, never a reason to fall back to another backend.
  wasmKernelChoice();
  const notes: string[] = [];
  tf.enableProdMode();

  if (requested === 'tensorflow' || requested === 'auto') {
    const why = tryNativeBackend();
    if (why === undefined) {
      await useBackend('tensorflow');
      return { name: 'tensorflow', requested, threads: os.cpus().length, fast3dKernels: false, simdKernels: false, nativeKernels: false, notes };
    }
    if (requested === 'tensorflow') {
      throw new Error(
        `XAI3D_BACKEND=tensorflow but ${why}. Install it on a connected machine with CUDA 11.2 and cuDNN 8.1 ` +
          '(npm install @tensorflow/tfjs-node-gpu@4.22.0), or use XAI3D_BACKEND=wasm.',
      );
    }
    notes.push(why);
  }
  if (requested === 'wasm' || requested === 'auto') {
    try {
      const w = await initWasm(threads);
      if (w.simdNote) notes.push(w.simdNote);
      if (w.nativeNote) notes.push(w.nativeNote);
      return { name: 'wasm', requested, threads: w.threads, fast3dKernels: w.fast, simdKernels: w.simd, nativeKernels: w.native, notes };
    } catch (err) {
      if (requested === 'wasm') throw new Error(`XAI3D_BACKEND=wasm failed to initialise: ${(err as Error).message}`);
      notes.push(`wasm failed: ${(err as Error).message}`);
    }
  }
  await useBackend('cpu');
  return { name: 'cpu', requested, threads: 1, fast3dKernels: false, simdKernels: false, nativeKernels: false, notes };
}

/**
 * Choose and initialise the backend (once per process; later calls return the same choice). Logs one line.
 * Asking later for a different explicit backend than the one chosen is an error, not a silent switch.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (chosen !== undefined) {
    const asked = opts.backend !== undefined ? parseBackendChoice(opts.backend, 'backend option') : 'auto';
    if (asked !== 'auto' && asked !== chosen.name) {
      throw new Error(`the ${chosen.name} backend is already in use in this process; cannot switch to ${asked}`);
    }
    return chosen;
  }
  if (pending === undefined) {
    pending = choose(opts).then((info) => {
      chosen = info;
      if (!opts.quiet && !envSwitch('XAI3D_QUIET', false)) {
        const extra = info.notes.length > 0 ? ` (auto: ${info.notes.join('; ')})` : '';
        const line = `xai3d: backend ${describeBackend(info)}${extra}`;
        // stdout is the CLI's data channel (JSON): the line goes to stderr there, to the cell's output in a notebook.
        if (inNotebook()) console.log(line);
        else process.stderr.write(line + '\n');
      }
      return info;
    });
    pending.catch(() => {
      pending = undefined;
    });
  }
  return pending;
}

/** "wasm, 2 thread(s), fast 3D kernels + SIMD + native AVX2 convolutions": the backend line and the report's. */
export function describeBackend(info: Pick<BackendInfo, 'name' | 'threads' | 'fast3dKernels' | 'simdKernels'> & { nativeKernels?: boolean }): string {
  const kernels =
    info.name === 'wasm' ? (info.fast3dKernels ? `, fast 3D kernels${info.simdKernels ? ' + SIMD' : ''}${info.nativeKernels ? ' + native AVX2 convolutions' : ''}` : ', stock kernels') : '';
  return `${info.name}, ${info.threads} thread(s)${kernels}`;
}

/** The backend chosen so far in this process, or undefined before initBackend(). */
export function backendInfo(): BackendInfo | undefined {
  return chosen;
}
