/**
 * xai3d: explaining 3D convolutional networks on volumes.
 *
 * One folder per idea: backend (tfjs engine and fast 3D kernels), cache (results and manifests), env (paths,
 * versions, profiles), io (files), viz (figures and tables for notebooks). Notebooks import this file.
 */
export { initBackend, backendInfo, BACKEND_CHOICES, type BackendInfo, type BackendChoice } from './backend/select';
export { cachedRun, loadRun, runDir, type CachedRun, type RunContext, type Manifest } from './cache/results';
export { info, dataSources, type Info } from './env/info';
export { dataDir, resultsDir, PROJECT_ROOT } from './env/paths';
export { profileName, parseProfile, PROFILE_NAMES, type ProfileName } from './env/profile';
export { versions, gitState } from './env/versions';
export { writeFileAtomic, writeJsonAtomic, readJson } from './io/atomic';
export { configHash, stableStringify } from './util/hash';
export { showFigure, figureHtml, writeFigureHtml, figuresPage, type Figure, type Trace } from './viz/plotly';
export { showTable, showDataFrame, tableHtml, type Row } from './viz/table';
export { inNotebook, displayHtml, displayMarkdown } from './viz/notebook';
export { profileConfig, PROFILE_CONFIGS, type ProfileConfig } from './profiles';
export { batchTensor, labelTensor, classCounts, subset, type VolumeDataset } from './data/dataset';
export { defaultMnist3d, defaultOasis2, defaultOasis2Root } from './data/defaults';
export { loadMnist3d, MNIST3D_THESIS, type Mnist3dConfig } from './data/mnist3d/dataset';
export { loadPointCloudsH5, loadFullDatasetVectors } from './data/mnist3d/h5';
export { digitPointCloud, noisyRotatedCopy } from './data/mnist3d/pointcloud';
export { voxelize, voxelCounts } from './data/mnist3d/voxelize';
export { loadOasis2, findSessions, LESION_NAMES, type Oasis2Options } from './data/oasis2/loader';
export { readDemographics, labelOf, type SessionRow, type LabelRule } from './data/oasis2/demographics';
export { buildPhantomCohort, proceduralHead, colin27Template, planCohort, COHORT_DEFAULTS, PHANTOM_VERSION, type CohortConfig } from './data/oasis2/phantoms';
export { preprocessScan, PREPROCESS_THESIS, type PreprocessConfig } from './data/oasis2/preprocess';
export { kFoldSplits, type Fold } from './data/folds';
export { inspectPath } from './data/inspect';
export { readNifti, writeNifti, readNiftiHeader, type Volume, type Mat4 } from './io/nifti';
export { readNpy, writeNpy } from './io/npy';
export { saveModel, loadModel } from './io/model-files';
export { buildModel, parameterCount, presetWidths, PRESET_NAMES, PRESETS, type PresetName } from './models/presets';
export { GlobalAveragePooling3D, globalAveragePooling3d } from './models/global-average-pooling-3d';
export { CENTRED_RMS, ReferenceCentering3D, referenceOf } from './models/reference-centering';
export { triplanarFigure, maskCentroid, worldAxes, voxelScatterFigure, sliceSliderFigure, slicePlane, RELEVANCE_COLORSCALE } from './viz/volume';
export { progress } from './util/progress';
export { Rng } from './util/random';
export { chooseBatchSize, checkBatchFits, estimateHeapBytes, maxBatchSize } from './backend/memory';
export { readMnistImages, readMnistLabels, readMnistTestDigits } from './data/mnist3d/idx';
export { trainKFold, leftRightAxis, loadFoldModel, accuracyTable, accuracyTableCsv, evaluate, EarlyStopping, type TrainConfig, type TrainSummary } from './training/train';
export { trainFamily, accuracyVsParametersFigure, trainingCurvesFigure } from './training/family';
export { explainTensor, explainDataset, METHODS, registerMethod, methodNames, type Method, type MethodDefinition, type MethodResult, type ExplainOptions, type Explanation } from './explain/explain';
export { cam, gradCam, gradients, convLayerNames } from './explain/cam';
export { lrp, lrpOnChain, applyRule, type LrpResult, type LayerAudit, type LayerRelevance } from './explain/lrp/lrp';
export { assignRules, COMPOSITES, COMPOSITE_NAMES, thesisPosition, type PoolMode } from './explain/lrp/composites';
export { makeRule, registerRule, ruleNames, zeroRule, epsilonRule, gammaRule, alphaBetaRule, zbRule, flatRule, wSquareRule, RULE_NAMES, type RuleSpec, type Rule, type RuleFactory } from './explain/lrp/rules';
export { modelChain, disposeChain, SUPPORTED_LAYERS } from './explain/chain';
export { upsampleTrilinear } from './explain/upsample';
export { readInputVolume, saveHeatmap, writeHeatmap } from './explain/heatmap-io';
export { integratedGradients, smoothGrad, occlusion, gradCamPlusPlus, ATTRIBUTION_DEFAULTS } from './explain/attribution';
export { cachedExplanation, foldTestIndices, type CachedExplanation } from './explain/cached';
export { aopc, uniformOrder, greedyOrder, greedyCandidates, uniformCubes, parsePerturb, perturbLabel, resolveAopcConfig, AOPC_DEFAULTS, type AopcConfig, type AopcResult } from './evaluate/aopc';
export { sanityCheck, classSensitivity, weightLayersTopDown, resolveSanityConfig, layerSeed, SANITY_DEFAULTS, type SanityResult, type SanityConfig, type SanityVerdict } from './evaluate/sanity';
export { similarity, spearman, pearson, ssim3d, ranks, isConstant, type Similarity } from './evaluate/similarity';
export { localisation, relevancePerRegion, positiveShareInside, type LocalisationScores } from './evaluate/localisation';
export { writeFinding, readFinding, findingsDir } from './report/findings';
export { cachedAopc, aopcFigure, cachedSanity, sanityGridFigure, sanityCurvesFigure, localisationRows, regionTable, methodLabel, summariseLocalisation, subjectBootstrap, SIMILARITY_WORDS, type SanitySummary, type LocalisationRow, type LocalisationSummary } from './evaluate/workflows';
export { classificationScores, runClassification, type RunClassification, type FoldClassification } from './training/metrics';
export { mean, sampleStd, tInterval, bootstrap, bootstrapMean, auc, aucInterval, formatInterval, type Interval } from './util/stats';
export { aboveClaim, monotoneClaim, gated, notExplainedClaim, acrossPerturbations, claimRows, pairedDifference, pairedFoldDifference, verdictAbove, type Claim, type ClaimVerdict } from './report/claims';
export { classifications, classificationRows, baselineWarning, aopcEntries, aopcRows, sanityResults, sanityRows, RANDOM_ORDER, type AopcEntry } from './workflow/studies';
export { sanityStudy, SANITY_METHODS, aopcStudies, thesisSteps, AOPC_PERTURBATIONS, aopcPerturbations, localisationStudy, localisationSessions, LOCALISATION_METHODS, type SanityStudy, type AopcStudy, type LocalisationStudy } from './workflow/spec';
export { aalNames } from './data/oasis2/phantoms';
export { classAverageHeatmaps, registerRigid, applyRigid, type ClassAverage, type RigidTransform } from './explain/average';
export { confusionFigure } from './viz/classification';
export { auditDataset, auditRows, sessionFeatures, HIPPOCAMPUS_LITERATURE, type AuditResult, type AuditFeature } from './data/oasis2/audit';
