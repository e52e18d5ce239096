/**
 * One call shape for every explanation method (as Zennit's attributors): model + volumes + target -> maps.
 *   cam | gradcam | gradcampp | gradient | inputxgradient | smoothgrad | integrated-gradients | occlusion |
 *   lrp (with a composite and/or per-layer rules); the anchors' methods follow lib/explain/attribution.ts.
 * Volumes are explained in batches that fit the memory budget; the target is the predicted class unless given.
 */
import { assertFiniteTensor } from '../util/finite';
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../backend/memory';
import { batchTensor, type VolumeDataset } from '../data/dataset';
import type { LayerAudit } from './lrp/lrp';
import { COMPOSITES } from './lrp/composites';
import { sumValues } from '../util/sum';
import { checkOption, METHOD_OPTIONS, OPTION_SPECS, OptionError, type ExplainOptions, type Method } from './options';
import { methodDefinition, methodsTaking } from './registry';

export { METHODS, METHOD_OPTIONS, OPTION_SPECS, OptionError, type ExplainOptions, type Method, type MethodOption } from './options';
export { registerMethod, methodNames, methodDefinition, userMethodDefinition, type MethodDefinition, type MethodResult } from './registry';

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
 * A request made complete and checked, once, at the edge (what explainTensor / explainDataset run and what cache keys
 * and manifests hold): the method must be registered; every option set must belong to it (an OptionError names the
 * field and the methods that take it) and fit its spec (OPTION_SPECS: type and bounds); the method's options with a
 * fixed default get it written in (Integrated Gradients' steps and baseline, SmoothGrad's samples, noise level and
 * seed; with `shape` [D, H, W] also occlusion's window and stride, which are clipped to the volume), and LRP's
 * pooling mode is made explicit (the composite's, else wta). Options whose default depends on the model (Grad-CAM's
 * layer) or on each rule (zB bounds) stay unset. Resolving a resolved request returns an equal one.
 */
export function resolveExplainOptions(opts: ExplainOptions, shape?: readonly number[]): ExplainOptions {
  if (!opts || typeof opts !== 'object') throw new OptionError('method', 'the options must be an object with a method');
  if (typeof opts.method !== 'string') throw new OptionError('method', `expected a method name, got ${String(opts.method)}`);
  const def = methodDefinition(opts.method);
  const out: ExplainOptions = { ...opts };
  for (const k of METHOD_OPTIONS) {
    if (opts[k] === undefined) continue;
    if (!def.options.includes(k)) throw new OptionError(k, `applies to ${methodsTaking(k).join(' and ')} only (got method ${opts.method})`);
    checkOption(k, opts[k]);
  }
  if (opts.low !== undefined && opts.high !== undefined && !(opts.low < opts.high)) throw new OptionError('low', `low ${opts.low} must be < high ${opts.high} (the zB rule's input bounds)`);
  if (opts.composite !== undefined && !Object.prototype.hasOwnProperty.call(COMPOSITES, opts.composite)) throw new OptionError('composite', `unknown composite "${opts.composite}"; use one of ${Object.keys(COMPOSITES).join(', ')}`);
  if (opts.batchSize !== undefined && !(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) throw new OptionError('batchSize', `expected an integer >= 1, got ${opts.batchSize}`);
  const cls = opts.classes;
  if (cls !== undefined && !(Array.isArray(cls) ? cls : [cls]).every((c) => Number.isInteger(c) && c >= 0)) throw new OptionError('classes', `expected class indices (integers >= 0), got ${JSON.stringify(cls)}`);
  const set = out as unknown as Record<string, unknown>;
  for (const k of def.options) if (set[k] === undefined && OPTION_SPECS[k].fill && k !== 'window' && k !== 'stride') set[k] = OPTION_SPECS[k].default;
  if (def.options.includes('window') && shape) {
    const side = Math.min(...shape.slice(0, 3));
    out.window ??= Math.min(OPTION_SPECS.window.default as number, side);
    out.stride ??= Math.min(OPTION_SPECS.stride.default as number, out.window);
  }
  if (def.options.includes('pool')) out.pool ??= (opts.composite !== undefined ? COMPOSITES[opts.composite].pool : undefined) ?? 'wta';
  return out;
}

/**
 * Explain a batch tensor [b, D, H, W, C], in chunks that fit the memory plan (lib/backend/memory.ts): a request that
 * cannot fit even one volume fails before any work, naming the sizes; an explicit batchSize that does not fit is an
 * error, not a silent reduction.
 */
export function explainTensor(model: tf.LayersModel, x: tf.Tensor5D, request: ExplainOptions): Explanation {
  const opts = resolveExplainOptions(request, x.shape.slice(1, 4));
  const b = x.shape[0];
  const batch = chooseBatchSize(model, methodDefinition(opts.method).memory, opts.batchSize, opts.batchSize ?? 32);
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

/** One chunk of a resolved request. */
function explainChunk(model: tf.LayersModel, x: tf.Tensor5D, opts: ExplainOptions): Explanation {
  const b = x.shape[0];
  const classes = opts.classes === undefined ? undefined : typeof opts.classes === 'number' ? new Array(b).fill(opts.classes) : opts.classes;
  const inShape = model.inputs[0].shape;
  const want = inShape.slice(1);
  const got = x.shape.slice(1);
  if (want.some((d, i) => d !== null && d !== got[i])) {
    throw new Error(`input shape [${got.join(', ')}] does not match the model's input [${want.map((d) => d ?? '?').join(', ')}]: resample the volume to the model's grid`);
  }
  assertFiniteTensor(x, 'input volume');
  const r = methodDefinition(opts.method).explain(model, x, opts, classes);
  return { maps: r.maps, classes: r.classes, logits: r.logits, relevanceSums: r.relevanceSums ?? r.maps.map(sumValues), audit: r.audit ?? [], rules: r.rules ?? {}, method: opts.method, ...(r.reference ? { reference: r.reference } : {}) };
}

/** Explain volumes `indices` of a dataset in memory-safe batches. */
export function explainDataset(model: tf.LayersModel, ds: VolumeDataset, indices: number[], request: ExplainOptions): Explanation {
  const opts = resolveExplainOptions(request, ds.shape);
  const batch = chooseBatchSize(model, methodDefinition(opts.method).memory, opts.batchSize, opts.batchSize ?? 32);
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
