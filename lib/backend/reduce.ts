/**
 * Sum and Mean over one contiguous block of axes on the wasm backend (bias gradients, global average pooling,
 * per-sample totals): column or row sums with float64 accumulators (SIMD for large ones) instead of a transpose; and
 * LRP's stabilised division R / (z + eps sign z) in one pass.
 */
import * as tf from '@tensorflow/tfjs';
import { simd } from './simd/index';
import { align8, alloc, count, f32, free, ptr, type KernelArgs, type TensorInfo } from './heap';
import { activeKernels, fallback } from './kernel-common';

export function contiguousReduce(name: 'Sum' | 'Mean', args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank === 0) return fallback(name, args);
  const axes = tf.util.parseAxisParam(args.attrs.axis as number | number[], x.shape).slice().sort((a, b) => a - b);
  if (axes.length === 0 || axes.some((a, i) => a !== axes[0] + i)) return fallback(name, args);
  count(`${name}:fast`);
  const backend = args.backend;
  const first = axes[0];
  const last = axes[axes.length - 1];
  const outer = x.shape.slice(0, first).reduce((a, b) => a * b, 1);
  const mid = x.shape.slice(first, last + 1).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(last + 1).reduce((a, b) => a * b, 1);
  const outShape = args.attrs.keepDims
    ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : x.shape.filter((_, i) => i < first || i > last);
  const out = alloc(backend, outShape);
  const rt = simd();
  if (rt && outer === 1 && inner % 4 === 0 && mid * inner >= 65536) {
    // Bias gradients: one column sum over all rows, float64, rows split over the threads.
    count(`${name}:simd`);
    const accT = alloc(backend, [4 * inner + 2]);
    try {
      const accPtr = align8(ptr(backend, accT));
      const acc = new Float64Array(f32(backend, accT).buffer, accPtr, 2 * inner);
      acc.fill(0);
      rt.run('colSum', [ptr(backend, x), accPtr, inner], mid);
      const sums = new Float64Array(f32(backend, accT).buffer, accPtr, 2 * inner);
      const o = f32(backend, out);
      for (let i = 0; i < inner; i++) o[i] = name === 'Mean' ? (sums[i] + sums[inner + i]) / mid : sums[i] + sums[inner + i];
    } finally {
      free(backend, accT);
    }
    return out;
  }
  if (rt && inner === 1 && mid % 4 === 0 && outer * mid >= 65536) {
    // Per-sample totals (relevance sums, conservation audits): one float64 sum per row.
    count(`${name}:simd`);
    const accT = alloc(backend, [2 * outer + 2]);
    try {
      const accPtr = align8(ptr(backend, accT));
      rt.run('rowSums', [ptr(backend, x), accPtr, mid], outer);
      const sums = new Float64Array(f32(backend, accT).buffer, accPtr, outer);
      const o = f32(backend, out);
      for (let q = 0; q < outer; q++) o[q] = name === 'Mean' ? sums[q] / mid : sums[q];
    } finally {
      free(backend, accT);
    }
    return out;
  }
  const xs = f32(backend, x);
  const o = f32(backend, out);
  const scale = name === 'Mean' ? 1 / mid : 1;
  if (inner === 1) {
    for (let q = 0; q < outer; q++) {
      let s = 0;
      const base = q * mid;
      for (let m = 0; m < mid; m++) s += xs[base + m];
      o[q] = name === 'Mean' ? s / mid : s;
    }
  } else {
    const acc = new Float64Array(inner);
    for (let q = 0; q < outer; q++) {
      acc.fill(0);
      for (let m = 0; m < mid; m++) {
        const base = (q * mid + m) * inner;
        for (let i = 0; i < inner; i++) acc[i] += xs[base + i];
      }
      const oBase = q * inner;
      for (let i = 0; i < inner; i++) o[oBase + i] = scale === 1 ? acc[i] : acc[i] / mid;
    }
  }
  return out;
}

// ---------------------------------------------------------------- LRP's stabilised division (an xai3d kernel)

/** Name of xai3d's fused R / (z + eps * sign(z)) kernel (registered for the wasm backend only). */
export const STABILISED_DIVIDE = 'Xai3dStabilisedDivide';

/** Can R / s(z) run as the fused SIMD kernel here: wasm backend, SIMD kernels on, float32 tensors of one shape? */
export function stabilisedDivideFused(R: tf.TensorInfo, z: tf.TensorInfo): boolean {
  return (
    activeKernels() === 'fast' &&
    simd() !== undefined &&
    tf.getBackend() === 'wasm' &&
    R.dtype === 'float32' &&
    z.dtype === 'float32' &&
    R.shape.length === z.shape.length &&
    R.shape.every((d, i) => d === z.shape[i])
  );
}

export function stabilisedDivideKernel(args: KernelArgs): TensorInfo {
  const { r, z } = args.inputs;
  const eps = args.attrs.eps as number;
  const rt = simd();
  if (!rt) throw new Error(`${STABILISED_DIVIDE} needs xai3d's SIMD kernels`);
  const backend = args.backend;
  count(`${STABILISED_DIVIDE}:simd`);
  const out = alloc(backend, r.shape);
  const n = r.shape.reduce((a, b) => a * b, 1);
  const vecs = Math.floor(n / 4);
  const epsBits = new Int32Array(new Float32Array([eps]).buffer)[0];
  if (vecs > 0) rt.run('stabilisedDivide', [ptr(backend, r), ptr(backend, z), ptr(backend, out), epsBits], vecs);
  if (vecs * 4 < n) {
    const rs = f32(backend, r);
    const zs = f32(backend, z);
    const o = f32(backend, out);
    const e = Math.fround(eps);
    for (let i = vecs * 4; i < n; i++) o[i] = Math.fround(rs[i] / Math.fround(zs[i] + (zs[i] >= 0 ? e : -e)));
  }
  return out;
}
