/**
 * One call shape for every explanation method (as Zennit's attributors): model + volumes + target -> maps.
 *   cam | gradcam | gradcampp | gradient | inputxgradient | smoothgrad | integrated-gradients | occlusion |
 *   lrp (with a composite and/or per-layer rules); the anchors' methods follow lib/explain/attribution.ts.
 * Volumes are explained in batches that fit the memory budget; the target is the predicted class unless given.
 */
import { assertFinite } from '../util/finite';
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../backend/memory';
import { batchTensor, type VolumeDataset } from '../data/dataset';
import { cam, gradCam, gradients } from './cam';
import { gradCamPlusPlus, integratedGradients, occlusion, smoothGrad } from './attribution';
import { lrp, type LayerAudit } from './lrp/lrp';
import type { PoolMode } from './lrp/composites';
import type { RuleSpec } from './lrp/rules';
import { sumValues } from '../util/sum';

export const METHODS = ['cam', 'gradcam', 'gradcampp', 'gradient', 'inputxgradient', 'smoothgrad', 'integrated-gradients', 'occlusion', 'lrp'] as const;
export type Method = (typeof METHODS)[number];

export interface ExplainOptions {
  method: Method;
  /** LRP: a composite (composite1|composite2|composite3|Zennit preset). */
  composite?: string;
  /** LRP: per-layer rules (conv1..convN, dense or layer names); override the composite. */
  rules?: Record<string, RuleSpec>;
  /** LRP: max-pooling mode. */
  pool?: PoolMode;
  /** LRP: zB bounds (default [0, 1]). */
  low?: number;
  high?: number;
  /** Grad-CAM / Grad-CAM++ layer (default: the last convolution). */
  layer?: string;
  /** Integrated gradients: steps (default 32). */
  steps?: number;
  /**
   * Integrated gradients and occlusion: the baseline, a voxel value (default 0) or 'reference' (the model's training
   * mean volume, for models with an input centering; lib/explain/attribution.ts).
   */
  baseline?: number | 'reference';
  /** SmoothGrad: noisy copies (default 20), noise level as a fraction of max - min (default 0.1), seed (default 0). */
  samples?: number;
  noiseLevel?: number;
  seed?: number;
  /** Occlusion: cube side (default 8) and stride (default 4), in voxels. */
  window?: number;
  stride?: number;
  /** Target class per volume, or one class for all. */
  classes?: number[] | number;
  /** Largest batch (default: what fits, at most 32). */
  batchSize?: number;
}

export interface Explanation {
  /** [D, H, W] maps, one per volume. */
  maps: Float32Array[];
  classes: number[];
  logits: number[];
  /** Sum of each map. */
  relevanceSums: number[];
  /** LRP only: the conservation audit (means over the volumes of each batch, averaged over batches). */
  audit: LayerAudit[];
  rules: Record<string, string>;
  method: Method;
  /** Integrated gradients: logit_c(x) - logit_c(baseline) per volume, what each map's sum approximates. */
  reference?: number[];
}

function validateMethod(m: string): asserts m is Method {
  if (!(METHODS as readonly string[]).includes(m)) throw new Error(`unknown method "${m}"; use one of ${METHODS.join(', ')}`);
}

/** Explanations of consecutive batches joined into one (the LRP audit averaged, weighted by batch size). */
class Joined {
  readonly out: Explanation;
  private n = 0;
  constructor(method: Method) {
    this.out = { maps: [], classes: [], logits: [], relevanceSums: [], audit: [], rules: {}, method };
  }
  add(r: Explanation, size: number): void {
    const out = this.out;
    out.maps.push(...r.maps);
    out.classes.push(...r.classes);
    out.logits.push(...r.logits);
    out.relevanceSums.push(...r.relevanceSums);
    out.rules = r.rules;
    if (r.reference) (out.reference ??= []).push(...r.reference);
    if (out.audit.length === 0) out.audit = r.audit.map((a) => ({ ...a, relevanceOut: 0, relevanceIn: 0, absorbed: 0 }));
    r.audit.forEach((a, i) => {
      out.audit[i].relevanceOut += a.relevanceOut * size;
      out.audit[i].relevanceIn += a.relevanceIn * size;
      out.audit[i].absorbed += a.absorbed * size;
    });
    this.n += size;
  }
  done(): Explanation {
    for (const a of this.out.audit) {
      a.relevanceOut /= this.n;
      a.relevanceIn /= this.n;
      a.absorbed /= this.n;
    }
    return this.out;
  }
}

const classSlice = (classes: ExplainOptions['classes'], s: number, e: number) => (Array.isArray(classes) ? classes.slice(s, e) : classes);

/**
 * Explain a batch tensor [b, D, H, W, C], in chunks that fit the memory plan (lib/backend/memory.ts): a request that
 * cannot fit even one volume fails before any work, naming the sizes; an explicit batchSize that does not fit is an
 * error, not a silent reduction.
 */
export function explainTensor(model: tf.LayersModel, x: tf.Tensor5D, opts: ExplainOptions): Explanation {
  validateMethod(opts.method);
  const b = x.shape[0];
  const batch = chooseBatchSize(model, opts.method === 'lrp' ? 'lrp' : 'gradient', opts.batchSize, opts.batchSize ?? 32);
  if (b <= batch) return explainChunk(model, x, opts);
  const joined = new Joined(opts.method);
  for (let s = 0; s < b; s += batch) {
    const e = Math.min(b, s + batch);
    const part = tf.slice(x, [s, 0, 0, 0, 0], [e - s, -1, -1, -1, -1]);
    try {
      joined.add(explainChunk(model, part, { ...opts, classes: classSlice(opts.classes, s, e) }), e - s);
    } finally {
      part.dispose();
    }
  }
  return joined.done();
}

function explainChunk(model: tf.LayersModel, x: tf.Tensor5D, opts: ExplainOptions): Explanation {
  const b = x.shape[0];
  const classes = opts.classes === undefined ? undefined : typeof opts.classes === 'number' ? new Array(b).fill(opts.classes) : opts.classes;
  const inShape = model.inputs[0].shape;
  const want = inShape.slice(1);
  const got = x.shape.slice(1);
  if (want.some((d, i) => d !== null && d !== got[i])) {
    throw new Error(`input shape [${got.join(', ')}] does not match the model's input [${want.map((d) => d ?? '?').join(', ')}]: resample the volume to the model's grid`);
  }
  assertFinite(x.dataSync(), 'input volume', x.shape);
  if (opts.layer !== undefined && opts.method !== 'gradcam' && opts.method !== 'gradcampp') throw new Error(`layer "${opts.layer}" applies to the gradcam and gradcampp methods only (CAM always uses the last feature maps; got method ${opts.method})`);
  const only = (names: (keyof ExplainOptions)[], methods: Method[]) => {
    for (const k of names) if (opts[k] !== undefined && !methods.includes(opts.method)) throw new Error(`option ${k} applies to ${methods.join(' and ')} only (got method ${opts.method})`);
  };
  only(['steps'], ['integrated-gradients']);
  only(['baseline'], ['integrated-gradients', 'occlusion']);
  only(['samples', 'noiseLevel', 'seed'], ['smoothgrad']);
  only(['window', 'stride'], ['occlusion']);
  if (opts.method !== 'lrp' && (opts.composite || opts.rules)) throw new Error(`the composite and rules options apply to the lrp method only (got method ${opts.method})`);
  switch (opts.method) {
    case 'cam':
    case 'gradcam':
    case 'gradient':
    case 'inputxgradient': {
      const r =
        opts.method === 'cam'
          ? cam(model, x, classes)
          : opts.method === 'gradcam'
            ? gradCam(model, x, { layer: opts.layer, classes })
            : gradients(model, x, { classes, timesInput: opts.method === 'inputxgradient' });
      return { maps: r.maps, classes: r.classes, logits: r.logits, relevanceSums: r.maps.map(sumValues), audit: [], rules: {}, method: opts.method };
    }
    case 'gradcampp':
    case 'smoothgrad':
    case 'integrated-gradients':
    case 'occlusion': {
      const r =
        opts.method === 'gradcampp'
          ? gradCamPlusPlus(model, x, { layer: opts.layer, classes })
          : opts.method === 'smoothgrad'
            ? smoothGrad(model, x, { samples: opts.samples, noiseLevel: opts.noiseLevel, seed: opts.seed, classes })
            : opts.method === 'occlusion'
              ? occlusion(model, x, { window: opts.window, stride: opts.stride, baseline: opts.baseline, classes })
              : integratedGradients(model, x, { steps: opts.steps, baseline: opts.baseline, classes });
      const reference = 'reference' in r ? (r as { reference: number[] }).reference : undefined;
      return { maps: r.maps, classes: r.classes, logits: r.logits, relevanceSums: r.maps.map(sumValues), audit: [], rules: {}, method: opts.method, ...(reference ? { reference } : {}) };
    }
    case 'lrp': {
      const r = lrp(model, x, { composite: opts.composite, rules: opts.rules, pool: opts.pool, low: opts.low, high: opts.high, classes });
      return { maps: r.maps, classes: r.classes, logits: r.logits, relevanceSums: r.relevanceSums, audit: r.audit, rules: r.rules, method: 'lrp' };
    }
  }
}

/** Explain volumes `indices` of a dataset in memory-safe batches. */
export function explainDataset(model: tf.LayersModel, ds: VolumeDataset, indices: number[], opts: ExplainOptions): Explanation {
  validateMethod(opts.method);
  const batch = chooseBatchSize(model, opts.method === 'lrp' ? 'lrp' : 'gradient', opts.batchSize, opts.batchSize ?? 32);
  const joined = new Joined(opts.method);
  for (let s = 0; s < indices.length; s += batch) {
    const idx = indices.slice(s, s + batch);
    const x = batchTensor(ds, idx);
    try {
      joined.add(explainChunk(model, x, { ...opts, classes: classSlice(opts.classes, s, s + batch) }), idx.length);
    } finally {
      x.dispose();
    }
  }
  return joined.done();
}
