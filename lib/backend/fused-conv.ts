/**
 * Conv3D + bias + ReLU as one op on the wasm backend (kernel FUSED_CONV3D, lib/backend/conv3d.ts), its gradient, and
 * the Conv3D layers that use it.
 *
 * tfjs-layers computes a Conv3D layer as three ops (conv3d, a broadcasting add, relu), each a pass over the output and
 * each output kept on the tape until the backward pass: on oasis-6conv's first layer at 128^3 and batch 8 that is
 * 1.5 GB for one layer. The fused op makes one tensor and one pass (with the native kernels; otherwise the same three
 * kernels, their intermediates freed at once), and its gradient is the three ops' gradients in the same order with
 * the same kernels: ReLU's from the output (y > 0 exactly where the pre-activation is > 0), the bias's as the sum over
 * positions, the convolution's input and filter gradients. So a model's numbers are the same bits with and without
 * it (test/fused-conv.test.ts trains both ways).
 *
 * Conv3D layers use it when the fast wasm kernels run with SIMD, the layer has stride 1, dilation 1, channels last,
 * 'same' or 'valid' padding and a ReLU or linear activation; every other layer keeps tfjs-layers' own call.
 * XAI3D_FUSED_CONV=0 turns it off (for comparison).
 */
import * as tf from '@tensorflow/tfjs';
import { envSwitch } from '../env/switches';
import { FUSED_CONV3D, LRP_CONV3D, LRP_POOL2, lrpConvRuns, lrpPool2Runs } from './conv3d';
import { native } from './native';
import { ptr, type TensorInfo, type WasmBackend } from './heap';
import { activeKernels, sameShape } from './kernel-common';
import { simd } from './simd/index';
import { RELU_GRAD } from './elementwise';

type Activation = 'relu' | 'linear';

let enabled: boolean | undefined;

/** Does the fused op run here (wasm backend, xai3d's fast kernels with SIMD, not switched off)? */
export function fusedConvAvailable(): boolean {
  if (enabled === undefined) enabled = envSwitch('XAI3D_FUSED_CONV', true);
  return enabled && activeKernels() === 'fast' && simd() !== undefined && tf.getBackend() === 'wasm';
}

/** Turn the fused layers off or on at run time (tests compare both). */
export function setFusedConvEnabled(on: boolean): void {
  enabled = on;
}

/** act(conv3d(x, filter, stride 1, pad) + bias) as one op (fusedConvAvailable() must hold). */
export function fusedConv3d(x: tf.Tensor5D, filter: tf.Tensor5D, bias: tf.Tensor1D | null, pad: 'same' | 'valid', activation: Activation): tf.Tensor5D {
  const inputs: Record<string, tf.Tensor> = bias ? { x, filter, bias } : { x, filter };
  return tf.engine().runKernel(FUSED_CONV3D, inputs as never, { pad, activation } as never) as tf.Tensor5D;
}

/** What an LRP convolution does to its outputs (lib/backend/conv3d.ts, Epilogue): + bias, x mul, + add, R / s(v). */
export interface LrpEpilogue {
  bias?: tf.Tensor | null;
  mul?: tf.Tensor | null;
  add?: tf.Tensor | null;
  divide?: { r: tf.Tensor; eps: number };
}

/** Do the fused LRP kernels run here (the fused op's conditions, and the native kernels)? */
export function lrpFusionAvailable(): boolean {
  return fusedConvAvailable() && native() !== undefined;
}

type Shape5 = [number, number, number, number, number];
/** The output shape of a stride-1 convolution of x with filter. */
const convOutShape = (x: tf.Tensor, filter: tf.Tensor, pad: 'same' | 'valid') => tf.backend_util.computeConv3DInfo(x.shape as Shape5, filter.shape as Shape5, [1, 1, 1], [1, 1, 1], pad).outShape;
/** Are these (optional) tensors float32 and of `shape`? */
const allOf = (shape: readonly number[], ts: (tf.Tensor | null | undefined)[]) => ts.every((t) => !t || (t.dtype === 'float32' && sameShape(t.shape, shape)));

/**
 * An LRP rule's stride-1 convolution of x (or, with `transposeTo`, the transposed convolution of x back to a layer
 * input of that shape) with the epilogue applied as each output is stored, in one pass: the same bits as the separate
 * ops (conv3d or conv3dTranspose, add, mul, stabilisedDivide). Null when the fused kernel does not run for these
 * shapes; the caller then runs the separate ops. Not differentiable (LRP needs no gradient of it).
 */
export function lrpConv3d(x: tf.Tensor, filter: tf.Tensor, pad: 'same' | 'valid', ep: LrpEpilogue, transposeTo?: number[]): tf.Tensor | null {
  if (!lrpFusionAvailable() || x.dtype !== 'float32' || (ep.bias && ep.bias.dtype !== 'float32')) return null;
  if (!lrpConvRuns(x.shape, filter.shape, pad, transposeTo ?? null, !!ep.bias)) return null;
  // mul, add and R have the output's shape.
  if (!allOf(transposeTo ?? convOutShape(x, filter, pad), [ep.mul, ep.add, ep.divide?.r])) return null;
  const inputs: Record<string, tf.Tensor> = { x, filter };
  if (ep.bias) inputs.bias = ep.bias.reshape([-1]);
  if (ep.mul) inputs.mul = ep.mul;
  if (ep.add) inputs.add = ep.add;
  if (ep.divide) inputs.r = ep.divide.r;
  return tf.engine().runKernel(LRP_CONV3D, inputs as never, { pad, eps: ep.divide?.eps ?? 0, ...(transposeTo ? { inputShape: transposeTo } : {}) } as never) as tf.Tensor;
}

/**
 * R / s(conv(u1, w1) + b1 + conv(u2, w2) + b2) for two terms of one rule (zB's (x - l) w+ and (x - h) w-) in one
 * pass, z never stored: the same bits as two lrpConv3d calls in a row. Null where it does not run.
 */
export function lrpConv3dTwoTerms(terms: [{ u: tf.Tensor; w: tf.Tensor; b: tf.Tensor | null }, { u: tf.Tensor; w: tf.Tensor; b: tf.Tensor | null }], pad: 'same' | 'valid', divide: { r: tf.Tensor; eps: number }): tf.Tensor | null {
  const [t1, t2] = terms;
  if (!lrpFusionAvailable() || !allOf(t1.u.shape, [t1.u, t2.u]) || !sameShape(t1.w.shape, t2.w.shape)) return null;
  if (!lrpConvRuns(t1.u.shape, t1.w.shape, pad, null, true) || !allOf(convOutShape(t1.u, t1.w, pad), [divide.r])) return null;
  const inputs: Record<string, tf.Tensor> = { x: t1.u, filter: t1.w, x2: t2.u, filterB: t2.w, r: divide.r };
  if (t1.b) inputs.bias = t1.b.reshape([-1]);
  if (t2.b) inputs.biasB = t2.b.reshape([-1]);
  return tf.engine().runKernel(LRP_CONV3D, inputs as never, { pad, eps: divide.eps } as never) as tf.Tensor;
}

/**
 * acc + u1 * J1^T S + u2 * J2^T S for two filters of one layer (with one output channel each: a first layer) in one
 * pass over S, the same bits as two lrpConv3d calls in a row (LRP's two-term rules, zB). Null where it does not run.
 */
export function lrpConv3dPair(S: tf.Tensor, filters: [tf.Tensor, tf.Tensor], muls: [tf.Tensor, tf.Tensor], acc: tf.Tensor | null, pad: 'same' | 'valid', transposeTo: number[]): tf.Tensor | null {
  if (!lrpFusionAvailable() || S.dtype !== 'float32' || !sameShape(filters[0].shape, filters[1].shape)) return null;
  if (!lrpConvRuns(S.shape, filters[0].shape, pad, transposeTo, false, true) || !allOf(transposeTo, [...muls, acc])) return null;
  const inputs: Record<string, tf.Tensor> = { x: S, filter: filters[0], filter2: filters[1], mul: muls[0], mul2: muls[1] };
  if (acc) inputs.add = acc;
  return tf.engine().runKernel(LRP_CONV3D, inputs as never, { pad, eps: 0, inputShape: transposeTo } as never) as tf.Tensor;
}

/** Does perVolumeSums run here (native kernels under the wasm backend with xai3d's kernels; not tied to XAI3D_FUSED_CONV)? */
export function nativeSumsAvailable(): boolean {
  return native() !== undefined && activeKernels() === 'fast' && simd() !== undefined && tf.getBackend() === 'wasm';
}

/**
 * The float64 sum of each volume's values of a float32 tensor [b, ...] with the native kernels (blocks of 65536 values
 * over both threads, the same result on any number of threads), or null where they do not run. LRP's conservation
 * audit: the relevance at every layer, 16 M values at a 128^3 first layer.
 */
export function perVolumeSums(t: tf.Tensor): number[] | null {
  const nk = native();
  if (!nk || !nativeSumsAvailable() || t.dtype !== 'float32' || t.rank < 1 || t.size === 0) return null;
  const backend = tf.backend() as unknown as WasmBackend;
  return Array.from(nk.rowSums(backend, ptr(backend, t as unknown as TensorInfo), t.shape[0], t.size / t.shape[0]));
}

/** LRP's proportional pooling a * R / s(window sum of a) over 2x2x2 windows at stride 2 in one pass, or null. */
export function lrpPool2(a: tf.Tensor, R: tf.Tensor, poolSize: number[], strides: number[], pad: 'same' | 'valid', eps: number): tf.Tensor | null {
  if (!lrpFusionAvailable() || a.dtype !== 'float32' || R.dtype !== 'float32' || !lrpPool2Runs(a.shape, R.shape, poolSize, strides, pad)) return null;
  return tf.engine().runKernel(LRP_POOL2, { a, r: R } as never, { poolSize, strides, pad, eps } as never) as tf.Tensor;
}

/** The gradient of the fused op: ReLU's (from the output), then the bias's and the convolution's. */
export const fusedConvGradient: tf.GradConfig = {
  kernelName: FUSED_CONV3D,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved as tf.Tensor[];
    const { pad, activation } = attrs as unknown as { pad: 'same' | 'valid'; activation: Activation };
    const g = dy as tf.Tensor;
    const dz = activation === 'relu' ? (tf.engine().runKernel(RELU_GRAD, { dy: g, x: y }, {}) as tf.Tensor) : g;
    return {
      x: () => tf.engine().runKernel('Conv3DBackpropInputV2', { dy: dz, filter }, { strides: [1, 1, 1], pad, inputShape: x.shape } as never) as tf.Tensor,
      filter: () => tf.engine().runKernel('Conv3DBackpropFilterV2', { x, dy: dz }, { strides: [1, 1, 1], pad, filterShape: filter.shape } as never) as tf.Tensor,
      bias: () => tf.sum(dz, [0, 1, 2, 3]),
    };
  },
};

interface ConvLayerLike {
  rank: number;
  strides: number[];
  dilationRate: number | number[];
  dataFormat: string;
  padding: string;
  activation: { getClassName(): string } | null;
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
}

/** The layer's fused form, or null when it does not qualify. */
function fusedForm(layer: ConvLayerLike): { pad: 'same' | 'valid'; activation: Activation } | null {
  if (layer.rank !== 3 || layer.dataFormat !== 'channelsLast') return null;
  if (!layer.strides.every((s) => s === 1)) return null;
  const dil = typeof layer.dilationRate === 'number' ? [layer.dilationRate] : layer.dilationRate;
  if (!dil.every((d) => d === 1)) return null;
  if (layer.padding !== 'same' && layer.padding !== 'valid') return null;
  const act = layer.activation?.getClassName() ?? 'linear';
  if (act !== 'relu' && act !== 'linear') return null;
  return { pad: layer.padding, activation: act };
}

let patched = false;

/**
 * Make tfjs-layers' Conv3D layers call the fused op where it runs (once per process; registers its gradient).
 * Layers that do not qualify, and every layer while the op is unavailable, keep tfjs-layers' own call.
 */
export function installFusedConvLayers(): void {
  if (patched) return;
  tf.registerGradient(fusedConvGradient);
  const probe = tf.layers.conv3d({ filters: 1, kernelSize: 1 });
  const proto = Object.getPrototypeOf(probe) as { call(this: ConvLayerLike, inputs: tf.Tensor | tf.Tensor[], kwargs: object): tf.Tensor | tf.Tensor[] };
  const own = proto.call;
  proto.call = function (this: ConvLayerLike, inputs, kwargs) {
    const form = fusedConvAvailable() ? fusedForm(this) : null;
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
    if (!form || !x || x.rank !== 5 || x.dtype !== 'float32') return own.call(this, inputs, kwargs);
    return tf.tidy(() => fusedConv3d(x as tf.Tensor5D, this.kernel.read() as tf.Tensor5D, this.bias ? (this.bias.read() as tf.Tensor1D) : null, form.pad, form.activation));
  };
  patched = true;
}
