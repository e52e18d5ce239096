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

export interface ProfileConfig {
  name: ProfileName;
  mnist3d: Partial<Mnist3dConfig>;
  /** The phantom cohort used when no real OASIS-2 root is given (XAI3D_OASIS_ROOT). */
  phantoms: Partial<CohortConfig>;
  /** OASIS-2 cube side after preprocessing. */
  oasisSize: number;
}

export const PROFILE_CONFIGS: Record<ProfileName, ProfileConfig> = {
  tiny: {
    name: 'tiny',
    mnist3d: { size: 16, trainCount: 200, testCount: 100 },
    phantoms: { subjects: 6, minVisits: 1, maxVisits: 2, seed: 0 },
    oasisSize: 32,
  },
  quick: {
    name: 'quick',
    mnist3d: { size: 16, trainCount: 2000, testCount: 500 },
    phantoms: { subjects: 16, minVisits: 2, maxVisits: 3, seed: 0 },
    oasisSize: 64,
  },
  thesis: {
    name: 'thesis',
    mnist3d: { size: 32, trainCount: 5000, testCount: 1000 },
    phantoms: { subjects: 150, minVisits: 2, maxVisits: 3, seed: 0, dementedShare: 64 / 150, convertedShare: 14 / 150 },
    oasisSize: 128,
  },
};

export function profileConfig(name: ProfileName = profileName()): ProfileConfig {
  return PROFILE_CONFIGS[name];
}
