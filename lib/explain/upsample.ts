/**
 * Trilinear resampling of a [D, H, W] map to another grid with half-pixel centres (align_corners = false), axis by
 * axis: output voxel i samples the input at (i + 0.5) * in / out - 0.5, clamped to [0, in - 1], with linear
 * interpolation between the two nearest input voxels.
 */
import { native } from '../backend/native';

export type Shape3 = [number, number, number];

function resizeAxis(src: Float32Array, shape: Shape3, axis: 0 | 1 | 2, outLen: number): { data: Float32Array; shape: Shape3 } {
  const inLen = shape[axis];
  const outShape = shape.slice() as Shape3;
  outShape[axis] = outLen;
  const out = new Float32Array(outShape[0] * outShape[1] * outShape[2]);
  const strideIn = axis === 0 ? shape[1] * shape[2] : axis === 1 ? shape[2] : 1;
  const strideOut = axis === 0 ? outShape[1] * outShape[2] : axis === 1 ? outShape[2] : 1;
  const i0 = new Int32Array(outLen);
  const i1 = new Int32Array(outLen);
  const f = new Float32Array(outLen);
  for (let o = 0; o < outLen; o++) {
    const pos = Math.min(inLen - 1, Math.max(0, ((o + 0.5) * inLen) / outLen - 0.5));
    i0[o] = Math.floor(pos);
    i1[o] = Math.min(inLen - 1, i0[o] + 1);
    f[o] = pos - i0[o];
  }
  // Iterate over all positions of the other two axes.
  const [A, B] = ([0, 1, 2] as const).filter((a) => a !== axis);
  for (let p = 0; p < outShape[A]; p++)
    for (let q = 0; q < outShape[B]; q++) {
      const baseIn = p * (A === 0 ? shape[1] * shape[2] : A === 1 ? shape[2] : 1) + q * (B === 0 ? shape[1] * shape[2] : B === 1 ? shape[2] : 1);
      const baseOut = p * (A === 0 ? outShape[1] * outShape[2] : A === 1 ? outShape[2] : 1) + q * (B === 0 ? outShape[1] * outShape[2] : B === 1 ? outShape[2] : 1);
      for (let o = 0; o < outLen; o++) {
        const a = src[baseIn + i0[o] * strideIn];
        const b = src[baseIn + i1[o] * strideIn];
        out[baseOut + o * strideOut] = a + (b - a) * f[o];
      }
    }
  return { data: out, shape: outShape };
}

/**
 * Resample `src` ([D, H, W], C order) to `outShape` trilinearly (half-pixel centres). In xai3d's native kernels where
 * they run (the same arithmetic in the same order: the same bits, tested), else here.
 */
export function upsampleTrilinear(src: Float32Array, shape: Shape3, outShape: Shape3): Float32Array {
  const nk = native();
  if (nk && src.length > 0 && shape.every((n) => n > 0)) {
    const out = new Float32Array(outShape[0] * outShape[1] * outShape[2]);
    nk.upsample(src, shape, outShape, out);
    return out;
  }
  return upsampleTrilinearJs(src, shape, outShape);
}

/** upsampleTrilinear in JS (the reference for the native version). */
export function upsampleTrilinearJs(src: Float32Array, shape: Shape3, outShape: Shape3): Float32Array {
  let cur = { data: src, shape };
  for (const axis of [0, 1, 2] as const) {
    if (cur.shape[axis] !== outShape[axis]) cur = resizeAxis(cur.data, cur.shape, axis, outShape[axis]);
  }
  return cur.data === src ? src.slice() : cur.data;
}
