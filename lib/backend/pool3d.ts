/**
 * 3D pooling on the wasm backend: max pooling and its gradient with tfjs cpu's tie rule (the last maximum in window
 * order), average pooling and its gradient (LRP's proportional pooling); SIMD for 2x2x2 windows at stride 2.
 */
import * as tf from '@tensorflow/tfjs';
import { simd, type SimdRuntime } from './simd/index';
import { alloc, count, f32, ptr, type KernelArgs, type TensorInfo } from './heap';
import { fallback, type Shape5 } from './kernel-common';
import { forEachWindowTap } from './conv3d';

function poolInfo(args: KernelArgs, shape: Shape5): tf.backend_util.Conv3DInfo {
  return tf.backend_util.computePool3DInfo(
    shape,
    args.attrs.filterSize as number | [number, number, number],
    args.attrs.strides as number | [number, number, number],
    1,
    args.attrs.pad as 'same' | 'valid' | number,
    args.attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}

/** 2x2x2 windows with stride 2, no padding, every window inside the input (the thesis models' pooling)? */
function isPool2(info: tf.backend_util.Conv3DInfo): boolean {
  const { filterDepth, filterHeight, filterWidth, strideDepth, strideHeight, strideWidth, padInfo } = info;
  const two = [filterDepth, filterHeight, filterWidth, strideDepth, strideHeight, strideWidth].every((v) => v === 2);
  if (!two || padInfo.front !== 0 || padInfo.top !== 0 || padInfo.left !== 0) return false;
  const [, D, H, W] = info.inShape;
  const [, Do, Ho, Wo] = info.outShape;
  return 2 * Do <= D && 2 * Ho <= H && 2 * Wo <= W;
}

/**
 * The SIMD 2x2x2 pooling kernels' geometry for this call: [Do, Ho, Wo, C, then the input's byte strides along w, h, d
 * and n], the work (output rows) and whether some inputs lie outside every window (odd sizes); null when the kernels
 * do not apply (other windows, channels not a multiple of 4, empty output, SIMD kernels off).
 */
function pool2Simd(info: tf.backend_util.Conv3DInfo): { rt: SimdRuntime; dims: number[]; rows: number; uncovered: boolean } | null {
  const rt = simd();
  const [N, D, H, W, C] = info.inShape;
  const [, Do, Ho, Wo] = info.outShape;
  if (!rt || !isPool2(info) || C % 4 !== 0 || N * Do * Ho * Wo === 0) return null;
  const sW = 4 * C;
  return { rt, dims: [Do, Ho, Wo, C, sW, sW * W, sW * W * H, sW * W * H * D], rows: N * Do * Ho, uncovered: 2 * Do < D || 2 * Ho < H || 2 * Wo < W };
}

/**
 * One walk over the pooling windows, for what the SIMD kernels do not cover: for every output element, the input
 * index holding its window's maximum. Ties go to the LAST maximum in window order (d, h, w), as tfjs's cpu backend;
 * -1 for a window without inputs (or only NaNs). The forward pass reads the maxima there, the gradient routes dy there.
 */
function maxPoolArgmax(info: tf.backend_util.Conv3DInfo, xs: Float32Array): Int32Array {
  const C = info.inChannels;
  const where = new Int32Array(info.outShape.reduce((a, b) => a * b, 1)).fill(-1);
  const best = new Float32Array(C);
  let current = -1;
  forEachWindowTap(info, (outPos, inPos) => {
    if (outPos !== current) {
      best.fill(-Infinity);
      current = outPos;
    }
    const oBase = outPos * C;
    const iBase = inPos * C;
    for (let c = 0; c < C; c++) {
      const v = xs[iBase + c];
      if (v >= best[c]) {
        best[c] = v;
        where[oBase + c] = iBase + c;
      }
    }
  });
  return where;
}

export function maxPool3dKernel(args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  if (x.dtype !== 'float32' || (args.attrs.dataFormat !== undefined && args.attrs.dataFormat !== 'NDHWC')) {
    return fallback('MaxPool3D', args);
  }
  count('MaxPool3D:fast');
  const backend = args.backend;
  const info = poolInfo(args, x.shape as Shape5);
  const out = alloc(backend, info.outShape);
  const fast = pool2Simd(info);
  if (fast) {
    count('MaxPool3D:simd');
    fast.rt.run('maxPool2', [ptr(backend, x), ptr(backend, out), ...fast.dims], fast.rows);
    return out;
  }
  const xs = f32(backend, x);
  const where = maxPoolArgmax(info, xs);
  const o = f32(backend, out);
  for (let q = 0; q < where.length; q++) o[q] = where[q] >= 0 ? xs[where[q]] : -Infinity;
  return out;
}

export function maxPool3dGradKernel(args: KernelArgs): TensorInfo {
  const { dy, input } = args.inputs;
  if (input.dtype !== 'float32') return fallback('MaxPool3DGrad', args);
  count('MaxPool3DGrad:fast');
  const backend = args.backend;
  const info = poolInfo(args, input.shape as Shape5);
  const out = alloc(backend, info.inShape);
  const fast = pool2Simd(info);
  if (fast) {
    count('MaxPool3DGrad:simd');
    // The kernel writes every input inside a window; inputs outside all windows (odd sizes) stay zero.
    if (fast.uncovered) f32(backend, out).fill(0);
    fast.rt.run('maxPool2Grad', [ptr(backend, input), ptr(backend, dy), ptr(backend, out), ...fast.dims], fast.rows);
    return out;
  }
  const where = maxPoolArgmax(info, f32(backend, input));
  const dx = f32(backend, out);
  const g = f32(backend, dy);
  dx.fill(0);
  for (let q = 0; q < where.length; q++) if (where[q] >= 0) dx[where[q]] += g[q];
  return out;
}

/** 2x2x2 average pooling with stride 2 (LRP's treatment of pooling layers) with the SIMD kernel; else the shipped one. */
export function avgPool3dKernel(args: KernelArgs): TensorInfo {
  const { x } = args.inputs;
  const ndhwc = args.attrs.dataFormat === undefined || args.attrs.dataFormat === 'NDHWC';
  const info = poolInfo(args, x.shape as Shape5);
  const fast = x.dtype === 'float32' && ndhwc ? pool2Simd(info) : null;
  if (!fast) return fallback('AvgPool3D', args);
  count('AvgPool3D:simd');
  const out = alloc(args.backend, info.outShape);
  fast.rt.run('avgPool2', [ptr(args.backend, x), ptr(args.backend, out), ...fast.dims], fast.rows);
  return out;
}

export function avgPool3dGradKernel(args: KernelArgs): TensorInfo {
  const { dy, input } = args.inputs;
  const fast = dy.dtype === 'float32' ? pool2Simd(poolInfo(args, input.shape as Shape5)) : null;
  if (!fast) return fallback('AvgPool3DGrad', args);
  count('AvgPool3DGrad:simd');
  const out = alloc(args.backend, input.shape);
  if (fast.uncovered) f32(args.backend, out).fill(0);
  // dx has the input's layout: the strides in fast.dims are the input's.
  fast.rt.run('avgPool2Grad', [ptr(args.backend, dy), ptr(args.backend, out), ...fast.dims], fast.rows);
  return out;
}

/** Sum or mean over one contiguous block of axes, as out[o, i] = sum_m x[o, m, i] (float64 accumulation). */
