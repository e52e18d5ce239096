/**
 * Fast, correct 3D kernels for tfjs's wasm backend.
 *
 * As shipped (tfjs 4.22), the wasm backend runs Conv3D as naive loops (~1 GFLOP/s) and its Conv3DBackpropInputV2
 * returns wrong values. These replacements are registered under the same kernel names, so tf.conv3d, tf.grad and
 * tf.layers use them without any change to their code. Each has two paths: xai3d's SIMD kernels (simd/kernels.wat,
 * two threads, on tfjs's memory; counted as "<Kernel>:simd") where they apply, else JS loops and XNNPACK ("fast").
 *
 * - Conv3D (stride 1, dilation 1). SIMD: straight from the zero-padded input, 4 x 8 register tiles for 8k filters
 *   (`conv`), else dot products over 4k input channels (`convDot`). Otherwise a "depth stack"
 *   S[n*Do+d, h, w, s*C+c] = x[n, d+s-front, h, w, c] (zero outside), then ONE XNNPACK conv2d of S with the filter
 *   laid out as [kH, kW, kD*C, F] and explicit H/W padding.
 * - Conv3DBackpropInputV2 (stride 1): the same routines on dy with the filter flipped in all three spatial axes,
 *   in/out channels swapped, and the complementary padding (kD-1-front, kD-1-back, ...). Strided cases use a
 *   direct (slow, correct) loop: the shipped kernel is never used.
 * - Conv3DBackpropFilterV2 (stride 1). SIMD (`filterGrad`): 4 x 8 tiles of dW accumulated over the output positions
 *   (no im2col, no padding waste), float64 per block of planes. Otherwise a transposed im2col A[kD*kH*kW*C, M] times
 *   dy[M, F] with the backend's matMul, in chunks of M, accumulated in float64; on a zero-padded grid every im2col row
 *   is one contiguous copy. Strided cases: direct accumulation (the shipped kernel is wrong for strided 'same'
 *   convolutions).
 * - MaxPool3D / MaxPool3DGrad: ties go to the last maximum in window order (d, h, w), exactly as tfjs's cpu backend
 *   does, so gradients (and LRP's winner-take-all) agree across backends. SIMD for 2x2x2 windows, stride 2, 4k
 *   channels; direct loops otherwise.
 * - AvgPool3D / AvgPool3DGrad (LRP's proportional pooling): SIMD for 2x2x2 windows, stride 2, 4k channels; otherwise
 *   the shipped kernels.
 * - Sum / Mean over one contiguous block of axes (bias gradients, global average pooling, per-sample totals): column
 *   or row sums with float64 accumulators instead of a full transpose (SIMD for large ones).
 * - Xai3dStabilisedDivide: LRP's R / (z + eps sign z) in one pass (an xai3d kernel, wasm only; lrp/rules.ts).
 * Anything else (other strides, dilations, dtypes) falls back to the shipped kernel, whose forward passes are correct.
 */
import * as tf from '@tensorflow/tfjs';
import { simd, type SimdRuntime } from './simd/index';
import { align8, alloc, count, dropView, f32, free, kernelCalls, ptr, view, type Kernel, type KernelArgs, type TensorInfo, type WasmBackend } from './heap';
import { elementwiseKernels, RELU_GRAD, reluGradientConfig, reluGradKernel } from './elementwise';

export { kernelCalls };

type Shape5 = [number, number, number, number, number];

/** Largest temporary buffer (float32 elements) a kernel allocates at once: 64 Mi elements = 256 MB. */
const CHUNK_ELEMENTS = 64 * 1024 * 1024;

export const REPLACED_KERNELS = [
  'Conv3D',
  'Conv3DBackpropInputV2',
  'Conv3DBackpropFilterV2',
  'MaxPool3D',
  'MaxPool3DGrad',
  'AvgPool3D',
  'AvgPool3DGrad',
  'Sum',
  'Mean',
  'Add',
  'Relu',
  'Identity',
] as const;

const originals = new Map<string, tf.KernelConfig>();
const replacements = new Map<string, tf.KernelConfig>();
let active: 'fast' | 'stock' | 'none' = 'none';

function kernel(name: string): Kernel {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`the wasm backend has no ${name} kernel`);
  return k.kernelFunc as unknown as Kernel;
}

function fallback(name: string, args: KernelArgs): TensorInfo {
  count(`${name}:fallback`);
  return (originals.get(name)!.kernelFunc as unknown as Kernel)(args);
}

function triple(v: number | number[] | undefined, def = 1): [number, number, number] {
  if (v === undefined) return [def, def, def];
  if (typeof v === 'number') return [v, v, v];
  return [v[0], v[1], v[2]];
}

const isOnes = (v: [number, number, number]) => v[0] === 1 && v[1] === 1 && v[2] === 1;

interface Pads {
  front: number;
  back: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

// ---------------------------------------------------------------- convolution core

/**
 * Stride-1 3D correlation of x [N, D, H, W, C] with a filter already laid out as w2 [kH, kW, kD*C, F], with the given
 * padding. Returns [N, Do, Ho, Wo, F].
 */
function conv3dStride1(backend: WasmBackend, x: TensorInfo, w2: TensorInfo, kD: number, p: Pads): TensorInfo {
  const [N, D, H, W, C] = x.shape as Shape5;
  const [kH, kW, , F] = w2.shape;
  const Do = D + p.front + p.back - kD + 1;
  const Ho = H + p.top + p.bottom - kH + 1;
  const Wo = W + p.left + p.right - kW + 1;
  const KC = kD * C;
  const HW = H * W;
  const rowElems = HW * KC;
  const totalRows = N * Do;
  const rowsPerChunk = Math.max(1, Math.min(totalRows, Math.floor(CHUNK_ELEMENTS / rowElems)));
  const conv2d = kernel('Conv2D');
  const attrs = {
    strides: [1, 1],
    pad: [
      [0, 0],
      [p.top, p.bottom],
      [p.left, p.right],
      [0, 0],
    ],
    dataFormat: 'NHWC',
    dilations: [1, 1],
  };

  const fillStack = (S: TensorInfo, r0: number, rows: number) => {
    const xs = f32(backend, x);
    const s = f32(backend, S);
    const HWC = HW * C;
    for (let r = 0; r < rows; r++) {
      const row = r0 + r;
      const n = Math.floor(row / Do);
      const od = row - n * Do;
      const sBase = r * rowElems;
      for (let k = 0; k < kD; k++) {
        const id = od + k - p.front;
        const kOff = sBase + k * C;
        if (id < 0 || id >= D) {
          for (let hw = 0; hw < HW; hw++) {
            const o = kOff + hw * KC;
            for (let c = 0; c < C; c++) s[o + c] = 0;
          }
        } else if (C === 1) {
          const xBase = (n * D + id) * HW;
          for (let hw = 0; hw < HW; hw++) s[kOff + hw * KC] = xs[xBase + hw];
        } else {
          const xBase = (n * D + id) * HWC;
          for (let hw = 0; hw < HW; hw++) {
            const o = kOff + hw * KC;
            const i = xBase + hw * C;
            for (let c = 0; c < C; c++) s[o + c] = xs[i + c];
          }
        }
      }
    }
  };

  if (rowsPerChunk >= totalRows) {
    const S = alloc(backend, [totalRows, H, W, KC]);
    fillStack(S, 0, totalRows);
    const y = conv2d({ inputs: { x: S, filter: w2 }, backend, attrs });
    free(backend, S);
    // Same memory layout: [N*Do, Ho, Wo, F] is [N, Do, Ho, Wo, F].
    return { dataId: y.dataId, shape: [N, Do, Ho, Wo, F], dtype: 'float32' };
  }
  const out = alloc(backend, [N, Do, Ho, Wo, F]);
  const S = alloc(backend, [rowsPerChunk, H, W, KC]);
  const outRow = Ho * Wo * F;
  try {
    for (let r0 = 0; r0 < totalRows; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, totalRows - r0);
      const Sv = rows === rowsPerChunk ? S : view(backend, S, 0, [rows, H, W, KC]);
      fillStack(Sv, r0, rows);
      const y = conv2d({ inputs: { x: Sv, filter: w2 }, backend, attrs });
      f32(backend, out).set(f32(backend, y), r0 * outRow);
      free(backend, y);
      if (Sv !== S) dropView(backend, Sv);
    }
  } finally {
    free(backend, S);
  }
  return out;
}

/** Filter [kD, kH, kW, C, F] as [kH, kW, kD*C, F] for the depth stack. */
function forwardFilter(backend: WasmBackend, filter: TensorInfo): TensorInfo {
  const [kD, kH, kW, C, F] = filter.shape as Shape5;
  const out = alloc(backend, [kH, kW, kD * C, F]);
  const w = f32(backend, filter);
  const o = f32(backend, out);
  for (let s = 0; s < kD; s++)
    for (let h = 0; h < kH; h++)
      for (let x = 0; x < kW; x++)
        for (let c = 0; c < C; c++) {
          const src = (((s * kH + h) * kW + x) * C + c) * F;
          const dst = ((h * kW + x) * kD * C + s * C + c) * F;
          for (let f = 0; f < F; f++) o[dst + f] = w[src + f];
        }
  return out;
}

/**
 * Filter [kD, kH, kW, C, F] flipped in space with channels swapped (input gradient), laid out for the depth stack as
 * [kH, kW, kD*F, C] ('stack') or for the SIMD kernels as a [kD*kH*kW*F, C] matrix ('matrix').
 */
function flippedFilter(backend: WasmBackend, filter: TensorInfo, layout: 'stack' | 'matrix'): TensorInfo {
  const [kD, kH, kW, C, F] = filter.shape as Shape5;
  const out = alloc(backend, layout === 'stack' ? [kH, kW, kD * F, C] : [kD * kH * kW * F, C]);
  const w = f32(backend, filter);
  const o = f32(backend, out);
  for (let s = 0; s < kD; s++)
    for (let h = 0; h < kH; h++)
      for (let x = 0; x < kW; x++) {
        const src = (((kD - 1 - s) * kH + (kH - 1 - h)) * kW + (kW - 1 - x)) * C * F;
        const dst = layout === 'stack' ? (h * kW + x) * kD * F * C + s * F * C : ((s * kH + h) * kW + x) * F * C;
        for (let f = 0; f < F; f++) for (let c = 0; c < C; c++) o[dst + f * C + c] = w[src + c * F + f];
      }
  return out;
}

// ---------------------------------------------------------------- kernels

function conv3dKernel(args: KernelArgs): TensorInfo {
  const { x, filter } = args.inputs;
  const strides = triple(args.attrs.strides as number[]);
  const dilations = triple(args.attrs.dilations as number[]);
  if (!isOnes(strides) || !isOnes(dilations) || x.dtype !== 'float32' || args.attrs.dataFormat === 'NCDHW') {
    return fallback('Conv3D', args);
  }
  const info = tf.backend_util.computeConv3DInfo(
    x.shape as Shape5,
    filter.shape as Shape5,
    strides,
    dilations,
    args.attrs.pad as 'same' | 'valid',
  );
  const rt = simd();
  const [kD, kH, kW, C, F] = filter.shape as Shape5;
  if (rt && simdConvPath(F, info.outWidth, C) !== null) {
    count('Conv3D:simd');
    // [kD, kH, kW, C, F] is already the [K, F] matrix the kernel reads.
    return simdConv(args.backend, x, filter, [kD, kH, kW, F], info.padInfo, rt);
  }
  count('Conv3D:fast');
  const w2 = forwardFilter(args.backend, filter);
  try {
    return conv3dStride1(args.backend, x, w2, info.filterDepth, info.padInfo);
  } finally {
    free(args.backend, w2);
  }
}

function conv3dBackpropInputKernel(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs;
  const strides = triple(args.attrs.strides as number[]);
  const inputShape = args.attrs.inputShape as Shape5;
  const info = tf.backend_util.computeConv3DInfo(inputShape, filter.shape as Shape5, strides, 1, args.attrs.pad as 'same' | 'valid');
  if (!isOnes(strides)) {
    count('Conv3DBackpropInputV2:direct');
    return directBackpropInput(args.backend, dy, filter, info);
  }
  const { filterDepth: kD, filterHeight: kH, filterWidth: kW, padInfo: p } = info;
  const pads: Pads = {
    front: kD - 1 - p.front,
    back: kD - 1 - p.back,
    top: kH - 1 - p.top,
    bottom: kH - 1 - p.bottom,
    left: kW - 1 - p.left,
    right: kW - 1 - p.right,
  };
  const rt = simd();
  const [, , , C, F] = filter.shape as Shape5;
  if (rt && simdConvPath(C, info.inWidth, F) !== null) {
    count('Conv3DBackpropInputV2:simd');
    const wk = flippedFilter(args.backend, filter, 'matrix');
    try {
      return simdConv(args.backend, dy, wk, [kD, kH, kW, C], pads, rt);
    } finally {
      free(args.backend, wk);
    }
  }
  count('Conv3DBackpropInputV2:fast');
  const w2 = flippedFilter(args.backend, filter, 'stack');
  try {
    return conv3dStride1(args.backend, dy, w2, kD, pads);
  } finally {
    free(args.backend, w2);
  }
}

/**
 * The window walk of a 3D convolution or pooling: for every output position, in order, and every tap of its window
 * that lies inside the input, in window order (d, h, w): visit(outPos, inPos, tap), with outPos and inPos flat
 * position indices (times the channel count for an element) and tap = (a * kH + b) * kW + e. For the direct
 * (strided or otherwise uncovered) kernels below, where clarity matters more than speed.
 */
function forEachWindowTap(info: tf.backend_util.Conv3DInfo, visit: (outPos: number, inPos: number, tap: number) => void): void {
  const [N, D, H, W] = info.inShape;
  const [, Do, Ho, Wo] = info.outShape;
  const { filterDepth: kD, filterHeight: kH, filterWidth: kW, strideDepth: sd, strideHeight: sh, strideWidth: sw } = info;
  const { front, top, left } = info.padInfo;
  let outPos = 0;
  for (let n = 0; n < N; n++)
    for (let od = 0; od < Do; od++)
      for (let oh = 0; oh < Ho; oh++)
        for (let ow = 0; ow < Wo; ow++, outPos++)
          for (let a = 0; a < kD; a++) {
            const id = od * sd + a - front;
            if (id < 0 || id >= D) continue;
            for (let b = 0; b < kH; b++) {
              const ih = oh * sh + b - top;
              if (ih < 0 || ih >= H) continue;
              for (let e = 0; e < kW; e++) {
                const iw = ow * sw + e - left;
                if (iw < 0 || iw >= W) continue;
                visit(outPos, ((n * D + id) * H + ih) * W + iw, (a * kH + b) * kW + e);
              }
            }
          }
}

/** Input gradient for any stride by direct accumulation (slow, correct). */
function directBackpropInput(backend: WasmBackend, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv3DInfo): TensorInfo {
  const C = info.inChannels;
  const F = info.outChannels;
  const out = alloc(backend, info.inShape);
  const dx = f32(backend, out);
  dx.fill(0);
  const g = f32(backend, dy);
  const w = f32(backend, filter);
  forEachWindowTap(info, (outPos, inPos, tap) => {
    const gBase = outPos * F;
    const xBase = inPos * C;
    const wBase = tap * C * F;
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let f = 0; f < F; f++) acc += w[wBase + c * F + f] * g[gBase + f];
      dx[xBase + c] += acc;
    }
  });
  return out;
}

function conv3dBackpropFilterKernel(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs;
  const strides = triple(args.attrs.strides as number[]);
  if (x.dtype !== 'float32') return fallback('Conv3DBackpropFilterV2', args);
  const backend = args.backend;
  const filterShape = args.attrs.filterShape as Shape5;
  const info = tf.backend_util.computeConv3DInfo(x.shape as Shape5, filterShape, strides, 1, args.attrs.pad as 'same' | 'valid');
  if (!isOnes(strides)) {
    // The shipped kernel is wrong for strided 'same' convolutions too: accumulate directly (slow, correct).
    count('Conv3DBackpropFilterV2:direct');
    return directBackpropFilter(backend, x, dy, info);
  }
  const rt = simd();
  if (rt) {
    count('Conv3DBackpropFilterV2:simd');
    return simdBackpropFilter(backend, x, dy, info, rt);
  }
  count('Conv3DBackpropFilterV2:fast');
  return paddedGridBackpropFilter(backend, x, dy, info);
}

/**
 * Stride-1 filter gradient on a padded grid. With the input zero-padded to Xp [N, Dp, Hp, Wp] per channel
 * (Dp = Do + kD - 1, ...) and dy placed on the same grid (zero outside the output block), the input that output
 * position q reads through tap (s, h, w) is Xp_flat[q + off(s, h, w)], off = (s*Hp + h)*Wp + w. So the im2col row of
 * tap (s, h, w) and channel c is a contiguous slice of the channel-major padded input, copied with TypedArray.set,
 * and dW[K, F] = A[K, Mp] @ dYp[Mp, F] is one matMul per chunk of the padded grid (accumulated in float64).
 */
function paddedGridBackpropFilter(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv3DInfo): TensorInfo {
  const [N, D, H, W, C] = info.inShape;
  const [, Do, Ho, Wo, F] = info.outShape;
  const { filterDepth: kD, filterHeight: kH, filterWidth: kW } = info;
  const { front, top, left } = info.padInfo;
  const Dp = Do + kD - 1;
  const Hp = Ho + kH - 1;
  const Wp = Wo + kW - 1;
  const plane = Hp * Wp;
  const vol = Dp * plane;
  const Mp = N * vol;
  const maxOff = ((kD - 1) * Hp + (kH - 1)) * Wp + (kW - 1);
  const K = kD * kH * kW * C;

  // Channel-major padded input, XpT[c, q] (+ a zero tail so every tap's slice stays in range).
  const xpLen = Mp + maxOff;
  const xpT = new Float32Array(C * xpLen);
  {
    const xs = f32(backend, x);
    for (let n = 0; n < N; n++)
      for (let d = 0; d < D; d++) {
        const pd = d + front;
        if (pd < 0 || pd >= Dp) continue;
        for (let h = 0; h < H; h++) {
          const ph = h + top;
          if (ph < 0 || ph >= Hp) continue;
          const xRow = ((n * D + d) * H + h) * W * C;
          const qRow = n * vol + pd * plane + ph * Wp + left;
          if (C === 1) {
            const w0 = Math.max(0, -left);
            const w1 = Math.min(W, Wp - left);
            if (w1 > w0) xpT.set(xs.subarray(xRow + w0, xRow + w1), qRow + w0);
          } else {
            for (let w = 0; w < W; w++) {
              const pw = w + left;
              if (pw < 0 || pw >= Wp) continue;
              const xi = xRow + w * C;
              const q = qRow + w;
              for (let c = 0; c < C; c++) xpT[c * xpLen + q] = xs[xi + c];
            }
          }
        }
      }
  }
  // dy on the padded grid, row-major [Mp, F] in wasm memory.
  const dyp = alloc(backend, [Mp, F]);
  {
    const g = f32(backend, dy);
    const o = f32(backend, dyp);
    o.fill(0);
    const rowLen = Wo * F;
    for (let n = 0; n < N; n++)
      for (let d = 0; d < Do; d++)
        for (let h = 0; h < Ho; h++) {
          const src = (((n * Do + d) * Ho + h) * Wo) * F;
          o.set(g.subarray(src, src + rowLen), (n * vol + d * plane + h * Wp) * F);
        }
  }
  const matMul = kernel('BatchMatMul');
  const acc = new Float64Array(K * F);
  const chunk = Math.max(1, Math.min(Mp, Math.floor(CHUNK_ELEMENTS / K)));
  const A = alloc(backend, [1, K, chunk]);
  try {
    for (let m0 = 0; m0 < Mp; m0 += chunk) {
      const Mc = Math.min(chunk, Mp - m0);
      const Av = Mc === chunk ? A : view(backend, A, 0, [1, K, Mc]);
      const a = f32(backend, Av);
      for (let s = 0; s < kD; s++)
        for (let hh = 0; hh < kH; hh++)
          for (let ww = 0; ww < kW; ww++) {
            const off = (s * Hp + hh) * Wp + ww;
            for (let c = 0; c < C; c++) {
              const k = ((s * kH + hh) * kW + ww) * C + c;
              const src = c * xpLen + off + m0;
              a.set(xpT.subarray(src, src + Mc), k * Mc);
            }
          }
      const dyView = view(backend, dyp, m0 * F, [1, Mc, F]);
      const part = matMul({ inputs: { a: Av, b: dyView }, backend, attrs: { transposeA: false, transposeB: false } });
      const p = f32(backend, part);
      for (let i = 0; i < acc.length; i++) acc[i] += p[i];
      free(backend, part);
      dropView(backend, dyView);
      if (Av !== A) dropView(backend, Av);
    }
  } finally {
    free(backend, A);
    free(backend, dyp);
  }
  const out = alloc(backend, info.filterShape);
  f32(backend, out).set(acc);
  return out;
}

/**
 * x [N, D, H, W, C] placed at (front, top, left) in a zero grid [N, Dp, Hp, Wp, C] (parts outside the grid are cut);
 * x itself when the grid is x's own shape at offset 0. A new tensor otherwise (the caller frees it).
 */
function paddedInput(
  backend: WasmBackend,
  x: TensorInfo,
  [Dp, Hp, Wp]: [number, number, number],
  front: number,
  top: number,
  left: number,
): TensorInfo {
  const [N, D, H, W, C] = x.shape as Shape5;
  if (front === 0 && top === 0 && left === 0 && Dp === D && Hp === H && Wp === W) return x;
  const xp = alloc(backend, [N, Dp, Hp, Wp, C]);
  const o = f32(backend, xp);
  const xs = f32(backend, x);
  o.fill(0);
  const h0 = Math.max(0, -top);
  const h1 = Math.min(H, Hp - top);
  const w0 = Math.max(0, -left);
  const w1 = Math.min(W, Wp - left);
  if (h1 > h0 && w1 > w0) {
    for (let n = 0; n < N; n++)
      for (let d = Math.max(0, -front); d < Math.min(D, Dp - front); d++)
        for (let h = h0; h < h1; h++) {
          const src = (((n * D + d) * H + h) * W + w0) * C;
          const dst = (((n * Dp + d + front) * Hp + h + top) * Wp + w0 + left) * C;
          o.set(xs.subarray(src, src + (w1 - w0) * C), dst);
        }
  }
  return xp;
}

/** Byte offsets of the rows k = ((s * kH + h) * kW + w) * C + c of an im2col matrix on a padded grid, as int32[len]. */
function tapOffsets(
  backend: WasmBackend,
  [kD, kH, kW, C]: [number, number, number, number],
  [xsW, xsH, xsD]: [number, number, number],
  len: number,
): TensorInfo {
  const offs = alloc(backend, [len]);
  const o = new Int32Array(f32(backend, offs).buffer, ptr(backend, offs), len);
  o.fill(0);
  for (let s = 0; s < kD; s++)
    for (let h = 0; h < kH; h++)
      for (let w = 0; w < kW; w++)
        for (let c = 0; c < C; c++) o[((s * kH + h) * kW + w) * C + c] = s * xsD + h * xsH + w * xsW + 4 * c;
  return offs;
}

/**
 * Stride-1 convolution with xai3d's SIMD kernels: x [N, D, H, W, C] zero-padded by `p`, correlated with a filter
 * given as a [kD*kH*kW*C, Fo] matrix wk (rows in tap-major, channel-minor order). With Fo a multiple of 8 and an
 * output width of at least 4, kernel `conv` (4 x 8 register tiles); else, with C a multiple of 4, kernel `convDot`
 * (dot products vectorised over input channels, four outputs at a time). Output rows are split over the threads.
 */
function simdConv(
  backend: WasmBackend,
  x: TensorInfo,
  wk: TensorInfo,
  [kD, kH, kW, Fo]: [number, number, number, number],
  p: Pads,
  rt: SimdRuntime,
): TensorInfo {
  const [N, D, H, W, C] = x.shape as Shape5;
  const narrow = W + p.left + p.right - kW + 1;
  if (narrow >= 1 && narrow < 4) {
    // Output rows narrower than the kernels' 4: compute 4 wide (the extra outputs see only zero padding), crop.
    const wide = simdConv(backend, x, wk, [kD, kH, kW, Fo], { ...p, right: p.right + 4 - narrow }, rt);
    try {
      const [, Do, Ho] = wide.shape;
      const out = alloc(backend, [N, Do, Ho, narrow, Fo]);
      const src = f32(backend, wide);
      const dst = f32(backend, out);
      const rows = N * Do * Ho;
      for (let r = 0; r < rows; r++) dst.set(src.subarray(r * 4 * Fo, (r * 4 + narrow) * Fo), r * narrow * Fo);
      return out;
    } finally {
      free(backend, wide);
    }
  }
  const Dp = D + p.front + p.back;
  const Hp = H + p.top + p.bottom;
  const Wp = W + p.left + p.right;
  const Do = Dp - kD + 1;
  const Ho = Hp - kH + 1;
  const Wo = Wp - kW + 1;
  const path = simdConvPath(Fo, Wo, C);
  if (path === null) throw new Error(`no SIMD convolution for ${C} -> ${Fo} channels at output width ${Wo}`);
  const out = alloc(backend, [N, Do, Ho, Wo, Fo]);
  if (N * Do * Ho * Wo * Fo === 0) {
    f32(backend, out).fill(0);
    return out;
  }
  const xp = paddedInput(backend, x, [Dp, Hp, Wp], p.front, p.top, p.left);
  const xsW = 4 * C;
  const xsH = xsW * Wp;
  const xsD = xsH * Hp;
  const temps: TensorInfo[] = [];
  try {
    if (path === 'tiles') {
      const K = kD * kH * kW * C;
      const offs = tapOffsets(backend, [kD, kH, kW, C], [xsW, xsH, xsD], K);
      temps.push(offs);
      rt.run(
        'conv',
        [ptr(backend, xp), ptr(backend, wk), ptr(backend, offs), ptr(backend, out), Do, Ho, Wo, Fo, K, xsW, xsH, xsD, xsD * Dp],
        N * Do * Ho,
      );
    } else {
      const T = kD * kH * kW;
      const toffs = tapOffsets(backend, [kD, kH, kW, 1], [xsW, xsH, xsD], T);
      temps.push(toffs);
      // The filter transposed to [Fo, T * C]: each output channel's weights contiguous.
      const wT = alloc(backend, [Fo, T * C]);
      temps.push(wT);
      const w = f32(backend, wk);
      const o = f32(backend, wT);
      for (let k = 0; k < T * C; k++) for (let f = 0; f < Fo; f++) o[f * T * C + k] = w[k * Fo + f];
      rt.run(
        'convDot',
        [ptr(backend, xp), ptr(backend, wT), ptr(backend, toffs), ptr(backend, out), Do, Ho, Wo, Fo, T, C, xsW, xsH, xsD, xsD * Dp],
        N * Do * Ho,
      );
    }
  } finally {
    for (const t of temps) free(backend, t);
    if (xp !== x) free(backend, xp);
  }
  return out;
}

/**
 * Which SIMD convolution kernel fits: 'tiles' (8k output channels), 'dot' (4k input channels). Both work on rows of
 * at least 4 outputs; a narrower output (the deepest layers: 2^3 at the end of oasis-6conv) is computed 4 wide on a
 * wider zero padding and cropped (simdConv), which beats packing the filter for XNNPACK on every call (8 ms for a
 * 128 -> 256 convolution on a 2^3 grid, batch 4, against about 1 ms).
 */
function simdConvPath(outChannels: number, outWidth: number, inChannels: number): 'tiles' | 'dot' | null {
  if (outChannels <= 0 || inChannels <= 0 || outWidth < 1) return null;
  if (outChannels % 8 === 0) return 'tiles';
  if (inChannels % 4 === 0) return 'dot';
  return null;
}

/**
 * Stride-1 filter gradient with xai3d's SIMD kernel (simd/kernels.wat, filterGrad): dW[k, f] = sum_m
 * xp[base(m) + off(k)] dy[m, f] over the output positions m only (no padding waste), with the input zero-padded so that
 * every tap is in range, 4 x 8 register tiles, float64 accumulation per block of planes, two threads over tiles.
 * No im2col and no packing of dy.
 */
function simdBackpropFilter(
  backend: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv3DInfo,
  rt: SimdRuntime,
): TensorInfo {
  const [N, , , , C] = info.inShape;
  const [, Do, Ho, Wo, F] = info.outShape;
  const { filterDepth: kD, filterHeight: kH, filterWidth: kW } = info;
  const { front, top, left } = info.padInfo;
  const Dp = Do + kD - 1;
  const Hp = Ho + kH - 1;
  const Wp = Wo + kW - 1;
  const K = kD * kH * kW * C;
  const Kp = Math.ceil(K / 4) * 4;
  const Fs = Math.ceil(F / 8) * 8;
  if (N * Do * Ho * Wo === 0 || K * F === 0) {
    const out = alloc(backend, info.filterShape);
    f32(backend, out).fill(0);
    return out;
  }
  const temps: TensorInfo[] = [];
  try {
    const xp = paddedInput(backend, x, [Dp, Hp, Wp], front, top, left);
    if (xp !== x) temps.push(xp);
    // dy with rows padded to a multiple of 8 filters (dy itself when F already is one).
    let dyp = dy;
    if (Fs !== F) {
      const M = N * Do * Ho * Wo;
      dyp = alloc(backend, [M, Fs]);
      temps.push(dyp);
      const o = f32(backend, dyp);
      const g = f32(backend, dy);
      o.fill(0);
      for (let m = 0; m < M; m++) o.set(g.subarray(m * F, m * F + F), m * Fs);
    }
    // Byte offset of each row k = (tap, channel) from an output position's base; padding rows repeat offset 0.
    const xsW = 4 * C;
    const xsH = xsW * Wp;
    const xsD = xsH * Hp;
    const xsN = xsD * Dp;
    const offs = tapOffsets(backend, [kD, kH, kW, C], [xsW, xsH, xsD], Kp);
    temps.push(offs);
    // float64 accumulators [Kp, Fs] (one spare float keeps them 8-byte aligned).
    const accT = alloc(backend, [2 * Kp * Fs + 2]);
    temps.push(accT);
    const accPtr = align8(ptr(backend, accT));
    new Float64Array(f32(backend, accT).buffer, accPtr, Kp * Fs).fill(0);
    const planeSize = Ho * Wo;
    const blockPlanes = Math.max(1, Math.round(512 / planeSize));
    const tiles = (Kp / 4) * (Fs / 8);
    rt.run(
      'filterGrad',
      [ptr(backend, xp), ptr(backend, dyp), ptr(backend, offs), accPtr, N * Do, Do, Ho, Wo, Fs, xsW, xsH, xsD, xsN, blockPlanes],
      tiles,
    );
    const out = alloc(backend, info.filterShape);
    const acc = new Float64Array(f32(backend, accT).buffer, accPtr, Kp * Fs);
    const o = f32(backend, out);
    for (let k = 0; k < K; k++) for (let f = 0; f < F; f++) o[k * F + f] = acc[k * Fs + f];
    return out;
  } finally {
    for (const t of temps) free(backend, t);
  }
}

/** Filter gradient for any stride by direct accumulation (slow, correct), float64 accumulators. */
function directBackpropFilter(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv3DInfo): TensorInfo {
  const C = info.inChannels;
  const F = info.outChannels;
  const acc = new Float64Array(info.filterDepth * info.filterHeight * info.filterWidth * C * F);
  const xs = f32(backend, x);
  const g = f32(backend, dy);
  forEachWindowTap(info, (outPos, inPos, tap) => {
    const gBase = outPos * F;
    const xBase = inPos * C;
    const wBase = tap * C * F;
    for (let c = 0; c < C; c++) {
      const v = xs[xBase + c];
      const o = wBase + c * F;
      for (let f = 0; f < F; f++) acc[o + f] += v * g[gBase + f];
    }
  });
  const out = alloc(backend, info.filterShape);
  f32(backend, out).set(acc);
  return out;
}

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

function maxPool3dKernel(args: KernelArgs): TensorInfo {
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

function maxPool3dGradKernel(args: KernelArgs): TensorInfo {
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
function avgPool3dKernel(args: KernelArgs): TensorInfo {
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

function avgPool3dGradKernel(args: KernelArgs): TensorInfo {
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
function contiguousReduce(name: 'Sum' | 'Mean', args: KernelArgs): TensorInfo {
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
    active === 'fast' &&
    simd() !== undefined &&
    tf.getBackend() === 'wasm' &&
    R.dtype === 'float32' &&
    z.dtype === 'float32' &&
    R.shape.length === z.shape.length &&
    R.shape.every((d, i) => d === z.shape[i])
  );
}

function stabilisedDivideKernel(args: KernelArgs): TensorInfo {
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

const IMPLEMENTATIONS: Record<(typeof REPLACED_KERNELS)[number], Kernel> = {
  Conv3D: conv3dKernel,
  Conv3DBackpropInputV2: conv3dBackpropInputKernel,
  Conv3DBackpropFilterV2: conv3dBackpropFilterKernel,
  MaxPool3D: maxPool3dKernel,
  MaxPool3DGrad: maxPool3dGradKernel,
  AvgPool3D: avgPool3dKernel,
  AvgPool3DGrad: avgPool3dGradKernel,
  Sum: (args) => contiguousReduce('Sum', args),
  Mean: (args) => contiguousReduce('Mean', args),
  ...elementwiseKernels(fallback),
};

/** Can ReLU's gradient run as the fused SIMD kernel here (wasm, fast kernels on, SIMD on, float32, one shape)? */
function reluGradFused(dy: tf.Tensor, x: tf.Tensor): boolean {
  return active === 'fast' && simd() !== undefined && tf.getBackend() === 'wasm' && dy.dtype === 'float32' && x.dtype === 'float32' && dy.size === x.size && dy.size >= 16384;
}

function swapIn(configs: Map<string, tf.KernelConfig>): void {
  for (const [name, config] of configs) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
}

/**
 * Register xai3d's kernels for the wasm backend in place of the shipped ones. Call before the wasm backend
 * initialises (their setup functions are the shipped kernels' ones, which the fallbacks need).
 */
export function installFast3dKernels(): void {
  if (active !== 'none') {
    if (active === 'stock') swapIn(replacements);
    active = 'fast';
    return;
  }
  for (const name of REPLACED_KERNELS) {
    const orig = tf.getKernel(name, 'wasm');
    if (!orig) throw new Error(`tfjs-backend-wasm has no ${name} kernel to replace (is it version 4.22.0?)`);
    originals.set(name, orig);
    replacements.set(name, {
      kernelName: name,
      backendName: 'wasm',
      setupFunc: orig.setupFunc,
      disposeFunc: orig.disposeFunc,
      kernelFunc: IMPLEMENTATIONS[name] as unknown as tf.KernelFunc,
    });
  }
  swapIn(replacements);
  tf.registerKernel({ kernelName: STABILISED_DIVIDE, backendName: 'wasm', kernelFunc: stabilisedDivideKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel as unknown as tf.KernelFunc });
  tf.registerGradient(reluGradientConfig(reluGradFused));
  active = 'fast';
}

/**
 * Switch between xai3d's kernels ('fast') and the shipped ones ('stock') at run time. For benchmarks only: the
 * shipped Conv3DBackpropInputV2 is wrong.
 */
export function useKernels(which: 'fast' | 'stock'): void {
  if (active === 'none') throw new Error('installFast3dKernels() has not been called');
  if (which === active) return;
  swapIn(which === 'fast' ? replacements : originals);
  active = which;
}

/** Which kernels are registered now ('none' before installation). */
export function activeKernels(): 'fast' | 'stock' | 'none' {
  return active;
}
