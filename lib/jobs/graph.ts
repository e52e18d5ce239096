/**
 * The job graph of a profile: units of work that are independent given their inputs, with their dependencies and
 * estimated CPU time and memory. Each unit calls the same library functions with the same configs as the notebooks,
 * so a unit finished by any process (a Slurm job, a local worker, a notebook) is a cache hit for all the others.
 *
 *   data/mnist3d                     3D MNIST of the profile (generated from the real digits, cached)
 *   data/oasis2                      the OASIS-2 root (a release, or the phantom cohort) preprocessed to the cube
 *   train/<dataset>/<model>/fold-K   one fold of k-fold training                       (after its data)
 *   train/<dataset>/<model>/summary  the run's summary once all folds exist             (after its folds)
 *   eval/sanity/<dataset>            the sanity study of lib/workflow/spec.ts            (after its model's summary)
 *   eval/aopc/<dataset>              the AOPC studies of lib/workflow/spec.ts            (after the family's summaries)
 *   eval/localisation/oasis2/<model> the explanations notebook 07 scores against the     (after its model's summary)
 *                                    ground truth (none for a model at its baseline)
 *   report                           every notebook (explanations, AOPC, sanity checks,   (after every summary)
 *                                    localisation: cached) and the report
 */
import * as fs from 'fs';
import * as path from 'path';
import { datasetEntry, datasetNames, type TrainSettings } from '../data/registry';
import type { VolumeDataset } from '../data/dataset';
import { describeArchitecture, PRESETS, type PresetName } from '../models/presets';
import { profileConfig, type ProfileConfig } from '../profiles';
import type { ProfileName } from '../env/profile';
import { trainKFold, trainRunDir, TRAINING_CODE_VERSION, type TrainConfig } from '../training/train';
import { EXPLAIN_CODE_VERSION } from '../explain/cached';
import { PHANTOM_VERSION } from '../data/oasis2/phantoms/cohort';
import { writeJsonAtomic } from '../io/atomic';
import { configHash } from '../util/hash';
import { foldTestIndices } from '../explain/cached';
import { cachedSanity, EVALUATION_VERSIONS } from '../evaluate/workflows';
import { aopcEntries, sanityResults } from '../workflow/studies';
import { aopcPerturbations, aopcStudies, localisationSessions, localisationStudy, sanityStudy, STUDY_DATASETS, type StudyDataset } from '../workflow/spec';
import { cachedExplanation } from '../explain/cached';
import { runClassification } from '../training/metrics';

export type Stage = 'data' | 'train' | 'summary' | 'eval' | 'report';
export const STAGES: Stage[] = ['data', 'train', 'summary', 'eval', 'report'];

export interface JobSpec {
  id: string;
  stage: Stage;
  deps: string[];
  /** Estimated CPU seconds on one 2-core machine of this kind (see estimateSeconds). */
  cpuSeconds: number;
  /** Estimated peak memory in MB. */
  memoryMb: number;
  dataset?: string;
  model?: PresetName;
  fold?: number;
}

function trainSettings(profile: ProfileConfig, dataset: string): TrainSettings {
  return datasetEntry(dataset).training(profile);
}

export function estimateSeconds(profile: ProfileConfig, dataset: string, model: PresetName): number {
  const entry = datasetEntry(dataset);
  const s = entry.training(profile);
  const perFold = entry.volumes(profile) * (1 - 1 / s.folds);
  // Early stopping usually ends a run well before its epoch limit; half the limit is the planning figure.
  const epochs = Math.max(1, Math.min(s.epochs, Math.ceil(s.epochs / 2)));
  return Math.round(perFold * epochs * entry.secondsPerVolumeEpoch64(model) * (entry.side(profile) / 64) ** 3) + 10;
}

function memoryMb(profile: ProfileConfig, dataset: string, model: PresetName): number {
  // Activations of one volume through the preset (float32), times 7 for a training step, times the batch, plus the
  // data held in memory and the runtime.
  const side = datasetEntry(dataset).side(profile);
  const arch = describeArchitecture(model, { inputSize: side, baseWidth: trainSettings(profile, dataset).baseWidth });
  let s = side;
  let elems = side ** 3;
  let width = trainSettings(profile, dataset).baseWidth ?? PRESETS[model].defaultBaseWidth;
  for (const tok of arch.split(':')[1].split(' ')) {
    if (tok.startsWith('C')) {
      width = Number(tok.slice(1));
      elems += s ** 3 * width;
    } else if (tok === 'P') {
      s = Math.floor(s / 2);
      elems += s ** 3 * width;
    }
  }
  const batch = trainSettings(profile, dataset).batchSize;
  return Math.round((elems * 4 * 7 * batch) / 2 ** 20 + 600);
}

/** Every unit of a profile, in a valid order (dependencies first). */
export function profileJobs(name: ProfileName): JobSpec[] {
  const profile = profileConfig(name);
  const jobs: JobSpec[] = datasetNames().map((dataset) => ({ id: `data/${dataset}`, stage: 'data' as const, deps: [], cpuSeconds: datasetEntry(dataset).buildSeconds(profile), memoryMb: 2000, dataset }));
  const summaries: string[] = [];
  for (const dataset of datasetNames()) {
    const models = datasetEntry(dataset).models(profile);
    const s = trainSettings(profile, dataset);
    for (const model of models) {
      const folds: string[] = [];
      for (let k = 1; k <= s.folds; k++) {
        const id = `train/${dataset}/${model}/fold-${k}`;
        folds.push(id);
        jobs.push({ id, stage: 'train', deps: [`data/${dataset}`], cpuSeconds: estimateSeconds(profile, dataset, model), memoryMb: memoryMb(profile, dataset, model), dataset, model, fold: k });
      }
      const sid = `train/${dataset}/${model}/summary`;
      summaries.push(sid);
      jobs.push({ id: sid, stage: 'summary', deps: folds, cpuSeconds: 5, memoryMb: 1000, dataset, model });
    }
  }
  const evals: string[] = [];
  for (const dataset of STUDY_DATASETS) {
    const study = sanityStudy(profile, dataset);
    const id = `eval/sanity/${dataset}`;
    evals.push(id);
    // Each method: (layers + null seeds + 1) explanations of every volume; about 2 s per 64^3 volume and explanation.
    const side = datasetEntry(dataset).side(profile);
    const explanations = study.methods.length * (8 + 2 + 1) * study.images;
    jobs.push({ id, stage: 'eval', deps: [`train/${dataset}/${study.model}/summary`], cpuSeconds: Math.round(explanations * 2 * (side / 64) ** 3) + 10, memoryMb: 3000, dataset, model: study.model as PresetName });
  }
  for (const dataset of STUDY_DATASETS) {
    const side = datasetEntry(dataset).side(profile);
    const studies = Object.values(aopcStudies(profile, dataset, side));
    const models = datasetEntry(dataset).models(profile);
    // Forward passes: per run, config, perturbation, method (+ random): images x (L + 1), about 25 ms per 64^3 volume.
    const passes = studies.reduce((n, st) => n + (st.models === 'family' ? models.length : 1) * st.configs.length * 2 * (st.methods.length + (st.withRandom ? 1 : 0)) * st.images * ((st.configs[0].steps ?? 50) + 1), 0);
    const id = `eval/aopc/${dataset}`;
    evals.push(id);
    jobs.push({ id, stage: 'eval', deps: models.map((m) => `train/${dataset}/${m}/summary`), cpuSeconds: Math.round(passes * 0.025 * (side / 64) ** 3) + 10, memoryMb: 3000, dataset });
  }
  const loc = localisationStudy(profile);
  for (const model of profile.oasisModels as PresetName[]) {
    const id = `eval/localisation/oasis2/${model}`;
    evals.push(id);
    // Per session: one forward + backward per method (Integrated Gradients: one per step), about 0.15 s at 64^3.
    const passes = loc.methods.reduce((n, m) => n + (m.method === 'integrated-gradients' ? m.steps ?? 32 : m.method === 'smoothgrad' ? m.samples ?? 20 : m.method === 'occlusion' ? Math.ceil(((profile.oasisSize - (m.window ?? 8)) / (m.stride ?? 4) + 1) ** 3 / 3) : 1), 0);
    jobs.push({ id, stage: 'eval', deps: [`train/oasis2/${model}/summary`], cpuSeconds: Math.round(loc.images * passes * 0.15 * (profile.oasisSize / 64) ** 3) + 10, memoryMb: 3000, dataset: 'oasis2', model });
  }
  jobs.push({ id: 'report', stage: 'report', deps: [...summaries, ...evals], cpuSeconds: 600, memoryMb: 4000 });
  return jobs;
}

export function findJob(name: ProfileName, id: string): JobSpec {
  const job = profileJobs(name).find((j) => j.id === id);
  if (!job) throw new Error(`no job "${id}" in profile ${name}; \`xai3d plan --profile ${name}\` lists them`);
  return job;
}

async function datasetOf(profile: ProfileConfig, dataset: string): Promise<VolumeDataset> {
  return datasetEntry(dataset).load(profile);
}

// Status checks (xai3d status, submit --wait polling) open each dataset once per process, quietly.
const opened = new Map<string, Promise<VolumeDataset>>();
function datasetForStatus(profile: ProfileConfig, dataset: string): Promise<VolumeDataset> {
  const key = `${profile.name}/${dataset}`;
  if (!opened.has(key)) {
    const quiet = process.env.XAI3D_QUIET;
    process.env.XAI3D_QUIET = '1';
    opened.set(key, datasetOf(profile, dataset).finally(() => {
      if (quiet === undefined) delete process.env.XAI3D_QUIET;
      else process.env.XAI3D_QUIET = quiet;
    }));
  }
  return opened.get(key)!;
}

function trainConfig(profile: ProfileConfig, dataset: string, model: PresetName): TrainConfig {
  // Exactly what the notebooks' trainFamily(ds, models, settings, 0) asks for: the same cache key.
  return { ...trainSettings(profile, dataset), model, seed: 0 };
}

/**
 * What a finished data, eval or report unit computed with: the profile's settings, its studies and every code version
 * in a cache key. Its marker file holds this key, so a marker written by older code or settings does not count
 * (the unit runs again and its cached parts are hits, the rest is computed).
 */
export function unitKey(name: ProfileName, id: string): string {
  const profile = profileConfig(name);
  const studies = STUDY_DATASETS.map((d) => ({ sanity: sanityStudy(profile, d), aopc: aopcStudies(profile, d, datasetEntry(d).side(profile)), perturb: aopcPerturbations(profile, d) }));
  const versions = { training: TRAINING_CODE_VERSION, explain: EXPLAIN_CODE_VERSION, evaluation: EVALUATION_VERSIONS, phantoms: PHANTOM_VERSION };
  return configHash({ id, profile, studies, localisation: localisationStudy(profile), versions });
}

function markerFile(name: ProfileName, id: string, resultsRoot: string): string {
  return path.join(resultsRoot, 'jobs', name, `${id.replace(/\//g, '_')}.done`);
}

function markerValid(name: ProfileName, id: string, resultsRoot: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(markerFile(name, id, resultsRoot), 'utf8')) as { key?: string }).key === unitKey(name, id);
  } catch {
    return false;
  }
}

function writeMarker(name: ProfileName, id: string, resultsRoot: string): void {
  writeJsonAtomic(markerFile(name, id, resultsRoot), { key: unitKey(name, id), finished: new Date().toISOString() });
}

/** Whether a unit's output is already in the cache (data and train units; the report when its page exists). */
export async function isDone(name: ProfileName, job: JobSpec, resultsRoot: string): Promise<boolean> {
  const profile = profileConfig(name);
  if (job.stage === 'report') return fs.existsSync(path.join(resultsRoot, 'report', 'index.html')) && markerValid(name, 'report', resultsRoot);
  if (job.stage === 'data' || job.stage === 'eval') return markerValid(name, job.id, resultsRoot);
  const dataDone = markerValid(name, `data/${job.dataset}`, resultsRoot);
  if (!dataDone) return false;
  const ds = await datasetForStatus(profile, job.dataset!);
  const dir = trainRunDir(ds, trainConfig(profile, job.dataset!, job.model!), resultsRoot);
  return job.stage === 'train' ? fs.existsSync(path.join(dir, `fold-${job.fold}`, 'metrics.json')) : fs.existsSync(path.join(dir, 'summary.json'));
}

/** Run one unit (idempotent: a finished unit is a cache hit and returns at once). */
export async function runJob(name: ProfileName, job: JobSpec, resultsRoot: string, runReport: () => Promise<void>): Promise<void> {
  const profile = profileConfig(name);
  if (job.stage === 'data') {
    await datasetOf(profile, job.dataset!);
    writeMarker(name, job.id, resultsRoot);
    return;
  }
  if (job.stage === 'report') {
    await runReport();
    writeMarker(name, 'report', resultsRoot);
    return;
  }
  const ds = await datasetOf(profile, job.dataset!);
  const cfg = trainConfig(profile, job.dataset!, job.model!);
  if (job.stage === 'eval' && job.id.startsWith('eval/aopc/')) {
    const models = datasetEntry(job.dataset!).models(profile);
    const runs = [];
    for (const m of models) {
      const c = trainConfig(profile, job.dataset!, m);
      const run = await trainKFold(ds, c, { onlyFolds: [] });
      if (run.folds.length !== c.folds) throw new Error(`${job.id}: ${m} is not fully trained; run its train jobs first`);
      runs.push(run);
    }
    for (const st of Object.values(aopcStudies(profile, job.dataset as StudyDataset, ds.shape[0]))) {
      const images = foldTestIndices(runs[0], st.fold, ds).slice(0, st.images);
      for (const run of st.models === 'family' ? runs : [runs[runs.length - 1]]) {
        if (st.onlyAboveBaseline && !runClassification(run, ds).aboveBaseline) {
          process.stderr.write(`${job.id}: ${run.model} ${runClassification(run, ds).gate}; its AOPC is not computed\n`);
          continue;
        }
        for (const cfg of st.configs) await aopcEntries(run, st.fold, ds, images, st.methods, cfg, aopcPerturbations(profile, job.dataset as StudyDataset), st.withRandom);
      }
    }
    writeMarker(name, job.id, resultsRoot);
    return;
  }
  if (job.stage === 'eval' && job.id.startsWith('eval/localisation/')) {
    const study = localisationStudy(profile);
    const run = await trainKFold(ds, cfg, { onlyFolds: [] });
    if (run.folds.length !== cfg.folds) throw new Error(`${job.id}: ${job.model} is not fully trained; run its train jobs first`);
    const cls = runClassification(run, ds);
    if (cls.aboveBaseline) {
      const images = localisationSessions(foldTestIndices(run, study.fold, ds), ds.labels, study.images);
      for (const m of study.methods) await cachedExplanation(run, study.fold, ds, images, m);
    } else process.stderr.write(`${job.id}: ${cls.gate}; nothing to explain\n`);
    writeMarker(name, job.id, resultsRoot);
    return;
  }
  if (job.stage === 'eval') {
    const study = sanityStudy(profile, job.dataset as StudyDataset);
    const run = await trainKFold(ds, cfg, { onlyFolds: [] });
    if (run.folds.length !== cfg.folds) throw new Error(`${job.id}: ${job.model} is not fully trained; run its train jobs first`);
    const images = foldTestIndices(run, study.fold, ds).slice(0, study.images);
    await sanityResults(run, study.fold, ds, images, study.methods);
    if (study.camDenseOnly) await cachedSanity(run, study.fold, ds, images, { method: 'cam' }, { camLayers: 'dense-only' });
    writeMarker(name, job.id, resultsRoot);
    return;
  }
  if (job.stage === 'train') await trainKFold(ds, cfg, { onlyFolds: [job.fold! - 1] });
  else {
    const s = await trainKFold(ds, cfg, { onlyFolds: [] });
    if (s.folds.length !== cfg.folds) throw new Error(`${job.id}: ${s.folds.length} of ${cfg.folds} folds are done; run the train jobs first`);
  }
}
