/**
 * Classification results of a k-fold run as a reader must see them before looking at any explanation: accuracy and
 * balanced accuracy per fold, the majority-class baseline, the pooled confusion matrix, and the gate that keeps
 * explanations of a model no better than its baseline out of every verdict (docs/methods.md, "Baseline gate").
 *
 * Gate: the model is above its baseline when the 95 % Student-t interval of its balanced accuracy over folds lies
 * above chance (1 / classes; what the majority-class predictor scores), and the interval of its accuracy lies above
 * the majority baseline (the accuracy of predicting the training part's majority class on each test fold).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { VolumeDataset } from '../data/dataset';
import { readJson } from '../io/atomic';
import { formatInterval, tInterval, type Interval } from '../util/stats';
import type { TrainSummary } from './train';

export interface FoldClassification {
  fold: number;
  accuracy: number;
  balancedAccuracy: number;
  /** Accuracy of always predicting the majority class of the fold's training part. */
  majorityBaseline: number;
  /** confusion[true][predicted]. */
  confusion: number[][];
  testSize: number;
}

export interface RunClassification {
  dataset: string;
  model: string;
  classNames: string[];
  folds: FoldClassification[];
  accuracy: Interval;
  balancedAccuracy: Interval;
  majorityBaseline: number;
  chance: number;
  /** Confusion matrix pooled over the folds' test parts. */
  confusion: number[][];
  aboveBaseline: boolean;
  /** Why the gate says what it says, in words. */
  gate: string;
}

/** Accuracy, balanced accuracy (mean recall over the classes present) and the confusion matrix. */
export function classificationScores(labels: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): { accuracy: number; balancedAccuracy: number; confusion: number[][] } {
  if (labels.length !== predicted.length) throw new Error(`classificationScores: ${labels.length} labels for ${predicted.length} predictions`);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    confusion[labels[i]][predicted[i]] += 1;
    if (labels[i] === predicted[i]) hits++;
  }
  const recalls = confusion.map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n > 0 ? row[c] / n : NaN;
  }).filter((r) => Number.isFinite(r));
  return {
    accuracy: labels.length > 0 ? hits / labels.length : NaN,
    balancedAccuracy: recalls.length > 0 ? recalls.reduce((a, b) => a + b, 0) / recalls.length : NaN,
    confusion,
  };
}

function argmax(row: number[]): number {
  let k = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[k]) k = i;
  return k;
}

/** The classification results of a finished run, read from its folds' predictions. */
export function runClassification(run: TrainSummary, ds: VolumeDataset): RunClassification {
  const K = ds.classNames.length;
  const folds = readJson<{ index: number; train: string[]; test: string[] }[]>(path.join(run.runDir, 'folds.json'));
  const pos = new Map(ds.ids.map((id, i) => [id, i]));
  const pooled = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const out: FoldClassification[] = [];
  let baselineHits = 0;
  let total = 0;
  for (const f of run.folds) {
    const file = path.join(run.runDir, `fold-${f.fold + 1}`, 'predictions.json');
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: the fold's run is incomplete (re-run training with force)`);
    const p = readJson<{ labels: number[]; logits: number[][] }>(file);
    const pred = p.logits.map(argmax);
    const s = classificationScores(p.labels, pred, K);
    const split = folds.find((x) => x.index === f.fold);
    const counts = new Array<number>(K).fill(0);
    for (const id of split?.train ?? []) {
      const i = pos.get(id);
      if (i !== undefined) counts[ds.labels[i]]++;
    }
    const majority = argmax(counts);
    const base = p.labels.filter((l) => l === majority).length / Math.max(1, p.labels.length);
    baselineHits += base * p.labels.length;
    total += p.labels.length;
    s.confusion.forEach((row, i) => row.forEach((v, j) => (pooled[i][j] += v)));
    out.push({ fold: f.fold, accuracy: s.accuracy, balancedAccuracy: s.balancedAccuracy, majorityBaseline: base, confusion: s.confusion, testSize: p.labels.length });
  }
  const accuracy = tInterval(out.map((f) => f.accuracy), [0, 1]);
  const balancedAccuracy = tInterval(out.map((f) => f.balancedAccuracy), [0, 1]);
  const majorityBaseline = baselineHits / Math.max(1, total);
  const chance = 1 / K;
  const aboveBaseline = out.length >= 2 && balancedAccuracy.lo > chance && accuracy.lo > majorityBaseline;
  const gate = aboveBaseline
    ? `above baseline: balanced accuracy ${formatInterval(balancedAccuracy)} > chance ${chance.toFixed(3)} and accuracy ${formatInterval(accuracy)} > majority ${majorityBaseline.toFixed(3)} (95 % t-intervals over ${out.length} folds)`
    : out.length < 2
      ? `not assessed: one fold gives no interval; treated as no better than its baseline`
      : `NO BETTER THAN BASELINE: balanced accuracy ${formatInterval(balancedAccuracy)} vs chance ${chance.toFixed(3)}, accuracy ${formatInterval(accuracy)} vs majority ${majorityBaseline.toFixed(3)} (95 % t-intervals over ${out.length} folds); its explanations are not interpreted`;
  return { dataset: run.dataset, model: run.model, classNames: ds.classNames, folds: out, accuracy, balancedAccuracy, majorityBaseline, chance, confusion: pooled, aboveBaseline, gate };
}
