/**
 * The evaluation studies of a profile, stated once: the notebooks read them and the job graph runs them, so a study
 * computed by a cluster job is the cache hit the notebook asks for (same run, fold, volumes, methods, config).
 */
import type { ExplainOptions } from '../explain/explain';
import type { ProfileConfig } from '../profiles';
import { datasetEntry } from '../data/registry';
import type { AopcConfig } from '../evaluate/aopc';

/** The datasets the thesis's studies below are stated for (other registered datasets are trained, not studied). */
export const STUDY_DATASETS = ['mnist3d', 'oasis2'] as const;
export type StudyDataset = (typeof STUDY_DATASETS)[number];

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
  dataset: StudyDataset;
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
export function sanityStudy(profile: ProfileConfig, dataset: StudyDataset): SanityStudy {
  if (dataset === 'mnist3d') {
    return { dataset, model: profile.mnistModels[profile.mnistModels.length - 1], fold: 0, images: Math.min(10, profile.evalImagesMnist), methods: SANITY_METHODS, camDenseOnly: true };
  }
  return { dataset, model: profile.oasisModels[profile.oasisModels.length - 1], fold: 0, images: Math.min(6, profile.evalImagesOasis), methods: [SANITY_METHODS[0], SANITY_METHODS[5]], camDenseOnly: false };
}

/** Both perturbations of every AOPC study: uniform noise and removal (constant 0). */
export const AOPC_PERTURBATIONS: AopcConfig['perturb'][] = [{ kind: 'uniform' }, { kind: 'constant', value: 0 }];

/**
 * The perturbations of a dataset's AOPC studies: both of AOPC_PERTURBATIONS, and for models with an input centering
 * (the brain models) a third, the model's reference volume (the training mean brain). On a brain model noise and 0
 * are not neutral: a dark hole is what atrophy looks like, so they can ADD evidence for AD (measured: LRP's most
 * relevant cube replaced by noise or by 0 took an AD session's probability from 0.895 to 1.000).
 */
export function aopcPerturbations(profile: ProfileConfig, dataset: StudyDataset): AopcConfig['perturb'][] {
  const centred = datasetEntry(dataset).training(profile).inputCentering === true;
  return centred ? [...AOPC_PERTURBATIONS, { kind: 'reference' }] : AOPC_PERTURBATIONS;
}

/**
 * The thesis's curve lengths scaled to a cube of side `side`: on 32^3, stride 4 with L = 500 (of 512 cubes) and
 * stride 8 with L = 50 (of 64); elsewhere the same coverage.
 */
export function thesisSteps(side: number, stride: 4 | 8): number {
  return stride === 4 ? Math.round((side / 4) ** 3 * (500 / 512)) : Math.max(1, Math.round((side / 8) ** 3 * (50 / 64)));
}

export interface AopcStudy {
  dataset: StudyDataset;
  /** Every model of the family, or the deepest one. */
  models: 'family' | 'deepest';
  fold: number;
  /** The first `images` test volumes of the fold (of the family's first run: all runs share the split). */
  images: number;
  methods: ExplainOptions[];
  /** One AOPC configuration per curve set (each run under both perturbations). */
  configs: Partial<AopcConfig>[];
  /** Also the random order (the baseline every method is compared with). */
  withRandom: boolean;
  /**
   * Skip the runs no better than their majority baseline (their maps explain nothing, so their curves would only be
   * computed to be ignored). The brain study's; the 3D MNIST depth study keeps every model of the family, gated in its
   * claim, so that its series stays whole.
   */
  onlyAboveBaseline: boolean;
}

/** The AOPC studies of notebook 05 for a dataset whose cubes have side `side`. */
export function aopcStudies(profile: ProfileConfig, dataset: StudyDataset, side: number): Record<string, AopcStudy> {
  const cam: ExplainOptions[] = [{ method: 'cam' }];
  if (dataset === 'mnist3d') {
    const images = profile.evalImagesMnist;
    const L4 = thesisSteps(side, 4);
    const L8 = thesisSteps(side, 8);
    const base = { dataset, fold: 0, images, onlyAboveBaseline: false } as const;
    return {
      depth: { ...base, models: 'family', methods: cam, configs: [{ strideVoxels: 4, steps: L4, seed: 0 }], withRandom: true },
      stride: { ...base, models: 'deepest', methods: cam, configs: [4, 8].map((s) => ({ strideVoxels: s, steps: L8, seed: 0 })), withRandom: false },
      variants: {
        ...base,
        models: 'deepest',
        methods: cam,
        configs: (
          [
            ['sum', 'uniform'],
            ['abs', 'uniform'],
            ['sum', 'greedy'],
            ['abs', 'greedy'],
          ] as const
        ).map(([hp, strategy]) => ({ strideVoxels: 4, steps: L4, hp, strategy, candidateStride: 1, seed: 0 })),
        withRandom: false,
      },
      methods: { ...base, models: 'deepest', methods: [{ method: 'cam' }, { method: 'inputxgradient' }, { method: 'lrp', composite: 'composite1' }, { method: 'lrp', composite: 'composite2' }, { method: 'lrp', composite: 'composite3' }], configs: [{ strideVoxels: 4, steps: L4, seed: 0 }], withRandom: true },
    };
  }
  const stride = side / 4;
  return {
    methods: { dataset, models: 'family', fold: 0, images: profile.evalImagesOasis, methods: [{ method: 'cam' }, { method: 'lrp', composite: 'composite3' }], configs: [{ strideVoxels: stride, steps: Math.min(50, (side / stride) ** 3), seed: 0 }], withRandom: true, onlyAboveBaseline: true },
  };
}

/**
 * The methods scored against the ground truth (notebook 07): the thesis's (CAM, gradient, input x gradient, the three
 * LRP composites), Grad-CAM, and the anchors' (Grad-CAM++, Integrated Gradients with a black baseline, 32 steps;
 * SmoothGrad with 16 noisy copies; occlusion with 16^3 windows at stride 16 filled with the model's mean brain: a
 * constant fill is not neutral on a brain model, docs/methods.md).
 */
export const LOCALISATION_METHODS: ExplainOptions[] = [
  { method: 'cam' },
  { method: 'gradcam' },
  { method: 'gradcampp' },
  { method: 'gradient' },
  { method: 'inputxgradient' },
  { method: 'integrated-gradients' },
  { method: 'smoothgrad', samples: 16 },
  { method: 'occlusion', window: 16, stride: 16, baseline: 'reference' },
  { method: 'lrp', composite: 'composite1' },
  { method: 'lrp', composite: 'composite2' },
  { method: 'lrp', composite: 'composite3' },
];

export interface LocalisationStudy {
  dataset: 'oasis2';
  fold: number;
  /**
   * Test sessions of the fold scored (all runs share the split): half of them AD, half NC (localisationSessions), so
   * the AD-only claim has as many subjects as the study can give it.
   */
  images: number;
  methods: ExplainOptions[];
}

/**
 * The sessions of a localisation study: from the fold's test sessions in their order, the first ceil(n / 2) of each
 * class (when one class has fewer, the other fills up), returned in test order.
 */
export function localisationSessions(testIndices: number[], labels: ArrayLike<number>, n: number): number[] {
  const classes = [...new Set(testIndices.map((i) => labels[i]))].sort((a, b) => a - b);
  const per = Math.ceil(n / Math.max(1, classes.length));
  const picked = new Set<number>();
  for (const c of classes) testIndices.filter((i) => labels[i] === c).slice(0, per).forEach((i) => picked.add(i));
  for (const i of testIndices) if (picked.size < n) picked.add(i);
  return testIndices.filter((i) => picked.has(i)).slice(0, n);
}

/**
 * The localisation study of notebook 07: every OASIS-2 model of the profile that is above its baseline (a model at
 * its baseline is not explained at all: there is nothing in its maps to score).
 */
export function localisationStudy(profile: ProfileConfig): LocalisationStudy {
  return { dataset: 'oasis2', fold: 0, images: profile.localisationImagesOasis, methods: LOCALISATION_METHODS };
}
