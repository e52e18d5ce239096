/** Statistics, classification metrics with the baseline gate, and claim verdicts: known answers. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { auc, aucInterval, bootstrapMean, tInterval } from '../lib/util/stats';
import { classificationScores } from '../lib/training/metrics';
import { acrossPerturbations, aboveClaim, gated, monotoneClaim, notExplainedClaim, verdictAbove, type Claim } from '../lib/report/claims';
import type { RunClassification } from '../lib/training/metrics';

test('t-interval over folds and the bootstrap: known values', () => {
  // Mean 2, sd 1, n = 3: half-width t(0.975, 2) * 1 / sqrt(3) = 4.303 / 1.732 = 2.4843.
  const t = tInterval([1, 2, 3]);
  assert.equal(t.estimate, 2);
  assert.ok(Math.abs(t.hi - 2 - 4.303 / Math.sqrt(3)) < 1e-9);
  // Accuracies 0.938, 0.850, 0.787: the t-interval would pass 1; clipped to the range it ends there.
  const acc = tInterval([0.938, 0.85, 0.787], [0, 1]);
  assert.equal(acc.hi, 1);
  assert.ok(acc.lo > 0.6 && acc.lo < 0.7);
  assert.ok(tInterval([0.938, 0.85, 0.787]).hi > 1);
  const b = bootstrapMean([5, 5, 5, 5]);
  assert.deepEqual([b.lo, b.estimate, b.hi], [5, 5, 5], 'no spread, no interval');
  const c = bootstrapMean(Array.from({ length: 200 }, (_, i) => (i % 2 ? 1 : 0)));
  assert.ok(c.lo > 0.42 && c.lo < 0.5 && c.hi > 0.5 && c.hi < 0.58, `${c.lo} ${c.hi}`);
});

test('AUC: the Mann-Whitney probability with ties; grouped bootstrap keeps a subject together', () => {
  assert.equal(auc([1, 2, 3, 4], [0, 0, 1, 1]), 1);
  assert.equal(auc([4, 3, 2, 1], [0, 0, 1, 1]), 0);
  assert.equal(auc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5, 'ties count one half');
  assert.equal(auc([1, 3, 2, 4], [0, 0, 1, 1]), 0.75);
  assert.ok(Number.isNaN(auc([1, 2], [1, 1])));
  const scores = [0.1, 0.2, 0.8, 0.9, 0.3, 0.7];
  const labels = [0, 0, 1, 1, 0, 1];
  const iv = aucInterval(scores, labels, ['a', 'a', 'b', 'b', 'c', 'd']);
  assert.equal(iv.estimate, 1);
  assert.equal(iv.n, 4, 'four subjects are the units');
});

test('classification scores: balanced accuracy is the mean recall; a majority predictor scores chance', () => {
  const labels = [0, 0, 0, 0, 0, 0, 1, 1];
  const s = classificationScores(labels, new Array(8).fill(0), 2);
  assert.equal(s.accuracy, 0.75);
  assert.equal(s.balancedAccuracy, 0.5);
  assert.deepEqual(s.confusion, [[6, 0], [2, 0]]);
  const t = classificationScores(labels, [0, 0, 0, 1, 0, 0, 1, 0], 2);
  assert.equal(t.balancedAccuracy, (5 / 6 + 1 / 2) / 2);
});

test('claims: verdicts from intervals, the baseline gate, and agreement across perturbations', () => {
  assert.equal(verdictAbove({ estimate: 0.1, lo: 0.02, hi: 0.2, n: 10 }), 'reproduced');
  assert.equal(verdictAbove({ estimate: -0.1, lo: -0.2, hi: -0.02, n: 10 }), 'not reproduced');
  assert.equal(verdictAbove({ estimate: 0.1, lo: -0.02, hi: 0.2, n: 10 }), 'inconclusive');
  const up = aboveClaim('x', 'a > b', 'score', { label: 'a', values: [2, 3, 4, 5] }, { label: 'b', values: [1, 2, 3, 4] }, 'volumes');
  assert.equal(up.verdict, 'reproduced');
  const mono = monotoneClaim('m', 'rises', 'acc', [{ label: 'a', values: [0.1, 0.2, 0.15] }, { label: 'b', values: [0.5, 0.6, 0.55] }, { label: 'c', values: [0.4, 0.5, 0.45] }], 'folds');
  assert.equal(mono.verdict, 'not reproduced', 'c falls below b in every fold');
  const atBaseline = { model: 'm', aboveBaseline: false, balancedAccuracy: { estimate: 0.5, lo: 0.3, hi: 0.7, n: 3 }, chance: 0.5 } as RunClassification;
  assert.equal(gated(up, [atBaseline]).verdict, 'not assessed');
  assert.equal(gated(up, [{ ...atBaseline, aboveBaseline: true }]).verdict, 'reproduced');
  const skipped = notExplainedClaim('y', 'a > b', { ...atBaseline, gate: 'at baseline' });
  assert.deepEqual([skipped.verdict, skipped.evidence], ['not assessed', 'm: at baseline']);
  assert.throws(() => notExplainedClaim('y', 'a > b', { ...atBaseline, aboveBaseline: true }), /above its baseline/);
  const c = (v: Claim['verdict']): Claim => ({ id: 'i', claim: 'c', criterion: 'k', verdict: v, evidence: '' });
  const both = acrossPerturbations([{ perturbation: 'noise', claim: c('reproduced') }, { perturbation: 'removal', claim: c('reproduced') }]);
  assert.deepEqual([both.verdict, both.holdsUnder], ['reproduced', 'all']);
  const one = acrossPerturbations([{ perturbation: 'noise', claim: c('reproduced') }, { perturbation: 'removal', claim: c('not reproduced') }]);
  assert.deepEqual([one.verdict, one.holdsUnder], ['inconclusive', 'noise only']);
  const none = acrossPerturbations([{ perturbation: 'noise', claim: c('not reproduced') }, { perturbation: 'removal', claim: c('not reproduced') }]);
  assert.deepEqual([none.verdict, none.holdsUnder], ['not reproduced', 'none']);
});
