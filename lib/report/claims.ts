/**
 * The thesis's claims as testable statements: each has a criterion computed over all folds or test volumes, an
 * interval, and one of four honest outcomes. Notebooks record their claims as findings (`claims-<notebook>`); the
 * report collects them. A claim about explanations of a model that is no better than its baseline is "not
 * assessed", never reproduced or refuted (docs/methods.md).
 */
import { bootstrap, formatInterval, mean, tInterval, type Interval } from '../util/stats';
import type { RunClassification } from '../training/metrics';

export type ClaimVerdict = 'reproduced' | 'not reproduced' | 'inconclusive' | 'not assessed';

export interface Claim {
  /** Stable key (used to merge and to test). */
  id: string;
  /** The statement, as the thesis makes it. */
  claim: string;
  /** How this run decides it. */
  criterion: string;
  verdict: ClaimVerdict;
  /** The numbers behind the verdict. */
  evidence: string;
  /** For AOPC claims measured under several perturbations: under which the claim holds. */
  holdsUnder?: string;
}

/** Mean of paired differences a_i - b_i with a percentile-bootstrap 95 % interval over the pairs. */
export function pairedDifference(a: number[], b: number[], seed = 0): Interval {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} and ${b.length} values are not paired`);
  const d = a.map((v, i) => v - b[i]).filter((v) => Number.isFinite(v));
  return bootstrap(d.length, (idx) => mean(idx.map((i) => d[i])), { seed: seed + 5 });
}

/** Paired differences over folds with a Student-t interval (folds are the units when models share the splits). */
export function pairedFoldDifference(a: number[], b: number[]): Interval {
  if (a.length !== b.length) throw new Error(`pairedFoldDifference: ${a.length} and ${b.length} folds are not paired`);
  return tInterval(a.map((v, i) => v - b[i]));
}

/** "a > b" decided by the interval of the difference: above 0 reproduced, below 0 not reproduced, else inconclusive. */
export function verdictAbove(diff: Interval): ClaimVerdict {
  if (!Number.isFinite(diff.estimate) || diff.n < 2) return 'inconclusive';
  if (diff.lo > 0) return 'reproduced';
  if (diff.hi < 0) return 'not reproduced';
  return 'inconclusive';
}

/** A claim "first > second" from paired values. */
export function aboveClaim(id: string, claim: string, what: string, a: { label: string; values: number[] }, b: { label: string; values: number[] }, units: 'folds' | 'volumes', seed = 0): Claim {
  const diff = units === 'folds' ? pairedFoldDifference(a.values, b.values) : pairedDifference(a.values, b.values, seed);
  const interval = units === 'folds' ? 'Student-t' : 'bootstrap';
  return {
    id,
    claim,
    criterion: `${what}: ${a.label} minus ${b.label}, paired over ${diff.n} ${units}, 95 % ${interval} interval above 0`,
    verdict: verdictAbove(diff),
    evidence: `${a.label} ${mean(a.values).toFixed(3)}, ${b.label} ${mean(b.values).toFixed(3)}; difference ${formatInterval(diff)}`,
  };
}

/** A chain of "each above the previous" (e.g. monotone in depth): reproduced when every adjacent step is. */
export function monotoneClaim(id: string, claim: string, what: string, series: { label: string; values: number[] }[], units: 'folds' | 'volumes', seed = 0): Claim {
  const steps = series.slice(1).map((s, i) => aboveClaim(id, claim, what, s, series[i], units, seed + i));
  const verdicts = steps.map((s) => s.verdict);
  const verdict: ClaimVerdict = verdicts.every((v) => v === 'reproduced') ? 'reproduced' : verdicts.some((v) => v === 'not reproduced') ? 'not reproduced' : 'inconclusive';
  return {
    id,
    claim,
    criterion: `${what}: each of ${series.map((s) => s.label).join(' < ')} above the one before, paired over ${units}, 95 % interval of every adjacent difference above 0`,
    verdict,
    evidence: `${series.map((s) => `${s.label} ${mean(s.values).toFixed(3)}`).join(' → ')}; adjacent steps: ${verdicts.join(', ')}`,
  };
}

/** The claim's verdict replaced by "not assessed" when a model it rests on is no better than its baseline. */
export function gated(claim: Claim, runs: RunClassification[]): Claim {
  const bad = runs.filter((r) => !r.aboveBaseline);
  if (bad.length === 0) return claim;
  return { ...claim, verdict: 'not assessed', evidence: `${bad.map((r) => r.model).join(', ')} no better than the majority baseline (${bad.map((r) => `balanced accuracy ${formatInterval(r.balancedAccuracy)} vs chance ${r.chance.toFixed(2)}`).join('; ')}): its explanations are not interpreted. Measured: ${claim.evidence}` };
}

/** A claim about a model no better than its baseline: not computed, since its explanations explain nothing. */
export function notExplainedClaim(id: string, claim: string, run: RunClassification): Claim {
  if (run.aboveBaseline) throw new Error(`notExplainedClaim(${id}): ${run.model} is above its baseline; measure the claim`);
  return { id, claim, criterion: 'not computed: the model is not explained', verdict: 'not assessed', evidence: `${run.model}: ${run.gate}` };
}

/**
 * One claim measured under several perturbations: reproduced when it holds under all, not reproduced when under
 * none, inconclusive otherwise; `holdsUnder` says which.
 */
export function acrossPerturbations(perPerturbation: { perturbation: string; claim: Claim }[]): Claim {
  const first = perPerturbation[0].claim;
  const vs = perPerturbation.map((p) => p.claim.verdict);
  const holds = perPerturbation.filter((p) => p.claim.verdict === 'reproduced').map((p) => p.perturbation);
  let verdict: ClaimVerdict;
  if (vs.some((v) => v === 'not assessed')) verdict = 'not assessed';
  else if (vs.every((v) => v === 'reproduced')) verdict = 'reproduced';
  else if (vs.every((v) => v === 'not reproduced')) verdict = 'not reproduced';
  else verdict = 'inconclusive';
  return {
    id: first.id,
    claim: first.claim,
    criterion: `${first.criterion}; under each perturbation (${perPerturbation.map((p) => p.perturbation).join(', ')}); reproduced only when it holds under all`,
    verdict,
    evidence: perPerturbation.map((p) => `${p.perturbation}: ${p.claim.verdict} (${p.claim.evidence})`).join(' | '),
    holdsUnder: verdict === 'not assessed' ? '-' : holds.length === perPerturbation.length ? 'all' : holds.length === 0 ? 'none' : `${holds.join(', ')} only`,
  };
}

/** Claims as table rows. */
export function claimRows(claims: Claim[]): Record<string, string>[] {
  return claims.map((c) => ({ claim: c.claim, criterion: c.criterion, verdict: c.verdict, 'holds under': c.holdsUnder ?? '-', evidence: c.evidence }));
}
