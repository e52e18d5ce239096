/**
 * The cached steps the notebooks call, so that a cell reads as a sentence of the thesis: "the classification table
 * of the family", "AOPC of these methods under both perturbations", "the sanity verdicts". Each step returns rows
 * for a table and the raw results for figures and claims.
 */
import type { VolumeDataset } from '../data/dataset';
import type { ExplainOptions } from '../explain/explain';
import { cachedAopc, cachedSanity, methodLabel, type SanitySummary } from '../evaluate/workflows';
import { perturbLabel, type AopcConfig, type AopcResult } from '../evaluate/aopc';
import { runClassification, type RunClassification } from '../training/metrics';
import type { TrainSummary } from '../training/train';
import { bootstrapMean, formatInterval } from '../util/stats';
import type { Row } from '../viz/table';

/** Classification results of runs, with the baseline gate. */
export function classifications(runs: TrainSummary[], ds: VolumeDataset): RunClassification[] {
  return runs.map((r) => runClassification(r, ds));
}

/** The accuracy table: per-fold accuracy, balanced accuracy with its interval, the majority baseline and the gate. */
export function classificationRows(cls: RunClassification[], runs: TrainSummary[]): Row[] {
  return cls.map((c, i) => ({
    dataset: runs[i].dataset,
    model: c.model,
    parameters: runs[i].parameters,
    ...Object.fromEntries(c.folds.map((f) => [`fold ${f.fold + 1} acc`, f.accuracy])),
    'accuracy (95 % CI)': formatInterval(c.accuracy),
    'balanced accuracy (95 % CI)': formatInterval(c.balancedAccuracy),
    'majority baseline': c.majorityBaseline,
    chance: c.chance,
    'best epochs': runs[i].folds.map((f) => f.bestEpoch).join(', '),
    'epochs run': runs[i].folds.map((f) => f.epochsRun).join(', '),
    gate: c.aboveBaseline ? 'above baseline' : 'NO BETTER THAN BASELINE',
  }));
}

/** Markdown warning for every run that is no better than its baseline (empty when all are above). */
export function baselineWarning(cls: RunClassification[]): string {
  const bad = cls.filter((c) => !c.aboveBaseline);
  if (bad.length === 0) return '';
  return `**Warning: no better than the majority baseline.** ${bad.map((c) => `${c.model} (${c.gate})`).join('; ')}. The heatmaps of these models are shown for completeness only; they explain nothing, and no verdict in this notebook or the report rests on them.`;
}

export interface AopcEntry {
  model: string;
  method: string;
  perturbation: string;
  result: AopcResult;
  /** Per-volume AOPC(L). */
  perVolume: number[];
}

export const RANDOM_ORDER = 'random order';

/**
 * AOPC of `methods` (plus the random-order baseline) for one fold's model, under each perturbation, all with the
 * same cube side, L and strategy (so they can be compared in one table).
 */
export async function aopcEntries(run: TrainSummary, fold: number, ds: VolumeDataset, images: number[], methods: ExplainOptions[], base: Partial<AopcConfig>, perturbations: AopcConfig['perturb'][], withRandom = true): Promise<AopcEntry[]> {
  const out: AopcEntry[] = [];
  for (const perturb of perturbations) {
    for (const e of methods) {
      const r = await cachedAopc(run, fold, ds, images, e, { ...base, perturb });
      out.push({ model: run.model, method: methodLabel(e), perturbation: perturbLabel(perturb), result: r, perVolume: r.perImage.map((c) => c[c.length - 1]) });
    }
    if (withRandom) {
      const r = await cachedAopc(run, fold, ds, images, { method: 'cam' }, { ...base, perturb, order: 'random' });
      out.push({ model: run.model, method: RANDOM_ORDER, perturbation: perturbLabel(perturb), result: r, perVolume: r.perImage.map((c) => c[c.length - 1]) });
    }
  }
  return out;
}

/** Table rows of AOPC entries: the value with its bootstrap interval over volumes and the random baseline beside it. */
export function aopcRows(entries: AopcEntry[], dataset: string, extra: Record<string, string | number> = {}): Row[] {
  return entries.map((e) => {
    const rnd = entries.find((x) => x.method === RANDOM_ORDER && x.perturbation === e.perturbation && x.model === e.model);
    const ci = bootstrapMean(e.perVolume);
    return {
      dataset,
      model: e.model,
      method: e.method,
      perturbation: e.perturbation,
      stride: e.result.config.strideVoxels,
      hp: e.result.config.hp,
      strategy: e.result.config.strategy,
      L: e.result.config.steps,
      coverage: e.result.coverage,
      AOPC: e.result.aopc,
      'AOPC 95 % CI': formatInterval(ci, 4),
      'random order': rnd ? rnd.result.aopc : '-',
      'vs random': rnd && e !== rnd ? (ci.lo > rnd.result.aopc ? 'above' : ci.hi < rnd.result.aopc ? 'BELOW' : 'not distinguishable') : '-',
      ...extra,
    };
  });
}

/** Sanity checks of several methods on one fold's model. */
export async function sanityResults(run: TrainSummary, fold: number, ds: VolumeDataset, images: number[], methods: ExplainOptions[]): Promise<(SanitySummary & { maps: Float32Array[] })[]> {
  const out: (SanitySummary & { maps: Float32Array[] })[] = [];
  for (const e of methods) out.push(await cachedSanity(run, fold, ds, images, e));
  return out;
}

/** Verdict rows of sanity results. */
export function sanityRows(res: SanitySummary[], dataset: string, model: string, gate: RunClassification | null): Row[] {
  return res.map((r) => ({
    dataset,
    model,
    method: r.method,
    verdict: gate && !gate.aboveBaseline ? `not assessed (model at baseline; measured: ${r.verdict})` : r.verdict,
    'first changed layer': r.firstChangedLayer ?? 'none',
    'top-layer |Spearman|': r.steps[0].mean.spearmanAbs,
    'null |Spearman|': r.nullMean,
    'top-layer change (95 % CI)': formatInterval(r.steps[0].change),
    'step statuses': r.steps.map((s) => s.status).join(', '),
    'class sensitivity (Spearman)': r.classSensitivity.spearman,
  }));
}
