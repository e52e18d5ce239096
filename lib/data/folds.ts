/**
 * k-fold cross-validation splits: stratified by label and grouped (no group, e.g. an OASIS-2 subject with several
 * sessions, is ever in two parts of one fold), seeded. Every sample is in exactly one test fold. From each fold's
 * training part, `valFraction` (thesis: 10%) is held out for validation, also stratified and grouped.
 */
import { Rng } from '../util/random';

export interface Fold {
  index: number;
  train: number[];
  val: number[];
  test: number[];
}

export interface FoldOptions {
  seed?: number;
  /** Share of each training part held out for validation (default 0.1). */
  valFraction?: number;
}

interface Group {
  key: string;
  members: number[];
  /** Members per class. */
  counts: number[];
}

function groupsOf(labels: ArrayLike<number>, groups: string[], indices: number[], classes: number): Group[] {
  const map = new Map<string, Group>();
  for (const i of indices) {
    let g = map.get(groups[i]);
    if (!g) {
      g = { key: groups[i], members: [], counts: new Array(classes).fill(0) };
      map.set(groups[i], g);
    }
    g.members.push(i);
    g.counts[labels[i]] += 1;
  }
  return [...map.values()];
}

/**
 * Distribute groups over `k` bins so that every bin gets about the same number of samples of every class: groups go
 * largest first (ties in seeded random order) to the bin where they reduce the class imbalance most.
 */
function distribute(gs: Group[], k: number, classes: number, rng: Rng, targetShare?: number[]): number[][] {
  const order = rng.shuffle(gs.slice()).sort((a, b) => b.members.length - a.members.length);
  const bins = Array.from({ length: k }, () => ({ counts: new Array(classes).fill(0), total: 0, members: [] as number[] }));
  const totals = new Array(classes).fill(0);
  for (const g of gs) g.counts.forEach((c, j) => (totals[j] += c));
  const share = targetShare ?? new Array(k).fill(1 / k);
  for (const g of order) {
    let best = 0;
    let bestCost = Infinity;
    for (let b = 0; b < k; b++) {
      // Cost: how far the bins' class counts would be from their targets after adding g.
      let cost = 0;
      for (let bb = 0; bb < k; bb++) {
        for (let j = 0; j < classes; j++) {
          const c = bins[bb].counts[j] + (bb === b ? g.counts[j] : 0);
          const d = c - share[bb] * totals[j];
          cost += d * d;
        }
      }
      if (cost < bestCost - 1e-9) {
        bestCost = cost;
        best = b;
      }
    }
    const bin = bins[best];
    g.counts.forEach((c, j) => (bin.counts[j] += c));
    bin.total += g.members.length;
    bin.members.push(...g.members);
  }
  return bins.map((b) => b.members.sort((x, y) => x - y));
}

/** k stratified, grouped folds over all samples. */
export function kFoldSplits(labels: ArrayLike<number>, groups: string[], k: number, opts: FoldOptions = {}): Fold[] {
  const n = labels.length;
  if (groups.length !== n) throw new Error(`folds: ${groups.length} groups for ${n} labels`);
  if (!Number.isInteger(k) || k < 2) throw new Error(`folds: k = ${k} must be an integer >= 2`);
  const valFraction = opts.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`folds: valFraction ${valFraction} must be in [0, 1)`);
  const classes = Math.max(...Array.from(labels)) + 1;
  const all = Array.from({ length: n }, (_, i) => i);
  const gs = groupsOf(labels, groups, all, classes);
  if (gs.length < k) throw new Error(`folds: ${gs.length} groups cannot fill ${k} folds (each test fold needs at least one group)`);
  const rng = new Rng(opts.seed ?? 0);
  const tests = distribute(gs, k, classes, rng);
  return tests.map((test, index) => {
    const inTest = new Set(test);
    const rest = all.filter((i) => !inTest.has(i));
    let train = rest;
    let val: number[] = [];
    if (valFraction > 0) {
      const restGroups = groupsOf(labels, groups, rest, classes);
      if (restGroups.length >= 2) {
        const [v, t] = distribute(restGroups, 2, classes, new Rng((opts.seed ?? 0) * 7919 + index + 1), [valFraction, 1 - valFraction]);
        val = v;
        train = t;
      }
    }
    return { index, train, val, test };
  });
}
