/**
 * The elementwise passes of a training step on tfjs's wasm backend, which cost more than their arithmetic
 * (oasis-6conv at 64^3, batch 4, one step of 292 ms, measured with tf.profile): the convolution's bias add (a
 * broadcasting Add: 15.8 ms on the first layer's 8 M values), ReLU (5.8 ms), its gradient as three passes
 * (Step, Cast, Multiply: 10.6 ms), and an Identity copy of every tensor the tape saves for the backward pass
 * (tfjs's engine clones them; the wasm Identity copies the data, 3 ms each at 8 M values).
 *
 * - Add of a tensor and a bias broadcast over its last axis: one SIMD pass (`biasAdd`), both threads.
 * - Relu: one SIMD pass (`relu`: max(x, 0), as the shipped kernel: -0 becomes +0, NaN stays NaN).
 * - Identity: shares the input's data (a reference count, as tfjs's cpu backend and the wasm Reshape do): no kernel
 *   writes into its inputs, so a shared buffer is never changed behind a tensor's back.
 * - Xai3dReluGrad: ReLU's gradient dy * (x > 0) in one SIMD pass, the same bits as tfjs's dy * step(x) (the Relu
 *   gradient is registered to use it on the wasm backend with the fast kernels, else tfjs's formula).
 * Every other case goes to the shipped kernel. Results are bit-identical to the shipped kernels (test/kernels3d).
 */
import * as tf from '@tensorflow/tfjs';
import { simd } from './simd/index';
import { alloc, count, f32, ptr, type Kernel, type KernelArgs, type TensorInfo } from './heap';

/** Below this many values the shipped kernel is as fast (the call overhead dominates). */
const MIN_VALUES = 16384;

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The bias operand of `a + b` when one is a tensor and the other a vector over its last axis (shape [C] or
 * [1, ..., 1, C]) with C a multiple of 4: which is which, else null.
 */
function biasOperands(a: TensorInfo, b: TensorInfo): { x: TensorInfo; bias: TensorInfo; inner: number } | null {
  for (const [x, bias] of [
    [a, b],
    [b, a],
  ] as const) {
    const c = x.shape[x.shape.length - 1];
    if (x.shape.length < 2 || c === undefined || c % 4 !== 0) continue;
    if (bias.shape.length === 0 || bias.shape[bias.shape.length - 1] !== c || bias.shape.length > x.shape.length) continue;
    if (bias.shape.slice(0, -1).some((d) => d !== 1)) continue;
    return { x, bias, inner: c };
  }
  return null;
}

/** The replacements for the shipped Add, Relu and Identity; `fallback` runs the shipped kernel. */
export function elementwiseKernels(fallback: (name: string, args: KernelArgs) => TensorInfo): Record<'Add' | 'Relu' | 'Identity', Kernel> {
  return {
    Add(args) {
      const { a, b } = args.inputs;
      const rt = simd();
      const ops = a.dtype === 'float32' && b.dtype === 'float32' ? biasOperands(a, b) : null;
      if (!rt || !ops || size(ops.x.shape) < MIN_VALUES) return fallback('Add', args);
      count('Add:simd');
      const backend = args.backend;
      const out = alloc(backend, ops.x.shape);
      rt.run('biasAdd', [ptr(backend, ops.x), ptr(backend, ops.bias), ptr(backend, out), ops.inner], size(ops.x.shape) / ops.inner);
      return out;
    },
    Relu(args) {
      const { x } = args.inputs;
      const rt = simd();
      const n = size(x.shape);
      if (!rt || x.dtype !== 'float32' || n < MIN_VALUES) return fallback('Relu', args);
      count('Relu:simd');
      const backend = args.backend;
      const out = alloc(backend, x.shape);
      const vecs = Math.floor(n / 4);
      rt.run('relu', [ptr(backend, x), ptr(backend, out)], vecs);
      if (vecs * 4 < n) {
        const xs = f32(backend, x);
        const o = f32(backend, out);
        for (let i = vecs * 4; i < n; i++) o[i] = Number.isNaN(xs[i]) ? NaN : xs[i] > 0 ? xs[i] : 0;
      }
      return out;
    },
    Identity(args) {
      const { x } = args.inputs;
      if (x.dtype === 'string') return fallback('Identity', args);
      count('Identity:shared');
      args.backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}

/** Name of xai3d's fused ReLU gradient kernel (wasm only). */
export const RELU_GRAD = 'Xai3dReluGrad';

/** dy * (x > 0) in one pass; inputs dy and x of one shape, float32. */
export function reluGradKernel(args: KernelArgs): TensorInfo {
  const { dy, x } = args.inputs;
  const rt = simd();
  if (!rt) throw new Error(`${RELU_GRAD} needs xai3d's SIMD kernels`);
  count(`${RELU_GRAD}:simd`);
  const backend = args.backend;
  const out = alloc(backend, x.shape);
  const n = size(x.shape);
  const vecs = Math.floor(n / 4);
  if (vecs > 0) rt.run('reluGrad', [ptr(backend, dy), ptr(backend, x), ptr(backend, out)], vecs);
  if (vecs * 4 < n) {
    const ds = f32(backend, dy);
    const xs = f32(backend, x);
    const o = f32(backend, out);
    for (let i = vecs * 4; i < n; i++) o[i] = ds[i] * (xs[i] > 0 ? 1 : 0);
  }
  return out;
}

/**
 * ReLU's gradient: the fused kernel where `useFused(x)` says it runs (wasm, fast kernels, SIMD on, float32, large
 * enough), else tfjs's own dy * step(x).
 */
export function reluGradientConfig(useFused: (dy: tf.Tensor, x: tf.Tensor) => boolean): tf.GradConfig {
  return {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      return {
        x: () => (useFused(g, x) ? (tf.engine().runKernel(RELU_GRAD, { dy: g, x }, {}) as tf.Tensor) : tf.mul(g, tf.cast(tf.step(x), 'float32'))),
      };
    },
  };
}
