/**
 * Adam's update of one variable in one SIMD pass (kernels.wat, "adam") instead of tfjs's eleven (mul, mul, add,
 * square, mul, mul, add, div, div, sqrt, add, div, mul, add: each a kernel call and a pass over the variable): the
 * same float32 operations in the same order, so the same bits (test/training.test.ts trains with both and compares
 * the weights bitwise). Inputs value, m, v, g of one shape; attrs.scalars = [b1, 1 - b1, b2, 1 - b2, 1 - b1^t,
 * 1 - b2^t, epsilon, -learning rate]; outputs the new value, m and v.
 */
import { simd } from './simd/index';
import { alloc, count, f32, free, ptr, type KernelArgs, type TensorInfo } from './heap';

export const ADAM = 'Xai3dAdam';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function adamKernel(args: KernelArgs): TensorInfo[] {
  const { value, m, v, g } = args.inputs;
  const scalars = args.attrs.scalars as number[];
  const rt = simd();
  if (!rt) throw new Error(`${ADAM} needs xai3d's SIMD kernels`);
  if (scalars.length !== 8) throw new Error(`${ADAM}: 8 scalars expected, got ${scalars.length}`);
  count(`${ADAM}:simd`);
  const backend = args.backend;
  const n = size(value.shape);
  const out = [alloc(backend, value.shape), alloc(backend, value.shape), alloc(backend, value.shape)];
  const sc = alloc(backend, [8]);
  f32(backend, sc).set(scalars);
  const vecs = Math.floor(n / 4);
  if (vecs > 0) rt.run('adam', [ptr(backend, value), ptr(backend, m), ptr(backend, v), ptr(backend, g), ptr(backend, out[0]), ptr(backend, out[1]), ptr(backend, out[2]), ptr(backend, sc)], vecs);
  if (vecs * 4 < n) {
    // The tail, float32 step by step (Math.fround after every operation, as the vector lanes round).
    const [b1, c1, b2, c2, a1, a2, eps, nlr] = Array.from(f32(backend, sc));
    const [xs, ms, vs, gs] = [value, m, v, g].map((t) => f32(backend, t));
    const [ox, om, ov] = out.map((t) => f32(backend, t));
    const r = Math.fround;
    for (let i = vecs * 4; i < n; i++) {
      const nm = r(r(ms[i] * b1) + r(gs[i] * c1));
      const nv = r(r(vs[i] * b2) + r(r(gs[i] * gs[i]) * c2));
      om[i] = nm;
      ov[i] = nv;
      ox[i] = r(r(r(r(nm / a1) / r(r(Math.sqrt(r(nv / a2))) + eps)) * nlr) + xs[i]);
    }
  }
  free(backend, sc);
  return out;
}
