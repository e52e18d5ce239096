/**
 * Composites: which rule each layer gets.
 *
 * Rules are assigned, most specific first: by layer name, by position (conv1..convN, dense), by layer type
 * (conv3d, dense), then the composite's "first layer" rule, else LRP-0.
 *
 * The thesis's composites (gamma = 0.25, eps = 0.0025, alpha = 1, beta = 0), by position of the convolution, for the
 * 6-conv models:
 *   composite   conv1  conv2        conv3        conv4  conv5  conv6  dense  max pooling
 *   composite1  zB     gamma        eps          eps    0      0      0      wta
 *   composite2  zB     gamma        gamma        eps    0      0      0      proportional
 *   composite3  zB     alpha1beta0  alpha1beta0  eps    0      0      0      proportional
 * For a model with N < 6 convolutions, its convolution i takes the rule of the thesis's position
 * p(i) = 1 + round((i - 1) * 5 / (N - 1)) (N >= 2): the first layer keeps zB, the last keeps LRP-0, and the
 * layers between take the rules of the 6-conv layers at the same relative depth (e.g. N = 3: conv1, conv4, conv6).
 *
 * Zennit's presets (Anders et al., Zennit), with their default parameters (epsilon 1e-6 on dense layers, gamma 0.25):
 *   EpsilonGammaBox      first zB(low, high); conv gamma; dense epsilon
 *   EpsilonPlus          conv alpha1beta0 (z+); dense epsilon
 *   EpsilonPlusFlat      first flat; conv alpha1beta0; dense epsilon
 *   EpsilonAlpha2Beta1   conv alpha2beta1; dense epsilon
 *   EpsilonAlpha2Beta1Flat  first flat; conv alpha2beta1; dense epsilon
 * Zennit leaves max pooling to the gradient, i.e. wta here.
 */
import type { Step } from '../chain';
import { makeRule, type Rule, type RuleSpec } from './rules';

export type PoolMode = 'wta' | 'proportional';

export interface Composite {
  name: string;
  byPosition?: Record<string, RuleSpec>;
  byType?: { conv3d?: RuleSpec; dense?: RuleSpec };
  first?: RuleSpec;
  pool: PoolMode;
  /** Thesis composites are defined on 6 positions and mapped for shallower models. */
  thesisPositions?: boolean;
}

const zB: RuleSpec = { rule: 'zb' };
const gamma: RuleSpec = { rule: 'gamma', gamma: 0.25 };
const eps: RuleSpec = { rule: 'epsilon', epsilon: 0.0025 };
const zero: RuleSpec = { rule: 'zero' };
const zplus: RuleSpec = { rule: 'alphabeta', alpha: 1, beta: 0 };

export const COMPOSITES: Record<string, Composite> = {
  composite1: { name: 'composite1', thesisPositions: true, pool: 'wta', byPosition: { conv1: zB, conv2: gamma, conv3: eps, conv4: eps, conv5: zero, conv6: zero, dense: zero } },
  composite2: { name: 'composite2', thesisPositions: true, pool: 'proportional', byPosition: { conv1: zB, conv2: gamma, conv3: gamma, conv4: eps, conv5: zero, conv6: zero, dense: zero } },
  composite3: { name: 'composite3', thesisPositions: true, pool: 'proportional', byPosition: { conv1: zB, conv2: zplus, conv3: zplus, conv4: eps, conv5: zero, conv6: zero, dense: zero } },
  EpsilonGammaBox: { name: 'EpsilonGammaBox', pool: 'wta', first: zB, byType: { conv3d: gamma, dense: { rule: 'epsilon', epsilon: 1e-6 } } },
  EpsilonPlus: { name: 'EpsilonPlus', pool: 'wta', byType: { conv3d: zplus, dense: { rule: 'epsilon', epsilon: 1e-6 } } },
  EpsilonPlusFlat: { name: 'EpsilonPlusFlat', pool: 'wta', first: { rule: 'flat' }, byType: { conv3d: zplus, dense: { rule: 'epsilon', epsilon: 1e-6 } } },
  EpsilonAlpha2Beta1: { name: 'EpsilonAlpha2Beta1', pool: 'wta', byType: { conv3d: { rule: 'alphabeta', alpha: 2, beta: 1 }, dense: { rule: 'epsilon', epsilon: 1e-6 } } },
  EpsilonAlpha2Beta1Flat: { name: 'EpsilonAlpha2Beta1Flat', pool: 'wta', first: { rule: 'flat' }, byType: { conv3d: { rule: 'alphabeta', alpha: 2, beta: 1 }, dense: { rule: 'epsilon', epsilon: 1e-6 } } },
};

export const COMPOSITE_NAMES = Object.keys(COMPOSITES);

/** The thesis position (1..6) of convolution i (1-based) of a model with n convolutions. */
export function thesisPosition(i: number, n: number): number {
  if (n >= 6 || n < 2) return Math.min(i, 6);
  return 1 + Math.round(((i - 1) * 5) / (n - 1));
}

export interface RuleAssignment {
  /** Rule per step index (weight layers only). */
  rules: Map<number, Rule>;
  /** Readable assignment, e.g. { conv1: 'zb(low=0, high=1)', ... }. */
  table: Record<string, string>;
  pool: PoolMode;
}

export function describeRule(r: Rule): string {
  const p = Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(', ');
  return p ? `${r.name}(${p})` : r.name;
}

export interface AssignOptions {
  composite?: string;
  /** Per conv1..convN / dense / layer name. Overrides the composite's entries. */
  rules?: Record<string, RuleSpec>;
  /** Max-pooling mode (overrides the composite's). Default wta without a composite. */
  pool?: PoolMode;
  /** zB bounds when a zB entry gives none (default [0, 1]). */
  low?: number;
  high?: number;
}

/** Assign a rule to every weight layer of the chain. */
export function assignRules(steps: Step[], opts: AssignOptions = {}): RuleAssignment {
  const comp = opts.composite !== undefined ? COMPOSITES[opts.composite] : undefined;
  if (opts.composite !== undefined && !comp) throw new Error(`unknown composite "${opts.composite}"; use one of ${COMPOSITE_NAMES.join(', ')}`);
  const weightSteps = steps.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'conv3d' || s.kind === 'dense');
  const nConv = weightSteps.filter(([s]) => s.kind === 'conv3d').length;
  const known = new Set<string>([...weightSteps.map(([s]) => s.position!), ...weightSteps.flatMap(([s]) => s.name.split('+'))]);
  for (const key of Object.keys(opts.rules ?? {})) {
    if (!known.has(key)) throw new Error(`rules: "${key}" is neither a position (${weightSteps.map(([s]) => s.position).join(', ')}) nor a weight layer name of this model`);
  }
  if (opts.low !== undefined && opts.high !== undefined && !(opts.low < opts.high)) throw new Error(`zB bounds: low (${opts.low}) must be < high (${opts.high})`);
  const defaults = { low: opts.low, high: opts.high };
  const rules = new Map<number, Rule>();
  const table: Record<string, string> = {};
  weightSteps.forEach(([s, i], k) => {
    let spec: RuleSpec | undefined;
    const user = opts.rules ?? {};
    const byName = s.name.split('+').map((n) => user[n]).find((x) => x !== undefined);
    spec = byName ?? user[s.position!];
    if (!spec && comp) {
      let pos = s.position!;
      if (comp.thesisPositions && s.kind === 'conv3d') pos = `conv${thesisPosition(Number(pos.slice(4)), nConv)}`;
      spec = comp.byPosition?.[pos] ?? (s.kind === 'conv3d' ? comp.byType?.conv3d : comp.byType?.dense);
      if (k === 0 && comp.first) spec = comp.first;
    }
    const rule = makeRule(spec ?? { rule: 'zero' }, defaults, `rule for ${s.position} (${s.name})`);
    rules.set(i, rule);
    table[s.position!] = describeRule(rule);
  });
  return { rules, table, pool: opts.pool ?? comp?.pool ?? 'wta' };
}
