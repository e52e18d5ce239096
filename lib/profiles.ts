/**
 * What each run profile means, in one place (XAI3D_PROFILE or the runner's --profile):
 *   tiny    seconds per notebook, for the end-to-end pipeline test in CI;
 *   quick   the default: minutes on a laptop CPU, for teaching and reviewers;
 *   thesis  the thesis's sizes (3D MNIST 32^3 with 5000 + 1000 digits; OASIS-2 at 128^3).
 * Later stages (training, explanation, evaluation) add their settings here.
 */
import { profileName, type ProfileName } from './env/profile';
import type { Mnist3dConfig } from './data/mnist3d/dataset';
import type { CohortConfig } from './data/oasis2/phantoms';
import type { TrainConfig } from './training/train';

/** Training settings of a profile (the model preset and seed are chosen per run). */
export type TrainSettings = Omit<TrainConfig, 'model' | 'seed'>;

export interface ProfileConfig {
  name: ProfileName;
  mnist3d: Partial<Mnist3dConfig>;
  /** The phantom cohort used when no real OASIS-2 root is given (XAI3D_OASIS_ROOT). */
  phantoms: Partial<CohortConfig>;
  /** OASIS-2 cube side after preprocessing. */
  oasisSize: number;
  /** Training of the 3D MNIST and OASIS-2 model families. */
  trainMnist: TrainSettings;
  trainOasis: TrainSettings;
  /** Model presets trained by the pipeline. */
  mnistModels: string[];
  oasisModels: string[];
  /** Evaluation sizes: images explained and scored (thesis: 100 for 3D MNIST, 30 for OASIS-2). */
  evalImagesMnist: number;
  evalImagesOasis: number;
}

export const PROFILE_CONFIGS: Record<ProfileName, ProfileConfig> = {
  tiny: {
    name: 'tiny',
    mnist3d: { size: 16, trainCount: 200, testCount: 100 },
    phantoms: { subjects: 6, minVisits: 1, maxVisits: 2, seed: 0 },
    oasisSize: 32,
    trainMnist: { folds: 2, epochs: 2, patience: 3, learningRate: 3e-3, batchSize: 32, valFraction: 0.1, baseWidth: 4 },
    trainOasis: { folds: 2, epochs: 2, patience: 3, learningRate: 3e-3, batchSize: 8, valFraction: 0.1, baseWidth: 4 },
    mnistModels: ['mnist-2conv', 'mnist-6conv'],
    oasisModels: ['oasis-3conv'],
    evalImagesMnist: 4,
    evalImagesOasis: 2,
  },
  quick: {
    name: 'quick',
    mnist3d: { size: 16, trainCount: 1000, testCount: 200 },
    // 96 subjects, 1-2 visits (about 145 sessions): many subjects rather than many visits, so that a model cannot
    // learn its way through memorising the few subjects it sees. Stronger atrophy than the thesis-size cohort (see docs/methods.md for the
    // resulting tissue loss against the literature's), so that a small model trained for minutes can learn it.
    phantoms: { subjects: 96, minVisits: 1, maxVisits: 2, seed: 0, effects: { mesialTissueLoss: 0.6, partialVolumeLoss: 0.3, ventricleGrowth: 1.2, corticalThinningMm: 1 } },
    oasisSize: 64,
    // The quick profile uses a larger learning rate than the thesis's 1e-5, so that a few epochs suffice.
    // 3D MNIST trains until early stopping ends it (20 epochs at most); OASIS-2 with a smaller learning rate (1e-3
    // let the deep models collapse onto the class prior), shifts and left-right flips.
    trainMnist: { folds: 3, epochs: 20, patience: 3, learningRate: 2e-3, batchSize: 32, valFraction: 0.1, baseWidth: 8 },
    trainOasis: { folds: 3, epochs: 12, patience: 4, learningRate: 3e-4, batchSize: 4, valFraction: 0.15, baseWidth: 8, augment: { flipAxis: 'left-right', shiftVoxels: 2 } },
    mnistModels: ['mnist-2conv', 'mnist-3conv', 'mnist-4conv', 'mnist-5conv', 'mnist-6conv'],
    oasisModels: ['oasis-3conv', 'oasis-6conv'],
    evalImagesMnist: 30,
    evalImagesOasis: 10,
  },
  thesis: {
    name: 'thesis',
    mnist3d: { size: 32, trainCount: 5000, testCount: 1000 },
    phantoms: { subjects: 150, minVisits: 2, maxVisits: 3, seed: 0, dementedShare: 64 / 150, convertedShare: 14 / 150 },
    oasisSize: 128,
    trainMnist: { folds: 5, epochs: 100, patience: 3, learningRate: 1e-5, batchSize: 32, valFraction: 0.1 },
    trainOasis: { folds: 10, epochs: 100, patience: 3, learningRate: 1e-5, batchSize: 4, valFraction: 0.1 },
    mnistModels: ['mnist-2conv', 'mnist-3conv', 'mnist-4conv', 'mnist-5conv', 'mnist-6conv'],
    oasisModels: ['oasis-3conv', 'oasis-6conv'],
    evalImagesMnist: 100,
    evalImagesOasis: 30,
  },
};

export function profileConfig(name: ProfileName = profileName()): ProfileConfig {
  return PROFILE_CONFIGS[name];
}
