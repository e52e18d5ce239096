/**
 * The shortcut audit of an OASIS-2 dataset (docs/methods.md, "Shortcut audit"): can the label be predicted from
 * anything but the disease? Per session it measures, on the preprocessed volumes the models see:
 *   nuisance features: head volume, head centroid (voxel and world mm, per axis), mean intensity outside the brain
 *     (scalp, skull, neck), mean background intensity, the brain's mean intensity outside the atrophy regions;
 *   disease features (phantoms, from the ground-truth masks): hippocampal tissue volume (mask voxels brighter than
 *     the midpoint between CSF and tissue), mean intensity of the mesial temporal regions, ventricular CSF volume.
 * For each feature: the ROC AUC for the label with a percentile-bootstrap interval over subjects (all sessions of a
 * drawn subject come along). Nuisance intervals are Bonferroni-adjusted over the nuisance features (each at level
 * 1 - 0.05 / m). The cohort passes when every nuisance interval contains 0.5, and the hippocampal feature separates
 * the groups at least as well as the literature's effect size implies.
 */
import type { VolumeDataset } from '../dataset';
import { aucInterval, cohensD, formatInterval, mean, normalCdf, type Interval } from '../../util/stats';
import { progress } from '../../util/progress';

/**
 * Literature reference for the hippocampal feature: hippocampal volume is about 24 % smaller in AD than in
 * controls (meta-analysis, Shi et al. 2009, Hippocampus 19:1055), a standardised difference of about d = 1.5
 * (between-subject SD of hippocampal volume ~ 15 %); under normality that separates the groups with
 * AUC = Phi(d / sqrt 2) = 0.86.
 */
export const HIPPOCAMPUS_LITERATURE = { relativeLoss: 0.24, cohensD: 1.5, source: 'Shi et al. 2009, Hippocampus 19:1055 (meta-analysis)' };

export interface AuditFeature {
  name: string;
  kind: 'nuisance' | 'disease';
  /** AUC for label 1 (AD) with its interval (Bonferroni-adjusted for nuisance features). */
  auc: Interval;
  level: number;
  /** Cohen's d of AD against NC. */
  cohensD: number;
  meanAd: number;
  meanNc: number;
  /** Nuisance: the interval contains 0.5. Disease: the separation the criterion asks for. */
  ok: boolean;
}

export interface AuditResult {
  dataset: string;
  sessions: number;
  subjects: number;
  features: AuditFeature[];
  passes: boolean;
  criterion: string;
  /** Per-session feature values (for figures and tests). */
  values: Record<string, number[]>;
  labels: number[];
}

function headMask(v: Float32Array, threshold: number): Uint8Array {
  return Uint8Array.from(v, (x) => (x > threshold ? 1 : 0));
}

/** Feature values of one session. */
export function sessionFeatures(ds: VolumeDataset, i: number): Record<string, number> {
  const v = ds.volume(i);
  const [D, H, W] = ds.shape;
  const head = headMask(v, 0.1);
  const brain = ds.brainMask?.(i) ?? null;
  const gt = ds.groundTruth?.(i) ?? null;
  const A = ds.affine?.(i);
  let n = 0;
  const c = [0, 0, 0];
  let outside = 0;
  let nOutside = 0;
  let bg = 0;
  let nBg = 0;
  let brainSum = 0;
  let nBrain = 0;
  for (let idx = 0; idx < v.length; idx++) {
    if (head[idx]) {
      n++;
      c[0] += idx % W;
      c[1] += Math.floor(idx / W) % H;
      c[2] += Math.floor(idx / (H * W));
      if (brain && !brain[idx]) {
        outside += v[idx];
        nOutside++;
      }
    } else {
      bg += v[idx];
      nBg++;
    }
    if (brain && brain[idx] && !(gt && gt[idx])) {
      brainSum += v[idx];
      nBrain++;
    }
  }
  const centroid = c.map((s) => s / Math.max(1, n)); // (w, h, d) voxel = NIfTI (i, j, k)
  const voxelMm3 = ds.spacingMm[0] * ds.spacingMm[1] * ds.spacingMm[2];
  const out: Record<string, number> = {
    'head volume (ml)': (n * voxelMm3) / 1000,
    'head centroid i (voxels)': centroid[0],
    'head centroid j (voxels)': centroid[1],
    'head centroid k (voxels)': centroid[2],
    'mean background intensity': bg / Math.max(1, nBg),
  };
  if (A) {
    const w = [0, 1, 2].map((r) => A[r][0] * centroid[0] + A[r][1] * centroid[1] + A[r][2] * centroid[2] + A[r][3]);
    out['head centroid x (mm, R+)'] = w[0];
    out['head centroid y (mm, A+)'] = w[1];
    out['head centroid z (mm, S+)'] = w[2];
  }
  if (brain) {
    out['mean intensity outside the brain'] = outside / Math.max(1, nOutside);
    out['mean brain intensity outside the atrophy regions'] = brainSum / Math.max(1, nBrain);
  }
  if (gt && brain) {
    // CSF and tissue levels of this volume: the 10th percentile and the median of the brain's intensities.
    const vals: number[] = [];
    for (let idx = 0; idx < v.length; idx += 3) if (brain[idx]) vals.push(v[idx]);
    vals.sort((a, b) => a - b);
    const csf = vals[Math.floor(vals.length * 0.1)] ?? 0;
    const tissue = vals[Math.floor(vals.length * 0.5)] ?? 1;
    const mid = (csf + tissue) / 2;
    let hip = 0;
    let mtl = 0;
    let nMtl = 0;
    let vent = 0;
    for (let idx = 0; idx < v.length; idx++) {
      const l = gt[idx];
      if (l === 1 && v[idx] > mid) hip++;
      if (l >= 1 && l <= 3) {
        mtl += v[idx];
        nMtl++;
      }
      if (l === 4 && v[idx] <= mid) vent++;
    }
    out['hippocampal tissue volume (ml)'] = (hip * voxelMm3) / 1000;
    out['mesial temporal mean intensity'] = mtl / Math.max(1, nMtl);
    out['ventricular CSF volume (ml)'] = (vent * voxelMm3) / 1000;
  }
  void D;
  return out;
}

const DISEASE = new Set(['hippocampal tissue volume (ml)', 'mesial temporal mean intensity', 'ventricular CSF volume (ml)']);

/** The audit of `ds` (every session, or `indices`). */
export function auditDataset(ds: VolumeDataset, indices?: number[], opts: { resamples?: number; seed?: number } = {}): AuditResult {
  const idx = indices ?? Array.from({ length: ds.count }, (_, i) => i);
  const bar = progress('shortcut audit', idx.length, { unit: 'sessions' });
  const rows = idx.map((i) => {
    const f = sessionFeatures(ds, i);
    bar.tick(1, ds.ids[i]);
    return f;
  });
  bar.done();
  const labels = idx.map((i) => ds.labels[i]);
  const groups = idx.map((i) => ds.groups[i]);
  const names = Object.keys(rows[0] ?? {});
  const nuisance = names.filter((n) => !DISEASE.has(n));
  const level = 1 - 0.05 / Math.max(1, nuisance.length);
  const implied = normalCdf(HIPPOCAMPUS_LITERATURE.cohensD / Math.SQRT2);
  const values: Record<string, number[]> = {};
  const features: AuditFeature[] = names.map((name, k) => {
    const vals = rows.map((r) => r[name]);
    values[name] = vals;
    const kind = DISEASE.has(name) ? 'disease' : 'nuisance';
    const lv = kind === 'nuisance' ? level : 0.95;
    const auc = aucInterval(vals, labels, groups, { resamples: opts.resamples ?? 2000, seed: (opts.seed ?? 0) + k, level: lv });
    const sep = Math.max(auc.estimate, 1 - auc.estimate);
    const ok = kind === 'nuisance' ? auc.lo <= 0.5 && auc.hi >= 0.5 : name.startsWith('hippocampal') ? sep >= implied && (auc.hi < 0.5 || auc.lo > 0.5) : true;
    return { name, kind, auc, level: lv, cohensD: cohensD(vals, labels), meanAd: mean(vals.filter((_, i) => labels[i] === 1)), meanNc: mean(vals.filter((_, i) => labels[i] === 0)), ok };
  });
  const hasDisease = features.some((f) => f.name.startsWith('hippocampal'));
  const passes = features.every((f) => f.ok);
  return {
    dataset: ds.name,
    sessions: idx.length,
    subjects: new Set(groups).size,
    features,
    passes,
    criterion: `every nuisance feature's AUC interval (bootstrap over subjects, Bonferroni-adjusted: ${(level * 100).toFixed(1)} % each over ${nuisance.length} features) contains 0.5${hasDisease ? `; the hippocampal tissue volume separates AD from NC at least as well as the literature's d = ${HIPPOCAMPUS_LITERATURE.cohensD} implies (AUC ${implied.toFixed(2)}; ${HIPPOCAMPUS_LITERATURE.source}), its interval excluding 0.5` : ''}`,
    values,
    labels,
  };
}

/** Table rows of an audit. */
export function auditRows(a: AuditResult): Record<string, string | number>[] {
  return a.features.map((f) => ({
    feature: f.name,
    kind: f.kind,
    'AUC for AD (interval)': `${formatInterval(f.auc)} (${(f.level * 100).toFixed(1)} %)`,
    "Cohen's d": f.cohensD,
    'mean AD': f.meanAd,
    'mean NC': f.meanNc,
    verdict: f.kind === 'nuisance' ? (f.ok ? 'not distinguishable from 0.5' : 'PREDICTS THE LABEL (shortcut)') : f.name.startsWith('hippocampal') ? (f.ok ? 'separates as expected' : 'weaker than the literature implies') : 'reported',
  }));
}
