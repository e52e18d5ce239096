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
  /** Mesial temporal voxels per depth (1..), and ventricle voxels per ring (0 = the ventricles themselves). */
  depthCounts: number[];
  ventricleCounts: number[];
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

/**
 * The region geometry of a template. Ventricle rings are computed as far as `maxVentricleGrowth` (the fractional
 * volume increase at severity 1) needs; the ground-truth ventricle region is the ventricles at that full growth.
 */
export function regionModel(t: Template, maxVentricleGrowth: number): RegionModel {
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
  const rings = distanceFrom(dims, (i) => ventricle[i] === 1, (i) => t.brain[i] === 1 && !mesial(i), 16);
  // Growth is counted in tissue: ring voxels that are already CSF-dark add no volume when they "become" CSF.
  const counts = ringCounts(Uint8Array.from(rings, (d, i) => (d === 0 || (d !== 255 && t.t1.data[i] >= t.csf + 15) ? d : 255)));
  let need = Math.ceil(maxVentricleGrowth * counts[0]);
  let reach = 0;
  while (need > 0 && reach + 1 < counts.length) need -= counts[++reach];
  const ventricleDistance = Uint8Array.from(rings, (d) => (d <= reach ? d : 255));
  const lesion = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (hip(i)) lesion[i] = 1;
    else if (amy(i)) lesion[i] = 2;
    else if (para(i)) lesion[i] = 3;
    else if (ventricleDistance[i] !== 255) lesion[i] = 4;
    else if (temporal(i)) lesion[i] = 5;
  }
  return { lesion, depth, corticalDepth, ventricleDistance, depthCounts: ringCounts(Uint8Array.from(depth, (d, i) => (mesial(i) ? d : 255))), ventricleCounts: counts };
}

/** Voxels per distance value (0..254; 255 = unreached is not counted). */
function ringCounts(dist: Uint8Array): number[] {
  const c = new Array<number>(255).fill(0);
  let max = 0;
  for (let i = 0; i < dist.length; i++) {
    const d = dist[i];
    if (d === 255) continue;
    c[d]++;
    if (d > max) max = d;
  }
  return c.slice(0, max + 1);
}

/**
 * The distance (in steps, fractional) to remove so that `fraction` of the voxels counted by `counts[1..]` go:
 * whole rings 1..floor(e), and the share e - floor(e) of ring floor(e) + 1.
 */
export function depthForFraction(counts: number[], total: number, fraction: number): number {
  let want = Math.max(0, Math.min(1, fraction)) * total;
  for (let d = 1; d < counts.length; d++) {
    if (want <= counts[d]) return d - 1 + (counts[d] > 0 ? want / counts[d] : 0);
    want -= counts[d];
  }
  return counts.length - 1;
}

export interface AtrophyEffects {
  /**
   * Share of the hippocampus / amygdala / parahippocampal gyrus tissue lost at severity 1, removed from the regions'
   * border inwards (literature: hippocampal volume about 24 % smaller in AD, Shi et al. 2009; entorhinal 30-40 %,
   * Juottonen et al. 1998).
   */
  mesialTissueLoss: number;
  /** Darkening of the remaining mesial temporal tissue toward CSF at severity 1 (fraction). */
  partialVolumeLoss: number;
  /** Fractional ventricle volume increase at severity 1 (literature: AD ventricles about 1.4-1.6x controls', Nestor et al. 2008). */
  ventricleGrowth: number;
  /** Temporal cortical thinning at severity 1, in mm (literature: 0.2-0.4 mm in the AD signature, Dickerson et al. 2009). */
  corticalThinningMm: number;
}

/** Literature-sized effects at severity 1 (an AD subject's severity is 0.5-1). */
export const DEFAULT_EFFECTS: AtrophyEffects = { mesialTissueLoss: 0.3, partialVolumeLoss: 0.1, ventricleGrowth: 0.6, corticalThinningMm: 0.4 };

/** Relative loss of mesial temporal tissue (volume) that `severity` produces (1 - remaining tissue fraction). */
export function mesialLoss(severity: number, fx: AtrophyEffects): number {
  return Math.max(0, Math.min(1, severity * fx.mesialTissueLoss));
}

/** The template with atrophy of `severity` (0..1) applied (a new array, or `reuse` overwritten). */
export function atrophiedTemplate(t: Template, model: RegionModel, severity: number, fx: AtrophyEffects, reuse?: Float32Array): Float32Array {
  const out = reuse && reuse.length === t.t1.data.length ? (reuse.set(t.t1.data), reuse) : t.t1.data.slice();
  if (severity <= 0) return out;
  const mesialTotal = model.depthCounts.slice(1).reduce((a, b) => a + b, 0);
  const erosion = depthForFraction(model.depthCounts, mesialTotal, mesialLoss(severity, fx));
  const dilation = depthForFraction(model.ventricleCounts, model.ventricleCounts[0] ?? 0, severity * fx.ventricleGrowth);
  const thinning = severity * fx.corticalThinningMm; // template voxels are 1 mm
  const csf = t.csf;
  const voxels = lesionVoxels(model);
  const partial = (v: number, f: number) => csf + (v - csf) * (1 - f);
  for (let q = 0; q < voxels.length; q++) {
    const i = voxels[q];
    const l = model.lesion[i];
    if (l <= 3) {
      const d = model.depth[i];
      const whole = Math.floor(erosion);
      if (d <= whole) out[i] = csf;
      else if (d === whole + 1) out[i] = partial(out[i], erosion - whole); // partial voxel at the new border
      else out[i] = partial(out[i], fx.partialVolumeLoss * severity);
    } else if (l === 4) {
      const d = model.ventricleDistance[i];
      if (d === 255 || d === 0 || t.t1.data[i] < csf + 15) continue; // CSF-dark already: nothing to grow into
      const whole = Math.floor(dilation);
      if (d <= whole) out[i] = csf;
      else if (d === whole + 1) out[i] = partial(out[i], dilation - whole);
    } else if (l === 5) {
      const d = model.corticalDepth[i];
      if (d === 0) continue;
      const whole = Math.floor(thinning);
      if (d <= whole) out[i] = csf;
      else if (d === whole + 1) out[i] = partial(out[i], thinning - whole);
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
