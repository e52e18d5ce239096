/**
 * xai3d's native CPU kernels (native/kernels.cc, built by node-gyp into build/Release/xai3d_native.node when the
 * package is installed): the stride-1 3D convolutions (register tiles and dot products) and the filter gradient with
 * AVX2 + FMA, on tfjs-backend-wasm's
 * memory in place (same arguments as the wasm SIMD kernels `conv`, `convDot` and `filterGrad`). The wasm backend, its other
 * kernels and its tensors stay as they are; these two take over where the SIMD kernels would run.
 *
 * Used when: the addon was built, the CPU has AVX2 and FMA, the SIMD kernels run (the native ones share their call
 * sites) and XAI3D_NATIVE is not 0. Otherwise the wasm SIMD kernels run, and the reason is kept for the backend line.
 * Results agree with the wasm kernels to float32 rounding (fused multiply-adds round once) and do not depend on the
 * thread count.
 */
import * as fs from 'fs';
import * as path from 'path';
import { envSwitch } from '../env/switches';
import { align8, alloc, free, ptr, type WasmBackend } from './heap';

interface Addon {
  start(threads: number): boolean;
  conv(heap: Uint8Array, args: number[], rows: number): void;
  filterGrad(heap: Uint8Array, args: number[], Kp: number): void;
  convDot(heap: Uint8Array, args: number[], rows: number): void;
  pad(heap: Uint8Array, args: number[]): void;
  lrpPool2(heap: Uint8Array, args: number[], rows: number): void;
  rowSums(heap: Uint8Array, args: number[], rows: number): void;
  upsample(src: Float32Array, shapes: number[], out: Float32Array): void;
}

export interface NativeKernels {
  readonly threads: number;
  /** Run later calls on n threads (results do not depend on it; tests check that). */
  setThreads(n: number): void;
  /** kernels.wat "conv" arguments (without t0, t1), then bias, relu, mul, add, divR, epsBits (native/kernels.cc's Post), over `rows` output rows. */
  conv(backend: WasmBackend, args: number[], rows: number): void;
  /** kernels.wat "filterGrad" arguments (without t0, t1); Kp rows of offsets and accumulators. */
  filterGrad(backend: WasmBackend, args: number[], Kp: number): void;
  /** kernels.wat "convDot" arguments (without t0, t1), then mul, add, divR, epsBits, over `rows` output rows. */
  convDot(backend: WasmBackend, args: number[], rows: number): void;
  /** dst [N, Dp, Hp, Wp, C] = src [N, D, H, W, C] at (front, top, left) in zeros: [src, dst, N, D, H, W, C, Dp, Hp, Wp, front, top, left]. */
  pad(backend: WasmBackend, args: number[]): void;
  /** LRP's proportional 2x2x2 pooling, out = a * R / s(window sum of a): [a, R, out, Do, Ho, Wo, C, sW, sH, sD, sN, epsBits] over `rows` output rows. */
  lrpPool2(backend: WasmBackend, args: number[], rows: number): void;
  /** Float64 sums of `rows` rows of `mid` float32 values at byte offset x (blocks of 65536 values; thread-count independent). */
  rowSums(backend: WasmBackend, x: number, rows: number, mid: number): Float64Array;
  /** lib/explain/upsample.ts's trilinear resampling of src [d, h, w] into out [D, H, W], the same bits. */
  upsample(src: Float32Array, shape: [number, number, number], outShape: [number, number, number], out: Float32Array): void;
}

/** Where node-gyp puts the addon (relative to the package root). */
export const NATIVE_ADDON = path.join(__dirname, '..', '..', 'build', 'Release', 'xai3d_native.node');

let kernels: NativeKernels | undefined;
let why: string | undefined = 'native kernels not started';
let enabled: boolean | undefined;

/** Load and start the native kernels with `threads` threads; returns why not when they cannot run here. */
export function startNative(threads: number): string | undefined {
  if (kernels) return undefined;
  if (!envSwitch('XAI3D_NATIVE', true)) return (why = 'native kernels off (XAI3D_NATIVE=0)');
  if (!fs.existsSync(NATIVE_ADDON)) return (why = `native kernels not built (no ${path.relative(process.cwd(), NATIVE_ADDON) || NATIVE_ADDON}; npm run build:native)`);
  let addon: Addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    addon = require(NATIVE_ADDON) as Addon;
  } catch (err) {
    return (why = `native kernels failed to load: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!addon.start(threads)) return (why = 'native kernels need a CPU with AVX2 and FMA');
  let current = threads;
  why = undefined;
  kernels = {
    get threads() {
      return current;
    },
    setThreads(n: number) {
      addon.start(n);
      current = n;
    },
    conv(backend, args, rows) {
      addon.conv(backend.wasm.HEAPU8, args, rows);
    },
    filterGrad(backend, args, Kp) {
      addon.filterGrad(backend.wasm.HEAPU8, args, Kp);
    },
    convDot(backend, args, rows) {
      addon.convDot(backend.wasm.HEAPU8, args, rows);
    },
    pad(backend, args) {
      addon.pad(backend.wasm.HEAPU8, args);
    },
    lrpPool2(backend, args, rows) {
      addon.lrpPool2(backend.wasm.HEAPU8, args, rows);
    },
    rowSums(backend, x, rows, mid) {
      // float64 results in a scratch block of the heap (one spare float64 for the alignment).
      const scratch = alloc(backend, [2 * rows + 2]);
      try {
        const out = align8(ptr(backend, scratch));
        addon.rowSums(backend.wasm.HEAPU8, [x, out, mid], rows);
        return new Float64Array(backend.wasm.HEAPU8.buffer, out, rows).slice();
      } finally {
        free(backend, scratch);
      }
    },
    upsample(src, shape, outShape, out) {
      addon.upsample(src, [...shape, ...outShape], out);
    },
  };
  return undefined;
}

/** The native kernels when they run (started, and not switched off by setNativeEnabled), else undefined. */
export function native(): NativeKernels | undefined {
  if (enabled === undefined) enabled = true;
  return enabled ? kernels : undefined;
}

/** Switch the native kernels off or on at run time (tests and benchmarks compare them with the wasm kernels). */
export function setNativeEnabled(on: boolean): void {
  enabled = on;
}

/** Why the native kernels are not running, if they are not. */
export function nativeDisabledReason(): string | undefined {
  return kernels ? undefined : why;
}
