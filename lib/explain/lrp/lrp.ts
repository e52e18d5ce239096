/**
 * The LRP engine: walks the chain backwards from the target logit, applying each weight layer's rule (rules.ts, in
 * their shared form), passing relevance through ReLUs, and redistributing it at pooling layers:
 *   max pooling  'wta': all of a window's relevance to its maximum (what the gradient does; ties to the last maximum,
 *                as tfjs's kernels break them); 'proportional': R_j = a_j / s(sum_window a) R_k ("sum pooling");
 *   average pooling and global average pooling: proportional.
 * Relevance at the output is the target logit z_c at unit c and zero elsewhere. Batched over volumes; every tensor
 * lives inside tf.tidy. The conservation audit records, per layer, the relevance leaving and entering it and what
 * biases and stabilisers absorbed.
 */
import * as tf from '@tensorflow/tfjs';
import { tidyValue } from '../../util/tidy';
import { centeringStep, forwardChain, forwardStep, linear, modelChain, disposeChain, type Step } from '../chain';
import { assignRules, describeRule, type AssignOptions, type PoolMode } from './composites';
import { stabilisedDivide, usesLayerOutput, zbRule, type Rule, type RuleTerm } from './rules';
import { lrpConv3d, lrpConv3dPair, lrpConv3dTwoTerms, lrpPool2, nativeSumsAvailable, perVolumeSums } from '../../backend/fused-conv';
import { sumValues } from '../../util/sum';

export interface LayerAudit {
  layer: string;
  kind: string;
  position?: string;
  rule?: string;
  /** Relevance arriving at the layer's output (mean over the batch). */
  relevanceOut: number;
  /** Relevance the layer passes to its input. */
  relevanceIn: number;
  /** relevanceOut - relevanceIn: what biases and stabilisers absorbed. */
  absorbed: number;
}

export interface LrpResult {
  /** Input relevance summed over channels, [b, D, H, W] as a Float32Array per volume. */
  maps: Float32Array[];
  /** Input relevance with channels, per volume (length D*H*W*C). */
  mapsWithChannels: Float32Array[];
  classes: number[];
  logits: number[];
  /** Sum of input relevance per volume. */
  relevanceSums: number[];
  /** Per layer, from the output down (means over the batch). */
  audit: LayerAudit[];
  rules: Record<string, string>;
  pool: PoolMode;
  /** With keepLayers: the relevance at every layer's input, from the output layer down to the input. */
  layers?: LayerRelevance[];
}

export interface LrpOptions extends AssignOptions {
  /** Target class per volume (default: the predicted class). */
  classes?: number[];
  /** Also return the relevance at the input of every layer (Zennit's / Captum's layer attributions). */
  keepLayers?: boolean;
}

/** The relevance arriving at the input of one layer, for every volume of the batch. */
export interface LayerRelevance {
  /** The layer whose input this is (its rule produced it). */
  layer: string;
  kind: string;
  /** Shape of one volume's relevance, e.g. [D, H, W, C] for a convolution's input, [features] for a dense layer's. */
  shape: number[];
  /** C-order values per volume. */
  values: Float32Array[];
  /** Sum per volume (the conservation audit's relevanceIn, per volume). */
  sums: number[];
}

/** Which step inputs are non-negative by construction (after a ReLU, through pooling). */
function nonNegativeInputs(steps: Step[]): boolean[] {
  const out: boolean[] = [];
  let nonNeg = false;
  for (const s of steps) {
    out.push(nonNeg);
    if (s.kind === 'relu') nonNeg = true;
    else if (s.kind === 'conv3d' || s.kind === 'dense') nonNeg = false;
  }
  return out;
}

/**
 * J^T S of the linear map u -> layer(u; w) (no bias): for a convolution the transposed convolution (one
 * Conv3DBackpropInputV2, xai3d's fast kernel), for a dense layer S w^T. No forward pass is repeated.
 */
function transposeApply(step: Step, u: tf.Tensor, w: tf.Tensor, S: tf.Tensor): tf.Tensor {
  if (step.kind === 'conv3d') {
    return tf.conv3dTranspose(S as tf.Tensor5D, w as tf.Tensor5D, u.shape as [number, number, number, number, number], step.strides!, step.padding!);
  }
  return tf.matMul(S as tf.Tensor2D, w as tf.Tensor2D, false, true);
}

/**
 * Relevance through one weight layer under `rule`. `layerOutput`, when given, is the layer's own z = layer(a; w, b)
 * from the forward pass, used in place of recomputing it for rules whose modified output is z (usesLayerOutput).
 *
 * A stride-1 convolution runs each term's convolution with the next steps applied as its outputs are stored, where
 * xai3d's fused LRP kernels run (lib/backend/fused-conv.ts, lrpConv3d): the group's z as a sum of terms ends in the
 * stabilised division (S comes out, z is never stored), and each term's transposed convolution is multiplied by its
 * input and added to the relevance so far. The same float32 operations in the same order as the separate ops below
 * (the same bits, test/lrp-fusion.test.ts), four passes over a first layer's 16 M values fewer per term.
 */
export function applyRule(step: Step, rule: Rule, a: tf.Tensor, R: tf.Tensor, inputNonNegative: boolean, layerOutput?: tf.Tensor): tf.Tensor {
  const conv = step.kind === 'conv3d' && step.strides!.every((v) => v === 1);
  // (Multiplications by a coefficient of 1 are skipped: each is a pass over a whole activation.)
  const scaled = (t: tf.Tensor, c: number) => (c === 1 ? t : t.mul(c));
  // acc + c * u * (J^T S) for weights w: the gradient-times-input reducer of one term.
  const reduceInto = (u: tf.Tensor, w: tf.Tensor, S: tf.Tensor, acc: tf.Tensor | null, c: number): tf.Tensor => {
    const fused = conv && c === 1 ? lrpConv3d(S, w, step.padding!, { mul: u, add: acc }, a.shape) : null;
    if (fused) return fused;
    const contrib = scaled(u.mul(transposeApply(step, u, w, S)), c);
    return acc ? acc.add(contrib) : contrib;
  };
  if (layerOutput && usesLayerOutput(rule)) {
    return tf.tidy(() => reduceInto(a, step.kernel!, stabilisedDivide(R, layerOutput, rule.stabiliser), null, 1));
  }
  type Mod = { t: RuleTerm; u: tf.Tensor; w: tf.Tensor; b: tf.Tensor | null };
  // S = R / s(sum of the terms' outputs), fused where every term's coefficient is 1; else null.
  const fusedS = (mods: Mod[]): tf.Tensor | null => {
    if (!conv || mods.some((m) => m.t.coef !== 1)) return null;
    const two = mods.length === 2 ? lrpConv3dTwoTerms([mods[0], mods[1]], step.padding!, { r: R, eps: rule.stabiliser }) : null;
    if (two) return two;
    let z: tf.Tensor | null = null;
    for (let k = 0; k < mods.length; k++) {
      const m = mods[k];
      const last = k === mods.length - 1;
      const next = lrpConv3d(m.u, m.w, step.padding!, { bias: m.b, add: z, divide: last ? { r: R, eps: rule.stabiliser } : undefined });
      if (!next) return null;
      z = next;
    }
    return z;
  };
  return tf.tidy(() => {
    let Rin: tf.Tensor | null = null;
    for (const g of rule.groups) {
      if (g.coef === 0) continue;
      const terms = g.terms.filter((t) => !(inputNonNegative && t.zeroForNonNegativeInput));
      const mods: Mod[] = terms.map((t) => ({ t, u: t.input(a), w: t.weight(step.kernel!), b: t.bias ? t.bias(step.bias!) : null }));
      let S = fusedS(mods);
      if (!S) {
        let z: tf.Tensor | null = null;
        for (const m of mods) {
          const zt = scaled(linear(step, m.u, m.w, m.b), m.t.coef);
          z = z ? z.add(zt) : zt;
        }
        S = stabilisedDivide(R, z!, rule.stabiliser);
      }
      // Two terms of coefficient 1 on a first layer (zB): both reducers in one pass over S where that runs.
      const pair: tf.Tensor | null = conv && mods.length === 2 && mods.every((m) => m.t.coef * g.coef === 1) ? lrpConv3dPair(S, [mods[0].w, mods[1].w], [mods[0].u, mods[1].u], Rin, step.padding!, a.shape) : null;
      if (pair) Rin = pair;
      else for (const m of mods) Rin = reduceInto(m.u, m.w, S, Rin, m.t.coef * g.coef);
    }
    return Rin ?? tf.zerosLike(a);
  });
}

function poolProportional(step: Step, a: tf.Tensor, R: tf.Tensor): tf.Tensor {
  // 2x2x2 windows at stride 2 in one pass where the fused kernel runs (the same bits as the ops below).
  const fused = lrpPool2(a, R, step.poolSize!, step.strides!, step.padding!, 1e-9);
  if (fused) return fused;
  return tf.tidy(() => {
    const vol = step.poolSize![0] * step.poolSize![1] * step.poolSize![2];
    const sumPool = (u: tf.Tensor) => tf.avgPool3d(u as tf.Tensor5D, step.poolSize!, step.strides!, step.padding!).mul(vol);
    const S = stabilisedDivide(R, sumPool(a), 1e-9);
    // The gradient of sum(sumPool(u) S) at a, without running the pooling forward again: AvgPool3DGrad of S * vol
    // (what tf.grad computes, the same bits).
    const g = tf.engine().runKernel('AvgPool3DGrad', { dy: S.mul(vol), input: a }, { filterSize: step.poolSize!, strides: step.strides!, pad: step.padding! } as never) as tf.Tensor;
    return a.mul(g);
  });
}

/**
 * Relevance through a pooling step; `y` is the step's output from the forward pass. (ReLU, the input centering and
 * flatten pass relevance on unchanged: lrpOnChain does not call this for them.)
 */
function passThrough(step: Step, a: tf.Tensor, y: tf.Tensor, R: tf.Tensor, pool: PoolMode): tf.Tensor {
  return tf.tidy(() => {
    switch (step.kind) {
      case 'gap3d': {
        // R_j = a_j / s(sum_spatial a) R_c (proportional; GAP is linear, so this is also LRP-0).
        const S = stabilisedDivide(R, tf.sum(a, [1, 2, 3]), 1e-9);
        return a.mul(S.reshape([S.shape[0], 1, 1, 1, S.shape[1] as number]));
      }
      case 'avgpool3d':
        return poolProportional(step, a, R);
      case 'maxpool3d':
        if (pool === 'proportional') return poolProportional(step, a, R);
        // The gradient of sum(maxPool(u) R) at a, which is MaxPool3DGrad of dy = R (ones x R: the same bits), with the
        // forward pass's pooled output: the kernel tf.grad would run, without pooling again.
        return tf.engine().runKernel('MaxPool3DGrad', { dy: R, input: a, output: y }, { filterSize: step.poolSize!, strides: step.strides!, pad: step.padding!, dimRoundingMode: undefined } as never) as tf.Tensor;
      default:
        throw new Error(`no relevance rule for step ${step.kind}`);
    }
  });
}

/** Sum per volume: in float64 on the native kernels (perVolumeSums), else tf.sum's float32 totals. */
function perSampleSums(t: tf.Tensor): number[] {
  return perVolumeSums(t) ?? Array.from(tf.tidy(() => tf.sum(t.reshape([t.shape[0], -1]), 1)).dataSync());
}

/**
 * A model with an input centering (x' = (x - r) s) is explained in its centred input; a zB rule on the layer after it
 * gets its bounds, stated for the [0, 1] volume, mapped the same way: per voxel (low - r) s and (high - r) s.
 */
function centredBounds(steps: Step[], rules: Map<number, Rule>): void {
  const c = centeringStep(steps);
  const rule = rules.get(1);
  if (!c || !rule || rule.name !== 'zb') return;
  const { low, high } = rule.params as { low: number; high: number };
  rules.set(1, zbRule(low, high, (v) => forwardStep(c, tf.scalar(v)).expandDims(0)));
}

/** LRP on a chain (steps from modelChain). */
export function lrpOnChain(steps: Step[], x: tf.Tensor5D, opts: LrpOptions = {}): LrpResult {
  const assignment = assignRules(steps, opts);
  centredBounds(steps, assignment.rules);
  const nonNeg = nonNegativeInputs(steps);
  const b = x.shape[0];
  const audit: LayerAudit[] = [];
  const layers: LayerRelevance[] = [];
  return tidyValue(() => {
    // Weight layers whose rule reuses the forward pass's z keep it: a convolution followed by its ReLU is then not
    // fused, and the ReLU's input is z; the last layer's z is the logits.
    const keepOutput = new Set<number>();
    steps.forEach((s, i) => {
      const rule = assignment.rules.get(i);
      if (rule && usesLayerOutput(rule) && (steps[i + 1]?.kind === 'relu' || i === steps.length - 1)) keepOutput.add(i);
    });
    const { inputs, logits } = forwardChain(steps, x, keepOutput);
    const layerOutput = (i: number): tf.Tensor | undefined => (!keepOutput.has(i) ? undefined : i === steps.length - 1 ? logits : inputs[i + 1]);
    const predicted = Array.from(tf.argMax(logits, 1).dataSync());
    const classes: number[] = opts.classes ?? predicted;
    const nClasses = logits.shape[1];
    if (classes.length !== b) throw new Error(`${classes.length} target classes for ${b} volumes`);
    for (const c of classes) if (!(Number.isInteger(c) && c >= 0 && c < nClasses)) throw new Error(`class ${c} is not a class of this model (0..${nClasses - 1})`);
    const mask = tf.oneHot(tf.tensor1d(classes, 'int32'), nClasses).cast('float32');
    const target = logits.mul(mask);
    const logitValues = Array.from(tf.sum(target, 1).dataSync());
    let R: tf.Tensor = target;
    // The relevance leaving a step is what entered the step above it: each sum is taken once (a pass over the
    // relevance at every layer, 16 M values at a 128^3 first layer).
    let outSums = perSampleSums(R);
    for (let i = steps.length - 1; i >= 0; i--) {
      const s = steps[i];
      const rule = assignment.rules.get(i);
      const out = outSums;
      // ReLU and the input centering pass relevance on unchanged (and flatten only reshapes it): no pass, no new sum.
      const unchanged = s.kind === 'relu' || s.kind === 'center' || s.kind === 'flatten';
      const next = unchanged ? (s.kind === 'flatten' ? R.reshape(inputs[i].shape) : R) : rule ? applyRule(s, rule, inputs[i], R, nonNeg[i], layerOutput(i)) : passThrough(s, inputs[i], i === steps.length - 1 ? logits : inputs[i + 1], R, assignment.pool);
      const inn = unchanged ? out : perSampleSums(next);
      outSums = inn;
      const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
      if (s.kind !== 'relu' && s.kind !== 'flatten') {
        audit.push({
          layer: s.name,
          kind: s.kind === 'maxpool3d' ? `maxpool3d (${assignment.pool})` : s.kind,
          position: s.position,
          rule: rule ? describeRule(rule) : undefined,
          relevanceOut: mean(out),
          relevanceIn: mean(inn),
          absorbed: mean(out) - mean(inn),
        });
        if (opts.keepLayers) {
          const all = next.dataSync() as Float32Array;
          const per = all.length / b;
          layers.push({ layer: s.name, kind: s.kind, shape: next.shape.slice(1), values: Array.from({ length: b }, (_, k) => all.slice(k * per, (k + 1) * per)), sums: inn });
        }
      }
      // The relevance above this step is no longer needed (a 67 MB tensor at a 128^3 first layer).
      if (next !== R && s.kind !== 'flatten') R.dispose();
      R = next;
    }
    const [, D, H, W, C] = x.shape;
    // (outSums are the last step's input sums, float64 where perVolumeSums runs.)
    const finalSums = nativeSumsAvailable() && R.dtype === 'float32' && R.size > 0 ? outSums : null;
    const withChannels = R.dataSync() as Float32Array;
    // One input channel (every model here): the map is the relevance itself, no reduction pass.
    const summed = C === 1 ? withChannels : (tf.sum(R, 4).dataSync() as Float32Array);
    const n = D * H * W;
    // (dataSync returns a fresh copy: one volume's map is that copy, not a copy of it; the maps with channels are cut
    // only when read, as few callers want them.)
    const maps = b === 1 ? [summed] : Array.from({ length: b }, (_, k) => summed.slice(k * n, (k + 1) * n));
    const withChannelsPerVolume = () => Array.from({ length: b }, (_, k) => withChannels.slice(k * n * C, (k + 1) * n * C));
    return {
      maps,
      get mapsWithChannels() {
        return withChannelsPerVolume();
      },
      classes,
      logits: logitValues,
      // The input relevance's float64 totals where the audit has them (the native sums), else the maps' sums.
      relevanceSums: finalSums ?? maps.map(sumValues),
      audit,
      rules: assignment.table,
      pool: assignment.pool,
      ...(opts.keepLayers ? { layers } : {}),
    };
  });
}

/** LRP of a LayersModel on a batch of volumes [b, D, H, W, C]. */
export function lrp(model: tf.LayersModel, x: tf.Tensor5D, opts: LrpOptions = {}): LrpResult {
  const steps = modelChain(model);
  try {
    return lrpOnChain(steps, x, opts);
  } finally {
    disposeChain(steps);
  }
}
