/**
 * The wasm backend configured for 3D CNNs: xai3d's replacement kernels (lib/backend/kernels3d.ts) and worker
 * threads in Node (lib/backend/wasm-threads.ts), and xai3d's SIMD kernels on the same memory (lib/backend/simd/).
 *
 * Where the CPU has AVX2 + FMA and the addon was built, the convolutions and filter gradients run in xai3d's native
 * kernels (lib/backend/native.ts) on the same memory; XAI3D_NATIVE=0 keeps the SIMD ones.
 *
 * XAI3D_SIMD=0 keeps xai3d's JS/XNNPACK kernel paths instead of its SIMD kernels (for comparison).
 * XAI3D_WASM_KERNELS=stock keeps tfjs's shipped kernels (for comparison only: the shipped Conv3D input gradient is
 * wrong, so gradients through convolutions are wrong with it).
 */
import { envSwitch } from '../env/switches';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { installFast3dKernels } from './kernels3d';
import { startSimd, type WasmMemoryLike } from './simd/index';
import { startNative } from './native';

import { enableWasmThreads, releaseWasmWorkers } from './wasm-threads';

/** What configureWasm set up: threads, replacement kernels, SIMD kernels (and why not, if they failed to start). */
export interface WasmSetup {
  threads: number;
  fast: boolean;
  simd: boolean;
  simdNote?: string;
  /** True when the native AVX2 convolution kernels run in place of the SIMD ones (lib/backend/native.ts). */
  native: boolean;
  nativeNote?: string;
}

/** XAI3D_WASM_KERNELS (fast | stock), XAI3D_SIMD, XAI3D_NATIVE and XAI3D_FUSED_CONV (1 | 0), validated: a bad value is an error naming the variable. */
export function wasmKernelChoice(): { fast: boolean; simd: boolean; native: boolean } {
  const kernels = (process.env.XAI3D_WASM_KERNELS ?? 'fast').trim().toLowerCase() || 'fast';
  if (kernels !== 'fast' && kernels !== 'stock') {
    throw new Error(`XAI3D_WASM_KERNELS="${process.env.XAI3D_WASM_KERNELS}" is not valid; use fast or stock`);
  }
  envSwitch('XAI3D_FUSED_CONV', true); // read where it is used (lib/backend/fused-conv.ts); refused here if invalid
  return { fast: kernels === 'fast', simd: envSwitch('XAI3D_SIMD', true), native: envSwitch('XAI3D_NATIVE', true) };
}

export async function configureWasm(threads: number, useBackend: (name: 'wasm') => Promise<void>): Promise<WasmSetup> {
  const choice = wasmKernelChoice();
  const fast = choice.fast;
  if (fast) installFast3dKernels();
  enableWasmThreads(threads);
  await useBackend('wasm');
  releaseWasmWorkers();
  let simdNote: string | undefined;
  const simdOn = fast && choice.simd;
  if (simdOn) {
    // The threaded build keeps its (shared) memory on the module, the single-threaded one exports it.
    const mod = (tf.backend() as unknown as { wasm: { wasmMemory?: WasmMemoryLike; asm?: { memory?: WasmMemoryLike } } }).wasm;
    const memory = mod.wasmMemory ?? mod.asm?.memory;
    simdNote = memory ? await startSimd(memory, getThreadsCount()) : 'SIMD kernels unavailable: no wasm memory found on the backend';
  }
  const simd = simdOn && simdNote === undefined;
  // The native kernels share the SIMD kernels' call sites: they run only where those would.
  const nativeNote = simd ? startNative(getThreadsCount()) : undefined;
  return { threads: getThreadsCount(), fast, simd, simdNote, native: simd && nativeNote === undefined, nativeNote };
}
