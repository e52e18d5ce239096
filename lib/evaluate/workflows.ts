/**
 * Evaluation as the notebooks use it: cached AOPC and sanity-check runs on a trained fold's test volumes, localisation
 * scores on phantoms, and their figures.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cachedRun } from '../cache/results';
import type { VolumeDataset } from '../data/dataset';
import { cachedExplanation, EXPLAIN_CODE_VERSION, explanationKey } from '../explain/cached';
import type { ExplainOptions } from '../explain/explain';
import { batchTensor } from '../data/dataset';
import { loadFoldModel, type TrainSummary } from '../training/train';
import { configHash } from '../util/hash';
import type { Figure, Trace } from '../viz/plotly';
import { slicePlane, RELEVANCE_COLORSCALE, absPercentile } from '../viz/volume';
import { bootstrap, mean, type Interval } from '../util/stats';
import { aopc, perturbLabel, resolveAopcConfig, type AopcConfig, type AopcResult } from './aopc';
import { localisationOf, positiveShareInside, regionContext, relevancePerRegion, type LocalisationScores, type RegionContext } from './localisation';
import { sanityCheck, classSensitivity, resolveSanityConfig, type SanityConfig, type SanityVerdict, type StepStatus } from './sanity';
import type { Similarity } from './similarity';

/**
 * Version of each cached computation: bumped whenever what it computes changes, so older results are not read back.
 * Their keys also hold the explanation code's version (a changed explanation changes what AOPC and sanity measure).
 */
export const EVALUATION_VERSIONS = { aopc: 2, sanity: 2 } as const;

export function methodLabel(e: ExplainOptions): string {
  if (e.method === 'lrp') return `LRP ${e.composite ?? 'rules'}`;
  if (e.method === 'cam') return 'CAM';
  // The parameters that change what the method measures are part of its name in tables.
  if (e.method === 'integrated-gradients' && e.baseline !== undefined) return `integrated-gradients (baseline ${e.baseline})`;
  if (e.method === 'smoothgrad' && e.samples !== undefined) return `smoothgrad (${e.samples} samples)`;
  if (e.method === 'occlusion' && (e.window !== undefined || e.baseline !== undefined)) return `occlusion (window ${e.window ?? 8}, stride ${e.stride ?? 4}, baseline ${e.baseline ?? 0})`;
  return e.method;
}

/** AOPC of a fold's model and a method on `indices`, cached (heatmaps cached separately). */
export async function cachedAopc(run: TrainSummary, fold: number, ds: VolumeDataset, indices: number[], explain: ExplainOptions, partial: Partial<AopcConfig>): Promise<AopcResult> {
  // The key holds the resolved configuration, so {strideVoxels: 4} and {strideVoxels: 4, steps: <default>} are one run.
  const cfg = resolveAopcConfig(partial, ds.shape);
  const config = { version: EVALUATION_VERSIONS.aopc, explainCode: EXPLAIN_CODE_VERSION, run: path.basename(run.runDir), fold, dataset: ds.name, ids: configHash(indices.map((i) => ds.ids[i])), explain: explanationKey(explain, ds.shape), cfg };
  const res = await cachedRun('aopc', config, async (ctx) => {
    const e = await cachedExplanation(run, fold, ds, indices, explain);
    const model = await loadFoldModel(run, fold);
    try {
      return await ctx.time('aopc', () => aopc(model, indices.map((i) => ds.volume(i)), ds.shape, e.maps, cfg, e.classes));
    } finally {
      model.dispose();
    }
  });
  return res.result;
}

/** AOPC curves (mean over images) with bands of +-1 standard deviation over images; a label containing "random" is drawn dashed. */
export function aopcFigure(results: { label: string; result: AopcResult }[], title: string): Figure {
  const Ls = [...new Set(results.map((r) => r.result.config.steps))];
  if (Ls.length > 1) throw new Error(`aopcFigure: curves with different L (${Ls.join(', ')}) cannot be compared in one figure`);
  const palette = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  const data: Trace[] = [];
  results.forEach(({ label, result }, i) => {
    const k = result.curve.map((_, j) => j);
    const c = palette[i % palette.length];
    data.push({ x: [...k, ...k.slice().reverse()], y: [...result.curve.map((v, j) => v + result.curveStd[j]), ...result.curve.map((v, j) => v - result.curveStd[j]).reverse()], fill: 'toself', fillcolor: c + '22', line: { width: 0 }, hoverinfo: 'skip', showlegend: false, type: 'scatter' });
    data.push({ x: k, y: result.curve, type: 'scatter', mode: 'lines', name: `${label} (${result.aopc.toFixed(3)})`, line: { color: /random/i.test(label) ? '#555555' : c, dash: /random/i.test(label) ? 'dash' : 'solid' } });
  });
  const r0 = results[0]?.result;
  const sub = r0 ? `L = ${r0.config.steps}, cube side ${r0.config.strideVoxels}, ${perturbLabel(r0.config.perturb)}; bands: +-1 SD over ${r0.perImage.length} volumes` : '';
  return { data, layout: { title: { text: `${title}<br><sub>${sub}</sub>` }, xaxis: { title: { text: 'perturbation step k' } }, yaxis: { title: { text: `AOPC(k) (${r0?.config.score === 'logit' ? 'logit' : 'probability'} drop)` } }, height: 400 } };
}

export interface SanitySummary {
  method: string;
  verdict: SanityVerdict;
  threshold: number;
  metric: keyof Similarity;
  criterion: string;
  firstChangedLayer: string | null;
  nullMean: number;
  steps: { randomised: string[]; mean: Similarity; change: Interval; status: StepStatus }[];
  classSensitivity: Similarity;
  reinitialisation: string;
  camLayers: SanityConfig['camLayers'];
  /** Files with the first volume's original and randomised maps (float32). */
  mapsFile: string;
}

/** The cascading sanity check of a fold's model and a method on `indices`, cached. */
export async function cachedSanity(run: TrainSummary, fold: number, ds: VolumeDataset, indices: number[], explain: ExplainOptions, partial: Partial<SanityConfig> = {}): Promise<SanitySummary & { maps: Float32Array[] }> {
  const cfg = resolveSanityConfig(partial);
  const config = { version: EVALUATION_VERSIONS.sanity, explainCode: EXPLAIN_CODE_VERSION, run: path.basename(run.runDir), fold, dataset: ds.name, ids: configHash(indices.map((i) => ds.ids[i])), explain: explanationKey(explain, ds.shape), cfg };
  const n = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const res = await cachedRun('sanity', config, async (ctx) => {
    const model = await loadFoldModel(run, fold);
    const x = batchTensor(ds, indices);
    try {
      const r = await ctx.time('sanity', () => sanityCheck(model, x, explain, cfg));
      const cs = classSensitivity(model, x, explain);
      const all = new Float32Array((r.steps.length + 1) * n);
      all.set(r.original, 0);
      r.steps.forEach((s, k) => all.set(s.firstMap, (k + 1) * n));
      fs.writeFileSync(path.join(ctx.dir, 'maps.f32'), Buffer.from(all.buffer));
      const summary: SanitySummary = {
        method: methodLabel(explain),
        verdict: r.verdict,
        threshold: r.threshold,
        metric: r.metric,
        criterion: r.criterion,
        firstChangedLayer: r.firstChangedLayer,
        nullMean: r.null.mean,
        steps: r.steps.map((s) => ({ randomised: s.randomised, mean: s.mean, change: s.change, status: s.status })),
        classSensitivity: cs.mean,
        reinitialisation: r.reinitialisation,
        camLayers: r.camLayers,
        mapsFile: 'maps.f32',
      };
      return summary;
    } finally {
      x.dispose();
      model.dispose();
    }
  });
  const buf = fs.readFileSync(path.join(res.dir, 'maps.f32'));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const maps = Array.from({ length: all.length / n }, (_, k) => all.slice(k * n, (k + 1) * n));
  return { ...res.result, maps };
}

/** Words for a similarity metric (axis titles, captions). */
export const SIMILARITY_WORDS: Record<keyof Similarity, string> = {
  spearman: 'Spearman rank correlation with the original',
  spearmanAbs: 'Spearman rank correlation of |relevance| with the original',
  pearson: 'Pearson correlation with the original',
  ssim: 'structural similarity (3D SSIM) with the original',
};

/** A grid: one row per method, the original heatmap then each cascading step, one slice (plane at depth `d`); every panel labelled, one colour bar. */
export function sanityGridFigure(rows: { label: string; maps: Float32Array[]; steps: string[] }[], shape: [number, number, number], d: number, title: string): Figure {
  const cols = Math.max(...rows.map((r) => r.maps.length));
  const data: Trace[] = [];
  const layout: Record<string, unknown> = { title: { text: `${title}<br><sub>each panel scaled to its own 99.5th percentile of |relevance|; red positive, blue negative</sub>` }, height: 170 * rows.length + 110, margin: { l: 130, r: 80, t: 90, b: 10 }, showlegend: false, annotations: [] as unknown[] };
  rows.forEach((row, ri) => {
    row.maps.forEach((m, ci) => {
      const k = ri * cols + ci + 1;
      const clip = absPercentile(m, 99.5) || 1;
      const first = ri === 0 && ci === 0;
      data.push({ type: 'heatmap', z: slicePlane(m, shape, 0, d).map((r) => r.map((v) => Math.max(-1, Math.min(1, v / clip)))), zmin: -1, zmax: 1, colorscale: RELEVANCE_COLORSCALE, showscale: first, ...(first ? { colorbar: { title: { text: 'relevance / p99.5' }, len: 0.6 } } : {}), xaxis: `x${k}`, yaxis: `y${k}` });
      const x0 = ci / cols;
      const y1 = 1 - ri / rows.length;
      layout[`xaxis${k}`] = { domain: [x0 + 0.005, x0 + 1 / cols - 0.005], showticklabels: false, ticks: '', anchor: `y${k}` };
      layout[`yaxis${k}`] = { domain: [y1 - 1 / rows.length + 0.04, y1 - 0.02], showticklabels: false, ticks: '', anchor: `x${k}`, autorange: 'reversed', scaleanchor: `x${k}` };
      (layout.annotations as unknown[]).push({ text: ci === 0 ? 'original' : `randomised<br>to ${row.steps[ci - 1]}`, x: x0 + 0.5 / cols, y: y1 - 0.015, yanchor: 'bottom', xref: 'paper', yref: 'paper', showarrow: false, font: { size: 9 } });
    });
    (layout.annotations as unknown[]).push({ text: row.label, x: -0.01, y: 1 - (ri + 0.5) / rows.length, xref: 'paper', yref: 'paper', showarrow: false, xanchor: 'right', font: { size: 11 } });
  });
  return { data, layout };
}

/** Similarity to the original heatmap per cascading step, one line per method, with its fully-randomised null dotted. */
export function sanityCurvesFigure(results: SanitySummary[], metric: keyof Similarity = 'spearmanAbs', title = 'Cascading randomisation'): Figure {
  const palette = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const data: Trace[] = [];
  results.forEach((r, i) => {
    const x = r.steps.map((s) => s.randomised[s.randomised.length - 1]);
    const c = palette[i % palette.length];
    data.push({ type: 'scatter', mode: 'lines+markers', x, y: r.steps.map((s) => s.mean[metric]), name: `${r.method}: ${r.verdict}${r.firstChangedLayer ? `, changes at ${r.firstChangedLayer}` : ''}`, line: { color: c } });
    if (metric === r.metric) data.push({ type: 'scatter', mode: 'lines', x, y: x.map(() => r.nullMean), name: `${r.method}: null (fully randomised model)`, line: { color: c, dash: 'dot', width: 1 }, showlegend: i === 0 });
  });
  return {
    data,
    layout: { title: { text: `${title}<br><sub>dotted: the same similarity for a model with every layer re-initialised (the null)</sub>` }, xaxis: { title: { text: 'randomised from the top down to layer' } }, yaxis: { title: { text: SIMILARITY_WORDS[metric] }, range: [-0.2, 1.05] }, height: 420 },
  };
}

export interface LocalisationRow extends LocalisationScores {
  id: string;
  /** The subject (bootstrap unit). */
  group: string;
  label: string;
  predicted: string;
  correct: boolean;
  /** Share of positive relevance inside the brain (the shortcut audit); NaN without a brain mask. */
  insideBrain: number;
}

/**
 * Localisation scores of explanations against a dataset's ground truth (volumes without ground truth are skipped).
 * Chance levels are shares of the brain when the dataset has a brain mask (phantoms), else of the volume. `labels`
 * restricts the ground truth to those label values (e.g. [1, 2, 3]: the mesial temporal lobe).
 */
export function localisationRows(ds: VolumeDataset, indices: number[], maps: Float32Array[], classes: number[], toleranceVoxels = 2, labels?: number[]): LocalisationRow[] {
  const rows: LocalisationRow[] = [];
  indices.forEach((vi, k) => {
    const ctx = sessionRegion(ds, vi, toleranceVoxels, labels);
    if (!ctx) return;
    const s = localisationOf(maps[k], ctx);
    rows.push({ ...s, id: ds.ids[vi], group: ds.groups[vi], label: ds.classNames[ds.labels[vi]], predicted: ds.classNames[classes[k]], correct: classes[k] === ds.labels[vi], insideBrain: ctx.brain ? positiveShareInside(maps[k], ctx.brain) : NaN });
  });
  return rows;
}

/** Region contexts kept per dataset (every method's maps of a session are scored against the same one). */
const REGION_CACHE_BYTES = 512 * 2 ** 20;
const regionCache = new WeakMap<VolumeDataset, Map<string, RegionContext & { brain: ArrayLike<number> | null }>>();

/** The ground truth of session `vi` as a region context (with its brain mask), or null without ground truth. */
function sessionRegion(ds: VolumeDataset, vi: number, toleranceVoxels: number, labels?: number[]): (RegionContext & { brain: ArrayLike<number> | null }) | null {
  let cache = regionCache.get(ds);
  if (!cache) regionCache.set(ds, (cache = new Map()));
  const key = `${vi}|${toleranceVoxels}|${labels?.join(',') ?? '*'}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const full = ds.groundTruth?.(vi);
  if (!full) return null;
  const gt = labels ? Uint8Array.from(full, (v) => (labels.includes(v) ? 1 : 0)) : full;
  const brain = ds.brainMask?.(vi) ?? null;
  const ctx = { ...regionContext(gt, ds.shape, toleranceVoxels, brain ?? undefined), brain };
  const bytes = 3 * full.length;
  while (cache.size > 0 && (cache.size + 1) * bytes > REGION_CACHE_BYTES) cache.delete(cache.keys().next().value as string);
  cache.set(key, ctx);
  return ctx;
}

/** A score averaged over sessions with a bootstrap interval over subjects (all sessions of a drawn subject come along). */
export function subjectBootstrap(rows: LocalisationRow[], value: (r: LocalisationRow) => number, seed = 0): Interval {
  const ok = rows.filter((r) => Number.isFinite(value(r)));
  const subjects = [...new Set(ok.map((r) => r.group))];
  const members = subjects.map((g) => ok.filter((r) => r.group === g));
  return bootstrap(subjects.length, (idx) => mean(idx.flatMap((i) => members[i].map(value))), { seed: seed + 99 });
}

export interface LocalisationSummary {
  sessions: number;
  subjects: number;
  massAccuracy: Interval;
  rankAccuracy: Interval;
  pointingGame: Interval;
  chanceMass: number;
  chancePointing: number;
  insideBrain: Interval;
}

/** Mean scores of `rows` with subject-bootstrap intervals and their chance levels. */
export function summariseLocalisation(rows: LocalisationRow[], seed = 0): LocalisationSummary {
  return {
    sessions: rows.length,
    subjects: new Set(rows.map((r) => r.group)).size,
    massAccuracy: subjectBootstrap(rows, (r) => r.relevanceMassAccuracy, seed),
    rankAccuracy: subjectBootstrap(rows, (r) => r.relevanceRankAccuracy, seed + 1),
    pointingGame: subjectBootstrap(rows, (r) => r.pointingGame, seed + 2),
    chanceMass: mean(rows.map((r) => r.chanceMass)),
    chancePointing: mean(rows.map((r) => r.chancePointing)),
    insideBrain: subjectBootstrap(rows, (r) => r.insideBrain, seed + 3),
  };
}

/** Positive relevance per atlas region, averaged over volumes (shares of the total). */
export function regionTable(ds: VolumeDataset, indices: number[], maps: Float32Array[], names: Record<number, string> = {}, top = 12): { region: string; share: number }[] {
  const acc = new Map<number, number>();
  let counted = 0;
  indices.forEach((vi, k) => {
    const atlas = ds.atlas?.(vi);
    if (!atlas) return;
    counted++;
    for (const [l, e] of relevancePerRegion(maps[k], atlas)) acc.set(l, (acc.get(l) ?? 0) + e.share);
  });
  return [...acc.entries()]
    .map(([l, s]) => ({ region: names[l] ?? `label ${l}`, share: s / Math.max(1, counted) }))
    .sort((a, b) => b.share - a.share)
    .slice(0, top);
}
