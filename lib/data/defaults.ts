/**
 * The default data of a profile: 3D MNIST generated from the real MNIST digits, and OASIS-2 from a real release
 * when XAI3D_OASIS_ROOT points at one, else a phantom cohort built from the Colin27 brain (data/phantoms/...).
 */
import * as fs from 'fs';
import * as path from 'path';
import { dataDir } from '../env/paths';
import { profileConfig, type ProfileConfig } from '../profiles';
import { configHash } from '../util/hash';
import type { VolumeDataset } from './dataset';
import { loadMnist3d } from './mnist3d/dataset';
import { loadOasis2, type Oasis2Options } from './oasis2/loader';
import { buildPhantomCohort, COHORT_DEFAULTS, PHANTOM_VERSION } from './oasis2/phantoms';

export async function defaultMnist3d(profile: ProfileConfig = profileConfig()): Promise<VolumeDataset> {
  return loadMnist3d(profile.mnist3d);
}

/** The OASIS-2 root of a profile: XAI3D_OASIS_ROOT, or the profile's phantom cohort (built on first use). */
export async function defaultOasis2Root(profile: ProfileConfig = profileConfig()): Promise<string> {
  const real = process.env.XAI3D_OASIS_ROOT;
  if (real && real.trim() !== '') return path.resolve(real);
  const cfg = { ...COHORT_DEFAULTS, ...profile.phantoms };
  const root = path.join(dataDir(), 'phantoms', `${profile.name}-${configHash({ version: PHANTOM_VERSION, cfg })}`);
  if (!fs.existsSync(path.join(root, 'oasis_longitudinal.csv'))) await buildPhantomCohort(root, cfg);
  return root;
}

export async function defaultOasis2(profile: ProfileConfig = profileConfig(), opts: Oasis2Options = {}): Promise<VolumeDataset> {
  const root = await defaultOasis2Root(profile);
  return loadOasis2(root, { ...opts, preprocess: { size: profile.oasisSize, ...opts.preprocess } });
}
