/**
 * Evaluation metrics by name, in one shape (as Quantus's metrics): defaults, a resolve step that completes and checks a
 * partial configuration (errors name the field), and evaluate: model + volumes + maps (+ targets, ground truth) -> one
 * score per volume, NaN where the score is undefined. The built-ins are registered here exactly as a user's metric
 * would be (registerMetric, from a file or a notebook cell); docs/methods.md defines each.
 *
 *   aopc                      area over the MoRF perturbation curve at L (lib/evaluate/aopc.ts; needs the model)
 *   relevance-mass-accuracy   share of positive relevance inside the ground-truth region
 *   relevance-rank-accuracy   share of the top-|region| voxels inside it
 *   pointing-game             1 when a maximum lies inside the region dilated by toleranceVoxels, else 0
 *   inside-mask               share of positive relevance inside a mask (the shortcut audit: the brain)
 */
import type * as tf from '@tensorflow/tfjs';
import { aopc, AOPC_DEFAULTS, resolveAopcConfig, type AopcConfig } from './aopc';
import { NamedRegistry } from '../util/registry';
import { localisationOf, positiveShareInside, regionContext, type RegionContext, type Shape3 } from './localisation';

/** What a metric is evaluated on: volumes, their maps and targets, and what the metric needs besides. */
export interface MetricInput {
  shape: Shape3;
  /** One [D, H, W] volume (single channel) and one map per item. */
  volumes: Float32Array[];
  maps: Float32Array[];
  /** The explained class per item. */
  classes: number[];
  /** For metrics that re-run the model (perturbation metrics). */
  model?: tf.LayersModel;
  /** Ground-truth region per item (> 0 inside; null: none), for localisation metrics. */
  regions?: (ArrayLike<number> | null)[];
  /** A mask per item (e.g. the brain): the chance levels of localisation metrics, the mask of inside-mask. */
  masks?: (ArrayLike<number> | null)[];
}

export interface MetricDefinition<C extends object = Record<string, unknown>> {
  name: string;
  /** What evaluate reads besides volumes, maps and classes. */
  needs: ('model' | 'regions' | 'masks')[];
  /** Whether a higher score is a better explanation. */
  higherIsBetter: boolean;
  defaults: C;
  /** The complete configuration from a partial one (defaults filled, every field checked; errors name the field). */
  resolve(partial: Partial<C>, shape: Shape3): C;
  /** One score per item (NaN where undefined, e.g. an empty region). */
  evaluate(input: MetricInput, config: C): number[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const METRICS = new NamedRegistry<MetricDefinition<any>>('metric', 'registerMetric');

export function registerMetric<C extends object>(def: MetricDefinition<C>, opts: { replace?: boolean } = {}): void {
  METRICS.checkName(def.name, opts.replace);
  for (const n of def.needs) if (n !== 'model' && n !== 'regions' && n !== 'masks') throw new Error(`registerMetric ${def.name}: unknown need "${n}" (model, regions or masks)`);
  METRICS.add(def.name, def);
}

export function metricNames(): string[] {
  return METRICS.names();
}

export function metricDefinition(name: string): MetricDefinition {
  return METRICS.get(name);
}

/** For cache keys: the source of a user-registered metric (null for a built-in one). */
export function userMetricDefinition(name: string): string | null {
  const def = METRICS.find(name);
  return def && !BUILT_IN.has(name) ? `${def.resolve.toString()}\n${def.evaluate.toString()}` : null;
}

/**
 * Score `input` with metric `name` under a partial configuration: the input is checked (one map per volume, each of
 * the volume's size; what the metric needs is there), the configuration resolved; returns the scores and the
 * resolved configuration (what a result file or cache key records).
 */
export function evaluateMetric(name: string, input: MetricInput, partial: Record<string, unknown> = {}): { scores: number[]; config: Record<string, unknown> } {
  const def = metricDefinition(name);
  const n = input.shape[0] * input.shape[1] * input.shape[2];
  if (input.maps.length !== input.volumes.length || input.classes.length !== input.volumes.length) throw new Error(`metric ${name}: ${input.volumes.length} volumes, ${input.maps.length} maps and ${input.classes.length} classes: give one of each per item`);
  input.volumes.forEach((v, i) => {
    if (v.length !== n) throw new Error(`metric ${name}: volume ${i} has ${v.length} voxels, the shape ${input.shape.join('x')} has ${n}`);
    if (input.maps[i].length !== n) throw new Error(`metric ${name}: map ${i} has ${input.maps[i].length} voxels, the shape ${input.shape.join('x')} has ${n}`);
  });
  for (const need of def.needs) {
    const v = input[need];
    if (v === undefined || (Array.isArray(v) && v.length !== input.volumes.length)) throw new Error(`metric ${name} needs ${need}${Array.isArray(v) ? ` (one per volume: got ${v.length} for ${input.volumes.length})` : ''}`);
  }
  const config = def.resolve(partial, input.shape);
  const scores = def.evaluate(input, config);
  if (scores.length !== input.volumes.length) throw new Error(`metric ${name} returned ${scores.length} scores for ${input.volumes.length} volumes`);
  return { scores, config: config as Record<string, unknown> };
}

// ------------------------------------------------------------------ the built-in metrics

const BUILT_IN = new Set<string>();

function builtIn<C extends object>(def: MetricDefinition<C>): void {
  registerMetric(def);
  BUILT_IN.add(def.name);
}

builtIn<AopcConfig>({
  name: 'aopc',
  needs: ['model'],
  higherIsBetter: true,
  defaults: AOPC_DEFAULTS,
  resolve: (partial, shape) => resolveAopcConfig(partial, shape),
  evaluate: (input, cfg) => {
    const r = aopc(input.model!, input.volumes, input.shape, input.maps, cfg, input.classes);
    return r.perImage.map((curve) => curve[curve.length - 1]);
  },
});

interface LocalisationConfig {
  /** Pointing game: how far (voxels, 6-connected dilation) from the region a maximum may lie. */
  toleranceVoxels: number;
}

function resolveTolerance(partial: Partial<LocalisationConfig>): LocalisationConfig {
  const t = partial.toleranceVoxels ?? 2;
  if (!Number.isInteger(t) || t < 0) throw new Error(`toleranceVoxels ${t}: must be an integer >= 0`);
  for (const k of Object.keys(partial)) if (k !== 'toleranceVoxels') throw new Error(`${k}: not an option of the localisation metrics (toleranceVoxels)`);
  return { toleranceVoxels: t };
}

function contexts(input: MetricInput, cfg: LocalisationConfig): (RegionContext | null)[] {
  return input.regions!.map((r, i) => (r ? regionContext(r, input.shape, cfg.toleranceVoxels, input.masks?.[i] ?? undefined) : null));
}

for (const [name, field] of [
  ['relevance-mass-accuracy', 'relevanceMassAccuracy'],
  ['relevance-rank-accuracy', 'relevanceRankAccuracy'],
  ['pointing-game', 'pointingGame'],
] as const) {
  builtIn<LocalisationConfig>({
    name,
    needs: ['regions'],
    higherIsBetter: true,
    defaults: { toleranceVoxels: 2 },
    resolve: resolveTolerance,
    evaluate: (input, cfg) => contexts(input, cfg).map((ctx, i) => (ctx ? localisationOf(input.maps[i], ctx)[field] : NaN)),
  });
}

builtIn<Record<string, never>>({
  name: 'inside-mask',
  needs: ['masks'],
  higherIsBetter: true,
  defaults: {},
  resolve: (partial) => {
    for (const k of Object.keys(partial)) throw new Error(`${k}: inside-mask has no options`);
    return {};
  },
  evaluate: (input) => input.maps.map((m, i) => (input.masks![i] ? positiveShareInside(m, input.masks![i]!) : NaN)),
});
