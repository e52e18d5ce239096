/**
 * Region geometry in template space and the atrophy model (docs/methods.md, "Phantom cohort"). Demented subjects (and
 * Converted subjects from their conversion visit) get, in proportion to a severity in 0..1:
 *   hippocampus, amygdala, parahippocampal gyrus (with the entorhinal cortex): tissue loss from the region's border
 *     inwards (voxels within severity x `maxErosionMm` of the border become CSF) and a partial-volume darkening of
 *     the rest;
 *   ventricles: dilated by up to `maxVentricleDilationMm`;
 *   temporal cortex (AAL temporal labels): thinned from its outer surface by up to `maxCorticalThinningMm`.
 */
import { AAL_REGIONS, type Template } from './template';

export interface RegionModel {
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
  const nxy = nx * ny;
  const dist = new Uint8Array(n).fill(255);
  let frontier = new Int32Array(1024);
  let fl = 0;
  const push = (arr: Int32Array, len: number, v: number): Int32Array => {
    if (len >= arr.length) {
      const grown = new Int32Array(arr.length * 2);
      grown.set(arr);
      arr = grown;
    }
    arr[len] = v;
    return arr;
  };
  for (let i = 0; i < n; i++) if (seed(i)) {
    dist[i] = 0;
    frontier = push(frontier, fl++, i);
  }
  let next = new Int32Array(1024);
  for (let step = 1; step <= maxSteps && fl > 0; step++) {
    let nl = 0;
    for (let f = 0; f < fl; f++) {
      const i = frontier[f];
      const x = i % nx;
      const y = Math.floor(i / nx) % ny;
      const z = Math.floor(i / nxy);
      for (let k = 0; k < 6; k++) {
        let j = -1;
        if (k === 0 && x > 0) j = i - 1;
        else if (k === 1 && x < nx - 1) j = i + 1;
        else if (k === 2 && y > 0) j = i - nx;
        else if (k === 3 && y < ny - 1) j = i + nx;
        else if (k === 4 && z > 0) j = i - nxy;
        else if (k === 5 && z < nz - 1) j = i + nxy;
        if (j >= 0 && dist[j] === 255 && allowed(j)) {
          dist[j] = step;
          next = push(next, nl++, j);
        }
      }
    }
    const t = frontier;
    frontier = next;
    next = t;
    fl = nl;
  }
  return dist;
}

export function regionModel(t: Template, maxVentricleDilation: number): RegionModel {
  const dims = t.t1.dims;
  const [nx, ny] = dims;
  const n = t.atlas.length;
  const inSet = (labels: number[]) => {
    const lut = new Uint8Array(256);
    for (const l of labels) lut[l] = 1;
    const atlas = t.atlas;
    return (i: number) => lut[atlas[i]] === 1;
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
export function atrophiedTemplate(t: Template, model: RegionModel, severity: number, fx: AtrophyEffects, reuse?: Float32Array): Float32Array {
  const out = reuse && reuse.length === t.t1.data.length ? (reuse.set(t.t1.data), reuse) : t.t1.data.slice();
  if (severity <= 0) return out;
  const erosion = severity * fx.maxErosionMm;
  const dilation = severity * fx.maxVentricleDilationMm;
  const thinning = severity * fx.maxCorticalThinningMm;
  const csf = t.csf;
  const voxels = lesionVoxels(model);
  for (let q = 0; q < voxels.length; q++) {
    const i = voxels[q];
    const l = model.lesion[i];
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

const lesionIndex = new WeakMap<RegionModel, Uint32Array>();

/** Indices of the voxels the atrophy model may change (computed once per model). */
function lesionVoxels(model: RegionModel): Uint32Array {
  let v = lesionIndex.get(model);
  if (!v) {
    let n = 0;
    for (let i = 0; i < model.lesion.length; i++) if (model.lesion[i]) n++;
    v = new Uint32Array(n);
    for (let i = 0, k = 0; i < model.lesion.length; i++) if (model.lesion[i]) v[k++] = i;
    lesionIndex.set(model, v);
  }
  return v;
}
