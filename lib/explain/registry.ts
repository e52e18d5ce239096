/**
 * The explanation methods by name (Zennit / Captum shaped: model + volumes + targets + options -> one map per volume).
 * The built-in ones are registered here exactly as a user's would be (registerMethod, from a file or a notebook cell).
 */
import type * as tf from '@tensorflow/tfjs';
import { cam, gradCam, gradients } from './cam';
import { gradCamPlusPlus, integratedGradients, occlusion, smoothGrad } from './attribution';
import { lrp, type LayerAudit } from './lrp/lrp';
import { METHOD_OPTIONS, METHODS, type ExplainOptions, type MethodOption } from './options';
import { NamedRegistry } from '../util/registry';

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

const METHOD_REGISTRY = new NamedRegistry<MethodDefinition>('method', 'registerMethod');

/** Make a method available by name to explainTensor / explainDataset / cachedExplanation (and so to AOPC and sanity checks). */
export function registerMethod(def: MethodDefinition, opts: { replace?: boolean } = {}): void {
  METHOD_REGISTRY.checkName(def.name, opts.replace);
  for (const o of def.options) if (!(METHOD_OPTIONS as readonly string[]).includes(o)) throw new Error(`registerMethod ${def.name}: unknown option "${o}"; options are ${METHOD_OPTIONS.join(', ')}`);
  if (def.memory !== 'gradient' && def.memory !== 'lrp') throw new Error(`registerMethod ${def.name}: memory must be "gradient" or "lrp"`);
  METHOD_REGISTRY.add(def.name, def);
}

/** For cache keys: the source of a user-registered method's explain function (null for a built-in one). */
export function userMethodDefinition(name: string): string | null {
  const def = METHOD_REGISTRY.find(name);
  return def && !(METHODS as readonly string[]).includes(name) ? def.explain.toString() : null;
}

/** The registered method names, built-in ones first. */
export function methodNames(): string[] {
  return METHOD_REGISTRY.names();
}

/** The registered methods that read option `k`. */
export function methodsTaking(k: MethodOption): string[] {
  return METHOD_REGISTRY.values().filter((d) => d.options.includes(k)).map((d) => d.name);
}

/** The definition of a registered method, or an error naming the registered ones. */
export function methodDefinition(m: string): MethodDefinition {
  return METHOD_REGISTRY.get(m);
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
