/**
 * OASIS-2 preprocessing to a cube, as in the thesis (128^3; 64^3 for the quick profile):
 *  1. the head: voxels brighter than `headThreshold` x the 99th percentile; its bounding box in mm along the scan's
 *     voxel axes (from the header's pixdim, so 1 x 1 x 1.25 mm scans become isotropic);
 *  2. a cube around it: side = the box's largest extent + 2 x `marginMm`, centred on the box (crop or zero-pad);
 *  3. resampling to size^3 isotropic voxels in ONE step from the original grid (trilinear at half-pixel centres,
 *     averaged over 2x2x2 sub-samples when shrinking, so no aliasing);
 *  4. robust intensity normalisation: the 1st..99th percentile of the cube mapped to [0, 1], clipped.
 * The output keeps world geometry: its affine = the scan's affine composed with the output-to-input voxel map, so a
 * preprocessed volume (and any heatmap on it) overlays the original scan in a viewer. Label volumes (ground-truth
 * masks, atlases) go through the same geometry with nearest-neighbour sampling.
 */
import type { Mat4, Volume } from '../../io/nifti';

export interface PreprocessConfig {
  /** Output cube side in voxels. */
  size: number;
  /** Head threshold as a fraction of the 99th percentile. */
  headThreshold: number;
  /** Margin around the head's bounding box, in mm. */
  marginMm: number;
  /** Percentiles mapped to 0 and 1. */
  lowPercentile: number;
  highPercentile: number;
}

export const PREPROCESS_THESIS: PreprocessConfig = { size: 128, headThreshold: 0.1, marginMm: 4, lowPercentile: 1, highPercentile: 99 };

/** Output voxel (a, b, c) -> input voxel (i, j, k): i = origin[0] + a * step[0], etc. (axis-aligned). */
export interface CubeGeometry {
  size: number;
  /** Input voxel coordinate of output voxel 0's centre, per axis. */
  origin: [number, number, number];
  /** Input voxels per output voxel, per axis. */
  step: [number, number, number];
  /** Output voxel size in mm (isotropic). */
  voxelMm: number;
  /** Output voxel -> world affine. */
  affine: Mat4;
  /** The head's bounding box in input voxels [min, max] per axis. */
  headBox: [number, number][];
}

/** The p-th percentile (0..100) of up to ~1M evenly strided samples of `data`. */
export function percentile(data: ArrayLike<number>, p: number, maxSamples = 1 << 20): number {
  const stride = Math.max(1, Math.floor(data.length / maxSamples));
  const sample = new Float32Array(Math.ceil(data.length / stride));
  for (let i = 0, k = 0; i < data.length; i += stride, k++) sample[k] = data[i];
  sample.sort();
  const pos = (p / 100) * (sample.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sample.length - 1, lo + 1);
  return sample[lo] + (sample[hi] - sample[lo]) * (pos - lo);
}

export function cubeGeometry(vol: Volume, cfg: PreprocessConfig): CubeGeometry {
  const [nx, ny, nz] = vol.dims;
  const pix = vol.pixdim;
  const thr = cfg.headThreshold * percentile(vol.data, 99);
  // Robust bounding box: per axis, the 0.1%..99.9% quantiles of the head voxels' coordinates, so that isolated
  // bright noise voxels far from the head do not stretch the cube.
  const hist = [new Float64Array(nx), new Float64Array(ny), new Float64Array(nz)];
  let count = 0;
  let idx = 0;
  for (let k = 0; k < nz; k++)
    for (let j = 0; j < ny; j++)
      for (let i = 0; i < nx; i++, idx++) {
        if (vol.data[idx] > thr) {
          hist[0][i]++;
          hist[1][j]++;
          hist[2][k]++;
          count++;
        }
      }
  const lo = [0, 0, 0];
  const hi = [nx - 1, ny - 1, nz - 1];
  if (count > 0) {
    for (let a = 0; a < 3; a++) {
      const h = hist[a];
      const cut = Math.max(1, Math.floor(0.001 * count));
      let c = 0;
      let l = 0;
      while (l < h.length - 1 && c + h[l] < cut) c += h[l++];
      c = 0;
      let u = h.length - 1;
      while (u > l && c + h[u] < cut) c += h[u--];
      lo[a] = l;
      hi[a] = u;
    }
  }
  const centreMm = [0, 1, 2].map((a) => ((lo[a] + hi[a]) / 2) * pix[a]);
  const extentMm = Math.max(...[0, 1, 2].map((a) => (hi[a] - lo[a] + 1) * pix[a]));
  const side = extentMm + 2 * cfg.marginMm;
  const voxelMm = side / cfg.size;
  const origin = [0, 1, 2].map((a) => (centreMm[a] - side / 2 + voxelMm / 2) / pix[a]) as [number, number, number];
  const step = [0, 1, 2].map((a) => voxelMm / pix[a]) as [number, number, number];
  const A = vol.affine;
  const affine: Mat4 = [
    [A[0][0] * step[0], A[0][1] * step[1], A[0][2] * step[2], A[0][0] * origin[0] + A[0][1] * origin[1] + A[0][2] * origin[2] + A[0][3]],
    [A[1][0] * step[0], A[1][1] * step[1], A[1][2] * step[2], A[1][0] * origin[0] + A[1][1] * origin[1] + A[1][2] * origin[2] + A[1][3]],
    [A[2][0] * step[0], A[2][1] * step[1], A[2][2] * step[2], A[2][0] * origin[0] + A[2][1] * origin[1] + A[2][2] * origin[2] + A[2][3]],
    [0, 0, 0, 1],
  ];
  return { size: cfg.size, origin, step, voxelMm, affine, headBox: [0, 1, 2].map((a) => [lo[a], hi[a]] as [number, number]) };
}

/** Trilinear sample at continuous voxel (x, y, z); 0 outside. */
function trilinear(data: ArrayLike<number>, nx: number, ny: number, nz: number, x: number, y: number, z: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const z0 = Math.floor(z);
  const fx = x - x0;
  const fy = y - y0;
  const fz = z - z0;
  let acc = 0;
  for (let dz = 0; dz <= 1; dz++) {
    const zz = z0 + dz;
    if (zz < 0 || zz >= nz) continue;
    const wz = dz ? fz : 1 - fz;
    for (let dy = 0; dy <= 1; dy++) {
      const yy = y0 + dy;
      if (yy < 0 || yy >= ny) continue;
      const wy = dy ? fy : 1 - fy;
      const row = (zz * ny + yy) * nx;
      for (let dx = 0; dx <= 1; dx++) {
        const xx = x0 + dx;
        if (xx < 0 || xx >= nx) continue;
        acc += (dx ? fx : 1 - fx) * wy * wz * data[row + xx];
      }
    }
  }
  return acc;
}

/** Resample intensities onto the cube (x fastest). */
export function resampleIntensity(vol: Pick<Volume, 'data' | 'dims'>, g: CubeGeometry): Float32Array {
  const [nx, ny, nz] = vol.dims;
  const n = g.size;
  const out = new Float32Array(n * n * n);
  // Sub-samples per axis: 2 when an output voxel spans more than ~1.3 input voxels.
  const sub = g.step.map((s) => (s > 1.3 ? 2 : 1));
  const offs = g.step.map((s, a) => (sub[a] === 2 ? [-s / 4, s / 4] : [0]));
  const w = 1 / (offs[0].length * offs[1].length * offs[2].length);
  let idx = 0;
  for (let c = 0; c < n; c++)
    for (let b = 0; b < n; b++)
      for (let a = 0; a < n; a++, idx++) {
        const x = g.origin[0] + a * g.step[0];
        const y = g.origin[1] + b * g.step[1];
        const z = g.origin[2] + c * g.step[2];
        let acc = 0;
        for (const oz of offs[2]) for (const oy of offs[1]) for (const ox of offs[0]) acc += trilinear(vol.data, nx, ny, nz, x + ox, y + oy, z + oz);
        out[idx] = acc * w;
      }
  return out;
}

/** Resample a label volume onto the cube with nearest-neighbour sampling (0 outside). */
export function resampleLabels(vol: Pick<Volume, 'data' | 'dims'>, g: CubeGeometry): Uint8Array {
  const [nx, ny, nz] = vol.dims;
  const n = g.size;
  const out = new Uint8Array(n * n * n);
  let idx = 0;
  for (let c = 0; c < n; c++)
    for (let b = 0; b < n; b++)
      for (let a = 0; a < n; a++, idx++) {
        const i = Math.round(g.origin[0] + a * g.step[0]);
        const j = Math.round(g.origin[1] + b * g.step[1]);
        const k = Math.round(g.origin[2] + c * g.step[2]);
        if (i >= 0 && i < nx && j >= 0 && j < ny && k >= 0 && k < nz) out[idx] = vol.data[(k * ny + j) * nx + i];
      }
  return out;
}

/** Map [p_low, p_high] to [0, 1], clipped, in place. Returns the two percentile values. */
export function normalisePercentiles(data: Float32Array, low = 1, high = 99): [number, number] {
  const pl = percentile(data, low);
  const ph = percentile(data, high);
  const range = ph - pl;
  for (let i = 0; i < data.length; i++) {
    const v = range > 0 ? (data[i] - pl) / range : 0;
    data[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return [pl, ph];
}

/** The whole preprocessing of one scan. */
export function preprocessScan(vol: Volume, cfg: PreprocessConfig): { data: Float32Array; geometry: CubeGeometry; percentiles: [number, number] } {
  const geometry = cubeGeometry(vol, cfg);
  const data = resampleIntensity(vol, geometry);
  const percentiles = normalisePercentiles(data, cfg.lowPercentile, cfg.highPercentile);
  return { data, geometry, percentiles };
}
