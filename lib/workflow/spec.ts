/**
 * The evaluation studies of a profile, stated once: the notebooks read them and the job graph runs them, so a study
 * computed by a cluster job is the cache hit the notebook asks for (same run, fold, volumes, methods, config).
 */
import type { ExplainOptions } from '../explain/explain';
import type { ProfileConfig } from '../profiles';

/** The methods of the sanity check (notebook 06): CAM, gradient, input x gradient, the three composites. */
export const SANITY_METHODS: ExplainOptions[] = [
  { method: 'cam' },
  { method: 'gradient' },
  { method: 'inputxgradient' },
  { method: 'lrp', composite: 'composite1' },
  { method: 'lrp', composite: 'composite2' },
  { method: 'lrp', composite: 'composite3' },
];

export interface SanityStudy {
  dataset: 'mnist3d' | 'oasis2';
  /** The deepest model of the family. */
  model: string;
  fold: number;
  /** The first `images` test volumes of the fold. */
  images: number;
  methods: ExplainOptions[];
  /** Also the thesis's Dense-only CAM randomisation. */
  camDenseOnly: boolean;
}

/** The sanity study of a dataset in a profile. */
export function sanityStudy(profile: ProfileConfig, dataset: 'mnist3d' | 'oasis2'): SanityStudy {
  if (dataset === 'mnist3d') {
    return { dataset, model: profile.mnistModels[profile.mnistModels.length - 1], fold: 0, images: Math.min(10, profile.evalImagesMnist), methods: SANITY_METHODS, camDenseOnly: true };
  }
  return { dataset, model: profile.oasisModels[profile.oasisModels.length - 1], fold: 0, images: Math.min(6, profile.evalImagesOasis), methods: [SANITY_METHODS[0], SANITY_METHODS[5]], camDenseOnly: false };
}
