/**
 * Explanations: identities (LRP-0 with wta = gradient x input; CAM mean + bias = logit), hand-computed results for
 * every rule on a tiny layer, alpha1beta0 = z+, conservation on bias-free models and the audit's accounting, the
 * composites' rule tables, BatchNorm folding, heatmap files keeping the input's geometry, and CLI errors.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { buildModel } from '../lib/models/presets';
import { globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';
import { modelChain, disposeChain, forwardChain, type Step } from '../lib/explain/chain';
import { applyRule, lrp } from '../lib/explain/lrp/lrp';
import { alphaBetaRule, epsilonRule, EPS_STABILISER, flatRule, gammaRule, makeRule, registerRule, ruleNames, userRuleDefinitions, wSquareRule, zbRule, zeroRule } from '../lib/explain/lrp/rules';
import { assignRules, thesisPosition } from '../lib/explain/lrp/composites';
import { cam, gradCam, gradients } from '../lib/explain/cam';
import { upsampleTrilinear } from '../lib/explain/upsample';
import { saveModel } from '../lib/io/model-files';
import { readNifti, writeNifti } from '../lib/io/nifti';
import { readNpy, writeNpy } from '../lib/io/npy';
import { relErr, runCli, tempDir } from './helpers';
import { configHash } from '../lib/util/hash';
import { explainTensor } from '../lib/explain/explain';
import { assertFiniteTensor } from '../lib/util/finite';

process.env.XAI3D_QUIET = '1';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

/** A preset with small random biases (so identities are not trivially true). */
function randomModel(name: string, size: number, seed: number): tf.Sequential {
  const m = buildModel(name, { inputSize: size, baseWidth: 4, seed });
  m.setWeights(m.getWeights().map((w, i) => (w.shape.length === 1 ? tf.randomNormal(w.shape, 0, 0.05, 'float32', seed * 100 + i) : w)));
  return m;
}

test('LRP-0 on every layer with wta pooling equals gradient x input (random models, with biases)', () => {
  for (const [name, size, seed] of [['mnist-6conv', 16, 1], ['mnist-3conv', 16, 2], ['oasis-3conv', 16, 3]] as const) {
    const m = randomModel(name, size, seed);
    const x = tf.randomUniform([2, size, size, size, 1], 0, 1, 'float32', seed) as tf.Tensor5D;
    const r = lrp(m, x, { pool: 'wta' });
    const g = gradients(m, x, { timesInput: true, classes: r.classes });
    for (let k = 0; k < 2; k++) assert.ok(relErr(r.maps[k], g.maps[k]) < 1e-4, `${name} volume ${k}: ${relErr(r.maps[k], g.maps[k])}`);
    // Also for a class that is not the predicted one.
    const other = r.classes.map((c) => (c + 1) % (name.startsWith('mnist') ? 10 : 2));
    const r2 = lrp(m, x, { classes: other });
    const g2 = gradients(m, x, { timesInput: true, classes: other });
    assert.ok(relErr(r2.maps[0], g2.maps[0]) < 1e-4);
    m.dispose();
  }
});

test('CAM: mean of the raw map + the class bias equals the logit; trilinear upsampling to the input grid', () => {
  const m = randomModel('mnist-4conv', 16, 4);
  const x = tf.randomUniform([3, 16, 16, 16, 1], 0, 1, 'float32', 9) as tf.Tensor5D;
  const c = cam(m, x);
  const bias = m.getLayer('dense').getWeights()[1].dataSync();
  const logits = (m.predict(x) as tf.Tensor).arraySync() as number[][];
  c.rawMaps.forEach((raw, k) => {
    const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
    assert.ok(Math.abs(mean + bias[c.classes[k]] - logits[k][c.classes[k]]) < 1e-5);
    assert.ok(Math.abs(c.logits[k] - logits[k][c.classes[k]]) < 1e-5);
  });
  assert.deepEqual(c.rawShape, [4, 4, 4]);
  assert.equal(c.maps[0].length, 16 ** 3);
  // Half-pixel trilinear: a constant stays constant; a ramp along W maps to the sampled positions.
  assert.ok(upsampleTrilinear(new Float32Array(8).fill(2), [2, 2, 2], [4, 4, 4]).every((v) => Math.abs(v - 2) < 1e-7));
  const ramp = upsampleTrilinear(Float32Array.from([0, 1, 0, 1, 0, 1, 0, 1]), [2, 2, 2], [2, 2, 4]);
  assert.deepEqual(Array.from(ramp.slice(0, 4)), [0, 0.25, 0.75, 1]);
  // Grad-CAM: non-negative, on the chosen layer's grid.
  const gc = gradCam(m, x, { layer: 'conv3' });
  assert.deepEqual(gc.rawShape, [8, 8, 8], 'conv3 follows the first max pooling');
  assert.ok(gc.maps[0].every((v) => v >= 0));
  assert.throws(() => gradCam(m, x, { layer: 'dense' }), /"dense" is not a Conv3D layer of this model; use one of conv1, conv2, conv3, conv4/);
});

test('a rule registered from user code works by name in LRP (here epsilon written as terms) and is listed; bad registrations are refused', () => {
  // LRP-epsilon from scratch: one group, one term, the layer as it is, a stabiliser read from the spec.
  registerRule('my-epsilon', (spec) => ({ name: 'my-epsilon', params: { epsilon: Number(spec.eps ?? 0.1) }, stabiliser: Number(spec.eps ?? 0.1), groups: [{ coef: 1, terms: [{ coef: 1, input: (a) => a, weight: (w) => w, bias: (b) => b }] }] }));
  assert.ok(ruleNames().includes('my-epsilon') && ruleNames().indexOf('zero') === 0);
  const m = randomModel('mnist-3conv', 16, 9);
  const x = tf.randomUniform([2, 16, 16, 16, 1], 0, 1, 'float32', 9) as tf.Tensor5D;
  const mine = lrp(m, x, { pool: 'wta', rules: { conv2: { rule: 'my-epsilon', eps: 0.5 }, dense: { rule: 'my-epsilon', eps: 0.5 } } });
  const builtIn = lrp(m, x, { pool: 'wta', rules: { conv2: { rule: 'epsilon', epsilon: 0.5 }, dense: { rule: 'epsilon', epsilon: 0.5 } } });
  const plain = lrp(m, x, { pool: 'wta' });
  for (let k = 0; k < 2; k++) {
    assert.ok(relErr(mine.maps[k], builtIn.maps[k]) < 1e-6, `volume ${k}: ${relErr(mine.maps[k], builtIn.maps[k])}`);
    assert.ok(relErr(mine.maps[k], plain.maps[k]) > 1e-3, 'the rule is applied (it differs from LRP-0)');
  }
  // Cache keys carry a user rule's definition (not the built-ins': the code lock covers those).
  const before = userRuleDefinitions(['my-epsilon', 'epsilon', 'zb']);
  assert.deepEqual(Object.keys(before), ['my-epsilon']);
  registerRule('my-epsilon', (spec) => ({ ...epsilonRule(Number(spec.eps ?? 0.2)), name: 'my-epsilon' }), { replace: true });
  assert.notEqual(userRuleDefinitions(['my-epsilon'])['my-epsilon'], before['my-epsilon'], 'a redefined rule changes the key');
  assert.throws(() => registerRule('epsilon', () => zeroRule()), /already registered/);
  assert.throws(() => registerRule('Bad Name', () => zeroRule()), /lower-case/);
  registerRule('broken', () => ({ name: 'broken', params: {}, stabiliser: EPS_STABILISER, groups: [] }));
  assert.throws(() => makeRule({ rule: 'broken' }), /returned no valid rule/);
  assert.throws(() => makeRule({ rule: 'nothing' }, {}, 'rule for conv1'), /rule for conv1: unknown rule "nothing"; use one of zero, epsilon, .*my-epsilon/);
  m.dispose();
});

test('an explanation method registered from user code runs through explainTensor with its options checked; built-ins are registered the same way', () => {
  const { explainTensor, registerMethod, methodNames } = require('../lib/explain/explain') as typeof import('../lib/explain/explain');
  registerMethod({
    name: 'abs-gradient',
    options: [],
    memory: 'gradient',
    explain: (model, x, _opts, classes) => {
      const g = gradients(model, x, { classes });
      return { ...g, maps: g.maps.map((m) => m.map(Math.abs)) };
    },
  });
  assert.deepEqual(methodNames().slice(0, 3), ['cam', 'gradcam', 'gradcampp']);
  const m = randomModel('mnist-2conv', 8, 4);
  const x = tf.randomUniform([3, 8, 8, 8, 1], 0, 1, 'float32', 4) as tf.Tensor5D;
  const mine = explainTensor(m, x, { method: 'abs-gradient' });
  const grad = explainTensor(m, x, { method: 'gradient' });
  assert.equal(mine.method, 'abs-gradient');
  assert.deepEqual(mine.classes, grad.classes);
  for (let k = 0; k < 3; k++) {
    assert.deepEqual(Array.from(mine.maps[k]), Array.from(grad.maps[k]).map(Math.abs));
    assert.ok(Math.abs(mine.relevanceSums[k] - mine.maps[k].reduce((a, b) => a + b, 0)) < 1e-4, 'sums filled in');
  }
  assert.throws(() => explainTensor(m, x, { method: 'abs-gradient', steps: 8 }), /option steps: applies to integrated-gradients only \(got method abs-gradient\)/);
  assert.throws(() => explainTensor(m, x, { method: 'cam', pool: 'wta' }), /option pool: applies to lrp only/);
  assert.throws(() => explainTensor(m, x, { method: 'nothing' }), /unknown method "nothing"; use one of cam, .*abs-gradient/);
  assert.throws(() => registerMethod({ name: 'gradient', options: [], memory: 'gradient', explain: () => ({ maps: [], classes: [], logits: [] }) }), /already registered/);
  assert.throws(() => registerMethod({ name: 'x-y', options: ['nope' as never], memory: 'gradient', explain: () => ({ maps: [], classes: [], logits: [] }) }), /unknown option "nope"/);
  tf.dispose(x);
  m.dispose();
});

test('resolving a request: defaults written in from the option table, refused options named by field, idempotent', () => {
  const { resolveExplainOptions, OPTION_SPECS } = require('../lib/explain/explain') as typeof import('../lib/explain/explain');
  const { ATTRIBUTION_DEFAULTS } = require('../lib/explain/attribution') as typeof import('../lib/explain/attribution');
  assert.deepEqual(resolveExplainOptions({ method: 'integrated-gradients' }), { method: 'integrated-gradients', steps: ATTRIBUTION_DEFAULTS.igSteps, baseline: ATTRIBUTION_DEFAULTS.baseline });
  assert.deepEqual(resolveExplainOptions({ method: 'smoothgrad', samples: 4 }), { method: 'smoothgrad', samples: 4, noiseLevel: 0.1, seed: 0 });
  // Occlusion's window and stride are clipped to the volume as attribution.ts clips them.
  assert.deepEqual(resolveExplainOptions({ method: 'occlusion' }, [6, 16, 16]), { method: 'occlusion', window: 6, stride: 4, baseline: 0 });
  assert.deepEqual(resolveExplainOptions({ method: 'occlusion', window: 3 }, [16, 16, 16]), { method: 'occlusion', window: 3, stride: 3, baseline: 0 });
  assert.equal(resolveExplainOptions({ method: 'lrp', composite: 'composite2' }).pool, 'proportional', "the composite's pooling");
  assert.equal(resolveExplainOptions({ method: 'lrp' }).pool, 'wta');
  const r = resolveExplainOptions({ method: 'lrp', composite: 'composite3' });
  assert.deepEqual(resolveExplainOptions(r), r, 'idempotent');
  assert.throws(() => resolveExplainOptions({ method: 'smoothgrad', samples: 2.5 }), /option samples: expected an integer >= 1, got 2.5/);
  assert.throws(() => resolveExplainOptions({ method: 'gradient', window: 4 }), /option window: applies to occlusion only/);
  assert.throws(() => resolveExplainOptions({ method: 'cam', classes: [-1] }), /option classes: expected class indices/);
  for (const spec of Object.values(OPTION_SPECS)) if (spec.fill) assert.notEqual(spec.default, null, `${spec.flag} has a default to fill`);
});

test('explanation cache keys are the resolved request: a default made explicit is the same key, a changed default or composite is another', () => {
  const { explanationKey } = require('../lib/explain/cached') as typeof import('../lib/explain/cached');
  const { OPTION_SPECS } = require('../lib/explain/explain') as typeof import('../lib/explain/explain');
  const { COMPOSITES } = require('../lib/explain/lrp/composites') as typeof import('../lib/explain/lrp/composites');
  const shape = [16, 16, 16];
  const key = (o: import('../lib/explain/explain').ExplainOptions) => configHash(explanationKey(o, shape));
  assert.equal(key({ method: 'integrated-gradients' }), key({ method: 'integrated-gradients', steps: 32, baseline: 0 }));
  assert.equal(key({ method: 'lrp', composite: 'composite1', batchSize: 2 }), key({ method: 'lrp', composite: 'composite1', pool: 'wta' }), 'the batch size is not part of it');
  const before = key({ method: 'integrated-gradients' });
  const saved = OPTION_SPECS.steps.default;
  OPTION_SPECS.steps.default = 64; // what a changed library default looks like
  try {
    assert.notEqual(key({ method: 'integrated-gradients' }), before, 'a changed default misses the cache');
  } finally {
    OPTION_SPECS.steps.default = saved;
  }
  const c1 = key({ method: 'lrp', composite: 'composite1' });
  const conv1 = COMPOSITES.composite1.byPosition!.conv1;
  COMPOSITES.composite1.byPosition!.conv1 = { ...conv1, low: -1 }; // an edited zB bound
  try {
    assert.notEqual(key({ method: 'lrp', composite: 'composite1' }), c1, 'an edited composite misses the cache (explanations, AOPC and sanity share this key)');
  } finally {
    COMPOSITES.composite1.byPosition!.conv1 = conv1;
  }
  assert.equal(key({ method: 'lrp', composite: 'composite1' }), c1);
});

test('zB on a single-channel first convolution equals the three-term formula written out with convolutions', () => {
  const w = tf.randomNormal([3, 3, 3, 1, 4], 0, 0.5, 'float32', 3) as tf.Tensor5D;
  const b = tf.tensor1d([0.1, -0.2, 0.05, 0]);
  const x = tf.randomUniform([2, 6, 6, 6, 1], 0, 1, 'float32', 4) as tf.Tensor5D;
  const R = tf.randomUniform([2, 6, 6, 6, 4], 0, 1, 'float32', 5);
  const step = { kind: 'conv3d' as const, name: 'c1', position: 'conv1', kernel: w, bias: b, strides: [1, 1, 1] as [number, number, number], padding: 'same' as const, layerIndex: 0 };
  for (const [low, high] of [[0, 1], [-0.5, 2]]) {
    const got = applyRule(step, zbRule(low, high), x, R, false).dataSync();
    const want = tf.tidy(() => {
      const wp = tf.relu(w);
      const wn = tf.neg(tf.relu(tf.neg(w)));
      const l = tf.fill(x.shape, low) as tf.Tensor5D;
      const h = tf.fill(x.shape, high) as tf.Tensor5D;
      const conv = (u: tf.Tensor5D, k: tf.Tensor5D) => tf.conv3d(u, k, 1, 'same');
      const z = conv(x, w).sub(conv(l, wp as tf.Tensor5D)).sub(conv(h, wn as tf.Tensor5D));
      const S = R.div(z.add(tf.where(z.greaterEqual(0), tf.onesLike(z), tf.onesLike(z).neg()).mul(1e-9)));
      const back = (k: tf.Tensor) => tf.conv3dTranspose(S as tf.Tensor5D, k as tf.Tensor5D, x.shape, 1, 'same');
      return x.mul(back(w)).sub(l.mul(back(wp))).sub(h.mul(back(wn))).dataSync();
    });
    assert.ok(relErr(got, want) < 1e-4, `[${low}, ${high}]: ${relErr(got, want)}`);
  }
  tf.dispose([w, b, x, R]);
});

test('every rule gives the hand-computed relevance on a tiny dense layer', () => {
  // a = [1, 2]; w = [[1, -1], [2, 0.5]]; b = [0.5, -1]; R = [1, 2]  =>  z = [5.5, -1].
  const step: Step = { kind: 'dense', name: 'd', position: 'dense', kernel: tf.tensor2d([[1, -1], [2, 0.5]]), bias: tf.tensor1d([0.5, -1]), layerIndex: 0 };
  const a = tf.tensor2d([[1, 2]]);
  const R = tf.tensor2d([[1, 2]]);
  const run = (rule: ReturnType<typeof zeroRule>, nonNeg = true) => Array.from(applyRule(step, rule, a, R, nonNeg).dataSync());
  const close = (got: number[], want: number[], what: string) => got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-5, `${what}[${i}]: ${g} vs ${want[i]}`));
  close(run(zeroRule()), [1 / 5.5 + 2, 2 * (2 / 5.5 - 1)], 'LRP-0');
  close(run(epsilonRule(0.5)), [1 / 6 + 4 / 3, 2 * (2 / 6 - 0.5 * (4 / 3))], 'epsilon');
  close(run(gammaRule(0.5)), [1.5 / 8.25 + 4, 2 * (3 / 8.25 - 3)], 'gamma');
  close(run(alphaBetaRule(2, 1)), [2 * (1 / 5.5) - 1, 2 * 2 * (2 / 5.5 + 1) - 0], 'alpha2beta1');
  close(run(alphaBetaRule(2, 1), false), [2 * (1 / 5.5) - 1, 2 * 2 * (2 / 5.5 + 1) - 0], 'alpha2beta1 (a^- terms kept, a >= 0)');
  close(run(zbRule(0, 3)), [0.2 + 4 / 3, 0.8 + 2 / 3], 'zB');
  close(run(flatRule()), [1.5, 1.5], 'flat');
  close(run(wSquareRule()), [1.8, 1.2], 'w^2');
  tf.dispose([step.kernel!, step.bias!, a, R]);
  assert.throws(() => makeRule({ rule: 'alphabeta', alpha: 2, beta: 2 }), /alpha - beta must be 1/);
  assert.throws(() => makeRule({ rule: 'zb', low: 1, high: 1 }), /low \(1\) must be < high \(1\)/);
  assert.throws(() => makeRule({ rule: 'deeptaylor' }), /unknown rule "deeptaylor"/);
});

test('alpha1beta0 equals the z+ rule on a convolution with non-negative inputs', () => {
  const m = randomModel('mnist-2conv', 8, 5);
  const steps = modelChain(m);
  const conv2 = steps.find((s) => s.position === 'conv2')!;
  const a = tf.randomUniform([2, 4, 4, 4, 4], 0, 1, 'float32', 3);
  const R = tf.randomUniform([2, 4, 4, 4, 8], 0, 1, 'float32', 4);
  const got = applyRule(conv2, alphaBetaRule(1, 0), a, R, true);
  const want = tf.tidy(() => {
    const wp = tf.relu(conv2.kernel!);
    const zp = tf.conv3d(a as tf.Tensor5D, wp as tf.Tensor5D, 1, 'same').add(tf.relu(conv2.bias!)).add(1e-9);
    const S = R.div(zp);
    return a.mul(tf.grad((u: tf.Tensor) => tf.sum(tf.conv3d(u as tf.Tensor5D, wp as tf.Tensor5D, 1, 'same').mul(S)))(a));
  });
  assert.ok(relErr(got.dataSync(), want.dataSync()) < 1e-5);
  disposeChain(steps);
});

test('conservation: on bias-free models relevance is conserved; with biases the audit accounts for what they absorb', () => {
  const m = buildModel('mnist-6conv', { inputSize: 16, baseWidth: 4, seed: 8 }); // biases are zero at initialisation
  const x = tf.randomUniform([2, 16, 16, 16, 1], 0.05, 1, 'float32', 6) as tf.Tensor5D;
  const zplus = { rule: 'alphabeta', alpha: 1, beta: 0 };
  // Rules that ignore activations (flat, w^2) belong in the first layer: elsewhere they hand relevance to dead units.
  const zbPlus = { conv1: { rule: 'zb' }, conv2: zplus, conv3: zplus, conv4: zplus };
  const flatPlus = { conv1: { rule: 'flat' }, conv2: zplus, conv5: zplus };
  const w2 = { conv1: { rule: 'wsquare' } };
  for (const opts of [{}, { pool: 'proportional' as const }, { rules: zbPlus, pool: 'proportional' as const }, { rules: flatPlus }, { rules: w2 }]) {
    const r = lrp(m, x, opts);
    for (let k = 0; k < 2; k++) assert.ok(Math.abs(r.relevanceSums[k] - r.logits[k]) < 1e-3 * Math.abs(r.logits[k]) + 1e-6, `${JSON.stringify(opts)}: sum ${r.relevanceSums[k]} vs logit ${r.logits[k]}`);
  }
  const mb = randomModel('mnist-6conv', 16, 8);
  for (const opts of [{}, { composite: 'composite1' }, { composite: 'composite2' }]) {
    const r = lrp(mb, x, opts);
    const absorbed = r.audit.reduce((s, a) => s + a.absorbed, 0);
    const meanLogit = (r.logits[0] + r.logits[1]) / 2;
    const meanSum = (r.relevanceSums[0] + r.relevanceSums[1]) / 2;
    assert.ok(Math.abs(meanLogit - meanSum - absorbed) < 1e-4, 'logit = input relevance + absorbed');
    assert.equal(r.audit[0].layer, 'dense');
    // An independent known answer: LRP-0 at the Dense layer starts from R_c = z_c and hands out z_c - b_c, so what
    // the Dense layer absorbs is exactly the explained class's bias b_c (mean over the batch).
    const b = mb.getLayer('dense').getWeights()[1].dataSync();
    const wantDense = (b[r.classes[0]] + b[r.classes[1]]) / 2;
    assert.ok(Math.abs(r.audit[0].absorbed - wantDense) < 1e-4 * (1 + Math.abs(wantDense)), `dense absorbs ${r.audit[0].absorbed}, its bias ${wantDense}`);
    assert.equal(r.audit[r.audit.length - 1].layer, 'conv1');
  }
});

test('composites assign the rules of the thesis table; shallower models use the documented mapping', () => {
  const six = modelChain(buildModel('mnist-6conv', { inputSize: 16, baseWidth: 2 }));
  const t = (c: string) => assignRules(six, { composite: c }).table;
  const base = { conv5: 'zero', conv6: 'zero', dense: 'zero' };
  assert.deepEqual(t('composite1'), { conv1: 'zb(low=0, high=1)', conv2: 'gamma(gamma=0.25)', conv3: 'epsilon(epsilon=0.0025)', conv4: 'epsilon(epsilon=0.0025)', ...base });
  assert.deepEqual(t('composite2'), { conv1: 'zb(low=0, high=1)', conv2: 'gamma(gamma=0.25)', conv3: 'gamma(gamma=0.25)', conv4: 'epsilon(epsilon=0.0025)', ...base });
  assert.deepEqual(t('composite3'), { conv1: 'zb(low=0, high=1)', conv2: 'alphabeta(alpha=1, beta=0)', conv3: 'alphabeta(alpha=1, beta=0)', conv4: 'epsilon(epsilon=0.0025)', ...base });
  assert.equal(assignRules(six, { composite: 'composite1' }).pool, 'wta');
  assert.equal(assignRules(six, { composite: 'composite3' }).pool, 'proportional');
  // --rules override the composite; zB bounds from --low/--high.
  const o = assignRules(six, { composite: 'composite3', rules: { conv6: { rule: 'epsilon', epsilon: 0.1 } }, low: -1, high: 2 }).table;
  assert.equal(o.conv6, 'epsilon(epsilon=0.1)');
  assert.equal(o.conv1, 'zb(low=-1, high=2)');
  assert.throws(() => assignRules(six, { rules: { conv9: { rule: 'zero' } } }), /"conv9" is neither a position/);
  assert.throws(() => assignRules(six, { composite: 'composite9' }), /unknown composite "composite9"/);
  assert.deepEqual([1, 2, 3].map((i) => thesisPosition(i, 3)), [1, 4, 6]);
  assert.deepEqual([1, 2].map((i) => thesisPosition(i, 2)), [1, 6]);
  const three = modelChain(buildModel('mnist-3conv', { inputSize: 16, baseWidth: 2 }));
  assert.deepEqual(assignRules(three, { composite: 'composite1' }).table, { conv1: 'zb(low=0, high=1)', conv2: 'epsilon(epsilon=0.0025)', conv3: 'zero', dense: 'zero' });
  assert.deepEqual(assignRules(six, { composite: 'EpsilonGammaBox' }).table.conv1, 'zb(low=0, high=1)');
  assert.deepEqual(assignRules(six, { composite: 'EpsilonGammaBox' }).table.dense, 'epsilon(epsilon=0.000001)');
  disposeChain(six);
  disposeChain(three);
});

test('BatchNormalization is folded into the preceding convolution; unsupported layers are named', () => {
  const m = tf.sequential({
    layers: [
      tf.layers.conv3d({ inputShape: [8, 8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', name: 'c1' }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.activation({ activation: 'relu', name: 'act1' }),
      tf.layers.maxPooling3d({ poolSize: 2, name: 'p1' }),
      globalAveragePooling3d({ name: 'gap' }),
      tf.layers.dropout({ rate: 0.5, name: 'drop' }),
      tf.layers.dense({ units: 3, name: 'dense' }),
    ],
  });
  const bn = m.getLayer('bn1');
  bn.setWeights([tf.tensor1d([1.5, 0.5, 2, 1]), tf.tensor1d([0.1, -0.2, 0.3, 0]), tf.tensor1d([0.2, 0.1, -0.1, 0.05]), tf.tensor1d([0.5, 2, 1, 0.8])]);
  const x = tf.randomUniform([2, 8, 8, 8, 1], 0, 1, 'float32', 2) as tf.Tensor5D;
  const steps = modelChain(m);
  assert.equal(steps[0].name, 'c1+bn1');
  const { logits } = forwardChain(steps, x);
  // tfjs-layers cannot run BatchNormalization on 5-D inputs: compute the model by hand.
  const reference = tf.tidy(() => {
    const [k, b] = m.getLayer('c1').getWeights();
    const [g, be, mu, v] = bn.getWeights();
    let h: tf.Tensor = tf.conv3d(x, k as tf.Tensor5D, 1, 'same').add(b);
    h = h.sub(mu).div(v.add(1e-3).sqrt()).mul(g).add(be).relu();
    h = tf.mean(tf.maxPool3d(h as tf.Tensor5D, 2, 2, 'valid'), [1, 2, 3]);
    const [w, c] = m.getLayer('dense').getWeights();
    return tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D).add(c);
  });
  assert.ok(relErr(logits.dataSync(), reference.dataSync()) < 1e-5, 'folded chain computes the model');
  disposeChain(steps);
  const r = lrp(m, x);
  const g = gradients(m, x, { timesInput: true, classes: r.classes });
  assert.ok(relErr(r.maps[0], g.maps[0]) < 1e-4);
  const bad = tf.sequential({ layers: [tf.layers.conv3d({ inputShape: [4, 4, 4, 1], filters: 2, kernelSize: 3, activation: 'tanh', name: 'ct' }), globalAveragePooling3d(), tf.layers.dense({ units: 2 })] });
  assert.throws(() => lrp(bad, tf.zeros([1, 4, 4, 4, 1]) as tf.Tensor5D), /layer "ct": activation "tanh" is not supported/);
  const other = tf.sequential({ layers: [tf.layers.conv3d({ inputShape: [4, 4, 4, 1], filters: 2, kernelSize: 3, name: 'c' }), tf.layers.layerNormalization({ name: 'ln' }), globalAveragePooling3d(), tf.layers.dense({ units: 2 })] });
  assert.throws(() => modelChain(other), /layer "ln" \(LayerNormalization\) is not supported by the explanation engine; supported: InputLayer, Conv3D.*BatchNormalization/);
});

test('a canonizer registered from user code merges its layer into the convolution before it: the chain computes the model', () => {
  const { registerCanonizer } = require('../lib/explain/canonizers') as typeof import('../lib/explain/canonizers');
  class ScaleBy extends tf.layers.Layer {
    static className = 'ScaleByTest';
    constructor(readonly factor: number, args: { name?: string } = {}) {
      super(args);
    }
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return tf.mul(Array.isArray(inputs) ? inputs[0] : inputs, this.factor);
    }
    override getConfig() {
      return { ...super.getConfig(), factor: this.factor };
    }
  }
  const m = tf.sequential({ layers: [tf.layers.conv3d({ inputShape: [6, 6, 6, 1], filters: 2, kernelSize: 3, padding: 'same', name: 'c1' }), new ScaleBy(3, { name: 's' }), tf.layers.activation({ activation: 'relu' }), globalAveragePooling3d({ name: 'gap' }), tf.layers.dense({ units: 2, name: 'dense' })] });
  assert.throws(() => modelChain(m), /layer "s" \(ScaleByTest\) is not supported/);
  registerCanonizer({
    layerClass: 'ScaleByTest',
    merge(prev, layer) {
      const f = (layer as ScaleBy).factor;
      const [k, b] = [prev!.kernel!, prev!.bias!];
      prev!.kernel = k.mul(f);
      prev!.bias = b.mul(f);
      tf.dispose([k, b]);
    },
  });
  assert.throws(() => registerCanonizer({ layerClass: 'ScaleByTest', merge() {} }), /already registered/);
  const x = tf.randomUniform([2, 6, 6, 6, 1], 0, 1, 'float32', 5) as tf.Tensor5D;
  const steps = modelChain(m);
  assert.ok(relErr(forwardChain(steps, x).logits.dataSync(), (m.predict(x) as tf.Tensor).dataSync()) < 1e-5);
  disposeChain(steps);
  const r = lrp(m, x);
  assert.ok(relErr(r.maps[0], gradients(m, x, { timesInput: true, classes: r.classes }).maps[0]) < 1e-4, 'LRP-0 = gradient x input through the merged layer');
});

test('xai3d explain: NIfTI heatmaps keep the input geometry, .npy heatmaps are (D, H, W) float32, --json reports the audit; errors say what to change', { timeout: 300_000 }, async () => {
  const dir = tempDir();
  const m = randomModel('mnist-3conv', 16, 7);
  await saveModel(m, path.join(dir, 'model'));
  const vol = Float32Array.from({ length: 16 ** 3 }, (_, i) => ((i * 31) % 17) / 17);
  const affine = [[0, 0, -1.25, 80], [-1, 0, 0, 110], [0, -1, 0, 130], [0, 0, 0, 1]] as [number[], number[], number[], number[]];
  writeNifti(path.join(dir, 'in.nii.gz'), { data: vol, dims: [16, 16, 16], pixdim: [1, 1, 1.25], affine });
  writeNpy(path.join(dir, 'in.npy'), vol, [16, 16, 16]);
  const modelJson = path.join(dir, 'model', 'model.json');
  const r = runCli(['explain', '--model', modelJson, '--input', path.join(dir, 'in.nii.gz'), '--method', 'lrp', '--composite', 'composite2', '--out', path.join(dir, 'h.nii.gz'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['class', 'logit', 'relevance_sum', 'per_layer']);
  assert.equal(j.per_layer[0].layer, 'dense');
  const h = readNifti(path.join(dir, 'h.nii.gz'));
  assert.deepEqual(h.affine, affine);
  assert.deepEqual(h.dims, [16, 16, 16]);
  assert.ok(Math.abs(h.data.reduce((a, b) => a + b, 0) - j.relevance_sum) < 1e-3 * Math.abs(j.relevance_sum) + 1e-5);
  const r2 = runCli(['explain', '--model', modelJson, '--input', path.join(dir, 'in.npy'), '--method', 'cam', '--class', '3', '--out', path.join(dir, 'h.npy'), '--json']);
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(JSON.parse(r2.stdout).class, 3);
  const hn = readNpy(path.join(dir, 'h.npy'));
  assert.deepEqual(hn.shape, [16, 16, 16]);
  assert.equal(hn.dtype, '<f4');
  const fail = (args: string[], re: RegExp, code = 1) => {
    const res = runCli(['explain', '--model', modelJson, '--input', path.join(dir, 'in.npy'), '--out', path.join(dir, 'x.npy'), ...args]);
    assert.equal(res.status, code, res.stderr);
    assert.match(res.stderr, re);
    assert.doesNotMatch(res.stderr, /    at /);
  };
  fail(['--method', 'lrp', '--rules', '{"conv1": {"rule": "magic"}}'], /unknown rule "magic"/);
  fail(['--method', 'lrp', '--rules', '{"conv1": {"rule": "zb", "low": 2, "high": 1}}'], /low \(2\) must be < high \(1\)/);
  fail(['--method', 'lrp', '--rules', '{"conv2": {"rule": "alphabeta", "alpha": 3, "beta": 1}}'], /alpha - beta must be 1/);
  fail(['--method', 'lrp', '--rules', '{"conv2": {"rule": '], /--rules is not valid JSON/, 2);
  fail(['--method', 'saliency'], /--method saliency: use one of cam, gradcam, gradcampp, gradient, inputxgradient, smoothgrad, integrated-gradients, occlusion, lrp/, 2);
  fail(['--method', 'cam', '--composite', 'composite1'], /--composite: applies to --method lrp only \(got method cam\)/, 2);
  // Flags are parsed and checked by the library's option table, its errors in flag names.
  fail(['--method', 'integrated-gradients', '--steps', '0'], /--steps 0: expected an integer >= 1$/m, 2);
  fail(['--method', 'cam', '--steps', '4'], /--steps: applies to --method integrated-gradients only/, 2);
  fail(['--method', 'occlusion', '--baseline', 'mean'], /--baseline mean: expected a finite number or "reference"/, 2);
  fail(['--method', 'lrp', '--low', '2', '--high', '1'], /--low 2 must be < --high 1 \(the zB rule's input bounds\)/, 2);
  fail(['--method', 'lrp', '--composite', 'composite9'], /--composite: unknown composite "composite9"; use one of composite1, composite2, composite3/, 2);
  writeNpy(path.join(dir, 'small.npy'), new Float32Array(8 ** 3), [8, 8, 8]);
  const res = runCli(['explain', '--model', modelJson, '--input', path.join(dir, 'small.npy'), '--method', 'gradient', '--out', path.join(dir, 'x.npy')]);
  assert.equal(res.status, 1);
  assert.match(res.stderr, /input shape \[8, 8, 8, 1\] does not match the model's input \[16, 16, 16, 1\]/);
  assert.ok(!fs.existsSync(path.join(dir, 'x.npy')), 'no output written on failure');
});

test('rigid registration recovers a known in-plane rotation and shift; class averages use the aligned heatmaps', async () => {
  const { registerRigid, applyRigid, classAverageHeatmaps } = await import('../lib/explain/average');
  const { loadMnist3d } = await import('../lib/data/mnist3d/dataset');
  const ds = await loadMnist3d({ size: 16, trainCount: 12, testCount: 0 }, { root: tempDir() });
  const shape: [number, number, number] = [16, 16, 16];
  const fixed = ds.volume(0);
  const moved = applyRigid(fixed, shape, { angleDeg: 10, shift: [1, -2, 0] });
  const { transform, score } = registerRigid(moved, fixed, shape);
  const before = registerRigid(moved, fixed, shape, [0]).score;
  assert.equal(transform.angleDeg, -10, 'undoes the rotation');
  assert.ok(score > before + 0.1 && score > 0.7, `NCC ${score} after registration, ${before} with translation only`);
  // Averages: with heatmap = volume, the class-average heatmap equals the class template.
  const idx = Array.from({ length: 12 }, (_, i) => i);
  const avgs = classAverageHeatmaps(ds, idx, idx.map((i) => ds.volume(i)));
  assert.equal(avgs.reduce((s, a) => s + a.count, 0), 12);
  for (const a of avgs) assert.ok(relErr(a.heatmap, a.template) < 1e-5);
});

test('an input volume with NaN or Inf is refused by name and voxel; large finite values are not', () => {
  const m = buildModel('mnist-2conv', { inputSize: 8, seed: 1 });
  const v = new Float32Array(2 * 8 ** 3).fill(0.5);
  v[8 ** 3 + (1 * 8 + 2) * 8 + 3] = NaN; // volume 1, voxel (1, 2, 3)
  const x = tf.tensor5d(v, [2, 8, 8, 8, 1]);
  assert.throws(() => explainTensor(m, x, { method: 'cam' }), /input volume: non-finite value \(NaN\) at index \(1, 1, 2, 3, 0\)/);
  v[8 ** 3 + (1 * 8 + 2) * 8 + 3] = -Infinity;
  const y = tf.tensor5d(v, [2, 8, 8, 8, 1]);
  assert.throws(() => explainTensor(m, y, { method: 'lrp' }), /non-finite value \(-Infinity\) at index \(1, 1, 2, 3, 0\)/);
  // 3e38 in every voxel: finite, though a float32 sum of them would overflow.
  const big = tf.fill([1, 8, 8, 8, 1], 3e38) as tf.Tensor5D;
  assert.doesNotThrow(() => assertFiniteTensor(big, 'input volume'));
  tf.dispose([x, y, big]);
  m.dispose();
});
