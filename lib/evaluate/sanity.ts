/**
 * The model-parameter-randomisation sanity check (Adebayo et al. 2018) and class sensitivity (Sixt et al. 2020);
 * definitions and the verdict rule in docs/methods.md.
 *
 * Cascading: re-initialise the top weight layer (Dense), explain, then also the next layer down, and so on to the first
 * convolution; every method gets the full cascade (CAM depends on the convolutions through its feature maps; the
 * thesis's Dense-only CAM variant is `camLayers: 'dense-only'`). Independent: one layer at a time. Re-initialisation:
 * truncated normal, mean 0, std 0.01 (kernels and biases); every randomised weight gets its own non-zero seed
 * (tfjs treats seed 0 as unseeded); the model's weights are restored afterwards.
 *
 * Each randomised heatmap is compared with the original (Spearman on signed and absolute values, Pearson, 3D SSIM).
 * The verdict comes from a null measured in the same run: the heatmaps of the model with EVERY weight layer
 * re-initialised (`nullSeeds` seeds) give the similarity s_null that a map keeps when nothing learned is left
 * (input structure alone). For a step with mean similarity s, the normalised change is
 *     change = (1 - s) / (1 - s_null)         (0: unchanged, 1: as different as a fully random model's map)
 * with a percentile-bootstrap 95 % interval over the volumes. The step is "changed" when the whole interval lies
 * above `threshold` (default 0.5: closer to a random model's map than to the original), "unchanged" when it lies
 * below, "inconclusive" otherwise, and "degenerate" when the maps are constant (similarity undefined). The method
 * passes when its heatmap changes at the first (top-layer) step, fails when it is unchanged there. The thesis's
 * criterion, the first randomised layer at which the heatmap changes, is reported too.
 */
import * as tf from '@tensorflow/tfjs';
import { explainTensor, type ExplainOptions } from '../explain/explain';
import { bootstrap, mean, type Interval } from '../util/stats';
import { similarity, type Shape3, type Similarity } from './similarity';

export interface SanityConfig {
  mode: 'cascading' | 'independent';
  /** Std of the truncated-normal re-initialisation (> 0). */
  std: number;
  /** Integer >= 0; each randomised weight gets seed 1 + (seed * 1009 + layer) * 4 + weight index. */
  seed: number;
  /** Verdict threshold on the normalised change (0 < threshold < 1; default 0.5). */
  threshold: number;
  /** Similarity the verdict is computed on. */
  metric: keyof Similarity;
  /** CAM only: 'all' weight layers (default) or the thesis's 'dense-only' variant. */
  camLayers: 'all' | 'dense-only';
  /** Fully re-initialised models measured for the null (each with other seeds). */
  nullSeeds: number;
  /** Bootstrap resamples of the change interval. */
  resamples: number;
}

export const SANITY_DEFAULTS: SanityConfig = { mode: 'cascading', std: 0.01, seed: 0, threshold: 0.5, metric: 'spearmanAbs', camLayers: 'all', nullSeeds: 2, resamples: 2000 };

export type StepStatus = 'changed' | 'unchanged' | 'inconclusive' | 'degenerate';
export type SanityVerdict = 'pass' | 'fail' | 'inconclusive' | 'degenerate';

export interface SanityStep {
  /** Layers re-initialised at this step. */
  randomised: string[];
  /** Similarity to the original heatmap, per volume (NaN for constant maps). */
  perVolume: Similarity[];
  /** Mean over the volumes with a defined similarity. */
  mean: Similarity;
  /** Normalised change (1 - s) / (1 - s_null) with its bootstrap interval over volumes. */
  change: Interval;
  status: StepStatus;
  /** The first volume's randomised heatmap (for figures). */
  firstMap: Float32Array;
}

export interface SanityResult {
  method: string;
  composite?: string;
  mode: SanityConfig['mode'];
  camLayers: SanityConfig['camLayers'];
  reinitialisation: string;
  metric: keyof Similarity;
  threshold: number;
  /** The rule the verdict follows, in words. */
  criterion: string;
  verdict: SanityVerdict;
  /** The thesis's criterion: the first randomised layer (cascading) at which the heatmap counts as changed. */
  firstChangedLayer: string | null;
  /** Similarity of the original to the maps of fully re-initialised models (mean over seeds per volume). */
  null: { perVolume: number[]; mean: number; seeds: number };
  original: Float32Array;
  steps: SanityStep[];
  classes: number[];
}

/** Check and complete a sanity configuration; errors name the field. */
export function resolveSanityConfig(config: Partial<SanityConfig>): SanityConfig {
  const cfg: SanityConfig = { ...SANITY_DEFAULTS, ...config };
  if (cfg.mode !== 'cascading' && cfg.mode !== 'independent') throw new Error(`mode ${cfg.mode}: use cascading or independent`);
  if (!(cfg.std > 0) || !Number.isFinite(cfg.std)) throw new Error(`std ${cfg.std}: must be a number > 0`);
  if (!Number.isInteger(cfg.seed) || cfg.seed < 0) throw new Error(`seed ${cfg.seed}: must be an integer >= 0`);
  if (!(cfg.threshold > 0 && cfg.threshold < 1)) throw new Error(`threshold ${cfg.threshold}: the normalised change lies in [0, 1]; use a threshold strictly between 0 and 1 (default 0.5)`);
  if (!['spearman', 'spearmanAbs', 'pearson', 'ssim'].includes(cfg.metric)) throw new Error(`metric ${cfg.metric}: use spearman, spearmanAbs, pearson or ssim`);
  if (cfg.camLayers !== 'all' && cfg.camLayers !== 'dense-only') throw new Error(`camLayers ${cfg.camLayers}: use all or dense-only`);
  if (!Number.isInteger(cfg.nullSeeds) || cfg.nullSeeds < 1) throw new Error(`nullSeeds ${cfg.nullSeeds}: must be an integer >= 1`);
  if (!Number.isInteger(cfg.resamples) || cfg.resamples < 100) throw new Error(`resamples ${cfg.resamples}: must be an integer >= 100`);
  return cfg;
}

function meanSim(s: Similarity[]): Similarity {
  const m = (k: keyof Similarity) => mean(s.map((x) => x[k]).filter((v) => Number.isFinite(v)));
  return { spearman: m('spearman'), spearmanAbs: m('spearmanAbs'), pearson: m('pearson'), ssim: m('ssim') };
}

/** Weight layers from the top (Dense) down to the first convolution. */
export function weightLayersTopDown(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === 'Dense' || l.getClassName() === 'Conv3D').reverse();
}

/** The seed of weight `j` of model layer `layerIndex` under run seed `seed`: distinct and never 0. */
export function layerSeed(seed: number, layerIndex: number, j: number): number {
  return 1 + (seed * 1009 + layerIndex) * 4 + j;
}

function randomise(model: tf.LayersModel, layers: tf.layers.Layer[], std: number, seed: number): void {
  for (const t of layers) {
    const li = model.layers.indexOf(t);
    const ws = t.getWeights();
    const fresh = ws.map((w, j) => tf.truncatedNormal(w.shape, 0, std, 'float32', layerSeed(seed, li, j)));
    t.setWeights(fresh);
    tf.dispose(fresh);
  }
}

/** Status of a step from its change interval. */
export function stepStatus(change: Interval, threshold: number): StepStatus {
  if (!Number.isFinite(change.estimate) || !Number.isFinite(change.lo) || !Number.isFinite(change.hi)) return 'degenerate';
  if (change.lo > threshold) return 'changed';
  if (change.hi < threshold) return 'unchanged';
  return 'inconclusive';
}

/**
 * Normalised change (1 - mean s) / (1 - mean s_null) over volumes, bootstrapped over volumes (pairs kept together).
 * Volumes whose similarity or null is undefined are left out; none left: NaN (degenerate).
 */
export function normalisedChange(sim: number[], nul: number[], resamples: number, seed: number): Interval {
  const ok = sim.map((_, i) => i).filter((i) => Number.isFinite(sim[i]) && Number.isFinite(nul[i]));
  if (ok.length === 0) return { estimate: NaN, lo: NaN, hi: NaN, n: 0 };
  const stat = (idx: number[]) => {
    const s = mean(idx.map((i) => sim[ok[i]]));
    const z = mean(idx.map((i) => nul[ok[i]]));
    return 1 - z > 1e-9 ? (1 - s) / (1 - z) : NaN;
  };
  return bootstrap(ok.length, stat, { resamples, seed: seed + 17 });
}

export function sanityCheck(model: tf.LayersModel, x: tf.Tensor5D, explain: ExplainOptions, config: Partial<SanityConfig> = {}): SanityResult {
  const cfg = resolveSanityConfig(config);
  const shape: Shape3 = [x.shape[1], x.shape[2], x.shape[3]];
  const original = explainTensor(model, x, explain);
  const classes = original.classes;
  const all = weightLayersTopDown(model);
  const layers = explain.method === 'cam' && cfg.camLayers === 'dense-only' ? all.slice(0, 1) : all;
  const saved = model.layers.map((l) => l.getWeights().map((w) => w.clone()));
  const restore = () => model.layers.forEach((l, i) => l.setWeights(saved[i]));
  const metricOf = (s: Similarity[]) => s.map((v) => v[cfg.metric]);
  const steps: SanityStep[] = [];
  let nullPerVolume: number[] = [];
  try {
    // The null: every weight layer re-initialised, with seeds no step uses.
    const nullRuns: number[][] = [];
    for (let t = 0; t < cfg.nullSeeds; t++) {
      restore();
      randomise(model, all, cfg.std, cfg.seed + 7919 * (t + 1));
      const r = explainTensor(model, x, { ...explain, classes });
      nullRuns.push(metricOf(r.maps.map((m, v) => similarity(original.maps[v], m, shape))));
    }
    nullPerVolume = original.maps.map((_, v) => mean(nullRuns.map((run) => run[v]).filter((z) => Number.isFinite(z))));
    restore();
    layers.forEach((layer, k) => {
      if (cfg.mode === 'independent') restore();
      const targets = cfg.mode === 'cascading' ? layers.slice(0, k + 1) : [layer];
      randomise(model, cfg.mode === 'cascading' ? [layer] : targets, cfg.std, cfg.seed);
      const r = explainTensor(model, x, { ...explain, classes });
      const perVolume = r.maps.map((m, v) => similarity(original.maps[v], m, shape));
      const change = normalisedChange(metricOf(perVolume), nullPerVolume, cfg.resamples, cfg.seed * 31 + k);
      steps.push({ randomised: targets.map((t) => t.name), perVolume, mean: meanSim(perVolume), change, status: stepStatus(change, cfg.threshold), firstMap: r.maps[0] });
    });
  } finally {
    restore();
    saved.flat().forEach((t) => t.dispose());
  }
  const top = steps[0]?.status ?? 'degenerate';
  const verdict: SanityVerdict = top === 'changed' ? 'pass' : top === 'unchanged' ? 'fail' : top;
  const first = cfg.mode === 'cascading' ? steps.find((s) => s.status === 'changed') : undefined;
  const nullMean = mean(nullPerVolume.filter((z) => Number.isFinite(z)));
  return {
    method: explain.method,
    composite: explain.composite,
    mode: cfg.mode,
    camLayers: cfg.camLayers,
    reinitialisation: `truncated normal, mean 0, std ${cfg.std}, seeds 1 + (${cfg.seed} * 1009 + layer) * 4 + weight (kernels and biases)`,
    metric: cfg.metric,
    threshold: cfg.threshold,
    criterion: `change = (1 - ${cfg.metric}) / (1 - null ${cfg.metric}), null = ${cfg.nullSeeds} fully re-initialised models; a step is changed when the 95 % bootstrap interval of change over volumes lies above ${cfg.threshold}, unchanged when below; pass = changed at the top-layer step`,
    verdict,
    firstChangedLayer: first ? first.randomised[first.randomised.length - 1] : null,
    null: { perVolume: nullPerVolume, mean: nullMean, seeds: cfg.nullSeeds },
    original: original.maps[0],
    steps,
    classes,
  };
}

/** Similarity between the heatmaps of the top and the second most likely class, per volume (Sixt et al. 2020). */
export function classSensitivity(model: tf.LayersModel, x: tf.Tensor5D, explain: ExplainOptions): { perVolume: Similarity[]; mean: Similarity; classes: [number, number][] } {
  const logits = tf.tidy(() => (model.predict(x) as tf.Tensor2D).arraySync() as number[][]);
  const pairs = logits.map((row) => {
    const order = row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
    return [order[0][1], order[1][1]] as [number, number];
  });
  const a = explainTensor(model, x, { ...explain, classes: pairs.map((p) => p[0]) });
  const b = explainTensor(model, x, { ...explain, classes: pairs.map((p) => p[1]) });
  const shape: Shape3 = [x.shape[1], x.shape[2], x.shape[3]];
  const perVolume = a.maps.map((m, i) => similarity(m, b.maps[i], shape));
  return { perVolume, mean: meanSim(perVolume), classes: pairs };
}
