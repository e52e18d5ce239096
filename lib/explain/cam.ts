/**
 * Class Activation Mapping (Zhou et al. 2016), Grad-CAM (Selvaraju et al. 2017), gradients and gradient x input.
 *
 * CAM: M_c = sum_k w_kc A_k with A_k the k-th feature map feeding GlobalAveragePooling3D and w_kc the Dense weight;
 * no bias, no ReLU, no normalisation in the raw map, so mean(M_c) + b_c = logit_c holds exactly. The map is upsampled
 * to the input grid trilinearly (half-pixel centres).
 * Grad-CAM on any convolutional layer: weights = spatial mean of d logit_c / d A_k, map = ReLU(sum_k weight_k A_k),
 * same upsampling. Gradient: d logit_c / d x; gradient x input: x * d logit_c / d x (both summed over channels).
 */
import * as tf from '@tensorflow/tfjs';
import { tidyValue } from '../util/tidy';
import { centeringStep, disposeChain, forwardFrom, modelChain, type Step } from './chain';
import { upsampleTrilinear, type Shape3 } from './upsample';

export interface MapResult {
  /** Maps on the input grid, one per volume, [D, H, W] C order. */
  maps: Float32Array[];
  /** The raw maps before upsampling, with their shape. */
  rawMaps: Float32Array[];
  rawShape: Shape3;
  classes: number[];
  logits: number[];
}

export function targetClasses(logits: tf.Tensor2D, classes?: number[]): number[] {
  const pred = Array.from(tf.argMax(logits, 1).dataSync());
  const out = classes ?? pred;
  const n = logits.shape[1];
  if (out.length !== logits.shape[0]) throw new Error(`${out.length} target classes for ${logits.shape[0]} volumes`);
  for (const c of out) if (!(Number.isInteger(c) && c >= 0 && c < n)) throw new Error(`class ${c} is not a class of this model (0..${n - 1})`);
  return out;
}

/** Forward steps [from, to) (a convolution and its ReLU as one fused op where it runs: the same bits). */
export function runSteps(steps: Step[], from: number, to: number, x: tf.Tensor): tf.Tensor {
  let h = x;
  for (let i = from; i < to; ) [h, i] = forwardFrom(steps, i, h, to);
  return h;
}

/** CAM from the GlobalAveragePooling3D + Dense head. */
export function cam(model: tf.LayersModel, x: tf.Tensor5D, classes?: number[]): MapResult {
  const steps = modelChain(model);
  try {
    const gap = steps.findIndex((s) => s.kind === 'gap3d');
    const dense = steps.length - 1;
    if (gap < 0 || gap !== dense - 1) throw new Error('CAM needs a GlobalAveragePooling3D layer directly followed by the final Dense layer');
    return tidyValue(() => {
      const A = runSteps(steps, 0, gap, x) as tf.Tensor5D; // [b, d, h, w, K]
      const logits = runSteps(steps, gap, steps.length, A) as tf.Tensor2D;
      const cls = targetClasses(logits, classes);
      const [b, d, h, w, K] = A.shape;
      const W = steps[dense].kernel! as tf.Tensor2D; // [K, classes]
      const wc = tf.gather(W, tf.tensor1d(cls, 'int32'), 1).transpose(); // [b, K]
      const M = tf.sum(A.mul(wc.reshape([b, 1, 1, 1, K])), 4); // [b, d, h, w]
      const raw = M.dataSync() as Float32Array;
      const n = d * h * w;
      const rawMaps = Array.from({ length: b }, (_, k) => raw.slice(k * n, (k + 1) * n));
      const inShape: Shape3 = [x.shape[1], x.shape[2], x.shape[3]];
      const logitValues = Array.from(tf.sum(logits.mul(tf.oneHot(tf.tensor1d(cls, 'int32'), logits.shape[1]).cast('float32')), 1).dataSync());
      return { maps: rawMaps.map((m) => upsampleTrilinear(m, [d, h, w], inShape)), rawMaps, rawShape: [d, h, w] as Shape3, classes: cls, logits: logitValues };
    });
  } finally {
    disposeChain(steps);
  }
}

/** Names of the convolutional layers (for Grad-CAM's layer choice). */
export function convLayerNames(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => l.getClassName() === 'Conv3D').map((l) => l.name);
}

/**
 * The Grad-CAM family on the convolutional layer `layer` (default: the last one): with A the layer's output (after
 * its ReLU) and g = d logit_c / d A, map = ReLU(sum_k w_k A_k) with the channel weights w = weightsOf(A, g) ([b, K]),
 * upsampled to the input grid like CAM.
 */
export function gradCamMaps(model: tf.LayersModel, x: tf.Tensor5D, opts: { layer?: string; classes?: number[] }, weightsOf: (A: tf.Tensor5D, g: tf.Tensor5D) => tf.Tensor): MapResult {
  const steps = modelChain(model);
  try {
    const names = convLayerNames(model);
    const layer = opts.layer ?? names[names.length - 1];
    const idx = steps.findIndex((s) => s.kind === 'conv3d' && s.name.split('+')[0] === layer);
    if (idx < 0) throw new Error(`layer "${layer}" is not a Conv3D layer of this model; use one of ${names.join(', ')}`);
    // The layer's output after its activation: include a following ReLU step.
    const end = steps[idx + 1]?.kind === 'relu' ? idx + 2 : idx + 1;
    return tidyValue(() => {
      const A = runSteps(steps, 0, end, x) as tf.Tensor5D;
      const logits = runSteps(steps, end, steps.length, A) as tf.Tensor2D;
      const cls = targetClasses(logits, opts.classes);
      const mask = tf.oneHot(tf.tensor1d(cls, 'int32'), logits.shape[1]).cast('float32');
      const g = tf.grad((a: tf.Tensor) => tf.sum(runSteps(steps, end, steps.length, a).mul(mask)))(A) as tf.Tensor5D;
      const [b, d, h, w, K] = A.shape;
      const weights = weightsOf(A, g);
      const M = tf.relu(tf.sum(A.mul(weights.reshape([b, 1, 1, 1, K])), 4));
      const raw = M.dataSync() as Float32Array;
      const n = d * h * w;
      const rawMaps = Array.from({ length: b }, (_, k) => raw.slice(k * n, (k + 1) * n));
      const inShape: Shape3 = [x.shape[1], x.shape[2], x.shape[3]];
      const logitValues = Array.from(tf.sum(logits.mul(mask), 1).dataSync());
      return { maps: rawMaps.map((m) => upsampleTrilinear(m, [d, h, w], inShape)), rawMaps, rawShape: [d, h, w] as Shape3, classes: cls, logits: logitValues };
    });
  } finally {
    disposeChain(steps);
  }
}

/** Grad-CAM: channel weights = spatial mean of d logit_c / d A_k. */
export function gradCam(model: tf.LayersModel, x: tf.Tensor5D, opts: { layer?: string; classes?: number[] } = {}): MapResult {
  return gradCamMaps(model, x, opts, (_A, g) => tf.mean(g, [1, 2, 3]));
}

/**
 * d logit_c / d x (and x * d logit_c / d x), summed over input channels; for a model with an input centering, of and
 * times the centred input x' (so that LRP-0 with winner-take-all pooling still equals gradient x input).
 */
export function gradients(model: tf.LayersModel, x: tf.Tensor5D, opts: { classes?: number[]; timesInput?: boolean } = {}): MapResult {
  const steps = modelChain(model);
  try {
    return tidyValue(() => {
      // One forward pass: the target classes (predicted ones unless given) and their logits are read inside the
      // differentiated function; the class mask is a constant there, so the gradient is d logit_c / d x.
      let cls: number[] = [];
      let logitValues: number[] = [];
      // A model with an input centering is explained in its centred input x' = (x - r) s (chain.ts).
      const from = centeringStep(steps) ? 1 : 0;
      const input = from === 1 ? runSteps(steps, 0, 1, x) : x;
      const g = tf.grad((u: tf.Tensor) => {
        const logits = runSteps(steps, from, steps.length, u) as tf.Tensor2D;
        cls = targetClasses(logits, opts.classes);
        const mask = tf.oneHot(tf.tensor1d(cls, 'int32'), logits.shape[1]).cast('float32');
        const picked = tf.sum(logits.mul(mask), 1);
        logitValues = Array.from(picked.dataSync());
        return tf.sum(picked);
      })(input);
      const m = tf.sum(opts.timesInput ? g.mul(input) : g, 4);
      const [b, D, H, W] = m.shape;
      const all = m.dataSync() as Float32Array;
      const n = D * H * W;
      const maps = Array.from({ length: b }, (_, k) => all.slice(k * n, (k + 1) * n));
      return { maps, rawMaps: maps, rawShape: [D, H, W] as Shape3, classes: cls, logits: logitValues };
    });
  } finally {
    disposeChain(steps);
  }
}
