/**
 * The model-parameter-randomisation sanity check (Adebayo et al. 2018) and class sensitivity (Sixt et al. 2020).
 *
 * Cascading: re-initialise the top weight layer (Dense), explain, then also the next layer down, and so on to the first
 * convolution. Independent: one layer at a time. Re-initialisation: truncated normal, mean 0, std 0.01 (kernels and
 * biases), seeded per layer; the model's weights are restored afterwards. For CAM only the Dense layer matters (one
 * step). Each randomised heatmap is compared with the original (Spearman on signed and absolute values, Pearson, 3D
 * SSIM). Verdict: a method passes when the mean absolute-value Spearman correlation after randomising the top layer
 * is below the threshold (default 0.5): its heatmaps depend on what the model learned. Known result: alpha1beta0 (z+)
 * fails on deep models, CAM passes.
 */
import * as tf from '@tensorflow/tfjs';
import { explainTensor, type ExplainOptions } from '../explain/explain';
import { similarity, type Shape3, type Similarity } from './similarity';

export interface SanityConfig {
  mode: 'cascading' | 'independent';
  /** Std of the truncated-normal re-initialisation. */
  std: number;
  seed: number;
  /** Verdict threshold on the mean |Spearman| after the top-layer step. */
  threshold: number;
}

export const SANITY_DEFAULTS: SanityConfig = { mode: 'cascading', std: 0.01, seed: 0, threshold: 0.5 };

export interface SanityStep {
  /** Layers re-initialised at this step. */
  randomised: string[];
  /** Similarity to the original heatmap, per volume. */
  perVolume: Similarity[];
  mean: Similarity;
  /** The first volume's randomised heatmap (for figures). */
  firstMap: Float32Array;
}

export interface SanityResult {
  method: string;
  composite?: string;
  mode: SanityConfig['mode'];
  reinitialisation: string;
  threshold: number;
  verdict: 'pass' | 'fail';
  original: Float32Array;
  steps: SanityStep[];
  classes: number[];
}

function meanSim(s: Similarity[]): Similarity {
  const m = (k: keyof Similarity) => s.reduce((a, x) => a + x[k], 0) / s.length;
  return { spearman: m('spearman'), spearmanAbs: m('spearmanAbs'), pearson: m('pearson'), ssim: m('ssim') };
}

/** Weight layers from the top (Dense) down to the first convolution. */
export function weightLayersTopDown(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() === 'Dense' || l.getClassName() === 'Conv3D').reverse();
}

export function sanityCheck(model: tf.LayersModel, x: tf.Tensor5D, explain: ExplainOptions, config: Partial<SanityConfig> = {}): SanityResult {
  const cfg: SanityConfig = { ...SANITY_DEFAULTS, ...config };
  if (cfg.mode !== 'cascading' && cfg.mode !== 'independent') throw new Error(`--mode ${cfg.mode}: use cascading or independent`);
  const shape: Shape3 = [x.shape[1], x.shape[2], x.shape[3]];
  const original = explainTensor(model, x, explain);
  const classes = original.classes;
  let layers = weightLayersTopDown(model);
  if (explain.method === 'cam') layers = layers.slice(0, 1);
  const saved = model.layers.map((l) => l.getWeights().map((w) => w.clone()));
  const steps: SanityStep[] = [];
  try {
    layers.forEach((layer, k) => {
      if (cfg.mode === 'independent') model.layers.forEach((l, i) => l.setWeights(saved[i]));
      const targets = cfg.mode === 'cascading' ? layers.slice(0, k + 1) : [layer];
      for (const t of targets) {
        const li = model.layers.indexOf(t);
        const ws = t.getWeights();
        t.setWeights(ws.map((w, j) => tf.truncatedNormal(w.shape, 0, cfg.std, 'float32', cfg.seed * 1000 + li * 10 + j)));
      }
      const r = explainTensor(model, x, { ...explain, classes });
      const perVolume = r.maps.map((m, v) => similarity(original.maps[v], m, shape));
      steps.push({ randomised: targets.map((t) => t.name), perVolume, mean: meanSim(perVolume), firstMap: r.maps[0] });
    });
  } finally {
    model.layers.forEach((l, i) => l.setWeights(saved[i]));
    saved.flat().forEach((t) => t.dispose());
  }
  const top = steps[0]?.mean.spearmanAbs ?? 1;
  return {
    method: explain.method,
    composite: explain.composite,
    mode: cfg.mode,
    reinitialisation: `truncated normal, mean 0, std ${cfg.std}, seed ${cfg.seed} (kernels and biases)`,
    threshold: cfg.threshold,
    verdict: Math.abs(top) < cfg.threshold ? 'pass' : 'fail',
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
