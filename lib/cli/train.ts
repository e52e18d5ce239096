/** `xai3d train`: k-fold training of a model preset on a dataset, resumable, results under results/train/. */
import { writableWorkDirs } from '../env/paths';
import { datasetEntry, datasetNames } from '../data/registry';
import { parseProfile } from '../env/profile';
import { isPresetName, PRESET_NAMES } from '../models/presets';
import { profileConfig } from '../profiles';
import { trainKFold, type TrainConfig } from '../training/train';
import { noPositionals, numberOption, parse, UsageError } from './args';
import type { Command } from './args';

const usage = () => `usage: xai3d train --dataset ${datasetNames().join('|')} --model <preset> [--folds K] [--profile tiny|quick|thesis]
                   [--epochs N] [--patience N] [--min-epochs N] [--lr X] [--batch-size N] [--base-width N] [--seed N]
                   [--root DIR] [--only-fold K] [--force] [--json]
--root DIR: the dataset from a release folder (${datasetNames().filter((d) => datasetEntry(d).loadRoot).join(', ')}); --oasis-root is the same for oasis2.
--min-epochs N: early stopping watches from epoch N+1 on (Keras's start_from_epoch).
--only-fold K trains fold K (1-based) alone; the run's summary is written once every fold is done.
presets: ${PRESET_NAMES.join(', ')}
Defaults come from the profile (quick: a larger learning rate than the thesis's 1e-5 so that a few epochs suffice).
A run interrupted and started again resumes: finished folds are read back, an unfinished fold restarts.`;

export const trainCommand: Command = {
  name: 'train',
  summary: 'k-fold training of a model preset (resumable; results/train/...)',
  async run(args) {
    const USAGE = usage();
    const { values, positionals } = parse(args, {
      dataset: { type: 'string' }, model: { type: 'string' }, folds: { type: 'string' }, profile: { type: 'string' },
      epochs: { type: 'string' }, patience: { type: 'string' }, 'min-epochs': { type: 'string' }, lr: { type: 'string' }, 'batch-size': { type: 'string' },
      'base-width': { type: 'string' }, seed: { type: 'string' }, root: { type: 'string' }, 'oasis-root': { type: 'string' }, 'only-fold': { type: 'string' }, force: { type: 'boolean' }, json: { type: 'boolean' },
    }, USAGE);
    if (values.help) return 0;
    noPositionals(positionals, 'train');
    writableWorkDirs();
    const dataset = values.dataset as string | undefined;
    if (dataset === undefined || !datasetNames().includes(dataset)) throw new UsageError(`--dataset must be one of ${datasetNames().join(', ')}${dataset ? ` (got "${dataset}")` : ''}\n\n${USAGE}`);
    const entry = datasetEntry(dataset);
    const model = values.model as string | undefined;
    if (!model || !isPresetName(model)) throw new UsageError(`--model must be one of ${PRESET_NAMES.join(', ')}${model ? ` (got "${model}")` : ''}`);
    if (!entry.presets.includes(model)) throw new UsageError(`--model ${model} is not a ${dataset} preset (${entry.presets.join(', ')})`);
    if (values['oasis-root'] !== undefined && dataset !== 'oasis2') throw new UsageError('--oasis-root applies to --dataset oasis2 only (use --root)');
    const root = (values.root ?? values['oasis-root']) as string | undefined;
    if (root !== undefined && !entry.loadRoot) throw new UsageError(`--root: dataset ${dataset} is not loaded from a release folder`);
    const profile = profileConfig((values.profile !== undefined ? parseProfile(values.profile as string, '--profile') : parseProfile(process.env.XAI3D_PROFILE)));
    const base = entry.training(profile);
    const cfg: TrainConfig = {
      ...base,
      model,
      seed: numberOption(values, 'seed', { integer: true }) ?? 0,
      folds: numberOption(values, 'folds', { integer: true, min: 2 }) ?? base.folds,
      epochs: numberOption(values, 'epochs', { integer: true, min: 1 }) ?? base.epochs,
      patience: numberOption(values, 'patience', { integer: true, min: 1 }) ?? base.patience,
      minEpochs: numberOption(values, 'min-epochs', { integer: true, min: 0 }) ?? base.minEpochs,
      learningRate: numberOption(values, 'lr', { min: 0 }) ?? base.learningRate,
      batchSize: numberOption(values, 'batch-size', { integer: true, min: 1 }) ?? base.batchSize,
      baseWidth: numberOption(values, 'base-width', { integer: true, min: 1 }) ?? base.baseWidth,
    };
    const ds = root !== undefined ? await entry.loadRoot!(root, profile) : await entry.load(profile);
    const only = numberOption(values, 'only-fold', { integer: true, min: 1 });
    if (only !== undefined && only > cfg.folds) throw new UsageError(`--only-fold ${only}: the run has ${cfg.folds} folds`);
    const s = await trainKFold(ds, cfg, { force: values.force === true, strictBatchSize: values['batch-size'] !== undefined, ...(only !== undefined ? { onlyFolds: [only - 1] } : {}) });
    if (values.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    else {
      process.stdout.write(`${s.model} on ${s.dataset}: ${s.parameters} parameters\n`);
      s.folds.forEach((f) => process.stdout.write(`  fold ${f.fold + 1}: test accuracy ${f.testAccuracy.toFixed(4)} (best epoch ${f.bestEpoch}/${f.epochsRun}, ${f.seconds.toFixed(0)} s)\n`));
      process.stdout.write(`  mean ${s.mean.toFixed(4)} ± ${s.std.toFixed(4)}\n  results: ${s.runDir}\n`);
    }
    return 0;
  },
};
