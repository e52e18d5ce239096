/** `xai3d aopc` and `xai3d sanity` (stable contracts: keep these flags and formats). */
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { initBackend } from '../backend/select';
import { aopc, parsePerturb, AOPC_DEFAULTS, type AopcConfig } from '../evaluate/aopc';
import { classSensitivity, resolveSanityConfig, sanityCheck, type SanityConfig } from '../evaluate/sanity';
import { explainTensor, methodNames } from '../explain/explain';
import { readInputVolume } from '../explain/heatmap-io';
import { writeJsonAtomic } from '../io/atomic';
import { loadModel } from '../io/model-files';
import { modelFiles, noPositionals, numberOption, outputPath, parse, UsageError } from './args';
import { anyExplainFlag, explainFlags, explainParseOptions, explainRequest, explainUsage, flagError } from './explain-flags';
import type { Command } from './args';

const AOPC_OWN = ['stride', 'steps', 'hp', 'strategy', 'candidate-stride', 'order', 'perturb', 'seed', 'score'];
const AOPC_FLAGS = explainFlags(AOPC_OWN);
const SANITY_OWN = ['mode', 'std', 'seed', 'threshold', 'cam-layers', 'null-seeds'];
const SANITY_FLAGS = explainFlags(SANITY_OWN);

const aopcUsage = () => `usage: xai3d aopc --model DIR/model.json --input FILE [--input FILE ...] (--heatmap FILE [--heatmap FILE ...] |
                  --method ${methodNames().join('|')} [OPTIONS OF THE METHOD]) [--class K]
${explainUsage(AOPC_FLAGS, '                    ')}
                  [--stride S (${AOPC_DEFAULTS.strideVoxels})] [--steps L (${AOPC_DEFAULTS.steps})] [--hp sum|abs]
                  [--strategy uniform|greedy] [--candidate-stride C (${AOPC_DEFAULTS.candidateStride}; greedy)]
                  [--order morf|lerf|random] [--perturb uniform|constant:V] [--seed N] [--score softmax|logit] --out FILE.json
scores are the explained class's softmax probability computed from the logits (or the logit itself)
writes {"curve": [AOPC(0..L)], "scores": [[f(x^0..L)] per input], "aopc", "coverage", "config"} (curve = mean over inputs)`;

const sanityUsage = () => `usage: xai3d sanity --model DIR/model.json --input FILE [--input FILE ...] --method ${methodNames().join('|')}
                    [OPTIONS OF THE METHOD]
${explainUsage(SANITY_FLAGS, '                      ')}
                    [--mode cascading|independent] [--std 0.01] [--seed N]
                    [--threshold 0.5] [--cam-layers all|dense-only] [--null-seeds 2] --out FILE.json
verdict: a step is "changed" when the 95 % bootstrap interval of the normalised change (1 - |Spearman|) /
(1 - null |Spearman|), null = fully re-initialised models, lies above --threshold (strictly between 0 and 1);
pass = changed at the top-layer step; constant maps are "degenerate"`;

function loadInputs(files: string[]): { tensor: tf.Tensor5D; volumes: Float32Array[]; shape: [number, number, number] } {
  const vols = files.map((f) => readInputVolume(f));
  const shape = vols[0].shape;
  vols.forEach((v, i) => {
    if (v.shape.join() !== shape.join()) throw new Error(`${files[i]}: shape [${v.shape}] differs from ${files[0]}'s [${shape}]`);
    if (v.shape[3] !== 1) throw new Error(`${files[i]}: AOPC and the sanity check take single-channel volumes (got ${v.shape[3]} channels)`);
  });
  const n = shape[0] * shape[1] * shape[2];
  const all = new Float32Array(vols.length * n);
  vols.forEach((v, i) => all.set(v.data, i * n));
  return { tensor: tf.tensor5d(all, [vols.length, ...shape]), volumes: vols.map((v) => v.data), shape: [shape[0], shape[1], shape[2]] };
}

const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? (v as string[]) : [v as string]);

export const aopcCommand: Command = {
  name: 'aopc',
  summary: 'area over the MoRF perturbation curve of heatmaps (or of a method computed on the fly)',
  async run(args) {
    const AOPC_USAGE = aopcUsage();
    const { values, positionals } = parse(args, {
      model: { type: 'string' }, input: { type: 'string', multiple: true }, heatmap: { type: 'string', multiple: true },
      ...explainParseOptions(AOPC_FLAGS), class: { type: 'string' },
      stride: { type: 'string' }, steps: { type: 'string' }, hp: { type: 'string' }, strategy: { type: 'string' }, 'candidate-stride': { type: 'string' },
      order: { type: 'string' }, perturb: { type: 'string' }, seed: { type: 'string' }, score: { type: 'string' }, out: { type: 'string' },
    }, AOPC_USAGE);
    if (values.help) return 0;
    const inputs = asList(values.input);
    const heatmaps = asList(values.heatmap);
    if (!values.model || inputs.length === 0 || !values.out) throw new UsageError(`--model, --input and --out are required\n\n${AOPC_USAGE}`);
    if (heatmaps.length === 0 && !values.method) throw new UsageError('give --heatmap FILE (one per --input) or --method to compute them');
    if (heatmaps.length > 0 && heatmaps.length !== inputs.length) throw new UsageError(`${heatmaps.length} --heatmap for ${inputs.length} --input: give one per input`);
    noPositionals(positionals, 'aopc');
    const out = outputPath(values.out, '--out', ['.json'], [...modelFiles(values.model as string), ...inputs, ...heatmaps]);
    if (heatmaps.length > 0 && (values.method || anyExplainFlag(values, AOPC_FLAGS))) throw new UsageError('with --heatmap the maps are given: --method and its options do not apply');
    const eopts = values.method ? explainRequest(values, AOPC_FLAGS) : undefined;
    const pick = <T extends string>(name: string, allowed: readonly T[], def: T): T => {
      const v = (values[name] as string | undefined) ?? def;
      if (!allowed.includes(v as T)) throw new UsageError(`--${name} ${v}: use ${allowed.join(' or ')}`);
      return v as T;
    };
    const cfg: Partial<AopcConfig> = {
      strideVoxels: numberOption(values, 'stride', { integer: true, min: 1 }) ?? AOPC_DEFAULTS.strideVoxels,
      steps: numberOption(values, 'steps', { integer: true, min: 1 }) ?? AOPC_DEFAULTS.steps,
      candidateStride: numberOption(values, 'candidate-stride', { integer: true, min: 1 }) ?? AOPC_DEFAULTS.candidateStride,
      hp: pick('hp', ['sum', 'abs'] as const, AOPC_DEFAULTS.hp),
      strategy: pick('strategy', ['uniform', 'greedy'] as const, AOPC_DEFAULTS.strategy),
      order: pick('order', ['morf', 'lerf', 'random'] as const, AOPC_DEFAULTS.order),
      perturb: (() => {
        try {
          return parsePerturb((values.perturb as string | undefined) ?? 'uniform');
        } catch (err) {
          throw new UsageError(`--${(err as Error).message}`);
        }
      })(),
      seed: numberOption(values, 'seed', { integer: true }) ?? AOPC_DEFAULTS.seed,
      score: pick('score', ['softmax', 'logit'] as const, AOPC_DEFAULTS.score),
    };
    await initBackend();
    const model = await loadModel(values.model as string);
    const { tensor, volumes, shape } = loadInputs(inputs);
    try {
      const cls = numberOption(values, 'class', { integer: true, min: 0 });
      const classes = cls !== undefined ? volumes.map(() => cls) : undefined;
      let maps: Float32Array[];
      if (heatmaps.length > 0) {
        maps = heatmaps.map((f, i) => {
          const h = readInputVolume(f);
          if (h.shape.slice(0, 3).join() !== shape.join()) throw new Error(`${f}: heatmap shape [${h.shape.slice(0, 3)}] differs from its input ${inputs[i]} [${shape}]`);
          return h.data;
        });
      } else {
        try {
          maps = explainTensor(model, tensor, { ...eopts!, classes }).maps;
        } catch (err) {
          throw flagError(err, AOPC_FLAGS);
        }
      }
      const r = aopc(model, volumes, shape, maps, cfg, classes);
      writeJsonAtomic(out, { curve: r.curve, scores: r.scores, aopc: r.aopc, coverage: r.coverage, config: { ...r.config, inputs: inputs.map((f) => path.resolve(f)), heatmaps: heatmaps.map((f) => path.resolve(f)), method: values.method ?? null, composite: values.composite ?? null, classes: r.classes } });
      process.stderr.write(`AOPC(${r.config.steps}) = ${r.aopc.toFixed(5)} over ${inputs.length} input(s), coverage ${r.coverage.toFixed(3)} -> ${out}\n`);
    } finally {
      tensor.dispose();
    }
    return 0;
  },
};

export const sanityCommand: Command = {
  name: 'sanity',
  summary: 'model-parameter-randomisation sanity check (cascading or independent) and class sensitivity',
  async run(args) {
    const SANITY_USAGE = sanityUsage();
    const { values, positionals } = parse(args, {
      model: { type: 'string' }, input: { type: 'string', multiple: true }, ...explainParseOptions(SANITY_FLAGS), mode: { type: 'string' }, std: { type: 'string' }, seed: { type: 'string' }, threshold: { type: 'string' }, out: { type: 'string' },
      'cam-layers': { type: 'string' }, 'null-seeds': { type: 'string' },
    }, SANITY_USAGE);
    if (values.help) return 0;
    const inputs = asList(values.input);
    if (!values.model || inputs.length === 0 || !values.out || !values.method) throw new UsageError(`--model, --input, --method and --out are required\n\n${SANITY_USAGE}`);
    noPositionals(positionals, 'sanity');
    const out = outputPath(values.out, '--out', ['.json'], [...modelFiles(values.model as string), ...inputs]);
    const flags: Record<string, string> = { camLayers: 'cam-layers', nullSeeds: 'null-seeds' };
    let scfg: SanityConfig;
    try {
      scfg = resolveSanityConfig({
        mode: ((values.mode as string | undefined) ?? 'cascading') as SanityConfig['mode'],
        std: numberOption(values, 'std') ?? 0.01,
        seed: numberOption(values, 'seed', { integer: true }) ?? 0,
        threshold: numberOption(values, 'threshold') ?? 0.5,
        camLayers: ((values['cam-layers'] as string | undefined) ?? 'all') as SanityConfig['camLayers'],
        nullSeeds: numberOption(values, 'null-seeds', { integer: true }) ?? 2,
      });
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const msg = (err as Error).message;
      const field = msg.split(' ')[0];
      throw new UsageError(`--${flags[field] ?? field}${msg.slice(field.length)}`);
    }
    const opts = explainRequest(values, SANITY_FLAGS);
    await initBackend();
    const model = await loadModel(values.model as string);
    const { tensor } = loadInputs(inputs);
    try {
      let r, cs;
      try {
        r = sanityCheck(model, tensor, opts, scfg);
        cs = model.outputs[0].shape[1]! >= 2 ? classSensitivity(model, tensor, opts) : null;
      } catch (err) {
        throw flagError(err, SANITY_FLAGS);
      }
      writeJsonAtomic(out, {
        method: r.method,
        composite: r.composite ?? null,
        mode: r.mode,
        reinitialisation: r.reinitialisation,
        threshold: r.threshold,
        metric: r.metric,
        criterion: r.criterion,
        verdict: r.verdict,
        firstChangedLayer: r.firstChangedLayer,
        null: r.null,
        camLayers: r.camLayers,
        classes: r.classes,
        steps: r.steps.map((s) => ({ randomised: s.randomised, mean: s.mean, change: s.change, status: s.status, perVolume: s.perVolume })),
        classSensitivity: cs ? { mean: cs.mean, classes: cs.classes } : null,
      });
      const c = r.steps[0].change;
      process.stderr.write(`sanity (${r.mode}) ${r.method}${r.composite ? ` ${r.composite}` : ''}: ${r.verdict} (top-layer ${r.metric} ${r.steps[0].mean[r.metric].toFixed(3)}, null ${r.null.mean.toFixed(3)}, change ${c.estimate.toFixed(3)} [${c.lo.toFixed(3)}, ${c.hi.toFixed(3)}] vs threshold ${r.threshold}; first changed layer ${r.firstChangedLayer ?? 'none'}) -> ${out}\n`);
    } finally {
      tensor.dispose();
    }
    return 0;
  },
};
