/**
 * Conv3D's filter gradient on the wasm backend (kernels3d.ts lists the paths): xai3d's SIMD tiles over the output
 * positions, else a transposed im2col times dy in chunks (float64 accumulation), strided cases by direct accumulation.
 */
import * as tf from '@tensorflow/tfjs';
import { simd, type SimdRuntime } from './simd/index';
import { native } from './native';
import { align8, alloc, count, dropView, f32, free, ptr, view, type KernelArgs, type TensorInfo, type WasmBackend } from './heap';
import { CHUNK_ELEMENTS, fallback, isOnes, kernel, triple, type Shape5 } from './kernel-common';
import { forEachWindowTap, paddedInput, freePadded, tapOffsets } from './conv3d';

export function conv3dBackpropFilterKernel(args: KernelArgs): TensorInfo {
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
  let xp: TensorInfo = x;
  try {
    xp = paddedInput(backend, x, [Dp, Hp, Wp], front, top, left);
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
    const args = [ptr(backend, xp), ptr(backend, dyp), ptr(backend, offs), accPtr, N * Do, Do, Ho, Wo, Fs, xsW, xsH, xsD, xsN, blockPlanes];
    const nk = native();
    if (nk) {
      count('filterGrad:native');
      nk.filterGrad(backend, args, Kp);
    } else rt.run('filterGrad', args, tiles);
    const out = alloc(backend, info.filterShape);
    const acc = new Float64Array(f32(backend, accT).buffer, accPtr, Kp * Fs);
    const o = f32(backend, out);
    for (let k = 0; k < K; k++) for (let f = 0; f < F; f++) o[k * F + f] = acc[k * Fs + f];
    return out;
  } finally {
    for (const t of temps) free(backend, t);
    freePadded(backend, xp, x);
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
