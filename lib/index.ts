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
export { showTable, tableHtml, type Row } from './viz/table';
export { inNotebook, displayHtml, displayMarkdown } from './viz/notebook';
