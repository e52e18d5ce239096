/**
 * Conv3D and its input gradient on the wasm backend (kernels3d.ts lists the paths): xai3d's SIMD convolution
 * (register tiles or dot products, any output width), else one XNNPACK conv2d of a "depth stack"; strided input
 * gradients by a direct loop.
 */
import * as tf from '@tensorflow/tfjs';
import { simd, type SimdRuntime } from './simd/index';
import { native } from './native';
import { alloc, count, dropView, f32, free, ptr, view, type KernelArgs, type TensorInfo, type WasmBackend } from './heap';
import { CHUNK_ELEMENTS, fallback, isOnes, kernel, sameShape, triple, type Pads, type Shape5 } from './kernel-common';

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

export function conv3dKernel(args: KernelArgs): TensorInfo {
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

/**
 * What a fused convolution does to its outputs before storing them, in this order (native/kernels.cc's Post): a bias
 * over the output channels, ReLU, times `mul`, plus `add` (both of the output's shape), then `divide` (LRP's R / s(v),
 * s(v) = v + eps sign v). Each step one float32 rounding: the same bits as the separate kernels.
 */
export interface Epilogue {
  bias?: TensorInfo;
  relu: boolean;
  mul?: TensorInfo;
  add?: TensorInfo;
  divide?: { r: TensorInfo; eps: number };
  /**
   * Two filters (Fo = 2) summed into one output channel: y = add + mul * conv_0 + mul2 * conv_1, rounded as two
   * fused calls in a row would round it (the dot-product kernel, 8k input channels; LRP's two-term rules).
   */
  mul2?: TensorInfo;
  /**
   * A second term on the register-tile kernel: y = conv(x, w) + bias + conv(x2, w2) + bias2, each tile's first term
   * stored and added back (then the division): the bits of two fused calls in a row, z never through memory.
   */
  second?: { x: TensorInfo; w: TensorInfo; bias?: TensorInfo };
}

let dotRowReuse = true;

/**
 * The native kernels' 3-wide row variants (each input loaded once for a kernel row's three taps: the dot-product
 * kernel for C = 8 or 16, the register tiles for one input channel; the same bits as the generic ones): on by
 * default, off for tests that compare the two.
 */
export function setConvDotRowReuse(on: boolean): void {
  dotRowReuse = on;
}

/** float32 bits of v, as a non-negative integer (a kernel argument). */
function floatBits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

/** Name of xai3d's fused Conv3D + bias + ReLU kernel (wasm; lib/backend/fused-conv.ts defines its op and gradient). */
export const FUSED_CONV3D = 'Xai3dConv3D';

/**
 * y = act(conv3d(x, filter) + bias), stride 1, act = ReLU or identity. With the native register-tile convolution, in
 * one pass (the bias and ReLU applied to each tile before it is stored); otherwise the convolution, then the
 * bias-add and ReLU kernels, with the intermediates freed at once. The same bits either way as the three separate
 * ops (test/fused-conv.test.ts), without their intermediate tensors on the tape.
 */
export function fusedConv3dKernel(args: KernelArgs): TensorInfo {
  const { x, filter, bias } = args.inputs;
  const relu = args.attrs.activation === 'relu';
  const pad = args.attrs.pad as 'same' | 'valid';
  const backend = args.backend;
  const info = tf.backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, [1, 1, 1], [1, 1, 1], pad);
  const [kD, kH, kW, C, F] = filter.shape as Shape5;
  const rt = simd();
  if (rt && native() && x.dtype === 'float32' && simdConvPath(F, info.outWidth, C) === 'tiles') {
    count(`${FUSED_CONV3D}:native`);
    return simdConv(backend, x, filter, [kD, kH, kW, F], info.padInfo, rt, { bias, relu });
  }
  count(`${FUSED_CONV3D}:separate`);
  let y = conv3dKernel({ inputs: { x, filter }, backend, attrs: { strides: [1, 1, 1], dilations: [1, 1, 1], pad, dataFormat: 'NDHWC' } });
  const steps: [string, (t: TensorInfo) => Record<string, TensorInfo>][] = [];
  if (bias) steps.push(['Add', (t) => ({ a: t, b: bias })]);
  if (relu) steps.push(['Relu', (t) => ({ x: t })]);
  for (const [name, inputs] of steps) {
    const next = kernel(name)({ inputs: inputs(y), backend, attrs: {} });
    free(backend, y);
    y = next;
  }
  return y;
}

export function conv3dBackpropInputKernel(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs;
  const strides = triple(args.attrs.strides as number[]);
  const inputShape = args.attrs.inputShape as Shape5;
  const info = tf.backend_util.computeConv3DInfo(inputShape, filter.shape as Shape5, strides, 1, args.attrs.pad as 'same' | 'valid');
  if (!isOnes(strides)) {
    count('Conv3DBackpropInputV2:direct');
    return directBackpropInput(args.backend, dy, filter, info);
  }
  const { filterDepth: kD, filterHeight: kH, filterWidth: kW } = info;
  const pads = transposedPads(info);
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

/** The zero padding of dy that turns a stride-1 input gradient into a correlation with the flipped filter. */
function transposedPads(info: tf.backend_util.Conv3DInfo): Pads {
  const { filterDepth: kD, filterHeight: kH, filterWidth: kW, padInfo: p } = info;
  return { front: kD - 1 - p.front, back: kD - 1 - p.back, top: kH - 1 - p.top, bottom: kH - 1 - p.bottom, left: kW - 1 - p.left, right: kW - 1 - p.right };
}

/**
 * Name of xai3d's LRP convolution kernel (wasm backend with the native kernels; no gradient): a stride-1 convolution
 * or, with `transposed`, the input gradient of one (a transposed convolution), with an Epilogue (bias, times `mul`,
 * plus `add`, R / s(v)), so that an LRP rule's z, its stabilised division and its gradient-times-input reducer take
 * two passes over the data instead of six. Each output has the bits of the separate kernels (Conv3D or
 * Conv3DBackpropInputV2, Add, Multiply, Xai3dStabilisedDivide): lib/explain/lrp/lrp.ts uses it where lrpConvRuns.
 */
export const LRP_CONV3D = 'Xai3dLrpConv3D';

/**
 * Does LRP_CONV3D run for these shapes: native kernels on, a SIMD kernel for the channels, output rows of at least 4
 * (the kernels' narrowest), a bias only with the register-tile kernel?
 */
export function lrpConvRuns(xShape: number[], filterShape: number[], pad: 'same' | 'valid', transposeTo: number[] | null, withBias: boolean, pair = false): boolean {
  if (!native() || !simd() || xShape.length !== 5 || filterShape.length !== 5) return false;
  const [, , , C, F] = filterShape;
  // A pair: two transposed convolutions to one channel each, on the dot-product kernel's 8-channel groups.
  if (pair && !(transposeTo && C === 1 && F % 8 === 0 && !withBias)) return false;
  const info = transposeTo
    ? tf.backend_util.computeConv3DInfo(transposeTo as Shape5, filterShape as Shape5, [1, 1, 1], 1, pad)
    : tf.backend_util.computeConv3DInfo(xShape as Shape5, filterShape as Shape5, [1, 1, 1], [1, 1, 1], pad);
  const path = transposeTo ? simdConvPath(C, info.inWidth, F) : simdConvPath(F, info.outWidth, C);
  const width = transposeTo ? info.inWidth : info.outWidth;
  return path !== null && width >= 4 && (!withBias || path === 'tiles');
}

export function lrpConv3dKernel(args: KernelArgs): TensorInfo {
  const { x, filter, filter2, bias, mul, mul2, add, r, x2, filterB, biasB } = args.inputs;
  const pad = args.attrs.pad as 'same' | 'valid';
  const transposeTo = (args.attrs.inputShape as Shape5 | undefined) ?? null;
  const rt = simd();
  const pair = filter2 !== undefined;
  if (!rt || !lrpConvRuns(x.shape, filter.shape, pad, transposeTo, !!bias, pair) || (pair && (!mul || !mul2 || r || !sameShape(filter2.shape, filter.shape)))) {
    throw new Error(`${LRP_CONV3D}: not available for input [${x.shape.join(', ')}], filter [${filter.shape.join(', ')}] (check lrpConvRuns first)`);
  }
  const epilogue: Epilogue = { bias, relu: false, mul, add, divide: r ? { r, eps: args.attrs.eps as number } : undefined, mul2 };
  const [kD, kH, kW, C, F] = filter.shape as Shape5;
  if (pair) {
    // The two flipped filters as the columns of one [taps * F, 2] matrix: the dot-product kernel's two filters.
    count(`${LRP_CONV3D}:native transposed pair`);
    const info = tf.backend_util.computeConv3DInfo(transposeTo!, filter.shape as Shape5, [1, 1, 1], 1, pad);
    const k1 = flippedFilter(args.backend, filter, 'matrix');
    const k2 = flippedFilter(args.backend, filter2, 'matrix');
    const wk = alloc(args.backend, [kD * kH * kW * F, 2]);
    try {
      const a1 = f32(args.backend, k1);
      const a2 = f32(args.backend, k2);
      const o = f32(args.backend, wk);
      for (let k = 0; k < a1.length; k++) {
        o[2 * k] = a1[k];
        o[2 * k + 1] = a2[k];
      }
      return simdConv(args.backend, x, wk, [kD, kH, kW, 2], transposedPads(info), rt, epilogue);
    } finally {
      free(args.backend, k1);
      free(args.backend, k2);
      free(args.backend, wk);
    }
  }
  count(`${LRP_CONV3D}:native${transposeTo ? ' transposed' : ''}`);
  if (x2) {
    if (transposeTo || !filterB || !sameShape(x2.shape, x.shape) || !sameShape(filterB.shape, filter.shape) || !lrpConvRuns(x.shape, filter.shape, pad, null, true) || mul || add) {
      throw new Error(`${LRP_CONV3D}: a second term needs an input and filter of the first's shapes, the register-tile kernel and no multiply or add`);
    }
    epilogue.second = { x: x2, w: filterB, bias: biasB };
    count(`${LRP_CONV3D}:native two terms`);
  }
  if (!transposeTo) {
    const info = tf.backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, [1, 1, 1], [1, 1, 1], pad);
    return simdConv(args.backend, x, filter, [kD, kH, kW, F], info.padInfo, rt, epilogue);
  }
  const info = tf.backend_util.computeConv3DInfo(transposeTo, filter.shape as Shape5, [1, 1, 1], 1, pad);
  const wk = flippedFilter(args.backend, filter, 'matrix');
  try {
    return simdConv(args.backend, x, wk, [kD, kH, kW, C], transposedPads(info), rt, epilogue);
  } finally {
    free(args.backend, wk);
  }
}

/**
 * LRP's proportional pooling over 2x2x2 windows at stride 2 in one pass with the native kernels: a * S, S = R / s(the
 * window's sum of a), the same bits as avgPool2 x 8, Xai3dStabilisedDivide, x 8, avgPool2Grad and Multiply (inputs
 * outside every window get 0). Null when it does not apply (other windows, channels not a multiple of 8, no native
 * kernels); the caller then runs those kernels.
 */
export const LRP_POOL2 = 'Xai3dLrpPool2';

/** The pooling geometry of LRP_POOL2's input. */
function pool2Info(aShape: number[], poolSize: number[], strides: number[], pad: 'same' | 'valid'): tf.backend_util.Conv3DInfo {
  return tf.backend_util.computePool3DInfo(aShape as Shape5, poolSize as [number, number, number], strides as [number, number, number], 1, pad);
}

/** Does LRP_POOL2 run for input a and relevance R of these shapes (R the pooling's output shape)? */
export function lrpPool2Runs(aShape: number[], rShape: number[], poolSize: number[], strides: number[], pad: 'same' | 'valid'): boolean {
  if (!native() || !simd() || aShape.length !== 5) return false;
  const info = pool2Info(aShape, poolSize, strides, pad);
  if (!sameShape(rShape, info.outShape)) return false;
  const [N, D, H, W, C] = info.inShape;
  const [, Do, Ho, Wo] = info.outShape;
  const two = [info.filterDepth, info.filterHeight, info.filterWidth, info.strideDepth, info.strideHeight, info.strideWidth].every((v) => v === 2);
  const p = info.padInfo;
  return two && p.front === 0 && p.top === 0 && p.left === 0 && 2 * Do <= D && 2 * Ho <= H && 2 * Wo <= W && C % 8 === 0 && N * Do * Ho * Wo > 0;
}

export function lrpPool2Kernel(args: KernelArgs): TensorInfo {
  const { a, r } = args.inputs;
  const nk = native();
  const [poolSize, strides, pad] = [args.attrs.poolSize as number[], args.attrs.strides as number[], args.attrs.pad as 'same' | 'valid'];
  if (!nk || !lrpPool2Runs(a.shape, r.shape, poolSize, strides, pad)) {
    throw new Error(`${LRP_POOL2}: not available for [${a.shape.join(', ')}] with relevance [${r.shape.join(', ')}] (check lrpPool2Runs first)`);
  }
  const [N, D, H, W, C] = a.shape as Shape5;
  const [, Do, Ho, Wo] = r.shape as Shape5;
  const out = alloc(args.backend, a.shape);
  if (2 * Do < D || 2 * Ho < H || 2 * Wo < W) f32(args.backend, out).fill(0);
  const sW = 4 * C;
  count(`${LRP_POOL2}:native`);
  nk.lrpPool2(args.backend, [ptr(args.backend, a), ptr(args.backend, r), ptr(args.backend, out), Do, Ho, Wo, C, sW, sW * W, sW * W * H, sW * W * H * D, floatBits(args.attrs.eps as number)], N * Do * Ho);
  return out;
}

/**
 * The window walk of a 3D convolution or pooling: for every output position, in order, and every tap of its window
 * that lies inside the input, in window order (d, h, w): visit(outPos, inPos, tap), with outPos and inPos flat
 * position indices (times the channel count for an element) and tap = (a * kH + b) * kW + e. For the direct
 * (strided or otherwise uncovered) kernels below, where clarity matters more than speed.
 */
export function forEachWindowTap(info: tf.backend_util.Conv3DInfo, visit: (outPos: number, inPos: number, tap: number) => void): void {
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

/** The blocks behind paddedInput's aligned views. */
const paddedBases = new WeakMap<object, TensorInfo>();

/** Free what paddedInput returned (unless it is the input itself, unpadded). */
export function freePadded(backend: WasmBackend, xp: TensorInfo, x: TensorInfo): void {
  if (xp === x) return;
  const base = paddedBases.get(xp.dataId);
  if (base) {
    paddedBases.delete(xp.dataId);
    dropView(backend, xp);
    free(backend, base);
  } else free(backend, xp);
}

export function paddedInput(
  backend: WasmBackend,
  x: TensorInfo,
  [Dp, Hp, Wp]: [number, number, number],
  front: number,
  top: number,
  left: number,
): TensorInfo {
  const [N, D, H, W, C] = x.shape as Shape5;
  if (front === 0 && top === 0 && left === 0 && Dp === D && Hp === H && Wp === W) return x;
  const nk = native();
  if (nk && x.dtype === 'float32') {
    // On a 64-byte boundary (tfjs's allocations are 8-byte aligned): the native kernels' 32-byte loads of 8
    // channels then never straddle a cache line. A view into a slightly larger block; freePadded releases both.
    const shape = [N, Dp, Hp, Wp, C];
    const base = alloc(backend, [shape.reduce((a, b) => a * b, 1) + 16]);
    const skip = ((64 - (ptr(backend, base) % 64)) % 64) / 4;
    const xp = view(backend, base, skip, shape);
    paddedBases.set(xp.dataId, base);
    count('pad:native');
    nk.pad(backend, [ptr(backend, x), ptr(backend, xp), N, D, H, W, C, Dp, Hp, Wp, front, top, left]);
    return xp;
  }
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
export function tapOffsets(
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
  epilogue?: Epilogue,
): TensorInfo {
  const [N, D, H, W, C] = x.shape as Shape5;
  const narrow = W + p.left + p.right - kW + 1;
  if (narrow >= 1 && narrow < 4) {
    if (epilogue && (epilogue.mul || epilogue.add || epilogue.divide || epilogue.mul2 || epilogue.second)) throw new Error(`a fused multiply, add or division needs output rows of at least 4 (got ${narrow})`);
    // Output rows narrower than the kernels' 4: compute 4 wide (the extra outputs see only zero padding), crop.
    const wide = simdConv(backend, x, wk, [kD, kH, kW, Fo], { ...p, right: p.right + 4 - narrow }, rt, epilogue);
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
  const nk = native();
  if (epilogue && (epilogue.bias || epilogue.relu) && !(nk && path === 'tiles')) throw new Error('a fused bias and ReLU needs the native register-tile convolution');
  if (epilogue && (epilogue.mul || epilogue.add || epilogue.divide) && !nk) throw new Error('a fused multiply, add or division needs the native convolutions');
  if (epilogue?.second && !(nk && path === 'tiles' && !epilogue.relu && !epilogue.mul && !epilogue.add)) throw new Error('a second term needs the native register-tile convolution, with a bias and a division only');
  if (epilogue?.mul2 && !(nk && path === 'dot' && Fo === 2 && C % 8 === 0 && !epilogue.divide)) throw new Error('a pair of filters needs the native dot-product convolution, 2 filters and 8k channels');
  const post = (b: WasmBackend) => [
    epilogue?.mul ? ptr(b, epilogue.mul) : 0,
    epilogue?.add ? ptr(b, epilogue.add) : 0,
    epilogue?.divide ? ptr(b, epilogue.divide.r) : 0,
    epilogue?.divide ? floatBits(epilogue.divide.eps) : 0,
  ];
  const out = alloc(backend, [N, Do, Ho, Wo, epilogue?.mul2 ? 1 : Fo]);
  if (N * Do * Ho * Wo * Fo === 0) {
    f32(backend, out).fill(0);
    return out;
  }
  const xp = paddedInput(backend, x, [Dp, Hp, Wp], p.front, p.top, p.left);
  const xp2 = epilogue?.second ? paddedInput(backend, epilogue.second.x, [Dp, Hp, Wp], p.front, p.top, p.left) : undefined;
  const xsW = 4 * C;
  const xsH = xsW * Wp;
  const xsD = xsH * Hp;
  const temps: TensorInfo[] = [];
  try {
    if (path === 'tiles') {
      const K = kD * kH * kW * C;
      const offs = tapOffsets(backend, [kD, kH, kW, C], [xsW, xsH, xsD], K);
      temps.push(offs);
      const args = [ptr(backend, xp), ptr(backend, wk), ptr(backend, offs), ptr(backend, out), Do, Ho, Wo, Fo, K, xsW, xsH, xsD, xsD * Dp];
      if (nk) {
        count(epilogue ? 'conv:native+epilogue' : 'conv:native');
        const second = epilogue?.second ? [ptr(backend, xp2!), ptr(backend, epilogue.second.w), epilogue.second.bias ? ptr(backend, epilogue.second.bias) : 0] : [0, 0, 0];
        // One input channel and a 3-wide filter: the row variant (same bits), unless switched off for a comparison.
        const kW1 = dotRowReuse && C === 1 && kW === 3 ? 3 : 0;
        if (kW1) count('conv:native 3-wide');
        nk.conv(backend, [...args, epilogue?.bias ? ptr(backend, epilogue.bias) : 0, epilogue?.relu ? 1 : 0, ...post(backend), ...second, kW1], N * Do * Ho);
      } else rt.run('conv', args, N * Do * Ho);
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
      const args = [ptr(backend, xp), ptr(backend, wT), ptr(backend, toffs), ptr(backend, out), Do, Ho, Wo, Fo, T, C, xsW, xsH, xsD, xsD * Dp];
      if (nk) {
        count('convDot:native');
        if (dotRowReuse && kW === 3 && (C === 8 || C === 16) && (kD * kH * kW) % 3 === 0) count('convDot:native 3-wide');
        nk.convDot(backend, [...args, ...post(backend), epilogue?.mul2 ? ptr(backend, epilogue.mul2) : 0, dotRowReuse ? kW : 0], N * Do * Ho);
      } else rt.run('convDot', args, N * Do * Ho);
    }
  } finally {
    for (const t of temps) free(backend, t);
    freePadded(backend, xp, x);
    if (xp2) freePadded(backend, xp2, epilogue!.second!.x);
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
