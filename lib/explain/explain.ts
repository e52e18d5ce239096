/**
 * One call shape for every explanation method (as Zennit's attributors): model + volumes + target -> maps.
 *   cam | gradcam | gradient | inputxgradient | lrp (with a composite and/or per-layer rules)
 * Volumes are explained in batches that fit the memory budget; the target is the predicted class unless given.
 */
import { assertFinite } from '../util/finite';
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../backend/memory';
import { batchTensor, type VolumeDataset } from '../data/dataset';
import { cam, gradCam, gradients } from './cam';
import { lrp, type LayerAudit } from './lrp/lrp';
import type { PoolMode } from './lrp/composites';
import type { RuleSpec } from './lrp/rules';
import { sumValues } from '../util/sum';

export const METHODS = ['cam', 'gradcam', 'gradient', 'inputxgradient', 'lrp'] as const;
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
  /** Grad-CAM layer (default: the last convolution). */
  layer?: string;
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
}

function validateMethod(m: string): asserts m is Method {
  if (!(METHODS as readonly string[]).includes(m)) throw new Error(`unknown method "${m}"; use one of ${METHODS.join(', ')}`);
}

/** Explain a batch tensor [b, D, H, W, C]. */
export function explainTensor(model: tf.LayersModel, x: tf.Tensor5D, opts: ExplainOptions): Explanation {
  validateMethod(opts.method);
  const b = x.shape[0];
  const classes = opts.classes === undefined ? undefined : typeof opts.classes === 'number' ? new Array(b).fill(opts.classes) : opts.classes;
  const inShape = model.inputs[0].shape;
  const want = inShape.slice(1);
  const got = x.shape.slice(1);
  if (want.some((d, i) => d !== null && d !== got[i])) {
    throw new Error(`input shape [${got.join(', ')}] does not match the model's input [${want.map((d) => d ?? '?').join(', ')}]: resample the volume to the model's grid`);
  }
  assertFinite(x.dataSync(), 'input volume', x.shape);
  if (opts.layer !== undefined && opts.method !== 'gradcam') throw new Error(`layer "${opts.layer}" applies to the gradcam method only (CAM always uses the last feature maps; got method ${opts.method})`);
  if (opts.method !== 'lrp' && (opts.composite || opts.rules)) throw new Error(`--composite and --rules apply to --method lrp only (got --method ${opts.method})`);
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
    case 'lrp': {
      const r = lrp(model, x, { composite: opts.composite, rules: opts.rules, pool: opts.pool, low: opts.low, high: opts.high, classes });
      return { maps: r.maps, classes: r.classes, logits: r.logits, relevanceSums: r.relevanceSums, audit: r.audit, rules: r.rules, method: 'lrp' };
    }
  }
}

/** Explain volumes `indices` of a dataset in memory-safe batches. */
export function explainDataset(model: tf.LayersModel, ds: VolumeDataset, indices: number[], opts: ExplainOptions): Explanation {
  const batch = chooseBatchSize(model, 'gradient', opts.batchSize, opts.batchSize ?? 32);
  const out: Explanation = { maps: [], classes: [], logits: [], relevanceSums: [], audit: [], rules: {}, method: opts.method };
  const perClass = Array.isArray(opts.classes) ? opts.classes : undefined;
  let batches = 0;
  for (let s = 0; s < indices.length; s += batch) {
    const idx = indices.slice(s, s + batch);
    const x = batchTensor(ds, idx);
    try {
      const r = explainTensor(model, x, { ...opts, classes: perClass ? perClass.slice(s, s + batch) : opts.classes });
      out.maps.push(...r.maps);
      out.classes.push(...r.classes);
      out.logits.push(...r.logits);
      out.relevanceSums.push(...r.relevanceSums);
      out.rules = r.rules;
      if (out.audit.length === 0) out.audit = r.audit.map((a) => ({ ...a, relevanceOut: 0, relevanceIn: 0, absorbed: 0 }));
      r.audit.forEach((a, i) => {
        const w = idx.length;
        out.audit[i].relevanceOut += a.relevanceOut * w;
        out.audit[i].relevanceIn += a.relevanceIn * w;
        out.audit[i].absorbed += a.absorbed * w;
      });
      batches += 1;
    } finally {
      x.dispose();
    }
  }
  for (const a of out.audit) {
    a.relevanceOut /= indices.length;
    a.relevanceIn /= indices.length;
    a.absorbed /= indices.length;
  }
  void batches;
  return out;
}
