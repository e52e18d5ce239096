/**
 * Shared by xai3d's wasm kernels: the shipped kernels they fall back to (recorded when xai3d's are installed), shape
 * helpers, and whether xai3d's kernels are the active ones.
 */
import * as tf from '@tensorflow/tfjs';
import { count, type Kernel, type KernelArgs, type TensorInfo } from './heap';

export type Shape5 = [number, number, number, number, number];

/** Largest temporary buffer (float32 elements) a kernel allocates at once: 64 Mi elements = 256 MB. */
export const CHUNK_ELEMENTS = 64 * 1024 * 1024;

/** The shipped kernels xai3d's replace (their fallbacks), by kernel name. */
export const originals = new Map<string, tf.KernelConfig>();

let active: 'fast' | 'stock' | 'none' = 'none';
/** Which kernels are registered now ('none' before installation). */
export function activeKernels(): 'fast' | 'stock' | 'none' {
  return active;
}
export function setActiveKernels(which: 'fast' | 'stock' | 'none'): void {
  active = which;
}

/** The kernel registered for the wasm backend under `name` now. */
export function kernel(name: string): Kernel {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`the wasm backend has no ${name} kernel`);
  return k.kernelFunc as unknown as Kernel;
}

/** Run the shipped kernel `name` (counted as "<name>:fallback"). */
export function fallback(name: string, args: KernelArgs): TensorInfo {
  count(`${name}:fallback`);
  return (originals.get(name)!.kernelFunc as unknown as Kernel)(args);
}

export function triple(v: number | number[] | undefined, def = 1): [number, number, number] {
  if (v === undefined) return [def, def, def];
  if (typeof v === 'number') return [v, v, v];
  return [v[0], v[1], v[2]];
}

export const isOnes = (v: [number, number, number]) => v[0] === 1 && v[1] === 1 && v[2] === 1;

/** Do two shapes agree dimension by dimension? */
export const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export interface Pads {
  front: number;
  back: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}
