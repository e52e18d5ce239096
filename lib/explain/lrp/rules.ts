/**
 * LRP rules in one shared form (after Zennit's "basic hook": a rule is data, not a bespoke backward pass).
 *
 * A rule is a list of groups; a group is a list of terms; a term modifies the layer's input, weights and bias.
 * For a linear layer z_k = sum_j a_j w_jk + b_k receiving relevance R_k:
 *     z^g_k   = sum_t c_t * layer(input_t(a); weight_t(w), bias_t(b))_k             (the group's modified output)
 *     S^g_k   = R_k / s(z^g_k),   s(z) = z + eps * sign(z), sign(0) = +1             (stabilised division)
 *     R_j     = sum_g c_g sum_t c_t * input_t(a)_j * (J_{weight_t}^T S^g)_j          (the gradient x input reducer)
 * LRP-0, epsilon and gamma are one group of one term; zB is one group of three terms; alpha-beta is two groups
 * (positive and negative contributions). Adding a rule never touches the engine (lrp.ts): `registerRule(name,
 * factory)` makes it available by name to composites, `--rules` JSON and every method that takes rules, from
 * library code or a notebook cell (the built-in rules are registered the same way).
 *
 * References: Bach et al. 2015 (LRP-0, epsilon, alpha-beta); Montavon et al. 2017 (zB); Montavon et al. 2019
 * (gamma, flat, w^2, the overview this file follows); Kohlbrenner et al. 2020 (composites).
 */
import * as tf from '@tensorflow/tfjs';
import { STABILISED_DIVIDE, stabilisedDivideFused } from '../../backend/kernels3d';

export interface RuleTerm {
  coef: number;
  /** Modified input (may be a constant, e.g. the zB bounds). */
  input: (a: tf.Tensor) => tf.Tensor;
  weight: (w: tf.Tensor) => tf.Tensor;
  /** Modified bias, or null for none. */
  bias: ((b: tf.Tensor) => tf.Tensor) | null;
  /** The term vanishes when the layer's input is non-negative (e.g. a^- terms after a ReLU). */
  zeroForNonNegativeInput?: boolean;
}

export interface RuleGroup {
  coef: number;
  terms: RuleTerm[];
}

export interface Rule {
  /** Name as used in --rules and composites: zero, epsilon, gamma, alphabeta, zb, flat, wsquare, or a registered one. */
  name: string;
  /** Parameters, for reports. */
  params: Record<string, number>;
  groups: RuleGroup[];
  /** eps of the stabiliser s(z) = z + eps * sign(z). */
  stabiliser: number;
}

export const RULE_NAMES = ['zero', 'epsilon', 'gamma', 'alphabeta', 'zb', 'flat', 'wsquare'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

/** The default stabiliser of rules without their own epsilon. */
export const EPS_STABILISER = 1e-9;

const id = (t: tf.Tensor) => t;

/**
 * Does the rule's modified output equal the layer's own pre-activation z = layer(a; w, b) (one group, one term, input,
 * weights and bias unmodified: LRP-0 and epsilon)? Then the engine reuses the forward pass's z instead of computing it
 * again (the same op on the same tensors: the same bits).
 */
export function usesLayerOutput(rule: Rule): boolean {
  if (rule.groups.length !== 1 || rule.groups[0].coef !== 1 || rule.groups[0].terms.length !== 1) return false;
  const t = rule.groups[0].terms[0];
  return t.coef === 1 && t.input === id && t.weight === id && t.bias === id;
}
const pos = (t: tf.Tensor) => tf.relu(t);
const neg = (t: tf.Tensor) => tf.neg(tf.relu(tf.neg(t)));

/** LRP-0 (Bach et al. 2015): R_j = a_j sum_k w_jk R_k / s(z_k), bias in z. */
export function zeroRule(): Rule {
  return { name: 'zero', params: {}, stabiliser: EPS_STABILISER, groups: [{ coef: 1, terms: [{ coef: 1, input: id, weight: id, bias: id }] }] };
}

/** LRP-epsilon (Bach et al. 2015): the LRP-0 form with s(z) = z + eps sign(z). Thesis: eps = 0.0025. */
export function epsilonRule(epsilon = 0.0025): Rule {
  if (!(epsilon > 0)) throw new Error(`epsilon rule: epsilon must be > 0, got ${epsilon}`);
  return { name: 'epsilon', params: { epsilon }, stabiliser: epsilon, groups: [{ coef: 1, terms: [{ coef: 1, input: id, weight: id, bias: id }] }] };
}

/**
 * LRP-gamma (Montavon et al. 2019): weights w + gamma w^+, bias b + gamma b^+. Written for non-negative inputs
 * (after a ReLU). Thesis: gamma = 0.25.
 */
export function gammaRule(gamma = 0.25): Rule {
  if (!(gamma >= 0)) throw new Error(`gamma rule: gamma must be >= 0, got ${gamma}`);
  return {
    name: 'gamma',
    params: { gamma },
    stabiliser: EPS_STABILISER,
    groups: [{ coef: 1, terms: [{ coef: 1, input: id, weight: (w) => w.add(pos(w).mul(gamma)), bias: (b) => b.add(pos(b).mul(gamma)) }] }],
  };
}

/**
 * LRP-alpha-beta (Bach et al. 2015): alpha x (positive contributions a^+ w^+ + a^- w^-, bias b^+) minus beta x
 * (negative contributions a^+ w^- + a^- w^+, bias b^-), each normalised by its own total. alpha - beta = 1.
 * alpha1beta0 is the z+ rule.
 */
export function alphaBetaRule(alpha = 1, beta = 0): Rule {
  if (!(alpha >= 0 && beta >= 0)) throw new Error(`alphabeta rule: alpha and beta must be >= 0, got alpha=${alpha}, beta=${beta}`);
  if (Math.abs(alpha - beta - 1) > 1e-9) throw new Error(`alphabeta rule: alpha - beta must be 1, got alpha=${alpha}, beta=${beta}`);
  const groups: RuleGroup[] = [
    {
      coef: alpha,
      terms: [
        { coef: 1, input: pos, weight: pos, bias: pos },
        { coef: 1, input: neg, weight: neg, bias: null, zeroForNonNegativeInput: true },
      ],
    },
  ];
  if (beta > 0) {
    groups.push({
      coef: -beta,
      terms: [
        { coef: 1, input: pos, weight: neg, bias: neg },
        { coef: 1, input: neg, weight: pos, bias: null, zeroForNonNegativeInput: true },
      ],
    });
  }
  return { name: 'alphabeta', params: { alpha, beta }, stabiliser: EPS_STABILISER, groups };
}

/**
 * zB (Montavon et al. 2017), for the first layer, whose inputs lie in [low, high]:
 * R_j = sum_k (x_j w_jk - l_j w^+_jk - h_j w^-_jk) R_k / s(sum_j (x_j w_jk - l_j w^+_jk - h_j w^-_jk)); no bias.
 * Default [0, 1], the range of xai3d's preprocessed volumes. Computed as two terms: with w = w^+ + w^-,
 * x w - l w^+ - h w^- = (x - l) w^+ + (x - h) w^-, so two convolutions and two transposes instead of three each
 * (both terms are >= 0 for l <= x <= h, so z >= 0, as the rule's derivation has it).
 */
export function zbRule(low = 0, high = 1, bounds?: (v: number) => tf.Tensor): Rule {
  if (!(Number.isFinite(low) && Number.isFinite(high))) throw new Error(`zb rule: low and high must be finite numbers, got ${low}, ${high}`);
  if (!(low < high)) throw new Error(`zb rule: low (${low}) must be < high (${high})`);
  // `bounds` maps a bound of the raw input to the layer's input (e.g. through an input centering: (v - r) s, one
  // value per voxel, broadcast over the batch); without it the bound is the same constant everywhere.
  const minus = (v: number) => (a: tf.Tensor) => (bounds ? a.sub(bounds(v)) : v === 0 ? a : a.sub(v));
  return {
    name: 'zb',
    params: { low, high },
    stabiliser: EPS_STABILISER,
    groups: [
      {
        coef: 1,
        terms: [
          { coef: 1, input: minus(low), weight: pos, bias: null },
          { coef: 1, input: minus(high), weight: neg, bias: null },
        ],
      },
    ],
  };
}

/** Flat (Montavon et al. 2019): every connected input gets an equal share, R_j = sum_k R_k / (number of inputs of k). */
export function flatRule(): Rule {
  return { name: 'flat', params: {}, stabiliser: EPS_STABILISER, groups: [{ coef: 1, terms: [{ coef: 1, input: (a) => tf.onesLike(a), weight: (w) => tf.onesLike(w), bias: null }] }] };
}

/** w^2 (Montavon et al. 2017): R_j = sum_k w_jk^2 / sum_j' w_j'k^2 R_k. */
export function wSquareRule(): Rule {
  return { name: 'wsquare', params: {}, stabiliser: EPS_STABILISER, groups: [{ coef: 1, terms: [{ coef: 1, input: (a) => tf.onesLike(a), weight: (w) => w.square(), bias: null }] }] };
}

/** A rule spec as accepted by --rules JSON and composites (a registered rule may read further numeric fields). */
export interface RuleSpec {
  rule: RuleName | string;
  epsilon?: number;
  gamma?: number;
  alpha?: number;
  beta?: number;
  low?: number;
  high?: number;
  [param: string]: number | string | undefined;
}

/** Builds a rule from its spec; `defaults` carries the zB input bounds of the call (--low/--high). */
export type RuleFactory = (spec: RuleSpec, defaults: { low?: number; high?: number }) => Rule;

const RULES = new Map<string, RuleFactory>();

/**
 * Make a rule available by name (composites, `--rules`, `explain(..., { rules })`). Names are lower-case words
 * (letters, digits, '-'); an existing name is refused unless `replace` is set.
 */
export function registerRule(name: string, factory: RuleFactory, opts: { replace?: boolean } = {}): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`registerRule: name "${name}" must be lower-case letters, digits and '-', starting with a letter`);
  if (RULES.has(name) && !opts.replace) throw new Error(`registerRule: a rule "${name}" is already registered (pass { replace: true } to replace it)`);
  if (typeof factory !== 'function') throw new Error(`registerRule: the factory of "${name}" must be a function (spec, defaults) => Rule`);
  RULES.set(name, factory);
}

const BUILT_IN = new Set<string>(RULE_NAMES);

/**
 * What a cache key needs to know about the rules a request names: for each rule registered from outside the library,
 * the source text of its factory (editing a user rule must not return maps made with the old one; the built-in
 * rules are covered by the code lock, lib/cache/code-lock.ts).
 */
export function userRuleDefinitions(names: Iterable<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of [...new Set(names)].sort()) {
    const f = RULES.get(n);
    if (f && !BUILT_IN.has(n)) out[n] = f.toString();
  }
  return out;
}

/** The registered rule names, built-in ones first. */
export function ruleNames(): string[] {
  return [...RULES.keys()];
}

registerRule('zero', () => zeroRule());
registerRule('epsilon', (s) => epsilonRule(s.epsilon ?? 0.0025));
registerRule('gamma', (s) => gammaRule(s.gamma ?? 0.25));
registerRule('alphabeta', (s) => alphaBetaRule(s.alpha ?? 1, s.beta ?? (s.alpha !== undefined ? s.alpha - 1 : 0)));
registerRule('zb', (s, d) => zbRule(s.low ?? d.low ?? 0, s.high ?? d.high ?? 1));
registerRule('flat', () => flatRule());
registerRule('wsquare', () => wSquareRule());

/** Build a rule from a spec; `defaults` supplies zB bounds when the spec has none. */
export function makeRule(spec: RuleSpec, defaults: { low?: number; high?: number } = {}, where = 'rule'): Rule {
  const factory = RULES.get(spec.rule);
  if (!factory) throw new Error(`${where}: unknown rule "${spec.rule}"; use one of ${ruleNames().join(', ')} (or registerRule a new one)`);
  const rule = factory(spec, defaults);
  if (!rule || !Array.isArray(rule.groups) || rule.groups.length === 0 || !Number.isFinite(rule.stabiliser)) {
    throw new Error(`${where}: the factory of rule "${spec.rule}" returned no valid rule (it needs groups of terms and a finite stabiliser)`);
  }
  return rule;
}

/** s(z) = z + eps * sign(z), sign(0) = +1 (elementwise arithmetic: tf.where would tile the scalars to z's shape). */
export function stabilise(z: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => z.add(tf.greaterEqual(z, 0).cast('float32').mul(2 * eps).sub(eps)));
}

/**
 * R / s(z), the stabilised division of every rule. On the wasm backend with xai3d's SIMD kernels it is one fused pass
 * (kernel Xai3dStabilisedDivide, lib/backend/kernels3d.ts) with the same float32 arithmetic, so the same numbers.
 */
export function stabilisedDivide(R: tf.Tensor, z: tf.Tensor, eps: number): tf.Tensor {
  if (stabilisedDivideFused(R, z)) {
    return tf.engine().runKernel(STABILISED_DIVIDE, { r: R, z }, { eps }) as tf.Tensor;
  }
  return tf.tidy(() => R.div(stabilise(z, eps)));
}
