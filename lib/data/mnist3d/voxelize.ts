/**
 * Voxelisation of a point cloud to an n^3 grid with the 3D MNIST helper's conventions:
 *  - bounding box min - 0.001 .. max + 0.001 per axis, grown symmetrically to a cube (every axis gets the largest
 *    range);
 *  - n + 1 linspace bin edges per axis; a point's bin is searchsorted(edges, v, 'left') - 1, clipped to 0..n-1;
 *  - the count of points per cell, normalised by the largest count ('density', the dataset's values) or 1 where
 *    any point falls ('occupancy');
 *  - flat index x + y*n + z*n*n, i.e. a C-order [z][y][x] = [D, H, W] array.
 */

import { pointBounds } from './pointcloud';

export type VoxelMode = 'density' | 'occupancy';

/** Bin index of v: the number of edges strictly below v, minus one, clipped to 0..n-1. */
function binOf(edges: Float64Array, v: number): number {
  let lo = 0;
  let hi = edges.length; // first index with edges[i] >= v
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  const n = edges.length - 1;
  return Math.min(n - 1, Math.max(0, lo - 1));
}

function linspace(a: number, b: number, count: number): Float64Array {
  const out = new Float64Array(count);
  const step = (b - a) / (count - 1);
  for (let i = 0; i < count; i++) out[i] = a + i * step;
  out[count - 1] = b;
  return out;
}

/** Point counts per voxel (flat x + y*n + z*n*n). */
export function voxelCounts(points: ArrayLike<number>, n: number): Uint32Array {
  if (!Number.isInteger(n) || n < 1) throw new Error(`voxel grid size must be a positive integer, got ${n}`);
  const count = points.length / 3;
  const counts = new Uint32Array(n * n * n);
  if (count === 0) return counts;
  const { min, max } = pointBounds(points);
  for (let k = 0; k < 3; k++) {
    min[k] -= 0.001;
    max[k] += 0.001;
  }
  const range = Math.max(max[0] - min[0], max[1] - min[1], max[2] - min[2]);
  const edges = [0, 1, 2].map((k) => {
    const diff = range - (max[k] - min[k]);
    return linspace(min[k] - diff / 2, max[k] + diff / 2, n + 1);
  });
  for (let i = 0; i < count; i++) {
    const x = binOf(edges[0], points[3 * i]);
    const y = binOf(edges[1], points[3 * i + 1]);
    const z = binOf(edges[2], points[3 * i + 2]);
    counts[x + y * n + z * n * n] += 1;
  }
  return counts;
}

/** Voxel values in [0, 1] from counts. */
export function countsToVolume(counts: ArrayLike<number>, mode: VoxelMode = 'density', out = new Float32Array(counts.length)): Float32Array {
  let maxCount = 0;
  for (let i = 0; i < counts.length; i++) if (counts[i] > maxCount) maxCount = counts[i];
  for (let i = 0; i < counts.length; i++) out[i] = maxCount === 0 ? 0 : mode === 'occupancy' ? (counts[i] > 0 ? 1 : 0) : counts[i] / maxCount;
  return out;
}

/** Voxelise a point cloud to an n^3 volume ([D, H, W] C order). */
export function voxelize(points: ArrayLike<number>, n = 32, mode: VoxelMode = 'density'): Float32Array {
  return countsToVolume(voxelCounts(points, n), mode);
}
