/**
 * An OASIS-2-like phantom cohort built from a real brain, with known ground truth (docs/methods.md, "Phantom
 * cohort"). The label is carried by the disease model (lib/data/oasis2/phantoms/anatomy.ts) and by nothing else:
 * head size and shape, pose (rotation and position), intensity gain, bias field and noise are drawn per subject (and
 * per visit) from streams that never see the group; age and sex follow the OASIS-2 table by group. `xai3d data
 * audit` checks that no nuisance feature predicts the label.
 *
 * Scans are written in the exact release layout, 256x256x128 int16 at 1 x 1 x 1.25 mm, sagittal, as
 * ROOT/OAS2_RAW_PART1/OAS2_xxxx_MRn/RAW/mpr-1.nifti.hdr/.img pairs, with oasis_longitudinal.csv. Ground truth, outside
 * the release layout: ROOT/ground_truth/<MRI ID>/atrophy_labels.nii.gz (1 hippocampus, 2 amygdala, 3 parahippocampal
 * gyrus, 4 ventricles, 5 temporal cortex), aal.nii.gz and brain_mask.nii.gz, on the scan's grid.
 * Rendering runs on worker threads (XAI3D_WORKERS, default: the number of cores, at most 4).
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildDirAtomic, writeFileAtomic, writeJsonAtomic } from '../../../io/atomic';
import { writeNifti, type Mat4 } from '../../../io/nifti';
import { progress } from '../../../util/progress';
import { dataWorkers, runInWorkers, sourceOf } from '../../../util/workers';
import { Rng } from '../../../util/random';
import { demographicsCsv, type SessionRow } from '../demographics';
import { ATLAS_FILE, BRAIN_FILE, GROUND_TRUTH_DIR, LESION_FILE } from '../loader';
import { atrophiedTemplate, DEFAULT_EFFECTS, regionModel, type AtrophyEffects, type RegionModel } from './anatomy';
import { jitter, renderScan, SCAN_AFFINE, SCAN_DIMS, SCAN_PIXDIM, subjectWarp, type Rendered, type SubjectWarp } from './render';
import { colin27Template, proceduralHead, type Template } from './template';

/** Version of the generator: part of the cohort's cache key, bumped whenever what it renders changes. */
export const PHANTOM_VERSION = 4;

export interface CohortConfig {
  /** Subjects in the cohort. */
  subjects: number;
  /** Share of Demented and Converted subjects (the rest are Nondemented). */
  dementedShare: number;
  convertedShare: number;
  /** Visits per subject: each subject gets between min and max. */
  minVisits: number;
  maxVisits: number;
  /** Severity of Demented subjects at their first visit (uniform in this range) and its growth per visit. */
  severityAtFirstVisit: [number, number];
  severityPerVisit: number;
  effects: AtrophyEffects;
  /** Smooth deformation amplitude (mm), rigid rotation (degrees, per axis) and position (mm, per axis) between subjects. */
  deformationMm: number;
  rotationDeg: number;
  shiftMm: number;
  /** Head size: relative standard deviation of the overall scale, and of each axis (head shape). */
  headScaleSd: number;
  headShapeSd: number;
  /** Relative standard deviation of the scanner's intensity gain per subject. */
  gainSd: number;
  /** Noise std as a fraction of white-matter intensity; bias field amplitude. */
  noise: number;
  biasField: number;
  /** Scan grid (default: the release's 256x256x128 at 1x1x1.25 mm). */
  scanDims: [number, number, number];
  scanPixdim: [number, number, number];
  /** Intensity scale from the template's 0..255 to int16 scanner units. */
  intensityScale: number;
  seed: number;
  /** 'colin27' (mricron-data) or 'procedural' (tests). */
  template: 'colin27' | 'procedural';
  /**
   * For tests of the audit only: a deliberate shortcut, the heads of the AD-labelled subjects (Demented, and
   * Converted ones) moved by this many mm in scan world coordinates. Never set in a profile.
   */
  shortcutShiftMm?: [number, number, number];
}

export const COHORT_DEFAULTS: CohortConfig = {
  subjects: 24,
  dementedShare: 0.4,
  convertedShare: 0.1,
  minVisits: 2,
  maxVisits: 3,
  severityAtFirstVisit: [0.5, 0.8],
  severityPerVisit: 0.15,
  effects: DEFAULT_EFFECTS,
  deformationMm: 2.5,
  rotationDeg: 4,
  shiftMm: 5,
  headScaleSd: 0.04,
  headShapeSd: 0.02,
  gainSd: 0.1,
  noise: 0.02,
  biasField: 0.15,
  scanDims: SCAN_DIMS,
  scanPixdim: SCAN_PIXDIM,
  intensityScale: 8,
  seed: 0,
  template: 'colin27',
};

/**
 * Share of women by group in the OASIS-2 table (subjects): Nondemented 46 of 72 (0.64), Demented 28 of 64 (0.44),
 * Converted 10 of 14 (0.71) (Marcus et al. 2010, oasis_longitudinal.csv). Sex changes only the demographics here,
 * never the image: head size is drawn independently of sex and group, so it cannot carry the label.
 */
export const FEMALE_SHARE = { Nondemented: 46 / 72, Demented: 28 / 64, Converted: 10 / 14 } as const;

export interface CohortResult {
  root: string;
  rows: SessionRow[];
  /** Severity per MRI ID (0 = no atrophy). */
  severity: Record<string, number>;
}

function round(v: number, d = 0): number {
  const f = 10 ** d;
  return Math.round(v * f) / f;
}

/** A subject's image nuisance parameters, from a stream that depends on the seed and the subject number only. */
export interface SubjectNuisance {
  scale: number;
  gain: number;
}

export function subjectNuisance(cfg: CohortConfig, s: number): SubjectNuisance {
  const rng = new Rng(cfg.seed * 100003 + s * 101 + 50);
  return { scale: 1 + rng.normal(0, cfg.headScaleSd), gain: Math.exp(rng.normal(0, cfg.gainSd)) };
}

/** Plan the cohort: groups, visits, severities and demographics (no images). */
export function planCohort(cfg: CohortConfig): { rows: SessionRow[]; severity: Record<string, number>; scales: number[] } {
  const rng = new Rng(cfg.seed * 7 + 1);
  const rows: SessionRow[] = [];
  const severity: Record<string, number> = {};
  const scales: number[] = [];
  const nDem = Math.round(cfg.subjects * cfg.dementedShare);
  const nConv = Math.round(cfg.subjects * cfg.convertedShare);
  const groups: SessionRow['group'][] = rng.shuffle([
    ...Array(nDem).fill('Demented'),
    ...Array(nConv).fill('Converted'),
    ...Array(Math.max(0, cfg.subjects - nDem - nConv)).fill('Nondemented'),
  ]);
  groups.forEach((group, s) => {
    const subjectId = `OAS2_${String(s + 1).padStart(4, '0')}`;
    const visits = cfg.minVisits + rng.int(cfg.maxVisits - cfg.minVisits + 1);
    const sex = rng.next() < FEMALE_SHARE[group] ? 'F' : 'M';
    const { scale } = subjectNuisance(cfg, s);
    scales.push(scale);
    const age0 = Math.round(group === 'Nondemented' ? rng.uniform(60, 90) : rng.uniform(64, 90));
    const educ = Math.round(Math.min(23, Math.max(6, rng.normal(14.5, 2.9))));
    const ses = Math.min(5, Math.max(1, Math.round(rng.normal(2.5, 1.1))));
    const etiv = Math.round(1480 * scale ** 3 + rng.normal(0, 60));
    const sev0 = rng.uniform(cfg.severityAtFirstVisit[0], cfg.severityAtFirstVisit[1]);
    const conversionVisit = 2 + rng.int(Math.max(1, visits - 1));
    let delay = 0;
    for (let v = 1; v <= visits; v++) {
      if (v > 1) delay += Math.round(rng.uniform(450, 900));
      let sev = 0;
      if (group === 'Demented') sev = Math.min(1, sev0 + cfg.severityPerVisit * (v - 1));
      if (group === 'Converted' && v >= conversionVisit) sev = Math.min(1, 0.45 + cfg.severityPerVisit * (v - conversionVisit));
      const cdr = sev === 0 ? 0 : sev < 0.75 ? 0.5 : sev < 0.95 ? 1 : 2;
      const mmse = sev === 0 ? Math.min(30, Math.round(rng.normal(29, 1))) : Math.max(4, Math.round(29 - sev * 10 + rng.normal(0, 2)));
      const mriId = `${subjectId}_MR${v}`;
      severity[mriId] = sev;
      const age = age0 + Math.round(delay / 365);
      rows.push({
        subjectId,
        mriId,
        group,
        visit: v,
        mrDelay: delay,
        sex,
        hand: 'R',
        age,
        educ,
        ses,
        mmse,
        cdr,
        etiv,
        nwbv: round(0.79 - 0.0025 * (age - 60) - 0.05 * sev + rng.normal(0, 0.01), 3),
        asf: round(1755 / etiv, 3),
      });
    }
  });
  return { rows, severity, scales };
}

/** What every session's renderer (main thread or worker) needs, all structured-cloneable. */
export interface RenderShared {
  cfg: CohortConfig;
  template: Template;
  model: RegionModel;
  scanAffine: Mat4;
  severity: Record<string, number>;
  scales: number[];
  out: string;
}

function resolveScanAffine(cfg: CohortConfig): Mat4 {
  return cfg.scanDims.join() === SCAN_DIMS.join() && cfg.scanPixdim.join() === SCAN_PIXDIM.join()
    ? SCAN_AFFINE
    : [
        [0, 0, -cfg.scanPixdim[2], (cfg.scanPixdim[2] * (cfg.scanDims[2] - 1)) / 2],
        [-cfg.scanPixdim[0], 0, 0, (cfg.scanPixdim[0] * (cfg.scanDims[0] - 1)) / 2 - 18],
        [0, -cfg.scanPixdim[1], 0, (cfg.scanPixdim[1] * (cfg.scanDims[1] - 1)) / 2 + 2],
        [0, 0, 0, 1],
      ];
}

/** The warp of one session: the subject's (seeded by subject), plus repositioning at later visits and any shortcut. */
function sessionWarp(job: RenderShared, r: SessionRow): SubjectWarp {
  const { cfg, template } = job;
  const s = Number(r.subjectId.slice(5)) - 1;
  const w = subjectWarp(new Rng(cfg.seed * 100003 + s * 101), template, job.scales[s], cfg.deformationMm, cfg.rotationDeg, cfg.shiftMm, cfg.headShapeSd);
  if (cfg.shortcutShiftMm && r.group !== 'Nondemented') {
    // The warp maps scan world to template world: moving the head by +v in the scan moves the sampling by -v.
    for (let k = 0; k < 3; k++) w.M[k][3] -= cfg.shortcutShiftMm[k];
  }
  return r.visit === 1 ? w : jitter(w, new Rng(cfg.seed * 100003 + s * 101 + r.visit), 1, 1);
}

/** Buffers of the last scan rendered on this thread (a cohort renders hundreds of 8M-voxel scans). */
const scratch: { rendered?: Rendered; intensity?: Float32Array } = {};

/**
 * Render and write one session (worker threads call it by name through lib/util/workers.ts; the main thread calls it
 * when there is one thread). Returns the session's MRI ID.
 */
export function renderSession(job: RenderShared, r: SessionRow): string {
  const { cfg, template: t, model } = job;
  const s = Number(r.subjectId.slice(5)) - 1;
  const rng = new Rng(cfg.seed * 100003 + s * 101 + r.visit);
  const warp = sessionWarp(job, r);
  const intensity = atrophiedTemplate(t, model, job.severity[r.mriId], cfg.effects, scratch.intensity);
  scratch.intensity = intensity;
  const wm = 115;
  const gain = subjectNuisance(cfg, s).gain * Math.exp(new Rng(cfg.seed * 100003 + s * 101 + r.visit + 70).normal(0, 0.02));
  const rendered = renderScan(t, intensity, model, warp, rng, cfg.scanDims, job.scanAffine, cfg.noise * wm, cfg.biasField, gain, scratch.rendered);
  scratch.rendered = rendered;
  const part = s + 1 <= Math.ceil(cfg.subjects / 2) ? 'OAS2_RAW_PART1' : 'OAS2_RAW_PART2';
  const raw = path.join(job.out, part, r.mriId, 'RAW');
  fs.mkdirSync(raw, { recursive: true });
  const scaled = rendered.scan;
  for (let i = 0; i < scaled.length; i++) scaled[i] *= cfg.intensityScale;
  const geo = { dims: cfg.scanDims, pixdim: cfg.scanPixdim, affine: job.scanAffine };
  writeNifti(path.join(raw, 'mpr-1.nifti.hdr'), { ...geo, data: scaled }, { datatype: 'int16', byteOrder: 'big', description: `xai3d phantom ${r.mriId} (${t.name})`, xformCode: 1 });
  const gt = path.join(job.out, GROUND_TRUTH_DIR, r.mriId);
  fs.mkdirSync(gt, { recursive: true });
  const labels = { datatype: 'uint8' as const, xformCode: 1, gzipLevel: 1 };
  writeNifti(path.join(gt, LESION_FILE), { ...geo, data: rendered.lesion }, labels);
  writeNifti(path.join(gt, ATLAS_FILE), { ...geo, data: rendered.aal }, labels);
  writeNifti(path.join(gt, BRAIN_FILE), { ...geo, data: rendered.brain }, labels);
  return r.mriId;
}

/**
 * Build a phantom cohort in the OASIS-2 release layout under `out` (atomically: a crash leaves no half-built root).
 * Returns the root, the demographics rows and the severity of every session.
 */
export async function buildPhantomCohort(out: string, config: Partial<CohortConfig> = {}, template?: Template): Promise<CohortResult> {
  const cfg: CohortConfig = { ...COHORT_DEFAULTS, ...config, effects: { ...DEFAULT_EFFECTS, ...config.effects } };
  if (!Number.isInteger(cfg.subjects) || cfg.subjects < 2) throw new Error(`phantoms: subjects ${cfg.subjects} must be an integer >= 2`);
  if (cfg.minVisits < 1 || cfg.maxVisits < cfg.minVisits) throw new Error(`phantoms: visits ${cfg.minVisits}..${cfg.maxVisits} are not a valid range`);
  if (cfg.dementedShare + cfg.convertedShare > 1) throw new Error('phantoms: dementedShare + convertedShare must be <= 1');
  const workers = dataWorkers();
  const t = template ?? (cfg.template === 'procedural' ? proceduralHead() : colin27Template());
  const model = regionModel(t, cfg.effects.ventricleGrowth);
  const { rows, severity, scales } = planCohort(cfg);
  const bar = progress(`phantom scans (${Math.max(1, workers)} thread(s))`, rows.length, { unit: 'scans' });
  await buildDirAtomic(out, async (tmp) => {
    const job: RenderShared = { cfg, template: t, model, scanAffine: resolveScanAffine(cfg), severity, scales, out: tmp };
    const renderHere = () => rows.forEach((r) => bar.tick(1, renderSession(job, r)));
    if (workers <= 1) renderHere();
    else {
      let done = 0;
      try {
        await runInWorkers<SessionRow, string>(sourceOf(__filename), 'renderSession', job, rows, workers, (_, id) => {
          done++;
          bar.tick(1, id);
        });
      } catch (err) {
        // Worker threads that cannot start (an environment without the TypeScript loader) leave the job to this thread.
        if (done > 0) throw err;
        process.stderr.write(`phantoms: worker threads unavailable (${(err as Error).message.split('\n')[0]}); rendering on the main thread\n`);
        renderHere();
      }
    }
    writeFileAtomic(path.join(tmp, 'oasis_longitudinal.csv'), demographicsCsv(rows));
    writeJsonAtomic(path.join(tmp, GROUND_TRUTH_DIR, 'cohort.json'), {
      generator: 'xai3d phantoms',
      version: PHANTOM_VERSION,
      template: t.name,
      config: cfg,
      severity,
      labels: { 1: 'hippocampus', 2: 'amygdala', 3: 'parahippocampal gyrus', 4: 'ventricles', 5: 'temporal cortex' },
    });
  });
  bar.done();
  return { root: out, rows, severity };
}
