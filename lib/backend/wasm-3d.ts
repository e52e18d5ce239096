/**
 * The wasm backend configured for 3D CNNs: xai3d's replacement kernels (lib/backend/kernels3d.ts) and worker
 * threads in Node (lib/backend/wasm-threads.ts), and xai3d's SIMD kernels on the same memory (lib/backend/simd/).
 *
 * XAI3D_WASM_KERNELS=stock keeps tfjs's shipped kernels (for comparison only: the shipped Conv3D input gradient is
 * wrong, so gradients through convolutions are wrong with it).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { installFast3dKernels } from './kernels3d';
import { startSimd } from './simd';
import type { BackendName } from './select';
import { enableWasmThreads, releaseWasmWorkers } from './wasm-threads';

export async function configureWasm(
  threads: number,
  useBackend: (name: BackendName) => Promise<void>,
): Promise<{ threads: number; fast: boolean; simd: boolean; simdNote?: string }> {
  const kernels = (process.env.XAI3D_WASM_KERNELS ?? 'fast').trim().toLowerCase();
  if (kernels !== 'fast' && kernels !== 'stock') {
    throw new Error(`XAI3D_WASM_KERNELS="${process.env.XAI3D_WASM_KERNELS}" is not valid; use fast or stock`);
  }
  const fast = kernels === 'fast';
  if (fast) installFast3dKernels();
  enableWasmThreads(threads);
  await useBackend('wasm');
  releaseWasmWorkers();
  let simdNote: string | undefined;
  if (fast) {
    const memory = (tf.backend() as unknown as { wasm: { wasmMemory: WebAssembly.Memory } }).wasm.wasmMemory;
    simdNote = await startSimd(memory, getThreadsCount());
  }
  return { threads: getThreadsCount(), fast, simd: fast && simdNote === undefined, simdNote };
}
