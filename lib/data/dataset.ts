/**
 * A labelled set of 3D volumes, the common shape of 3D MNIST and OASIS-2 data in xai3d.
 * Volumes are float32 C-order [D, H, W] arrays (x fastest), values in [0, 1] after xai3d's preprocessing.
 */
import * as tf from '@tensorflow/tfjs';
import type { Mat4 } from '../io/nifti';

export interface VolumeDataset {
  readonly name: string;
  /** [D, H, W]. */
  readonly shape: [number, number, number];
  readonly count: number;
  /** Class index per volume. */
  readonly labels: Int32Array;
  readonly classNames: string[];
  /** Group per volume (the subject for OASIS-2; the volume's own id for 3D MNIST): folds never split a group. */
  readonly groups: string[];
  /** A short id per volume (e.g. "test-0", "OAS2_0001_MR1"). */
  readonly ids: string[];
  /** The dataset's own train/test split, if it has one (0 train, 1 test). */
  readonly split?: Uint8Array;
  /** Voxel size in mm (1 for 3D MNIST). */
  readonly spacingMm: [number, number, number];
  /** One volume (a fresh array). */
  volume(i: number): Float32Array;
  /** Parameters and provenance (recorded in manifests). */
  readonly meta: Record<string, unknown>;
  /**
   * A hash of what the volumes are made of (generation or preprocessing config, content checksums or source file
   * sizes and times). Part of every cache key that depends on the voxels, so a dataset rebuilt differently under the
   * same name never reuses results computed on the old one.
   */
  readonly fingerprint?: string;
  /** Voxel -> world affine of volume i (scans keep their scanner geometry; heatmaps are written with it). */
  affine?(i: number): Mat4;
  /** Ground-truth label volume of volume i on the same grid (phantoms: changed regions), or null. */
  groundTruth?(i: number): Uint8Array | null;
  /** Atlas label volume of volume i on the same grid (phantoms: AAL), or null. */
  atlas?(i: number): Uint8Array | null;
  /** Brain mask of volume i on the same grid (phantoms), or null. */
  brainMask?(i: number): Uint8Array | null;
  /** Names of the ground-truth labels (1..K). */
  readonly groundTruthNames?: Record<number, string>;
}

/** Volumes `indices` as a [b, D, H, W, 1] tensor. */
export function batchTensor(ds: VolumeDataset, indices: number[]): tf.Tensor5D {
  const [d, h, w] = ds.shape;
  const n = d * h * w;
  const buf = new Float32Array(indices.length * n);
  indices.forEach((idx, k) => buf.set(ds.volume(idx), k * n));
  return tf.tensor5d(buf, [indices.length, d, h, w, 1]);
}

/** One-hot labels of `indices` as a [b, classes] tensor. */
export function labelTensor(ds: VolumeDataset, indices: number[]): tf.Tensor2D {
  const k = ds.classNames.length;
  const buf = new Float32Array(indices.length * k);
  indices.forEach((idx, i) => (buf[i * k + ds.labels[idx]] = 1));
  return tf.tensor2d(buf, [indices.length, k]);
}

/** Count of volumes per class name. */
export function classCounts(ds: VolumeDataset, indices?: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of ds.classNames) out[c] = 0;
  for (const i of indices ?? Array.from({ length: ds.count }, (_, j) => j)) out[ds.classNames[ds.labels[i]]] += 1;
  return out;
}

/** A view on a subset of a dataset (e.g. a fold, or the first N volumes). */
export function subset(ds: VolumeDataset, indices: number[], name = `${ds.name}[${indices.length}]`): VolumeDataset {
  return {
    name,
    shape: ds.shape,
    count: indices.length,
    labels: Int32Array.from(indices, (i) => ds.labels[i]),
    classNames: ds.classNames,
    groups: indices.map((i) => ds.groups[i]),
    ids: indices.map((i) => ds.ids[i]),
    split: ds.split ? Uint8Array.from(indices, (i) => ds.split![i]) : undefined,
    spacingMm: ds.spacingMm,
    volume: (i: number) => ds.volume(indices[i]),
    meta: { ...ds.meta, subsetOf: ds.name, subsetSize: indices.length },
    fingerprint: ds.fingerprint,
    affine: ds.affine ? (i: number) => ds.affine!(indices[i]) : undefined,
    groundTruth: ds.groundTruth ? (i: number) => ds.groundTruth!(indices[i]) : undefined,
    atlas: ds.atlas ? (i: number) => ds.atlas!(indices[i]) : undefined,
    groundTruthNames: ds.groundTruthNames,
  };
}
