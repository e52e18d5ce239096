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

/** The built-in methods (registerMethod adds others). */
export const METHODS = ['cam', 'gradcam', 'gradcampp', 'gradient', 'inputxgradient', 'smoothgrad', 'integrated-gradients', 'occlusion', 'lrp'] as const;
/** A built-in method name, or one registered with registerMethod. */
export type Method = (typeof METHODS)[number] | (string & {});

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

/** The options that belong to particular methods (the rest, classes and batchSize, apply to all). */
const METHOD_OPTIONS = ['composite', 'rules', 'pool', 'low', 'high', 'layer', 'steps', 'baseline', 'samples', 'noiseLevel', 'seed', 'window', 'stride'] as const;
export type MethodOption = (typeof METHOD_OPTIONS)[number];

/** What an explanation method returns for one batch (the fields of an Explanation it can fill). */
export interface MethodResult {
  maps: Float32Array[];
  classes: number[];
  logits: number[];
  relevanceSums?: number[];
  audit?: LayerAudit[];
  rules?: Record<string, string>;
  reference?: number[];
}

/**
 * An explanation method (the Captum / Zennit shape: model + volumes + targets + options -> one map per volume).
 * `options` lists the method-specific options it reads; any other one set in a request is refused by name.
 * `memory` is what the memory plan budgets a batch for (an input gradient, or an LRP pass).
 */
export interface MethodDefinition {
  name: string;
  options: MethodOption[];
  memory: 'gradient' | 'lrp';
  explain(model: tf.LayersModel, x: tf.Tensor5D, opts: ExplainOptions, classes: number[] | undefined): MethodResult;
}

const METHOD_REGISTRY = new Map<string, MethodDefinition>();

/** Make a method available by name to explainTensor / explainDataset / cachedExplanation (and so to AOPC and sanity checks). */
export function registerMethod(def: MethodDefinition, opts: { replace?: boolean } = {}): void {
  if (!/^[a-z][a-z0-9-]*$/.test(def.name)) throw new Error(`registerMethod: name "${def.name}" must be lower-case letters, digits and '-', starting with a letter`);
  if (METHOD_REGISTRY.has(def.name) && !opts.replace) throw new Error(`registerMethod: a method "${def.name}" is already registered (pass { replace: true } to replace it)`);
  for (const o of def.options) if (!(METHOD_OPTIONS as readonly string[]).includes(o)) throw new Error(`registerMethod ${def.name}: unknown option "${o}"; options are ${METHOD_OPTIONS.join(', ')}`);
  if (def.memory !== 'gradient' && def.memory !== 'lrp') throw new Error(`registerMethod ${def.name}: memory must be "gradient" or "lrp"`);
  METHOD_REGISTRY.set(def.name, def);
}

/** For cache keys: the source of a user-registered method's explain function (null for a built-in one). */
export function userMethodDefinition(name: string): string | null {
  const def = METHOD_REGISTRY.get(name);
  return def && !(METHODS as readonly string[]).includes(name) ? def.explain.toString() : null;
}

/** The registered method names, built-in ones first. */
export function methodNames(): string[] {
  return [...METHOD_REGISTRY.keys()];
}

function methodOf(m: string): MethodDefinition {
  const def = METHOD_REGISTRY.get(m);
  if (!def) throw new Error(`unknown method "${m}"; use one of ${methodNames().join(', ')} (or registerMethod a new one)`);
  return def;
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
  const b = x.shape[0];
  const batch = chooseBatchSize(model, methodOf(opts.method).memory, opts.batchSize, opts.batchSize ?? 32);
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
  const def = methodOf(opts.method);
  for (const k of METHOD_OPTIONS) {
    if (opts[k] === undefined || def.options.includes(k)) continue;
    const takers = [...METHOD_REGISTRY.values()].filter((d) => d.options.includes(k)).map((d) => d.name);
    throw new Error(`option ${k} applies to ${takers.join(' and ')} only (got method ${opts.method})`);
  }
  const r = def.explain(model, x, opts, classes);
  return { maps: r.maps, classes: r.classes, logits: r.logits, relevanceSums: r.relevanceSums ?? r.maps.map(sumValues), audit: r.audit ?? [], rules: r.rules ?? {}, method: opts.method, ...(r.reference ? { reference: r.reference } : {}) };
}

// The built-in methods, registered as a user's would be.
registerMethod({ name: 'cam', options: [], memory: 'gradient', explain: (m, x, _o, classes) => cam(m, x, classes) });
registerMethod({ name: 'gradcam', options: ['layer'], memory: 'gradient', explain: (m, x, o, classes) => gradCam(m, x, { layer: o.layer, classes }) });
registerMethod({ name: 'gradcampp', options: ['layer'], memory: 'gradient', explain: (m, x, o, classes) => gradCamPlusPlus(m, x, { layer: o.layer, classes }) });
registerMethod({ name: 'gradient', options: [], memory: 'gradient', explain: (m, x, _o, classes) => gradients(m, x, { classes, timesInput: false }) });
registerMethod({ name: 'inputxgradient', options: [], memory: 'gradient', explain: (m, x, _o, classes) => gradients(m, x, { classes, timesInput: true }) });
registerMethod({ name: 'smoothgrad', options: ['samples', 'noiseLevel', 'seed'], memory: 'gradient', explain: (m, x, o, classes) => smoothGrad(m, x, { samples: o.samples, noiseLevel: o.noiseLevel, seed: o.seed, classes }) });
registerMethod({ name: 'integrated-gradients', options: ['steps', 'baseline'], memory: 'gradient', explain: (m, x, o, classes) => integratedGradients(m, x, { steps: o.steps, baseline: o.baseline, classes }) });
registerMethod({ name: 'occlusion', options: ['window', 'stride', 'baseline'], memory: 'gradient', explain: (m, x, o, classes) => occlusion(m, x, { window: o.window, stride: o.stride, baseline: o.baseline, classes }) });
registerMethod({
  name: 'lrp',
  options: ['composite', 'rules', 'pool', 'low', 'high'],
  memory: 'lrp',
  explain: (m, x, o, classes) => lrp(m, x, { composite: o.composite, rules: o.rules, pool: o.pool, low: o.low, high: o.high, classes }),
});

/** Explain volumes `indices` of a dataset in memory-safe batches. */
export function explainDataset(model: tf.LayersModel, ds: VolumeDataset, indices: number[], opts: ExplainOptions): Explanation {
  const batch = chooseBatchSize(model, methodOf(opts.method).memory, opts.batchSize, opts.batchSize ?? 32);
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
