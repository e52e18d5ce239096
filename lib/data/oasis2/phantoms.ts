/**
 * The phantom cohort, carved by job: template (Colin27 / procedural head), anatomy (regions and the atrophy model),
 * render (warps and one scan), cohort (plan, nuisance factors, parallel rendering, the release layout).
 */
export { AAL_REGIONS, aalNames, colin27Template, mricronDir, proceduralHead, type Template } from './phantoms/template';
export { atrophiedTemplate, DEFAULT_EFFECTS, depthForFraction, mesialLoss, regionModel, type AtrophyEffects, type RegionModel } from './phantoms/anatomy';
export { COORD_STEP, renderScan, SCAN_AFFINE, SCAN_DIMS, SCAN_PIXDIM } from './phantoms/render';
export { buildPhantomCohort, COHORT_DEFAULTS, FEMALE_SHARE, PHANTOM_VERSION, planCohort, subjectNuisance, type CohortConfig, type CohortResult } from './phantoms/cohort';
import { regionModel } from './phantoms/anatomy';

/** Internal: the region model, exposed for tests. */
export const __test_regionModel = regionModel;
