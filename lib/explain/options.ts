/**
 * What an explanation request is: its fields (ExplainOptions), and one table of every method-specific option with
 * its type, bounds, default and help. The library resolves requests with it (explain.ts, resolveExplainOptions) and
 * the CLI builds its flags, their parsing and its help text from it (lib/cli/explain-flags.ts), so the two cannot
 * disagree on a default or a bound. docs/methods.md describes the methods these options belong to.
 */
import { ATTRIBUTION_DEFAULTS } from './attribution';
import type { PoolMode } from './lrp/composites';
import type { RuleSpec } from './lrp/rules';

/** The built-in methods (registerMethod adds others). */
export const METHODS = ['cam', 'gradcam', 'gradcampp', 'gradient', 'inputxgradient', 'smoothgrad', 'integrated-gradients', 'occlusion', 'lrp'] as const;
/** A built-in method name, or one registered with registerMethod. */
export type Method = (typeof METHODS)[number] | (string & {});

export interface ExplainOptions {
  method: Method;
  /** LRP: a composite (composite1|composite2|composite3|Zennit preset). */
  composite?: string;
  /** LRP: per-layer rules (conv1..convN, dense or layer names); override the composite. */
  rules?: Record<string, RuleSpec>;
  /** LRP: max-pooling mode (default: the composite's, else wta). */
  pool?: PoolMode;
  /** LRP: zB bounds (default: a rule entry's own, else [0, 1]). */
  low?: number;
  high?: number;
  /** Grad-CAM / Grad-CAM++ layer (default: the last convolution). */
  layer?: string;
  /** Integrated gradients: steps (default 32). */
  steps?: number;
  /**
   * Integrated gradients and occlusion: the baseline, a voxel value (default 0) or 'reference' (the model's training
   * mean volume, for models with an input centering; lib/explain/attribution.ts).
   */
  baseline?: number | 'reference';
  /** SmoothGrad: noisy copies (default 20), noise level as a fraction of max - min (default 0.1), seed (default 0). */
  samples?: number;
  noiseLevel?: number;
  seed?: number;
  /** Occlusion: cube side (default 8) and stride (default 4), in voxels (at most the volume's side). */
  window?: number;
  stride?: number;
  /** Target class per volume, or one class for all. */
  classes?: number[] | number;
  /** Largest batch (default: what fits, at most 32). */
  batchSize?: number;
}

/** The options that belong to particular methods (the rest, classes and batchSize, apply to all). */
export const METHOD_OPTIONS = ['composite', 'rules', 'pool', 'low', 'high', 'layer', 'steps', 'baseline', 'samples', 'noiseLevel', 'seed', 'window', 'stride'] as const;
export type MethodOption = (typeof METHOD_OPTIONS)[number];

export interface OptionSpec {
  /** The CLI flag (without --). */
  flag: string;
  /** integer / number (finite), string, json (an object), a choice, or a number or the word "reference". */
  type: 'integer' | 'number' | 'string' | 'json' | 'choice' | 'number-or-reference';
  min?: number;
  choices?: readonly string[];
  /** The value the library uses when the option is not set, or a description of it (filled by resolveExplainOptions). */
  default: number | string | null;
  /** Whether resolveExplainOptions writes the default into a resolved request (false: it depends on the model or rule). */
  fill: boolean;
  /** A placeholder for the flag's value in help text. */
  value: string;
  help: string;
}

export const OPTION_SPECS: Record<MethodOption, OptionSpec> = {
  composite: { flag: 'composite', type: 'string', default: null, fill: false, value: 'NAME', help: 'composite1|composite2|composite3 or a Zennit preset' },
  rules: { flag: 'rules', type: 'json', default: null, fill: false, value: 'JSON', help: 'per-layer rules keyed by conv1..convN, dense or a layer name; override the composite' },
  pool: { flag: 'pool', type: 'choice', choices: ['wta', 'proportional'], default: "the composite's, else wta", fill: false, value: 'wta|proportional', help: 'relevance through max pooling' },
  low: { flag: 'low', type: 'number', default: "a rule's own, else 0", fill: false, value: 'L', help: "the zB rule's lower input bound" },
  high: { flag: 'high', type: 'number', default: "a rule's own, else 1", fill: false, value: 'H', help: "the zB rule's upper input bound" },
  layer: { flag: 'layer', type: 'string', default: 'the last convolution', fill: false, value: 'NAME', help: 'the layer whose feature maps are weighted' },
  steps: { flag: 'steps', type: 'integer', min: 1, default: ATTRIBUTION_DEFAULTS.igSteps, fill: true, value: 'N', help: 'Riemann steps from the baseline to the input' },
  baseline: { flag: 'baseline', type: 'number-or-reference', default: ATTRIBUTION_DEFAULTS.baseline, fill: true, value: 'V|reference', help: 'a voxel value, or the model\'s training mean volume' },
  samples: { flag: 'samples', type: 'integer', min: 1, default: ATTRIBUTION_DEFAULTS.samples, fill: true, value: 'N', help: 'noisy copies averaged' },
  noiseLevel: { flag: 'noise-level', type: 'number', min: 0, default: ATTRIBUTION_DEFAULTS.noiseLevel, fill: true, value: 'F', help: 'noise standard deviation as a fraction of max - min' },
  seed: { flag: 'seed', type: 'integer', default: ATTRIBUTION_DEFAULTS.seed, fill: true, value: 'S', help: 'seed of the noise' },
  window: { flag: 'window', type: 'integer', min: 1, default: ATTRIBUTION_DEFAULTS.window, fill: true, value: 'W', help: 'side of the occluding cube in voxels (at most the volume\'s side)' },
  stride: { flag: 'stride', type: 'integer', min: 1, default: ATTRIBUTION_DEFAULTS.stride, fill: true, value: 'S', help: 'step of the occluding cube in voxels (at most the window)' },
};

/** An invalid explanation option: `field` names the ExplainOptions field (the CLI turns it into its flag). */
export class OptionError extends Error {
  constructor(
    readonly field: MethodOption | 'method' | 'classes' | 'batchSize',
    readonly problem: string,
  ) {
    super(`option ${field}: ${problem}`);
  }
}

/** Check one option's value against its spec; returns it (numbers as numbers), or throws an OptionError. */
export function checkOption(field: MethodOption, value: unknown): unknown {
  const spec = OPTION_SPECS[field];
  const bad = (what: string) => new OptionError(field, `expected ${what}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const n = value as number;
      const min = spec.min !== undefined ? ` >= ${spec.min}` : '';
      const what = `${spec.type === 'integer' ? 'an integer' : 'a finite number'}${min}`;
      if (typeof n !== 'number' || !Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n)) || (spec.min !== undefined && n < spec.min)) throw bad(what);
      return n;
    }
    case 'number-or-reference':
      if (value === 'reference' || (typeof value === 'number' && Number.isFinite(value))) return value;
      throw bad('a finite number or "reference"');
    case 'choice':
      if (typeof value === 'string' && spec.choices!.includes(value)) return value;
      throw bad(spec.choices!.join(' or '));
    case 'string':
      if (typeof value === 'string' && value.length > 0) return value;
      throw bad('a non-empty string');
    case 'json':
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
      throw bad('an object');
  }
}
