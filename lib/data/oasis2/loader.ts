/**
 * OASIS-2 from its release layout:
 *   ROOT/OAS2_RAW_PART1/OAS2_0001_MR1/RAW/mpr-1.nifti.hdr + .img   (also PART2; or session folders directly in ROOT)
 *   ROOT/oasis_longitudinal.csv or ROOT/oasis_longitudinal_demographics.xlsx (or a table given explicitly)
 * Scans are NIfTI-1 pairs or magic-less Analyze 7.5 (either byte order, 4-D with a singleton 4th dimension); only
 * files named mpr-<n>.nifti.hdr count (one RAW folder of the release holds a stray 3906-3.nifti.img).
 *
 * Each session's chosen scan (default mpr-1) is preprocessed to a cube (preprocess.ts) and cached per scan and per
 * parameters under data/oasis2/<hash>/ as <MRI ID>.nii.gz (uint16 with scl_slope 1/65535, scanner geometry kept)
 * with a small JSON beside it, so an interrupted run keeps its finished scans. Phantom cohorts (phantoms.ts) also
 * carry ground-truth label maps in ROOT/ground_truth/<MRI ID>/, resampled onto the same cube.
 */
import { envSwitch } from '../../env/switches';
import * as fs from 'fs';
import * as path from 'path';
import { dataDir } from '../../env/paths';
import { readJson, writeJsonAtomic } from '../../io/atomic';
import { readNifti, writeNifti, type Mat4 } from '../../io/nifti';
import { configHash } from '../../util/hash';
import { progress } from '../../util/progress';
import { dataWorkers, runInWorkers, sourceOf } from '../../util/workers';
import type { VolumeDataset } from '../dataset';
import { labelOf, OASIS_CLASSES, readDemographics, type LabelRule, type SessionRow } from './demographics';
import { PREPROCESS_THESIS, preprocessScan, resampleLabels, type CubeGeometry, type PreprocessConfig } from './preprocess';

export const GROUND_TRUTH_DIR = 'ground_truth';
export const LESION_FILE = 'atrophy_labels.nii.gz';
export const ATLAS_FILE = 'aal.nii.gz';
/** Phantoms: the brain mask on the scan's grid (the shortcut audit's "inside the brain"). */
export const BRAIN_FILE = 'brain_mask.nii.gz';
export const LESION_NAMES: Record<number, string> = { 1: 'hippocampus', 2: 'amygdala', 3: 'parahippocampal gyrus', 4: 'ventricles', 5: 'temporal cortex' };

export interface SessionScans {
  mriId: string;
  dir: string;
  /** mpr-<n> -> header path. */
  scans: Record<string, string>;
}

const SESSION = /^OAS2_\d{4}_MR\d+$/;

/** Sessions found under an OASIS-2 root. */
export function findSessions(root: string): SessionScans[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new Error(`${root}: not a folder (expected the OASIS-2 root holding OAS2_RAW_PART1/...)`);
  const sessionDirs: string[] = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    if (/^OAS2_RAW_PART\d+$/.test(e.name)) {
      for (const s of fs.readdirSync(path.join(root, e.name), { withFileTypes: true })) if (s.isDirectory() && SESSION.test(s.name)) sessionDirs.push(path.join(root, e.name, s.name));
    } else if (SESSION.test(e.name)) sessionDirs.push(path.join(root, e.name));
  }
  const out: SessionScans[] = [];
  for (const dir of sessionDirs.sort()) {
    const raw = path.join(dir, 'RAW');
    const scans: Record<string, string> = {};
    if (fs.existsSync(raw)) for (const f of fs.readdirSync(raw)) {
      const m = /^(mpr-\d+)\.nifti\.hdr$/.exec(f);
      if (m) scans[m[1]] = path.join(raw, f);
    }
    out.push({ mriId: path.basename(dir), dir, scans });
  }
  return out;
}

/** The demographics table in the root, if any. */
export function findDemographics(root: string): string | undefined {
  return ['oasis_longitudinal_demographics.xlsx', 'oasis_longitudinal.csv', 'oasis_longitudinal_demographics.csv'].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
}

export interface Oasis2Options {
  /** Demographics table (default: found in the root). */
  demographics?: string;
  /** AD / NC rule (default cdr). */
  labelRule?: LabelRule;
  /** Which scan of a session (default mpr-1). */
  scan?: string;
  /** Preprocessing (default: the thesis's, 128^3). */
  preprocess?: Partial<PreprocessConfig>;
  /** What to do with an unreadable scan: 'error' (default) or 'skip' (reported in meta.skipped). */
  onBadScan?: 'error' | 'skip';
  /** Cache root (default data/). */
  cacheRoot?: string;
  /** Recompute cached scans. */
  force?: boolean;
}

interface CachedScan {
  mriId: string;
  source: string;
  sourceSize: number;
  sourceMtimeMs: number;
  geometry: CubeGeometry;
  percentiles: [number, number];
  hasGroundTruth: boolean;
}

export interface SkippedScan {
  mriId: string;
  reason: string;
}

function sourceStamp(file: string): { size: number; mtimeMs: number } {
  const hdr = fs.statSync(file);
  const img = file.replace(/\.hdr$/, '.img');
  const size = hdr.size + (fs.existsSync(img) ? fs.statSync(img).size : 0);
  return { size, mtimeMs: Math.round(Math.max(hdr.mtimeMs, fs.existsSync(img) ? fs.statSync(img).mtimeMs : 0)) };
}

/** Load (preprocessing and caching as needed) an OASIS-2 release or phantom cohort. */
export async function loadOasis2(root: string, opts: Oasis2Options = {}): Promise<VolumeDataset> {
  const cfg: PreprocessConfig = { ...PREPROCESS_THESIS, ...opts.preprocess };
  if (!Number.isInteger(cfg.size) || cfg.size < 8 || cfg.size > 512) throw new Error(`preprocess.size ${cfg.size} must be an integer from 8 to 512`);
  const scanName = opts.scan ?? 'mpr-1';
  if (!/^mpr-\d+$/.test(scanName)) throw new Error(`scan "${scanName}" must look like mpr-1`);
  const rule = opts.labelRule ?? 'cdr';
  if (rule !== 'cdr' && rule !== 'group') throw new Error(`labelRule "${rule}" must be cdr or group`);
  const sessions = findSessions(root);
  const tableFile = opts.demographics ?? findDemographics(root);
  if (!tableFile) throw new Error(`${root}: no demographics table (oasis_longitudinal.csv or oasis_longitudinal_demographics.xlsx); pass one explicitly`);
  const rows = await readDemographics(tableFile);
  const byId = new Map(rows.map((r) => [r.mriId, r]));
  if (sessions.length === 0) throw new Error(`${root}: no OAS2_xxxx_MRn session folders found (looked in the root and in OAS2_RAW_PART*/)`);

  const skipped: SkippedScan[] = [];
  const chosen: { row: SessionRow; header: string; session: SessionScans }[] = [];
  for (const s of sessions) {
    const row = byId.get(s.mriId);
    if (!row) {
      skipped.push({ mriId: s.mriId, reason: `no row in ${path.basename(tableFile)}` });
      continue;
    }
    const header = s.scans[scanName];
    if (!header) {
      skipped.push({ mriId: s.mriId, reason: `no ${scanName}.nifti.hdr in ${path.join(s.dir, 'RAW')} (has: ${Object.keys(s.scans).join(', ') || 'none'})` });
      continue;
    }
    chosen.push({ row, header, session: s });
  }
  const withoutScan = rows.filter((r) => !sessions.some((s) => s.mriId === r.mriId)).map((r) => r.mriId);

  const cacheDir = path.join(opts.cacheRoot ?? dataDir(), 'oasis2', `${path.basename(path.resolve(root))}-${cfg.size}-${configHash({ root: path.resolve(root), cfg, scanName })}`);
  fs.mkdirSync(cacheDir, { recursive: true });
  const entries: { row: SessionRow; meta: CachedScan }[] = [];
  const bar = progress(`OASIS-2 preprocessing to ${cfg.size}^3`, chosen.length, { unit: 'scans' });
  // Cached scans are read back; the others are preprocessed, on worker threads when there are several.
  const metas: (CachedScan | undefined)[] = chosen.map(({ row, header }) => {
    const metaFile = path.join(cacheDir, `${row.mriId}.json`);
    if (opts.force || !fs.existsSync(metaFile)) return undefined;
    const m = readJson<CachedScan>(metaFile);
    const stamp = sourceStamp(header);
    return m.sourceSize === stamp.size && m.sourceMtimeMs === stamp.mtimeMs && fs.existsSync(path.join(cacheDir, `${row.mriId}.nii.gz`)) ? m : undefined;
  });
  const todo = chosen.map((c, i) => ({ i, header: c.header, sessionDir: c.session.dir, mriId: c.row.mriId })).filter((t) => metas[t.i] === undefined);
  const failures = new Map<number, string>();
  const record = (i: number, r: { meta?: CachedScan; error?: string }) => {
    if (r.meta) metas[i] = r.meta;
    else failures.set(i, r.error ?? 'unknown error');
    bar.tick(1, chosen[i].row.mriId);
  };
  chosen.forEach((_, i) => metas[i] && bar.tick(1, chosen[i].row.mriId));
  const workers = Math.min(dataWorkers(), todo.length);
  if (workers > 1) {
    await runInWorkers<(typeof todo)[number], { meta?: CachedScan; error?: string }>(sourceOf(__filename), 'preprocessJob', { cfg, cacheDir }, todo, workers, (k, r) => record(todo[k].i, r));
  } else {
    for (const t of todo) record(t.i, preprocessJob({ cfg, cacheDir }, t));
  }
  chosen.forEach(({ row }, i) => {
    const err = failures.get(i);
    if (err !== undefined) {
      if (opts.onBadScan === 'skip') {
        skipped.push({ mriId: row.mriId, reason: err });
        return;
      }
      throw new Error(err);
    }
    entries.push({ row, meta: metas[i]! });
  });
  bar.done();
  if (skipped.length > 0 && !envSwitch('XAI3D_QUIET', false)) {
    process.stderr.write(`OASIS-2: skipped ${skipped.length} session(s):\n${skipped.map((s) => `  ${s.mriId}: ${s.reason}`).join('\n')}\n`);
  }
  if (entries.length === 0) throw new Error(`${root}: no usable scans (${skipped.length} skipped)`);

  const lru = new Map<string, Float32Array>();
  const readCached = (mriId: string): Float32Array => {
    const hit = lru.get(mriId);
    if (hit) return hit.slice();
    const v = readNifti(path.join(cacheDir, `${mriId}.nii.gz`)).data;
    lru.set(mriId, v);
    if (lru.size > 16) lru.delete(lru.keys().next().value as string);
    return v.slice();
  };
  const readLabels = (i: number, kind: 'gt' | 'aal' | 'brain'): Uint8Array | null => {
    const f = path.join(cacheDir, `${entries[i].row.mriId}.${kind}.nii.gz`);
    return fs.existsSync(f) ? Uint8Array.from(readNifti(f).data) : null;
  };
  return {
    name: `oasis2-${path.basename(path.resolve(root))}-${cfg.size}`,
    shape: [cfg.size, cfg.size, cfg.size],
    count: entries.length,
    labels: Int32Array.from(entries, (e) => labelOf(e.row, rule)),
    classNames: OASIS_CLASSES,
    groups: entries.map((e) => e.row.subjectId),
    ids: entries.map((e) => e.row.mriId),
    spacingMm: [entries[0].meta.geometry.voxelMm, entries[0].meta.geometry.voxelMm, entries[0].meta.geometry.voxelMm],
    volume: (i: number) => readCached(entries[i].row.mriId),
    affine: (i: number): Mat4 => entries[i].meta.geometry.affine,
    groundTruth: (i: number) => readLabels(i, 'gt'),
    atlas: (i: number) => readLabels(i, 'aal'),
    brainMask: (i: number) => readLabels(i, 'brain'),
    groundTruthNames: LESION_NAMES,
    fingerprint: configHash({ preprocess: cfg, rule, scan: scanName, scans: entries.map((e) => [e.row.mriId, e.meta.sourceSize, e.meta.sourceMtimeMs, e.meta.percentiles, e.row.cdr, e.row.group]) }),
    meta: {
      source: path.resolve(root),
      demographics: path.resolve(tableFile),
      labelRule: rule,
      scan: scanName,
      preprocess: cfg,
      cacheDir,
      skipped,
      tableRowsWithoutScan: withoutScan,
      rows: entries.map((e) => e.row),
    },
  };
}

/** One scan's preprocessing as a unit of work (worker threads call it by name); errors come back as messages. */
export function preprocessJob(shared: { cfg: PreprocessConfig; cacheDir: string }, t: { header: string; sessionDir: string; mriId: string }): { meta?: CachedScan; error?: string } {
  try {
    return { meta: preprocessOne(t.header, t.sessionDir, t.mriId, shared.cfg, shared.cacheDir, sourceStamp(t.header)) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function preprocessOne(header: string, sessionDir: string, mriId: string, cfg: PreprocessConfig, cacheDir: string, stamp: { size: number; mtimeMs: number }): CachedScan {
  const vol = readNifti(header);
  const { data, geometry, percentiles } = preprocessScan(vol, cfg);
  const n = cfg.size;
  const out = { data, dims: [n, n, n] as [number, number, number], pixdim: [geometry.voxelMm, geometry.voxelMm, geometry.voxelMm] as [number, number, number], affine: geometry.affine };
  writeNifti(path.join(cacheDir, `${mriId}.nii.gz`), out, { datatype: 'uint16', sclSlope: 1 / 65535, sclInter: 0, description: `xai3d ${mriId} ${cfg.size}^3` });
  // Ground truth of phantom cohorts: ROOT/ground_truth/<MRI ID>/..., on the scan's grid.
  const root = path.dirname(path.dirname(sessionDir));
  const gtDir = [path.join(root, GROUND_TRUTH_DIR, mriId), path.join(path.dirname(sessionDir), GROUND_TRUTH_DIR, mriId)].find((d) => fs.existsSync(d));
  let hasGroundTruth = false;
  if (gtDir) {
    for (const [file, kind] of [[LESION_FILE, 'gt'], [ATLAS_FILE, 'aal'], [BRAIN_FILE, 'brain']] as const) {
      const f = path.join(gtDir, file);
      if (!fs.existsSync(f)) continue;
      const lab = readNifti(f);
      if (lab.dims.join() !== vol.dims.join()) throw new Error(`${f}: dims [${lab.dims}] differ from the scan's [${vol.dims}]`);
      writeNifti(path.join(cacheDir, `${mriId}.${kind}.nii.gz`), { ...out, data: resampleLabels(lab, geometry) }, { datatype: 'uint8' });
      hasGroundTruth = true;
    }
  }
  const meta: CachedScan = { mriId, source: path.resolve(header), sourceSize: stamp.size, sourceMtimeMs: stamp.mtimeMs, geometry, percentiles, hasGroundTruth };
  writeJsonAtomic(path.join(cacheDir, `${mriId}.json`), meta);
  return meta;
}
