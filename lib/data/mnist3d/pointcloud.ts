/**
 * 3D MNIST point clouds from 2D MNIST digits, constructed as the Kaggle "3D MNIST" dataset (de la Iglesia Castro,
 * 2016) was (../shared/notes/datasets.md):
 *  - the 28x28 digit (values byte/256) is padded by one pixel to 30x30;
 *  - every pixel > 0 becomes a 1 x 1 x 6 prism (rows x cols x depth, depth from z = -3 to +3) represented by points
 *    on its faces: the front and back faces (z = +-3) always, each a 5 x 5 grid; each of the four side faces, a
 *    5 x 30 grid (5 along the pixel edge, 30 along the depth), only where the neighbouring pixel on that side is 0;
 *    every point carries its face's outward normal;
 *  - all axes are scaled by one factor so that the largest axis range is 0..1, the mean is subtracted, and the cloud
 *    is rotated 90 degrees about y: x' = z, y' = col, z' = -row.
 * Test digit 0 of t10k gives exactly 19000 points (116 pixels x 50 + 88 exposed sides x 150).
 */
import { Rng } from '../../util/random';

export interface PointCloud {
  /** xyz triples. */
  points: Float64Array;
  /** Unit normals, xyz triples. */
  normals: Float32Array;
  /** The padded 30x30 digit (values byte/256), row-major. */
  img: Float32Array;
}

const GRID5 = [0, 0.25, 0.5, 0.75, 1];
const DEPTH30 = Array.from({ length: 30 }, (_, i) => -3 + (6 * i) / 29);

/** Per-axis minimum and maximum of packed (x, y, z) points ([Infinity..] / [-Infinity..] for none). */
export function pointBounds(points: ArrayLike<number>): { min: number[]; max: number[] } {
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i + 2 < points.length; i += 3)
    for (let k = 0; k < 3; k++) {
      const v = points[i + k];
      if (v < min[k]) min[k] = v;
      if (v > max[k]) max[k] = v;
    }
  return { min, max };
}

/** Point cloud of one 28x28 MNIST digit. */
export function digitPointCloud(digit28: Uint8Array): PointCloud {
  if (digit28.length !== 784) throw new Error(`a digit has 784 pixels, got ${digit28.length}`);
  const P = 30;
  const img = new Float32Array(P * P);
  for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) img[(r + 1) * P + c + 1] = digit28[r * 28 + c] / 256;
  const pts: number[] = [];
  const nrm: number[] = [];
  const push = (x: number, y: number, z: number, nx: number, ny: number, nz: number) => {
    pts.push(x, y, z);
    nrm.push(nx, ny, nz);
  };
  const on = (r: number, c: number) => r >= 0 && r < P && c >= 0 && c < P && img[r * P + c] > 0;
  for (let r = 0; r < P; r++)
    for (let c = 0; c < P; c++) {
      if (!on(r, c)) continue;
      for (const z of [3, -3]) for (const a of GRID5) for (const b of GRID5) push(r + a, c + b, z, 0, 0, Math.sign(z));
      if (!on(r - 1, c)) for (const b of GRID5) for (const z of DEPTH30) push(r, c + b, z, -1, 0, 0);
      if (!on(r + 1, c)) for (const b of GRID5) for (const z of DEPTH30) push(r + 1, c + b, z, 1, 0, 0);
      if (!on(r, c - 1)) for (const a of GRID5) for (const z of DEPTH30) push(r + a, c, z, 0, -1, 0);
      if (!on(r, c + 1)) for (const a of GRID5) for (const z of DEPTH30) push(r + a, c + 1, z, 0, 1, 0);
    }
  const n = pts.length / 3;
  const points = new Float64Array(pts);
  if (n === 0) return { points, normals: new Float32Array(0), img };
  const { min, max } = pointBounds(points);
  const scale = Math.max(max[0] - min[0], max[1] - min[1], max[2] - min[2]);
  const mean = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) mean[k] += (points[3 * i + k] - min[k]) / scale;
  for (let k = 0; k < 3; k++) mean[k] /= n;
  const outP = new Float64Array(3 * n);
  const outN = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const row = (points[3 * i] - min[0]) / scale - mean[0];
    const col = (points[3 * i + 1] - min[1]) / scale - mean[1];
    const z = (points[3 * i + 2] - min[2]) / scale - mean[2];
    // 90 degrees about y: x' = z, y' = col, z' = -row.
    outP[3 * i] = z;
    outP[3 * i + 1] = col;
    outP[3 * i + 2] = -row;
    outN[3 * i] = nrm[3 * i + 2];
    outN[3 * i + 1] = nrm[3 * i + 1];
    outN[3 * i + 2] = -nrm[3 * i];
  }
  return { points: outP, normals: outN, img };
}

export interface NoisyCopyOptions {
  /** Standard deviation of the Gaussian noise added to every coordinate (the cloud's extent is 1). Default 0.01. */
  noiseStd?: number;
}

/**
 * A randomly rotated noisy copy (the second half of full_dataset_vectors.h5 was made of such copies; the original
 * rotation and noise parameters are not documented: xai3d uses a uniformly random 3D rotation and isotropic
 * Gaussian noise, both seeded).
 */
export function noisyRotatedCopy(cloud: PointCloud, rng: Rng, opts: NoisyCopyOptions = {}): PointCloud {
  const R = rng.rotation();
  const std = opts.noiseStd ?? 0.01;
  const n = cloud.points.length / 3;
  const points = new Float64Array(3 * n);
  const normals = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    const p = [cloud.points[3 * i], cloud.points[3 * i + 1], cloud.points[3 * i + 2]];
    const q = [cloud.normals[3 * i], cloud.normals[3 * i + 1], cloud.normals[3 * i + 2]];
    for (let k = 0; k < 3; k++) {
      points[3 * i + k] = R[k][0] * p[0] + R[k][1] * p[1] + R[k][2] * p[2] + rng.normal(0, std);
      normals[3 * i + k] = R[k][0] * q[0] + R[k][1] * q[1] + R[k][2] * q[2];
    }
  }
  return { points, normals, img: cloud.img };
}
