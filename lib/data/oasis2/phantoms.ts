/**
 * An OASIS-2-like phantom cohort built from a real brain, with known ground truth.
 *
 * Template: the Colin27 T1 (a real head, 27 scans averaged, 181x217x181 at 1 mm, with skull) and the AAL atlas on the
 * same grid, from Debian's mricron-data; or, for unit tests, a procedural head of ellipsoids with the same labels.
 *
 * Each subject is the template under a random smooth deformation (a coarse random displacement grid, trilinearly
 * interpolated), a small random rigid + scaling transform (repeated per visit with a little repositioning jitter),
 * a smooth multiplicative bias field and Gaussian noise. Demented subjects (and Converted subjects from their
 * conversion visit) additionally get, in proportion to a severity that grows over the visits:
 *   hippocampus, amygdala, parahippocampal gyrus: tissue loss from the region's border inwards (voxels within
 *     severity x `maxErosionMm` of the border become CSF) and a partial-volume darkening of the rest;
 *   ventricles: dilated by up to `maxVentricleDilationMm`;
 *   temporal cortex (AAL temporal labels): thinned from its outer surface by up to `maxCorticalThinningMm`.
 * Scans are written in the exact release layout, 256x256x128 int16 at 1 x 1 x 1.25 mm, sagittal, as
 * ROOT/OAS2_RAW_PART1/OAS2_xxxx_MRn/RAW/mpr-1.nifti.hdr/.img pairs, with oasis_longitudinal.csv (plausible age, sex,
 * education, SES, MMSE, CDR, eTIV, nWBV, ASF, consistent with the group). Ground truth, outside the release layout:
 * ROOT/ground_truth/<MRI ID>/atrophy_labels.nii.gz (1 hippocampus, 2 amygdala, 3 parahippocampal gyrus,
 * 4 ventricles, 5 temporal cortex: the regions the atrophy model changes, on the scan's grid) and aal.nii.gz.
 */
import * as fs from 'fs';
import * as path from 'path';
import { dataDir } from '../../env/paths';
import { buildDirAtomic, writeFileAtomic, writeJsonAtomic } from '../../io/atomic';
import { readNifti, writeNifti, type Mat4, type Volume } from '../../io/nifti';
import { progress } from '../../util/progress';
import { Rng } from '../../util/random';
import { demographicsCsv, type SessionRow } from './demographics';
import { ATLAS_FILE, BRAIN_FILE, GROUND_TRUTH_DIR, LESION_FILE } from './loader';

export interface Template {
  name: string;
  /** T1 intensities. */
  t1: Volume;
  /** AAL labels on the same grid. */
  atlas: Uint8Array;
  /** Brain mask (1 inside the brain, 0 outside). */
  brain: Uint8Array;
  /** Typical CSF intensity. */
  csf: number;
}

/** AAL labels of the regions the atrophy model changes. */
export const AAL_REGIONS = {
  hippocampus: [37, 38],
  parahippocampal: [39, 40],
  amygdala: [41, 42],
  temporalCortex: [81, 82, 83, 84, 85, 86, 87, 88, 89, 90],
};

/** Where Debian's mricron-data puts the templates (or the setup's unpacked copy under data/mricron). */
export function mricronDir(): string {
  const env = process.env.XAI3D_MRICRON_DIR;
  const candidates = [env, '/usr/share/mricron/templates', path.join(dataDir(), 'mricron', 'usr', 'share', 'mricron', 'templates')].filter((p): p is string => !!p);
  const hit = candidates.find((d) => fs.existsSync(path.join(d, 'ch2.nii.gz')));
  if (!hit) {
    throw new Error(
      `the Colin27 template (ch2.nii.gz) was not found in ${candidates.join(', ')}: install Debian's mricron-data ` +
        '(apt-get install mricron-data, or run scripts/setup.sh, which unpacks it without root), or set XAI3D_MRICRON_DIR',
    );
  }
  return hit;
}

/** Colin27 T1 + AAL + brain mask (ch2bet) from mricron-data. */
export function colin27Template(dir = mricronDir()): Template {
  const t1 = readNifti(path.join(dir, 'ch2.nii.gz'));
  const bet = readNifti(path.join(dir, 'ch2bet.nii.gz'));
  const aal = readNifti(path.join(dir, 'aal.nii.gz'));
  if (aal.dims.join() !== t1.dims.join() || bet.dims.join() !== t1.dims.join()) throw new Error(`${dir}: ch2, ch2bet and aal grids differ`);
  const brain = Uint8Array.from(bet.data, (v) => (v > 0 ? 1 : 0));
  return { name: 'colin27', t1, atlas: Uint8Array.from(aal.data), brain, csf: 35 };
}

/**
 * A procedural head (ellipsoids) with the atlas labels the atrophy model uses, 1 mm voxels, centred like MNI space.
 * For unit tests, which must not depend on mricron-data.
 */
export function proceduralHead(dims: [number, number, number] = [96, 112, 96]): Template {
  const [nx, ny, nz] = dims;
  const n = nx * ny * nz;
  const t1 = new Float32Array(n);
  const atlas = new Uint8Array(n);
  const brain = new Uint8Array(n);
  const cx = (nx - 1) / 2;
  const cy = (ny - 1) / 2;
  const cz = (nz - 1) / 2;
  // Semi-axes (mm) scaled to the grid.
  const s = Math.min(nx / 96, ny / 112, nz / 96);
  const ell = (x: number, y: number, z: number, ox: number, oy: number, oz: number, ax: number, ay: number, az: number) =>
    ((x - ox) / ax) ** 2 + ((y - oy) / ay) ** 2 + ((z - oz) / az) ** 2;
  let i = 0;
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++, i++) {
        const dx = x - cx;
        const dy = y - cy;
        const dz = z - cz;
        const head = ell(dx, dy, dz, 0, 0, 0, 44 * s, 53 * s, 44 * s);
        const skull = ell(dx, dy, dz, 0, 0, 0, 40 * s, 49 * s, 40 * s);
        const csf = ell(dx, dy, dz, 0, 0, 0, 37 * s, 46 * s, 37 * s);
        const gm = ell(dx, dy, dz, 0, 0, 0, 35 * s, 44 * s, 35 * s);
        const wm = ell(dx, dy, dz, 0, 0, 0, 30 * s, 38 * s, 30 * s);
        let v = 0;
        if (head <= 1) v = 60;
        if (skull <= 1) v = 12;
        if (csf <= 1) {
          v = 35;
          brain[i] = 1;
        }
        if (gm <= 1) v = 85;
        if (wm <= 1) v = 115;
        if (gm <= 1 && wm > 1 && dz < -4 * s && Math.abs(dx) > 18 * s) atlas[i] = dx < 0 ? 85 : 86; // temporal cortex (mid)
        if (gm <= 1 && wm > 1 && dz < -10 * s && Math.abs(dx) > 10 * s) atlas[i] = dx < 0 ? 89 : 90; // inferior temporal
        for (const side of [-1, 1]) {
          const L = side < 0;
          if (ell(dx, dy, dz, side * 8 * s, -2 * s, 6 * s, 4 * s, 12 * s, 5 * s) <= 1) v = 35; // lateral ventricles
          if (ell(dx, dy, dz, side * 22 * s, -6 * s, -12 * s, 4 * s, 10 * s, 4 * s) <= 1) {
            v = 82;
            atlas[i] = L ? 37 : 38; // hippocampus
          }
          if (ell(dx, dy, dz, side * 21 * s, 8 * s, -14 * s, 4 * s, 4 * s, 4 * s) <= 1) {
            v = 84;
            atlas[i] = L ? 41 : 42; // amygdala
          }
          if (ell(dx, dy, dz, side * 24 * s, -8 * s, -19 * s, 4 * s, 11 * s, 3 * s) <= 1) {
            v = 80;
            atlas[i] = L ? 39 : 40; // parahippocampal
          }
        }
        t1[i] = v;
      }
  const affine: Mat4 = [
    [1, 0, 0, -cx],
    [0, 1, 0, -cy],
    [0, 0, 1, -cz],
    [0, 0, 0, 1],
  ];
  return { name: 'procedural', t1: { data: t1, dims, pixdim: [1, 1, 1], affine }, atlas, brain, csf: 35 };
}

// ---------------------------------------------------------------- region geometry in template space

interface RegionModel {
  /** Lesion label per template voxel (1..5), the regions the model changes (ventricles at full dilation). */
  lesion: Uint8Array;
  /** For regions 1-3: voxel -> depth (voxels to the region's outside), 0 outside. */
  depth: Uint8Array;
  /** Temporal cortex: depth from the outer brain surface. */
  corticalDepth: Uint8Array;
  /** Ventricle distance (0 inside the ventricles, k = k voxels away), 255 far. */
  ventricleDistance: Uint8Array;
}

/** Chamfer-like distance (in voxel steps, 6-neighbourhood) from `seed` voxels, within `allowed`, up to maxSteps. */
function distanceFrom(dims: [number, number, number], seed: (i: number) => boolean, allowed: (i: number) => boolean, maxSteps: number): Uint8Array {
  const [nx, ny, nz] = dims;
  const n = nx * ny * nz;
  const dist = new Uint8Array(n).fill(255);
  let frontier: number[] = [];
  for (let i = 0; i < n; i++) if (seed(i)) {
    dist[i] = 0;
    frontier.push(i);
  }
  for (let step = 1; step <= maxSteps && frontier.length > 0; step++) {
    const next: number[] = [];
    for (const i of frontier) {
      const x = i % nx;
      const y = Math.floor(i / nx) % ny;
      const z = Math.floor(i / (nx * ny));
      const nb = [x > 0 ? i - 1 : -1, x < nx - 1 ? i + 1 : -1, y > 0 ? i - nx : -1, y < ny - 1 ? i + nx : -1, z > 0 ? i - nx * ny : -1, z < nz - 1 ? i + nx * ny : -1];
      for (const j of nb) {
        if (j >= 0 && dist[j] === 255 && allowed(j)) {
          dist[j] = step;
          next.push(j);
        }
      }
    }
    frontier = next;
  }
  return dist;
}

function regionModel(t: Template, maxVentricleDilation: number): RegionModel {
  const dims = t.t1.dims;
  const [nx, ny] = dims;
  const n = t.atlas.length;
  const inSet = (labels: number[]) => {
    const set = new Set(labels);
    return (i: number) => set.has(t.atlas[i]);
  };
  const hip = inSet(AAL_REGIONS.hippocampus);
  const amy = inSet(AAL_REGIONS.amygdala);
  const para = inSet(AAL_REGIONS.parahippocampal);
  const temporal = inSet(AAL_REGIONS.temporalCortex);
  const mesial = (i: number) => hip(i) || amy(i) || para(i);
  // Depth inside the mesial temporal regions: distance from their outside, walking inwards.
  const depthRaw = distanceFrom(dims, (i) => !mesial(i), mesial, 8);
  const depth = Uint8Array.from(depthRaw, (d, i) => (mesial(i) ? Math.min(d, 254) : 0));
  // Cortical depth of the temporal cortex from the brain's outside (outside the mask, or CSF-dark voxels).
  const dark = (i: number) => t.brain[i] === 0 || t.t1.data[i] < t.csf + 12;
  const cort = distanceFrom(dims, dark, temporal, 6);
  const corticalDepth = Uint8Array.from(cort, (d, i) => (temporal(i) && d !== 255 ? d : 0));
  // Ventricles: CSF-dark, unlabelled voxels inside the brain near its centre (world box around the lateral ventricles).
  const A = t.t1.affine;
  const centre = [0, 1, 2].map((r) => A[r][3]);
  void centre;
  const ventricle = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (t.brain[i] === 0 || t.atlas[i] !== 0 || t.t1.data[i] >= t.csf + 15) continue;
    const x = i % nx;
    const y = Math.floor(i / nx) % ny;
    const z = Math.floor(i / (nx * ny));
    const wx = A[0][0] * x + A[0][1] * y + A[0][2] * z + A[0][3];
    const wy = A[1][0] * x + A[1][1] * y + A[1][2] * z + A[1][3];
    const wz = A[2][0] * x + A[2][1] * y + A[2][2] * z + A[2][3];
    if (Math.abs(wx) < 25 && wy > -45 && wy < 25 && wz > -5 && wz < 32) ventricle[i] = 1;
  }
  const ventricleDistance = distanceFrom(dims, (i) => ventricle[i] === 1, (i) => t.brain[i] === 1 && !mesial(i), maxVentricleDilation);
  const lesion = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (hip(i)) lesion[i] = 1;
    else if (amy(i)) lesion[i] = 2;
    else if (para(i)) lesion[i] = 3;
    else if (ventricleDistance[i] !== 255) lesion[i] = 4;
    else if (temporal(i)) lesion[i] = 5;
  }
  return { lesion, depth, corticalDepth, ventricleDistance };
}

export interface AtrophyEffects {
  /** Tissue loss from the border of hippocampus / amygdala / parahippocampal gyrus at severity 1, in mm. */
  maxErosionMm: number;
  /** Darkening of the remaining mesial temporal tissue toward CSF at severity 1 (fraction). */
  partialVolumeLoss: number;
  /** Ventricle dilation at severity 1, in mm. */
  maxVentricleDilationMm: number;
  /** Temporal cortical thinning at severity 1, in mm. */
  maxCorticalThinningMm: number;
}

export const DEFAULT_EFFECTS: AtrophyEffects = { maxErosionMm: 3, partialVolumeLoss: 0.35, maxVentricleDilationMm: 4, maxCorticalThinningMm: 2 };

/** The template with atrophy of `severity` (0..1) applied (a new array). */
export function atrophiedTemplate(t: Template, model: RegionModel, severity: number, fx: AtrophyEffects): Float32Array {
  const out = t.t1.data.slice();
  if (severity <= 0) return out;
  const erosion = severity * fx.maxErosionMm;
  const dilation = severity * fx.maxVentricleDilationMm;
  const thinning = severity * fx.maxCorticalThinningMm;
  const csf = t.csf;
  for (let i = 0; i < out.length; i++) {
    const l = model.lesion[i];
    if (l === 0) continue;
    if (l <= 3) {
      const d = model.depth[i];
      if (d <= Math.floor(erosion)) out[i] = csf;
      else if (d === Math.floor(erosion) + 1) {
        const f = erosion - Math.floor(erosion); // partial voxel at the new border
        out[i] = csf + (out[i] - csf) * (1 - f);
      } else out[i] = csf + (out[i] - csf) * (1 - fx.partialVolumeLoss * severity);
    } else if (l === 4) {
      const d = model.ventricleDistance[i];
      if (d !== 255 && d > 0 && d <= dilation) out[i] = csf;
    } else if (l === 5) {
      const d = model.corticalDepth[i];
      if (d > 0 && d <= thinning) out[i] = csf;
    }
  }
  return out;
}

// ---------------------------------------------------------------- subject transforms

/** A subject's mapping from scan world (mm) to template world (mm): rigid + scaling, plus a smooth displacement. */
interface SubjectWarp {
  /** 3x4 matrix applied to scan-world points. */
  M: number[][];
  /** Coarse displacement grid (g^3 x 3), spanning the template's field of view. */
  grid: Float32Array;
  g: number;
  lo: number[];
  hi: number[];
}

function rotation(rx: number, ry: number, rz: number): number[][] {
  const [cx, sx, cy, sy, cz, sz] = [Math.cos(rx), Math.sin(rx), Math.cos(ry), Math.sin(ry), Math.cos(rz), Math.sin(rz)];
  const Rx = [[1, 0, 0], [0, cx, -sx], [0, sx, cx]];
  const Ry = [[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]];
  const Rz = [[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]];
  const mul = (A: number[][], B: number[][]) => A.map((r) => [0, 1, 2].map((c) => r[0] * B[0][c] + r[1] * B[1][c] + r[2] * B[2][c]));
  return mul(Rz, mul(Ry, Rx));
}

function templateBounds(t: Template): { lo: number[]; hi: number[] } {
  const A = t.t1.affine;
  const [nx, ny, nz] = t.t1.dims;
  const corners = [0, 1].flatMap((a) => [0, 1].flatMap((b) => [0, 1].map((c) => [a * (nx - 1), b * (ny - 1), c * (nz - 1)])));
  const w = corners.map(([x, y, z]) => [0, 1, 2].map((r) => A[r][0] * x + A[r][1] * y + A[r][2] * z + A[r][3]));
  return { lo: [0, 1, 2].map((k) => Math.min(...w.map((p) => p[k]))), hi: [0, 1, 2].map((k) => Math.max(...w.map((p) => p[k]))) };
}

function subjectWarp(rng: Rng, t: Template, scale: number, deformMm: number, rigidDeg: number, shiftMm: number): SubjectWarp {
  const deg = Math.PI / 180;
  const R = rotation(rng.normal(0, rigidDeg) * deg, rng.normal(0, rigidDeg) * deg, rng.normal(0, rigidDeg) * deg);
  const sc = [0, 1, 2].map(() => 1 / (scale * (1 + rng.normal(0, 0.02))));
  const shift = [0, 1, 2].map(() => rng.normal(0, shiftMm));
  const M = [0, 1, 2].map((r) => [R[r][0] * sc[0], R[r][1] * sc[1], R[r][2] * sc[2], shift[r]]);
  const g = 5;
  const grid = new Float32Array(g * g * g * 3);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.normal(0, deformMm);
  const { lo, hi } = templateBounds(t);
  return { M, grid, g, lo, hi };
}

/** Repositioning between visits: a small extra rotation and shift. */
function jitter(w: SubjectWarp, rng: Rng, deg: number, mm: number): SubjectWarp {
  const R = rotation(rng.normal(0, deg) * (Math.PI / 180), rng.normal(0, deg) * (Math.PI / 180), rng.normal(0, deg) * (Math.PI / 180));
  const M = [0, 1, 2].map((r) => [0, 1, 2].map((c) => R[r][0] * w.M[0][c] + R[r][1] * w.M[1][c] + R[r][2] * w.M[2][c]).concat([w.M[r][3] + rng.normal(0, mm)]));
  return { ...w, M };
}

function displacement(w: SubjectWarp, px: number, py: number, pz: number, out: Float64Array): void {
  const g = w.g;
  const gm = g - 1.0001;
  let ux = ((px - w.lo[0]) / (w.hi[0] - w.lo[0])) * (g - 1);
  let uy = ((py - w.lo[1]) / (w.hi[1] - w.lo[1])) * (g - 1);
  let uz = ((pz - w.lo[2]) / (w.hi[2] - w.lo[2])) * (g - 1);
  ux = ux < 0 ? 0 : ux > gm ? gm : ux;
  uy = uy < 0 ? 0 : uy > gm ? gm : uy;
  uz = uz < 0 ? 0 : uz > gm ? gm : uz;
  const ix = Math.floor(ux);
  const iy = Math.floor(uy);
  const iz = Math.floor(uz);
  const fx = ux - ix;
  const fy = uy - iy;
  const fz = uz - iz;
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  const grid = w.grid;
  for (let dz = 0; dz <= 1; dz++) {
    const wz = dz ? fz : 1 - fz;
    for (let dy = 0; dy <= 1; dy++) {
      const wy = (dy ? fy : 1 - fy) * wz;
      const row = ((iz + dz) * g + (iy + dy)) * g + ix;
      const i0 = row * 3;
      const w0 = (1 - fx) * wy;
      const w1 = fx * wy;
      d0 += w0 * grid[i0] + w1 * grid[i0 + 3];
      d1 += w0 * grid[i0 + 1] + w1 * grid[i0 + 4];
      d2 += w0 * grid[i0 + 2] + w1 * grid[i0 + 5];
    }
  }
  out[0] = d0;
  out[1] = d1;
  out[2] = d2;
}

// ---------------------------------------------------------------- scans

/** The release's scan grid: 256 x 256 x 128 at 1 x 1 x 1.25 mm, sagittal (i: anterior->posterior, j: superior->inferior, k: right->left). */
export const SCAN_DIMS: [number, number, number] = [256, 256, 128];
export const SCAN_PIXDIM: [number, number, number] = [1, 1, 1.25];
export const SCAN_AFFINE: Mat4 = [
  [0, 0, -1.25, 79.4],
  [-1, 0, 0, 110],
  [0, -1, 0, 130],
  [0, 0, 0, 1],
];

interface Rendered {
  scan: Float32Array;
  lesion: Uint8Array;
  aal: Uint8Array;
  brain: Uint8Array;
}

/** Render one scan: sample the (atrophied) template through the subject's warp, add bias field and noise. */
function renderScan(t: Template, intensity: Float32Array, model: RegionModel, warp: SubjectWarp, rng: Rng, dims: [number, number, number], scanAffine: Mat4, noiseStd: number, biasAmp: number): Rendered {
  const [sx, sy, sz] = dims;
  const [tx, ty, tz] = t.t1.dims;
  const A = t.t1.affine;
  // Template world -> template voxel (A is diagonal-ish; invert the 3x3 generally).
  const a = [0, 1, 2].map((r) => [A[r][0], A[r][1], A[r][2]]);
  const det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  const inv = [
    [(a[1][1] * a[2][2] - a[1][2] * a[2][1]) / det, (a[0][2] * a[2][1] - a[0][1] * a[2][2]) / det, (a[0][1] * a[1][2] - a[0][2] * a[1][1]) / det],
    [(a[1][2] * a[2][0] - a[1][0] * a[2][2]) / det, (a[0][0] * a[2][2] - a[0][2] * a[2][0]) / det, (a[0][2] * a[1][0] - a[0][0] * a[1][2]) / det],
    [(a[1][0] * a[2][1] - a[1][1] * a[2][0]) / det, (a[0][1] * a[2][0] - a[0][0] * a[2][1]) / det, (a[0][0] * a[1][1] - a[0][1] * a[1][0]) / det],
  ];
  const bias = [0, 1, 2].map(() => rng.normal(0, biasAmp));
  const biasQ = rng.normal(0, biasAmp / 2);
  const n = sx * sy * sz;
  const scan = new Float32Array(n);
  const lesion = new Uint8Array(n);
  const aal = new Uint8Array(n);
  const brain = new Uint8Array(n);
  const d = new Float64Array(3);
  const S = scanAffine;
  const M = warp.M;
  let idx = 0;
  for (let k = 0; k < sz; k++)
    for (let j = 0; j < sy; j++)
      for (let i = 0; i < sx; i++, idx++) {
        const p0 = S[0][0] * i + S[0][1] * j + S[0][2] * k + S[0][3];
        const p1 = S[1][0] * i + S[1][1] * j + S[1][2] * k + S[1][3];
        const p2 = S[2][0] * i + S[2][1] * j + S[2][2] * k + S[2][3];
        const q0 = M[0][0] * p0 + M[0][1] * p1 + M[0][2] * p2 + M[0][3];
        const q1 = M[1][0] * p0 + M[1][1] * p1 + M[1][2] * p2 + M[1][3];
        const q2 = M[2][0] * p0 + M[2][1] * p1 + M[2][2] * p2 + M[2][3];
        displacement(warp, q0, q1, q2, d);
        const wx = q0 + d[0] - A[0][3];
        const wy = q1 + d[1] - A[1][3];
        const wz = q2 + d[2] - A[2][3];
        const x = inv[0][0] * wx + inv[0][1] * wy + inv[0][2] * wz;
        const y = inv[1][0] * wx + inv[1][1] * wy + inv[1][2] * wz;
        const z = inv[2][0] * wx + inv[2][1] * wy + inv[2][2] * wz;
        const x0 = Math.floor(x);
        const y0 = Math.floor(y);
        const z0 = Math.floor(z);
        if (x0 < 0 || y0 < 0 || z0 < 0 || x0 >= tx - 1 || y0 >= ty - 1 || z0 >= tz - 1) continue;
        const fx = x - x0;
        const fy = y - y0;
        const fz = z - z0;
        const base = (z0 * ty + y0) * tx + x0;
        const c00 = intensity[base] * (1 - fx) + intensity[base + 1] * fx;
        const c10 = intensity[base + tx] * (1 - fx) + intensity[base + tx + 1] * fx;
        const c01 = intensity[base + tx * ty] * (1 - fx) + intensity[base + tx * ty + 1] * fx;
        const c11 = intensity[base + tx * ty + tx] * (1 - fx) + intensity[base + tx * ty + tx + 1] * fx;
        const v = (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz;
        const near = (Math.round(z) * ty + Math.round(y)) * tx + Math.round(x);
        lesion[idx] = model.lesion[near];
        aal[idx] = t.atlas[near];
        brain[idx] = t.brain[near];
        // Smooth multiplicative bias field (linear + quadratic in normalised scan coordinates).
        const u0 = i / sx - 0.5;
        const u1 = j / sy - 0.5;
        const u2 = k / sz - 0.5;
        const b = Math.exp(bias[0] * u0 + bias[1] * u1 + bias[2] * u2 + biasQ * (u0 * u0 + u1 * u1 - 0.17));
        scan[idx] = v * b;
      }
  // Noise on the whole field of view (background too, as in MR magnitude images).
  for (let i = 0; i < n; i++) scan[i] = Math.abs(scan[i] + rng.normal(0, noiseStd));
  return { scan, lesion, aal, brain };
}

// ---------------------------------------------------------------- cohort

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
  /** Smooth deformation amplitude (mm), rigid rotation (degrees) and shift (mm) between subjects. */
  deformationMm: number;
  rotationDeg: number;
  shiftMm: number;
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
  rotationDeg: 3,
  shiftMm: 3,
  noise: 0.02,
  biasField: 0.15,
  scanDims: SCAN_DIMS,
  scanPixdim: SCAN_PIXDIM,
  intensityScale: 8,
  seed: 0,
  template: 'colin27',
};

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
    const sex = rng.next() < 0.57 ? 'F' : 'M';
    const scale = (sex === 'F' ? 0.96 : 1.02) * (1 + rng.normal(0, 0.03));
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

/**
 * Build a phantom cohort in the OASIS-2 release layout under `out` (atomically: a crash leaves no half-built root).
 * Returns the root, the demographics rows and the severity of every session.
 */
export async function buildPhantomCohort(out: string, config: Partial<CohortConfig> = {}, template?: Template): Promise<CohortResult> {
  const cfg: CohortConfig = { ...COHORT_DEFAULTS, ...config, effects: { ...DEFAULT_EFFECTS, ...config.effects } };
  if (!Number.isInteger(cfg.subjects) || cfg.subjects < 2) throw new Error(`phantoms: subjects ${cfg.subjects} must be an integer >= 2`);
  if (cfg.minVisits < 1 || cfg.maxVisits < cfg.minVisits) throw new Error(`phantoms: visits ${cfg.minVisits}..${cfg.maxVisits} are not a valid range`);
  if (cfg.dementedShare + cfg.convertedShare > 1) throw new Error('phantoms: dementedShare + convertedShare must be <= 1');
  const t = template ?? (cfg.template === 'procedural' ? proceduralHead() : colin27Template());
  const model = regionModel(t, Math.ceil(cfg.effects.maxVentricleDilationMm));
  const { rows, severity, scales } = planCohort(cfg);
  const scanAffine: Mat4 = cfg.scanDims.join() === SCAN_DIMS.join() && cfg.scanPixdim.join() === SCAN_PIXDIM.join()
    ? SCAN_AFFINE
    : [
        [0, 0, -cfg.scanPixdim[2], (cfg.scanPixdim[2] * (cfg.scanDims[2] - 1)) / 2],
        [-cfg.scanPixdim[0], 0, 0, (cfg.scanPixdim[0] * (cfg.scanDims[0] - 1)) / 2 - 18],
        [0, -cfg.scanPixdim[1], 0, (cfg.scanPixdim[1] * (cfg.scanDims[1] - 1)) / 2 + 2],
        [0, 0, 0, 1],
      ];
  const bar = progress('phantom scans', rows.length, { unit: 'scans' });
  await buildDirAtomic(out, (tmp) => {
    const warps = new Map<string, SubjectWarp>();
    for (const r of rows) {
      const s = Number(r.subjectId.slice(5)) - 1;
      const rng = new Rng(cfg.seed * 100003 + s * 101 + r.visit);
      if (!warps.has(r.subjectId)) warps.set(r.subjectId, subjectWarp(new Rng(cfg.seed * 100003 + s * 101), t, scales[s], cfg.deformationMm, cfg.rotationDeg, cfg.shiftMm));
      const warp = r.visit === 1 ? warps.get(r.subjectId)! : jitter(warps.get(r.subjectId)!, rng, 1, 1);
      const intensity = atrophiedTemplate(t, model, severity[r.mriId], cfg.effects);
      const wm = 115;
      const rendered = renderScan(t, intensity, model, warp, rng, cfg.scanDims, scanAffine, cfg.noise * wm, cfg.biasField);
      const part = Number(r.subjectId.slice(5)) <= Math.ceil(cfg.subjects / 2) ? 'OAS2_RAW_PART1' : 'OAS2_RAW_PART2';
      const raw = path.join(tmp, part, r.mriId, 'RAW');
      fs.mkdirSync(raw, { recursive: true });
      const scaled = rendered.scan;
      for (let i = 0; i < scaled.length; i++) scaled[i] *= cfg.intensityScale;
      const geo = { dims: cfg.scanDims, pixdim: cfg.scanPixdim, affine: scanAffine };
      writeNifti(path.join(raw, 'mpr-1.nifti.hdr'), { ...geo, data: scaled }, { datatype: 'int16', byteOrder: 'big', description: `xai3d phantom ${r.mriId} (${t.name})`, xformCode: 1 });
      const gt = path.join(tmp, GROUND_TRUTH_DIR, r.mriId);
      fs.mkdirSync(gt, { recursive: true });
      writeNifti(path.join(gt, LESION_FILE), { ...geo, data: rendered.lesion }, { datatype: 'uint8', xformCode: 1 });
      writeNifti(path.join(gt, ATLAS_FILE), { ...geo, data: rendered.aal }, { datatype: 'uint8', xformCode: 1 });
      writeNifti(path.join(gt, BRAIN_FILE), { ...geo, data: rendered.brain }, { datatype: 'uint8', xformCode: 1 });
      bar.tick(1, r.mriId);
    }
    writeFileAtomic(path.join(tmp, 'oasis_longitudinal.csv'), demographicsCsv(rows));
    writeJsonAtomic(path.join(tmp, GROUND_TRUTH_DIR, 'cohort.json'), {
      generator: 'xai3d phantoms',
      template: t.name,
      config: cfg,
      severity,
      labels: { 1: 'hippocampus', 2: 'amygdala', 3: 'parahippocampal gyrus', 4: 'ventricles', 5: 'temporal cortex' },
    });
  });
  bar.done();
  return { root: out, rows, severity };
}

/** Internal: the region model, exposed for tests. */
export const __test_regionModel = regionModel;

/** AAL label names (from mricron-data's aal.nii.txt), or an empty map when it is not installed. */
export function aalNames(): Record<number, string> {
  try {
    const file = path.join(mricronDir(), 'aal.nii.txt');
    const out: Record<number, string> = {};
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^(\d+)\s+(\S+)/.exec(line.trim());
      if (m) out[Number(m[1])] = m[2];
    }
    return out;
  } catch {
    return {};
  }
}
