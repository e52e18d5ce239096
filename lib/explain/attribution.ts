/**
 * The anchors' attribution methods (Captum's conventions, ../shared notes "attribution methods beyond the thesis"):
 *
 * Integrated Gradients (Sundararajan et al. 2017): IG_i = (x_i - x'_i) * mean_k d logit_c / d x_i at
 *   x' + alpha_k (x - x'), alpha_k = (k + 0.5) / n (the Riemann midpoint rule), baseline x' constant (default 0),
 *   n = 32 steps by default. Completeness: sum(IG) approximates logit_c(x) - logit_c(x'); both are returned.
 * SmoothGrad (Smilkov et al. 2017): the mean of d logit_c / d x over n (default 20) copies x + N(0, sigma^2),
 *   sigma = noiseLevel (default 0.1) x (max - min) of each volume, noise from a seeded stream; optionally of
 *   (x + noise) * gradient ("input x gradient"). The target class is the one predicted on the clean volume.
 * Occlusion (Zeiler & Fergus 2014, Captum's Occlusion): a cube of side `window` (default 8) slid with `stride`
 *   (default 4) over the positions where it fits, filled with `baseline` (default 0); a voxel's attribution is the
 *   mean over the windows covering it of logit_c(x) - logit_c(x occluded). Voxels no window covers (when
 *   (side - window) is not a multiple of the stride) get 0. Occluded copies are run in memory-planned batches.
 * Grad-CAM++ (Chattopadhay et al. 2018), 3D, on the logit: with g = d logit_c / d A_k at every voxel,
 *   alpha = g^2 / (2 g^2 + sum_voxels(A_k) g^3) (0 where the denominator is 0), weight_k = sum_voxels(alpha ReLU(g)),
 *   map = ReLU(sum_k weight_k A_k), upsampled to the input grid like CAM.
 * All maps are summed over input channels; inputs are [b, D, H, W, C].
 */
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../backend/memory';
import { Rng } from '../util/random';
import { tidyValue } from '../util/tidy';
import { gradCamMaps, runSteps, targetClasses, type MapResult } from './cam';
import { centeringStep, disposeChain, forwardLogits, modelChain, type Step } from './chain';
import type { Shape3 } from './upsample';

export interface IntegratedGradientsOptions {
  steps?: number;
  baseline?: Baseline;
  classes?: number[];
}

export interface SmoothGradOptions {
  samples?: number;
  noiseLevel?: number;
  seed?: number;
  timesInput?: boolean;
  classes?: number[];
}

export interface OcclusionOptions {
  window?: number;
  stride?: number;
  baseline?: Baseline;
  classes?: number[];
  /** Occluded copies per forward pass (default: what fits the memory plan, at most 64). */
  batchSize?: number;
}

/**
 * The baseline of Integrated Gradients and occlusion: a constant voxel value, or 'reference': the model's own
 * reference volume (the training mean brain of a model with an input centering, docs/methods.md). On a brain model
 * a constant is not neutral (0 looks like tissue loss, which is evidence for AD); the mean brain is.
 */
export type Baseline = number | 'reference';

/** The baseline as one volume [D, H, W, C] per voxel (broadcast over the batch), or a constant. */
function baselineOf(steps: Step[], baseline: Baseline | undefined, what: string): { value: number } | { volume: tf.Tensor } {
  if (baseline === 'reference') {
    const c = centeringStep(steps);
    if (!c) throw new Error(`${what}: baseline "reference" needs a model with an input centering (a ReferenceCentering3D first layer); this model has none: give a number`);
    return { volume: c.reference! };
  }
  return { value: finiteNumber(baseline ?? ATTRIBUTION_DEFAULTS.baseline, `${what}: baseline`) };
}

export const ATTRIBUTION_DEFAULTS = { igSteps: 32, baseline: 0, samples: 20, noiseLevel: 0.1, seed: 0, window: 8, stride: 4 } as const;

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} ${v} must be a positive integer`);
  return v;
}

function finiteNumber(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new Error(`${what} ${v} must be a finite number`);
  return v;
}

/** d (sum_b logit_{b, c_b}) / d x for fixed target classes. */
function classGradient(steps: Step[], x: tf.Tensor, cls: number[]): { g: tf.Tensor } {
  const g = tf.grad((u: tf.Tensor) => {
    const logits = runSteps(steps, 0, steps.length, u) as tf.Tensor2D;
    const mask = tf.oneHot(tf.tensor1d(cls, 'int32'), logits.shape[1]).cast('float32');
    return tf.sum(logits.mul(mask));
  })(x);
  return { g };
}

function splitMaps(t: tf.Tensor): { maps: Float32Array[]; shape: Shape3 } {
  const [b, D, H, W] = t.shape;
  const all = t.dataSync() as Float32Array;
  const n = D * H * W;
  return { maps: Array.from({ length: b }, (_, k) => all.slice(k * n, (k + 1) * n)), shape: [D, H, W] };
}

/** The target classes: given, or predicted on x. */
function resolveClasses(steps: Step[], x: tf.Tensor, classes?: number[]): { cls: number[]; logits: tf.Tensor2D } {
  const logits = forwardLogits(steps, x);
  return { cls: targetClasses(logits, classes), logits };
}

export interface IntegratedGradientsResult extends MapResult {
  /** logit_c(x) - logit_c(baseline) per volume: what sum(IG) approximates (completeness). */
  reference: number[];
}

export function integratedGradients(model: tf.LayersModel, x: tf.Tensor5D, opts: IntegratedGradientsOptions = {}): IntegratedGradientsResult {
  const n = positiveInt(opts.steps ?? ATTRIBUTION_DEFAULTS.igSteps, 'integrated gradients: steps');
  const steps = modelChain(model);
  try {
    const base = baselineOf(steps, opts.baseline, 'integrated gradients');
    return tidyValue(() => {
      const { cls, logits } = resolveClasses(steps, x, opts.classes);
      const mask = tf.oneHot(tf.tensor1d(cls, 'int32'), logits.shape[1]).cast('float32');
      const fx = tf.sum(logits.mul(mask), 1);
      const xb = 'volume' in base ? tf.zerosLike(x).add(base.volume) : tf.fill(x.shape, base.value);
      const fb = tf.sum(forwardLogits(steps, xb).mul(mask), 1);
      const diff = x.sub(xb);
      let sum: tf.Tensor = tf.zerosLike(x);
      for (let k = 0; k < n; k++) {
        const alpha = (k + 0.5) / n;
        const next = tf.tidy(() => sum.add(classGradient(steps, xb.add(diff.mul(alpha)), cls).g));
        sum.dispose();
        sum = next;
      }
      const ig = tf.sum(sum.div(n).mul(diff), 4);
      const { maps, shape } = splitMaps(ig);
      return { maps, rawMaps: maps, rawShape: shape, classes: cls, logits: Array.from(fx.dataSync()), reference: Array.from(fx.sub(fb).dataSync()) };
    });
  } finally {
    disposeChain(steps);
  }
}

export function smoothGrad(model: tf.LayersModel, x: tf.Tensor5D, opts: SmoothGradOptions = {}): MapResult {
  const samples = positiveInt(opts.samples ?? ATTRIBUTION_DEFAULTS.samples, 'smoothgrad: samples');
  const level = finiteNumber(opts.noiseLevel ?? ATTRIBUTION_DEFAULTS.noiseLevel, 'smoothgrad: noise level');
  if (level < 0) throw new Error(`smoothgrad: noise level ${level} must be >= 0`);
  const seed = opts.seed ?? ATTRIBUTION_DEFAULTS.seed;
  const steps = modelChain(model);
  try {
    return tidyValue(() => {
      const { cls, logits } = resolveClasses(steps, x, opts.classes);
      const mask = tf.oneHot(tf.tensor1d(cls, 'int32'), logits.shape[1]).cast('float32');
      const fx = Array.from(tf.sum(logits.mul(mask), 1).dataSync());
      const b = x.shape[0];
      const per = x.size / b;
      const data = x.dataSync() as Float32Array;
      const sigma = Array.from({ length: b }, (_, k) => {
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = k * per; i < (k + 1) * per; i++) {
          if (data[i] < lo) lo = data[i];
          if (data[i] > hi) hi = data[i];
        }
        return level * (hi - lo);
      });
      // One stream per (seed, volume position in the batch), so a volume's noise does not depend on the others.
      const rngs = sigma.map((_, k) => new Rng(seed * 1000003 + k));
      let sum: tf.Tensor = tf.zerosLike(x);
      const noisy = new Float32Array(data.length);
      for (let s = 0; s < samples; s++) {
        for (let k = 0; k < b; k++) {
          const sd = sigma[k];
          for (let i = k * per; i < (k + 1) * per; i++) noisy[i] = sd > 0 ? data[i] + rngs[k].normal(0, sd) : data[i];
        }
        const next = tf.tidy(() => {
          const xn = tf.tensor(noisy, x.shape);
          const { g } = classGradient(steps, xn, cls);
          return sum.add(opts.timesInput ? g.mul(xn) : g);
        });
        sum.dispose();
        sum = next;
      }
      const { maps, shape } = splitMaps(tf.sum(sum.div(samples), 4));
      return { maps, rawMaps: maps, rawShape: shape, classes: cls, logits: fx };
    });
  } finally {
    disposeChain(steps);
  }
}

/** Window start positions along an axis of `size`: 0, stride, ... while the window fits. */
export function windowStarts(size: number, window: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + window <= size; s += stride) out.push(s);
  return out;
}

export function occlusion(model: tf.LayersModel, x: tf.Tensor5D, opts: OcclusionOptions = {}): MapResult {
  const [b, D, H, W, C] = x.shape;
  const win = positiveInt(opts.window ?? Math.min(ATTRIBUTION_DEFAULTS.window, D, H, W), 'occlusion: window');
  const stride = positiveInt(opts.stride ?? Math.min(ATTRIBUTION_DEFAULTS.stride, win), 'occlusion: stride');
  if (win > Math.min(D, H, W)) throw new Error(`occlusion: window ${win} is larger than the volume (${D}x${H}x${W})`);
  const starts = [windowStarts(D, win, stride), windowStarts(H, win, stride), windowStarts(W, win, stride)];
  const positions: [number, number, number][] = [];
  for (const d of starts[0]) for (const h of starts[1]) for (const w of starts[2]) positions.push([d, h, w]);
  const batch = chooseBatchSize(model, 'predict', opts.batchSize, 64);
  const steps = modelChain(model);
  try {
    const base = baselineOf(steps, opts.baseline, 'occlusion');
    const fill = 'volume' in base ? (base.volume.dataSync() as Float32Array) : null;
    const { cls, fx } = tidyValue(() => {
      const r = resolveClasses(steps, x, opts.classes);
      const mask = tf.oneHot(tf.tensor1d(r.cls, 'int32'), r.logits.shape[1]).cast('float32');
      return { cls: r.cls, fx: Array.from(tf.sum(r.logits.mul(mask), 1).dataSync()) };
    });
    const n = D * H * W;
    const data = x.dataSync() as Float32Array;
    const maps: Float32Array[] = [];
    const counts = new Float32Array(n);
    for (const [d0, h0, w0] of positions) {
      for (let d = d0; d < d0 + win; d++) for (let h = h0; h < h0 + win; h++) for (let w = w0; w < w0 + win; w++) counts[(d * H + h) * W + w] += 1;
    }
    for (let v = 0; v < b; v++) {
      const src = data.subarray(v * n * C, (v + 1) * n * C);
      const sum = new Float32Array(n);
      for (let s = 0; s < positions.length; s += batch) {
        const chunk = positions.slice(s, s + batch);
        const buf = new Float32Array(chunk.length * n * C);
        chunk.forEach(([d0, h0, w0], j) => {
          const dst = buf.subarray(j * n * C, (j + 1) * n * C);
          dst.set(src);
          for (let d = d0; d < d0 + win; d++) for (let h = h0; h < h0 + win; h++) for (let w = w0; w < w0 + win; w++) {
            const o = ((d * H + h) * W + w) * C;
            for (let c = 0; c < C; c++) dst[o + c] = fill ? fill[o + c] : (base as { value: number }).value;
          }
        });
        const scores = tidyValue(() => {
          const logits = forwardLogits(steps, tf.tensor5d(buf, [chunk.length, D, H, W, C]));
          return Array.from(logits.slice([0, cls[v]], [chunk.length, 1]).dataSync());
        });
        chunk.forEach(([d0, h0, w0], j) => {
          const delta = fx[v] - scores[j];
          for (let d = d0; d < d0 + win; d++) for (let h = h0; h < h0 + win; h++) for (let w = w0; w < w0 + win; w++) sum[(d * H + h) * W + w] += delta;
        });
      }
      for (let i = 0; i < n; i++) sum[i] = counts[i] > 0 ? sum[i] / counts[i] : 0;
      maps.push(sum);
    }
    return { maps, rawMaps: maps, rawShape: [D, H, W], classes: cls, logits: fx };
  } finally {
    disposeChain(steps);
  }
}

export function gradCamPlusPlus(model: tf.LayersModel, x: tf.Tensor5D, opts: { layer?: string; classes?: number[] } = {}): MapResult {
  return gradCamMaps(model, x, opts, (A, g) => {
    const g2 = g.square();
    const g3 = g2.mul(g);
    const sumA = tf.sum(A, [1, 2, 3], true); // [b, 1, 1, 1, K]
    const denom = g2.mul(2).add(sumA.mul(g3));
    const zero = tf.equal(denom, 0);
    const alpha = tf.where(zero, tf.zerosLike(denom), g2.div(tf.where(zero, tf.onesLike(denom), denom)));
    return tf.sum(alpha.mul(tf.relu(g)), [1, 2, 3]); // [b, K]
  });
}
