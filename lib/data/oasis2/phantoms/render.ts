/**
 * Rendering one phantom scan: the (atrophied) template sampled through the subject's warp (a rigid + scaling
 * transform and a smooth random displacement), with a per-subject intensity gain, a smooth multiplicative bias field
 * and noise, on the release's scan grid. The warp is smooth, so template coordinates are computed exactly every
 * `COORD_STEP` voxels along a row and interpolated linearly in between (error well below 0.01 voxel).
 */
import type { Mat4 } from '../../../io/nifti';
import { Rng } from '../../../util/random';
import type { RegionModel } from './anatomy';
import type { Template } from './template';


/** A subject's mapping from scan world (mm) to template world (mm): rigid + scaling, plus a smooth displacement. */
export interface SubjectWarp {
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

export function subjectWarp(rng: Rng, t: Template, scale: number, deformMm: number, rigidDeg: number, shiftMm: number, shapeSd = 0.02): SubjectWarp {
  const deg = Math.PI / 180;
  const R = rotation(rng.normal(0, rigidDeg) * deg, rng.normal(0, rigidDeg) * deg, rng.normal(0, rigidDeg) * deg);
  const sc = [0, 1, 2].map(() => 1 / (scale * (1 + rng.normal(0, shapeSd))));
  const shift = [0, 1, 2].map(() => rng.normal(0, shiftMm));
  const M = [0, 1, 2].map((r) => [R[r][0] * sc[0], R[r][1] * sc[1], R[r][2] * sc[2], shift[r]]);
  const g = 5;
  const grid = new Float32Array(g * g * g * 3);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.normal(0, deformMm);
  const { lo, hi } = templateBounds(t);
  return { M, grid, g, lo, hi };
}

/** Repositioning between visits: a small extra rotation and shift. */
export function jitter(w: SubjectWarp, rng: Rng, deg: number, mm: number): SubjectWarp {
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

export interface Rendered {
  scan: Float32Array;
  lesion: Uint8Array;
  aal: Uint8Array;
  brain: Uint8Array;
}

function outside(v0: number, v1: number, hi: number): boolean {
  return (v0 < 0 && v1 < 0) || (v0 >= hi && v1 >= hi);
}

/** Template coordinates are computed exactly every COORD_STEP voxels along a scan row, linearly in between. */
export const COORD_STEP = 8;

/**
 * Render one scan: sample the (atrophied) template through the subject's warp, multiply by `gain` and a smooth bias
 * field, add Rician-like noise (|x + N(0, noiseStd)|) on the whole field of view. Also samples the lesion labels,
 * the AAL atlas and the brain mask (nearest neighbour) on the scan grid.
 */
export function renderScan(t: Template, intensity: Float32Array, model: RegionModel, warp: SubjectWarp, rng: Rng, dims: [number, number, number], scanAffine: Mat4, noiseStd: number, biasAmp: number, gain = 1, reuse?: Rendered): Rendered {
  const [sx, sy, sz] = dims;
  const [tx, ty, tz] = t.t1.dims;
  const A = t.t1.affine;
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
  // Buffers of an earlier scan of the same size are reused (zeroed): a cohort renders hundreds of 8M-voxel scans.
  const ok = reuse && reuse.scan.length === n;
  const scan = ok ? reuse.scan.fill(0) : new Float32Array(n);
  const lesion = ok ? reuse.lesion.fill(0) : new Uint8Array(n);
  const aal = ok ? reuse.aal.fill(0) : new Uint8Array(n);
  const brain = ok ? reuse.brain.fill(0) : new Uint8Array(n);
  const d = new Float64Array(3);
  const S = scanAffine;
  const M = warp.M;
  // Template voxel coordinates of scan voxel (i, j, k).
  const coords = (i: number, j: number, k: number, out: Float64Array, o: number) => {
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
    out[o] = inv[0][0] * wx + inv[0][1] * wy + inv[0][2] * wz;
    out[o + 1] = inv[1][0] * wx + inv[1][1] * wy + inv[1][2] * wz;
    out[o + 2] = inv[2][0] * wx + inv[2][1] * wy + inv[2][2] * wz;
  };
  const knots = Math.ceil((sx - 1) / COORD_STEP) + 1;
  const txy = tx * ty;
  const lesionT = model.lesion;
  const atlasT = t.atlas;
  const brainT = t.brain;
  // The bias field's factor along i (it separates: exp(a i-terms) * exp(row terms)).
  const biasI = Float32Array.from({ length: sx }, (_, i) => {
    const u0 = i / sx - 0.5;
    return gain * Math.exp(bias[0] * u0 + biasQ * u0 * u0);
  });
  // Rows are visited in blocks of KB consecutive k (the release's k runs along world x, the template's fastest axis),
  // k innermost, so consecutive template reads share cache lines; every voxel gets exactly the arithmetic of a
  // row-by-row pass (same knots, same interpolation), so the scans are bit-identical to it.
  const KB = 16;
  const rows = new Float64Array(KB * knots * 3);
  const biasRows = new Float64Array(KB);
  for (let j = 0; j < sy; j++) {
    const u1 = j / sy - 0.5;
    for (let k0 = 0; k0 < sz; k0 += KB) {
      const kn = Math.min(KB, sz - k0);
      for (let kk = 0; kk < kn; kk++) {
        const k = k0 + kk;
        for (let q = 0; q < knots; q++) coords(Math.min(sx - 1, q * COORD_STEP), j, k, rows, (kk * knots + q) * 3);
        const u2 = k / sz - 0.5;
        biasRows[kk] = Math.exp(bias[1] * u1 + bias[2] * u2 + biasQ * (u1 * u1 - 0.17));
      }
      for (let q = 0; q + 1 < knots; q++) {
        const i0 = q * COORD_STEP;
        const i1 = Math.min(sx - 1, i0 + COORD_STEP);
        const span = i1 - i0;
        const last = q + 2 === knots ? i1 : i1 - 1;
        for (let kk = 0; kk < kn; kk++) {
          const b = (kk * knots + q) * 3;
          // Skip segments that lie entirely outside the template (both ends out on the same side).
          if (outside(rows[b], rows[b + 3], tx - 1) || outside(rows[b + 1], rows[b + 4], ty - 1) || outside(rows[b + 2], rows[b + 5], tz - 1)) continue;
          const dx = (rows[b + 3] - rows[b]) / span;
          const dy = (rows[b + 4] - rows[b + 1]) / span;
          const dz = (rows[b + 5] - rows[b + 2]) / span;
          const rowBase = ((k0 + kk) * sy + j) * sx;
          const biasRow = biasRows[kk];
          for (let i = i0; i <= last; i++) {
            const f = i - i0;
            const x = rows[b] + dx * f;
            const y = rows[b + 1] + dy * f;
            const z = rows[b + 2] + dz * f;
            const x0 = x | 0;
            const y0 = y | 0;
            const z0 = z | 0;
            if (x < 0 || y < 0 || z < 0 || x0 >= tx - 1 || y0 >= ty - 1 || z0 >= tz - 1) continue;
            const fx = x - x0;
            const fy = y - y0;
            const fz = z - z0;
            const base = (z0 * ty + y0) * tx + x0;
            const c00 = intensity[base] + (intensity[base + 1] - intensity[base]) * fx;
            const c10 = intensity[base + tx] + (intensity[base + tx + 1] - intensity[base + tx]) * fx;
            const c01 = intensity[base + txy] + (intensity[base + txy + 1] - intensity[base + txy]) * fx;
            const c11 = intensity[base + txy + tx] + (intensity[base + txy + tx + 1] - intensity[base + txy + tx]) * fx;
            const c0 = c00 + (c10 - c00) * fy;
            const c1 = c01 + (c11 - c01) * fy;
            const idx = rowBase + i;
            const near = base + (fz >= 0.5 ? txy : 0) + (fy >= 0.5 ? tx : 0) + (fx >= 0.5 ? 1 : 0);
            lesion[idx] = lesionT[near];
            aal[idx] = atlasT[near];
            brain[idx] = brainT[near];
            scan[idx] = (c0 + (c1 - c0) * fz) * biasI[i] * biasRow;
          }
        }
      }
    }
  }
  // Noise on the whole field of view (background too, as in MR magnitude images): standard normal samples from a
  // seeded table of 2^16 Box-Muller draws, picked by a seeded xorshift stream (8M Box-Muller draws per scan cost more
  // than the rendering).
  const table = normalTable();
  let state = (Math.floor(rng.next() * 0xffffffff) | 1) >>> 0;
  for (let i = 0; i < n; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    scan[i] = Math.abs(scan[i] + noiseStd * table[(state >>> 0) & 0xffff]);
  }
  return { scan, lesion, aal, brain };
}

let NORMAL_TABLE: Float32Array | null = null;

/** 2^16 standard normal draws from a fixed seed (the same on every machine and thread). */
function normalTable(): Float32Array {
  if (!NORMAL_TABLE) {
    const r = new Rng(20261201);
    NORMAL_TABLE = Float32Array.from({ length: 1 << 16 }, () => r.normal());
  }
  return NORMAL_TABLE;
}
