/** `xai3d data ...`: build, load and inspect datasets. */
import { writableWorkDirs } from '../env/paths';
import { classCounts, type VolumeDataset } from '../data/dataset';
import { inspectPath } from '../data/inspect';
import { loadMnist3d } from '../data/mnist3d/dataset';
import { loadFullDatasetVectors, loadPointCloudsH5 } from '../data/mnist3d/h5';
import type { LabelRule } from '../data/oasis2/demographics';
import { loadOasis2 } from '../data/oasis2/loader';
import { buildPhantomCohort } from '../data/oasis2/phantoms';
import { auditDataset } from '../data/oasis2/audit';
import { defaultOasis2Root } from '../data/defaults';
import { parseProfile } from '../env/profile';
import { profileConfig } from '../profiles';
import { noPositionals, numberOption, parse, UsageError } from './args';
import type { Command } from './args';

const USAGE = `usage:
  xai3d data mnist3d [--size 32] [--train 5000] [--test 1000] [--mode density|occupancy] [--noisy-copies] [--seed N] [--force]
  xai3d data mnist3d --h5 FILE.h5 [--size 32]          (train_point_clouds.h5 / test_point_clouds.h5)
  xai3d data mnist3d --vectors full_dataset_vectors.h5
  xai3d data oasis2 --root DIR [--demographics FILE] [--label-rule cdr|group] [--scan mpr-1] [--size 128] [--skip-bad] [--force]
  xai3d data phantoms --out DIR [--subjects 24] [--visits 2-3] [--seed 0] [--template colin27|procedural]
  xai3d data audit [--root DIR] [--size N] [--profile P] [--check]
                                                        the shortcut audit: AUC of nuisance and disease features for
                                                        the label (default: the profile's OASIS-2 data); --check exits
                                                        1 when the cohort fails it
  xai3d data inspect PATH                               (NIfTI/Analyze, .npy, 3D MNIST .h5, OASIS-2 folder)
Prints JSON to stdout; progress goes to stderr.`;

function summary(ds: VolumeDataset): Record<string, unknown> {
  const meta = ds.meta as Record<string, unknown>;
  return {
    name: ds.name,
    count: ds.count,
    volumeShape: ds.shape,
    spacingMm: ds.spacingMm,
    labelCounts: classCounts(ds),
    groups: new Set(ds.groups).size,
    cacheDir: meta.cacheDir ?? null,
    skipped: meta.skipped ?? [],
  };
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'build, load, audit or inspect 3D MNIST and OASIS-2 data (mnist3d | oasis2 | phantoms | audit | inspect)',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      process.stdout.write(USAGE + '\n');
      return sub === undefined ? 2 : 0;
    }
    const out = (v: unknown) => process.stdout.write(JSON.stringify(v, null, 2) + '\n');
    if (sub === 'mnist3d') {
      const { values, positionals } = parse(rest, {
        size: { type: 'string' }, train: { type: 'string' }, test: { type: 'string' }, mode: { type: 'string' },
        'noisy-copies': { type: 'boolean' }, seed: { type: 'string' }, force: { type: 'boolean' }, h5: { type: 'string' }, vectors: { type: 'string' },
      }, USAGE);
      if (values.help) return 0;
      noPositionals(positionals, 'data mnist3d');
      writableWorkDirs();
      const size = numberOption(values, 'size', { integer: true, min: 4 });
      if (values.h5) return out(summary(await loadPointCloudsH5(values.h5 as string, { size: size ?? 32 }))), 0;
      if (values.vectors) return out(summary(await loadFullDatasetVectors(values.vectors as string))), 0;
      const mode = values.mode as string | undefined;
      if (mode !== undefined && mode !== 'density' && mode !== 'occupancy') throw new UsageError(`--mode ${mode}: use density or occupancy`);
      const ds = await loadMnist3d(
        {
          ...(size !== undefined ? { size } : {}),
          ...(values.train !== undefined ? { trainCount: numberOption(values, 'train', { integer: true, min: 0 }) } : {}),
          ...(values.test !== undefined ? { testCount: numberOption(values, 'test', { integer: true, min: 0 }) } : {}),
          ...(mode ? { mode: mode as 'density' | 'occupancy' } : {}),
          ...(values['noisy-copies'] ? { noisyCopies: true } : {}),
          ...(values.seed !== undefined ? { seed: numberOption(values, 'seed', { integer: true }) } : {}),
        },
        { force: values.force === true },
      );
      out(summary(ds));
      return 0;
    }
    if (sub === 'oasis2') {
      const { values, positionals } = parse(rest, {
        root: { type: 'string' }, demographics: { type: 'string' }, 'label-rule': { type: 'string' }, scan: { type: 'string' },
        size: { type: 'string' }, 'skip-bad': { type: 'boolean' }, force: { type: 'boolean' },
      }, USAGE);
      if (values.help) return 0;
      noPositionals(positionals, 'data oasis2');
      writableWorkDirs();
      if (!values.root) throw new UsageError(`--root DIR is required\n\n${USAGE}`);
      const rule = (values['label-rule'] as string | undefined) ?? 'cdr';
      if (rule !== 'cdr' && rule !== 'group') throw new UsageError(`--label-rule ${rule}: use cdr or group`);
      const size = numberOption(values, 'size', { integer: true, min: 8 });
      const ds = await loadOasis2(values.root as string, {
        demographics: values.demographics as string | undefined,
        labelRule: rule as LabelRule,
        scan: values.scan as string | undefined,
        preprocess: size !== undefined ? { size } : {},
        onBadScan: values['skip-bad'] ? 'skip' : 'error',
        force: values.force === true,
      });
      out(summary(ds));
      return 0;
    }
    if (sub === 'phantoms') {
      const { values, positionals } = parse(rest, {
        out: { type: 'string' }, subjects: { type: 'string' }, visits: { type: 'string' }, seed: { type: 'string' }, template: { type: 'string' },
      }, USAGE);
      if (values.help) return 0;
      noPositionals(positionals, 'data phantoms');
      if (!values.out) throw new UsageError(`--out DIR is required\n\n${USAGE}`);
      const visits = values.visits as string | undefined;
      let minVisits: number | undefined;
      let maxVisits: number | undefined;
      if (visits !== undefined) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(visits);
        if (!m) throw new UsageError(`--visits ${visits}: use N or MIN-MAX`);
        minVisits = Number(m[1]);
        maxVisits = Number(m[2] ?? m[1]);
      }
      const template = values.template as string | undefined;
      if (template !== undefined && template !== 'colin27' && template !== 'procedural') throw new UsageError(`--template ${template}: use colin27 or procedural`);
      const res = await buildPhantomCohort(values.out as string, {
        ...(values.subjects !== undefined ? { subjects: numberOption(values, 'subjects', { integer: true, min: 2 }) } : {}),
        ...(minVisits !== undefined ? { minVisits, maxVisits } : {}),
        ...(values.seed !== undefined ? { seed: numberOption(values, 'seed', { integer: true }) } : {}),
        ...(template ? { template: template as 'colin27' | 'procedural' } : {}),
      });
      out({ root: res.root, sessions: res.rows.length, subjects: new Set(res.rows.map((r) => r.subjectId)).size, groups: res.rows.reduce<Record<string, number>>((a, r) => ((a[r.group] = (a[r.group] ?? 0) + 1), a), {}) });
      return 0;
    }
    if (sub === 'audit') {
      const { values, positionals } = parse(rest, { root: { type: 'string' }, size: { type: 'string' }, profile: { type: 'string' }, check: { type: 'boolean' } }, USAGE);
      if (values.help) return 0;
      if (positionals.length > 0) throw new UsageError(`audit takes no positional arguments (got ${positionals.join(' ')})`);
      writableWorkDirs();
      const prof = profileConfig((values.profile !== undefined ? parseProfile(values.profile as string, '--profile') : parseProfile(process.env.XAI3D_PROFILE)));
      const size = numberOption(values, 'size', { integer: true, min: 8 }) ?? prof.oasisSize;
      const root = (values.root as string | undefined) ?? (await defaultOasis2Root(prof));
      const ds = await loadOasis2(root, { preprocess: { size } });
      const a = auditDataset(ds);
      out({ dataset: a.dataset, sessions: a.sessions, subjects: a.subjects, passes: a.passes, criterion: a.criterion, features: a.features });
      process.stderr.write(`audit of ${a.dataset}: ${a.passes ? 'passes' : 'FAILS'} (${a.features.filter((f) => !f.ok).map((f) => f.name).join(', ') || 'every feature as required'})\n`);
      return values.check && !a.passes ? 1 : 0;
    }
    if (sub === 'inspect') {
      const { values, positionals } = parse(rest, { 'label-rule': { type: 'string' } }, USAGE);
      if (values.help) return 0;
      if (positionals.length !== 1) throw new UsageError(`inspect takes one PATH\n\n${USAGE}`);
      out(await inspectPath(positionals[0], { labelRule: values['label-rule'] as LabelRule | undefined }));
      return 0;
    }
    throw new UsageError(`unknown data subcommand "${sub}"\n\n${USAGE}`);
  },
};
