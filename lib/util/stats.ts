/**
 * Small statistics used by the evaluation and the report: means, Student-t intervals over folds, seeded
 * percentile-bootstrap intervals over subjects or volumes, and the ROC AUC with its bootstrap interval.
 * Every interval here is two-sided 95 % unless a level is given.
 */
import { Rng } from './random';

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
  /** Sample size the interval rests on. */
  n: number;
}

export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length > 0 ? s / a.length : NaN;
}

/** Sample standard deviation (n - 1); 0 for a single value, NaN for none. */
export function sampleStd(a: ArrayLike<number>): number {
  if (a.length === 0) return NaN;
  if (a.length < 2) return 0;
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return Math.sqrt(s / (a.length - 1));
}

/** Two-sided 97.5 % quantiles of Student's t for df = 1..30 (beyond: the normal's 1.96). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(df: number): number {
  if (df < 1) return NaN;
  return df <= 30 ? T975[df - 1] : 1.96;
}

/** Mean with a 95 % Student-t interval (e.g. over folds). One value: the interval is the value itself, flagged by n = 1. */
export function tInterval(values: number[], range?: [number, number]): Interval {
  const v = values.filter((x) => Number.isFinite(x));
  const m = mean(v);
  if (v.length < 2) return { estimate: m, lo: m, hi: m, n: v.length };
  const half = (tQuantile975(v.length - 1) * sampleStd(v)) / Math.sqrt(v.length);
  // A bounded quantity (an accuracy in [0, 1]) keeps its interval inside its range.
  const [a, b] = range ?? [-Infinity, Infinity];
  return { estimate: m, lo: Math.max(a, m - half), hi: Math.min(b, m + half), n: v.length };
}

/** The q-quantile (0..1) of sorted values, linear interpolation. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const i = Math.floor(pos);
  const f = pos - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/**
 * Percentile bootstrap of a statistic over n units (resampled with replacement), seeded. `stat` gets the resampled
 * unit indices. NaN replicates (e.g. a resample without any unit of one class) are dropped.
 */
export function bootstrap(n: number, stat: (idx: number[]) => number, opts: { resamples?: number; seed?: number; level?: number } = {}): Interval {
  const all = Array.from({ length: n }, (_, i) => i);
  const estimate = stat(all);
  if (n < 2) return { estimate, lo: estimate, hi: estimate, n };
  const B = opts.resamples ?? 2000;
  const rng = new Rng(opts.seed ?? 12345);
  const reps: number[] = [];
  const idx = new Array<number>(n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    const v = stat(idx);
    if (Number.isFinite(v)) reps.push(v);
  }
  reps.sort((a, b) => a - b);
  const a = (1 - (opts.level ?? 0.95)) / 2;
  return { estimate, lo: quantileSorted(reps, a), hi: quantileSorted(reps, 1 - a), n };
}

/** Mean of per-unit values with a bootstrap interval (NaN units left out). */
export function bootstrapMean(values: number[], opts: { resamples?: number; seed?: number } = {}): Interval {
  const v = values.filter((x) => Number.isFinite(x));
  return bootstrap(v.length, (idx) => mean(idx.map((i) => v[i])), opts);
}

/**
 * ROC AUC of `scores` for the positive labels (1) against the negatives (0): the Mann-Whitney probability that a
 * positive scores above a negative (ties count one half). NaN without both classes.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? pos++ : neg++);
  if (pos === 0 || neg === 0) return NaN;
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  // Rank sum of the positives with average ranks for ties.
  let rankSum = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[order[k]] === 1) rankSum += r;
    i = j + 1;
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * AUC with a bootstrap interval over `groups` (e.g. subjects: all sessions of a resampled subject come along, so
 * repeated visits do not narrow the interval). Without groups every item is its own unit.
 */
export function aucInterval(scores: number[], labels: number[], groups?: string[], opts: { resamples?: number; seed?: number; level?: number } = {}): Interval {
  const keys = groups ?? scores.map((_, i) => String(i));
  const units = [...new Set(keys)];
  const members = units.map((u) => keys.map((k, i) => (k === u ? i : -1)).filter((i) => i >= 0));
  const r = bootstrap(units.length, (idx) => {
    const items = idx.flatMap((u) => members[u]);
    return auc(items.map((i) => scores[i]), items.map((i) => labels[i]));
  }, opts);
  return r;
}

/** Format an interval as "0.812 [0.731, 0.880]". */
export function formatInterval(iv: Interval, digits = 3): string {
  if (!Number.isFinite(iv.estimate)) return 'NaN';
  return `${iv.estimate.toFixed(digits)} [${iv.lo.toFixed(digits)}, ${iv.hi.toFixed(digits)}]`;
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 erf approximation, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Cohen's d of group 1 against group 0 (pooled standard deviation). */
export function cohensD(values: number[], labels: number[]): number {
  const a = values.filter((_, i) => labels[i] === 1);
  const b = values.filter((_, i) => labels[i] === 0);
  const sa = sampleStd(a);
  const sb = sampleStd(b);
  const pooled = Math.sqrt(((a.length - 1) * sa * sa + (b.length - 1) * sb * sb) / Math.max(1, a.length + b.length - 2));
  return pooled > 0 ? (mean(a) - mean(b)) / pooled : NaN;
}
