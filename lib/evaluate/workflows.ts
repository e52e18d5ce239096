/**
 * Evaluation as the notebooks use it: cached AOPC and sanity-check runs on a trained fold's test volumes, localisation
 * scores on phantoms, and their figures.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cachedRun } from '../cache/results';
import type { VolumeDataset } from '../data/dataset';
import { cachedExplanation } from '../explain/cached';
import type { ExplainOptions } from '../explain/explain';
import { batchTensor } from '../data/dataset';
import { loadFoldModel, type TrainSummary } from '../training/train';
import { configHash } from '../util/hash';
import type { Figure, Trace } from '../viz/plotly';
import { slicePlane, RELEVANCE_COLORSCALE, absPercentile } from '../viz/volume';
import { aopc, type AopcConfig, type AopcResult } from './aopc';
import { localisation, relevancePerRegion, type LocalisationScores } from './localisation';
import { sanityCheck, classSensitivity, type SanityConfig } from './sanity';
import type { Similarity } from './similarity';

export function methodLabel(e: ExplainOptions): string {
  return e.method === 'lrp' ? `LRP ${e.composite ?? 'rules'}` : e.method.toUpperCase() === 'CAM' ? 'CAM' : e.method;
}

/** AOPC of a fold's model and a method on `indices`, cached (heatmaps cached separately). */
export async function cachedAopc(run: TrainSummary, fold: number, ds: VolumeDataset, indices: number[], explain: ExplainOptions, cfg: Partial<AopcConfig>): Promise<AopcResult> {
  const config = { run: path.basename(run.runDir), fold, dataset: ds.name, ids: configHash(indices.map((i) => ds.ids[i])), explain, cfg };
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

/** AOPC curves (mean over images) with bands of +-1 standard deviation. */
export function aopcFigure(results: { label: string; result: AopcResult }[], title: string): Figure {
  const palette = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
  const data: Trace[] = [];
  results.forEach(({ label, result }, i) => {
    const k = result.curve.map((_, j) => j);
    const c = palette[i % palette.length];
    data.push({ x: [...k, ...k.slice().reverse()], y: [...result.curve.map((v, j) => v + result.curveStd[j]), ...result.curve.map((v, j) => v - result.curveStd[j]).reverse()], fill: 'toself', fillcolor: c + '22', line: { width: 0 }, hoverinfo: 'skip', showlegend: false, type: 'scatter' });
    data.push({ x: k, y: result.curve, type: 'scatter', mode: 'lines', name: `${label} (${result.aopc.toFixed(3)})`, line: { color: c } });
  });
  return { data, layout: { title: { text: title }, xaxis: { title: { text: 'perturbation step k' } }, yaxis: { title: { text: 'AOPC(k)' } }, height: 380 } };
}

export interface SanitySummary {
  method: string;
  verdict: 'pass' | 'fail';
  threshold: number;
  steps: { randomised: string[]; mean: Similarity }[];
  classSensitivity: Similarity;
  reinitialisation: string;
  /** Files with the first volume's original and randomised maps (float32). */
  mapsFile: string;
}

/** The cascading sanity check of a fold's model and a method on `indices`, cached. */
export async function cachedSanity(run: TrainSummary, fold: number, ds: VolumeDataset, indices: number[], explain: ExplainOptions, cfg: Partial<SanityConfig> = {}): Promise<SanitySummary & { maps: Float32Array[] }> {
  const config = { run: path.basename(run.runDir), fold, dataset: ds.name, ids: configHash(indices.map((i) => ds.ids[i])), explain, cfg };
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
        steps: r.steps.map((s) => ({ randomised: s.randomised, mean: s.mean })),
        classSensitivity: cs.mean,
        reinitialisation: r.reinitialisation,
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

/** A grid: one row per method, the original heatmap then each cascading step, one slice (plane at depth `d`). */
export function sanityGridFigure(rows: { label: string; maps: Float32Array[]; steps: string[] }[], shape: [number, number, number], d: number, title: string): Figure {
  const cols = Math.max(...rows.map((r) => r.maps.length));
  const data: Trace[] = [];
  const layout: Record<string, unknown> = { title: { text: title }, height: 150 * rows.length + 80, margin: { l: 120, r: 10, t: 60, b: 10 }, showlegend: false, annotations: [] as unknown[] };
  rows.forEach((row, ri) => {
    row.maps.forEach((m, ci) => {
      const k = ri * cols + ci + 1;
      const clip = absPercentile(m, 99.5) || 1;
      data.push({ type: 'heatmap', z: slicePlane(m, shape, 0, d), zmin: -clip, zmax: clip, colorscale: RELEVANCE_COLORSCALE, showscale: false, xaxis: `x${k}`, yaxis: `y${k}` });
      const x0 = ci / cols;
      const y1 = 1 - ri / rows.length;
      layout[`xaxis${k}`] = { domain: [x0 + 0.005, x0 + 1 / cols - 0.005], showticklabels: false, ticks: '', anchor: `y${k}` };
      layout[`yaxis${k}`] = { domain: [y1 - 1 / rows.length + 0.02, y1 - 0.02], showticklabels: false, ticks: '', anchor: `x${k}`, autorange: 'reversed', scaleanchor: `x${k}` };
      if (ri === 0) (layout.annotations as unknown[]).push({ text: ci === 0 ? 'original' : `- ${row.steps[ci - 1]}`, x: x0 + 0.5 / cols, y: 1.02, xref: 'paper', yref: 'paper', showarrow: false, font: { size: 10 } });
    });
    (layout.annotations as unknown[]).push({ text: row.label, x: -0.01, y: 1 - (ri + 0.5) / rows.length, xref: 'paper', yref: 'paper', showarrow: false, xanchor: 'right', font: { size: 11 } });
  });
  return { data, layout, config: { displayModeBar: false } };
}

/** Similarity to the original heatmap per cascading step, one line per method. */
export function sanityCurvesFigure(results: SanitySummary[], metric: keyof Similarity = 'spearmanAbs', title = 'Cascading randomisation'): Figure {
  return {
    data: results.map((r) => ({ type: 'scatter', mode: 'lines+markers', x: r.steps.map((s) => s.randomised[s.randomised.length - 1]), y: r.steps.map((s) => s.mean[metric]), name: `${r.method} (${r.verdict})` })),
    layout: { title: { text: title }, xaxis: { title: { text: 'randomised down to layer' } }, yaxis: { title: { text: metric }, range: [-0.2, 1.05] }, height: 360, shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: results[0]?.threshold ?? 0.5, y1: results[0]?.threshold ?? 0.5, line: { dash: 'dot', color: 'grey' } }] },
  };
}

export interface LocalisationRow extends LocalisationScores {
  id: string;
  label: string;
  predicted: string;
  correct: boolean;
}

/** Localisation scores of explanations against a dataset's ground truth (volumes without ground truth are skipped). */
export function localisationRows(ds: VolumeDataset, indices: number[], maps: Float32Array[], classes: number[], toleranceVoxels = 2): LocalisationRow[] {
  const rows: LocalisationRow[] = [];
  indices.forEach((vi, k) => {
    const gt = ds.groundTruth?.(vi);
    if (!gt) return;
    const s = localisation(maps[k], gt, ds.shape, toleranceVoxels);
    rows.push({ ...s, id: ds.ids[vi], label: ds.classNames[ds.labels[vi]], predicted: ds.classNames[classes[k]], correct: classes[k] === ds.labels[vi] });
  });
  return rows;
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
