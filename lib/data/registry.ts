/**
 * Datasets by name: what the job graph, the CLI and the workflow need to know of one - how a profile loads it, its
 * cube side, its model family and their training settings - in one registry entry. 3D MNIST and OASIS-2 are
 * registered here exactly as a user's dataset would be (registerDataset, from a file or a notebook cell); a
 * registered dataset gets data, training and summary units in every profile's job graph (lib/jobs/graph.ts). The
 * evaluation studies (lib/workflow/spec.ts) are the thesis's, stated for its two datasets.
 */
import { defaultMnist3d, defaultOasis2 } from './defaults';
import { loadOasis2 } from './oasis2/loader';
import type { VolumeDataset } from './dataset';
import { PRESET_NAMES, PRESETS, type PresetName } from '../models/presets';
import type { ProfileConfig } from '../profiles';
import type { TrainConfig } from '../training/train';
import { NamedRegistry } from '../util/registry';

/** The training settings shared by every model of a dataset's family (TrainConfig without model and seed). */
export type TrainSettings = Omit<TrainConfig, 'model' | 'seed'>;

export interface DatasetEntry {
  name: string;
  /** How a reader calls it ("3D MNIST"). */
  title: string;
  /** The dataset a profile uses (built and cached on first use). */
  load(profile: ProfileConfig): Promise<VolumeDataset>;
  /** The dataset from a release folder the user points at (optional: e.g. OASIS-2's, `xai3d train --root`). */
  loadRoot?(root: string, profile: ProfileConfig): Promise<VolumeDataset>;
  /** Side of its (cubic) volumes in a profile. */
  side(profile: ProfileConfig): number;
  /** Number of volumes in a profile (the job graph's time estimates). */
  volumes(profile: ProfileConfig): number;
  /** The model presets trained on it in a profile, shallowest first. */
  models(profile: ProfileConfig): PresetName[];
  /** The presets that fit it (what `xai3d train --model` accepts for it). */
  presets: readonly PresetName[];
  /** Training settings in a profile. */
  training(profile: ProfileConfig): TrainSettings;
  /** Planning figures: CPU seconds to build it, and seconds per training volume and epoch at 64^3 per preset. */
  buildSeconds(profile: ProfileConfig): number;
  secondsPerVolumeEpoch64(model: PresetName): number;
}

const DATASETS = new NamedRegistry<DatasetEntry>('dataset', 'registerDataset');

export function registerDataset(entry: DatasetEntry, opts: { replace?: boolean } = {}): void {
  DATASETS.checkName(entry.name, opts.replace);
  for (const p of entry.presets) if (!PRESET_NAMES.includes(p)) throw new Error(`registerDataset ${entry.name}: unknown preset "${p}"; presets are ${PRESET_NAMES.join(', ')}`);
  DATASETS.add(entry.name, entry);
}

/** The registered dataset names, built-in ones first. */
export function datasetNames(): string[] {
  return DATASETS.names();
}

export function datasetEntry(name: string): DatasetEntry {
  return DATASETS.get(name);
}

const presetsOf = (dataset: 'mnist3d' | 'oasis2') => PRESET_NAMES.filter((p) => PRESETS[p].dataset === dataset);

/**
 * Planning rates measured on this 2-core machine (wasm backend, SIMD kernels; environment.md): oasis-6conv at 64^3
 * ran 12.6 s per epoch over 78 training + 14 validation sessions (0.137 s per volume); at 128^3 244-315 s per epoch
 * over 301 + 34 (0.9 s, i.e. 0.11 per 64^3); mnist-6conv at 16^3, 1000 volumes, about 4 s per epoch.
 */
const OASIS_RATES: Partial<Record<PresetName, number>> = { 'oasis-6conv': 0.137, 'oasis-3conv': 0.08 };

registerDataset({
  name: 'mnist3d',
  title: '3D MNIST',
  load: (profile) => defaultMnist3d(profile),
  side: (profile) => profile.mnist3d.size ?? 32,
  volumes: (profile) => profile.mnist3d.trainCount ?? 5000,
  models: (profile) => profile.mnistModels as PresetName[],
  presets: presetsOf('mnist3d'),
  training: (profile) => profile.trainMnist,
  buildSeconds: () => 30,
  secondsPerVolumeEpoch64: () => 0.25,
});

registerDataset({
  name: 'oasis2',
  title: 'OASIS-2',
  load: (profile) => defaultOasis2(profile),
  loadRoot: (root, profile) => loadOasis2(root, { preprocess: { size: profile.oasisSize } }),
  side: (profile) => profile.oasisSize,
  volumes: (profile) => (profile.phantoms.subjects ?? 150) * (((profile.phantoms.minVisits ?? 2) + (profile.phantoms.maxVisits ?? 3)) / 2),
  models: (profile) => profile.oasisModels as PresetName[],
  presets: presetsOf('oasis2'),
  training: (profile) => profile.trainOasis,
  buildSeconds: (profile) => Math.round((profile.phantoms.subjects ?? 150) * 2.5 * 0.6 + 30),
  secondsPerVolumeEpoch64: (model) => OASIS_RATES[model] ?? 0.137,
});
