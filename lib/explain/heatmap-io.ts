/**
 * Reading volumes to explain and writing heatmaps.
 * Inputs: .npy (D,H,W or D,H,W,C; float32 or float64) or NIfTI (.nii, .nii.gz, .hdr/.img; x fastest, so its data
 * is a C-order [D=nz, H=ny, W=nx] array). Heatmaps: .npy (float32, little-endian, C order, shape D,H,W) or NIfTI with
 * the input's geometry (affine and voxel size), so they overlay the scan in any viewer.
 */
import { readNifti, writeNifti, type Mat4 } from '../io/nifti';
import { readNpy, writeNpy } from '../io/npy';
import type { VolumeDataset } from '../data/dataset';
import { assertFinite } from '../util/finite';

export interface InputVolume {
  /** C-order [D, H, W, C]. */
  data: Float32Array;
  shape: [number, number, number, number];
  /** Geometry of NIfTI inputs. */
  affine?: Mat4;
  pixdim?: [number, number, number];
}

const isNifti = (f: string) => /\.(nii|nii\.gz|hdr|img|hdr\.gz|img\.gz)$/i.test(f);

export function readInputVolume(file: string): InputVolume {
  if (file.toLowerCase().endsWith('.npy')) {
    const a = readNpy(file);
    assertFinite(a.data, file, a.shape);
    if (a.shape.length === 3) return { data: a.data, shape: [a.shape[0], a.shape[1], a.shape[2], 1] };
    if (a.shape.length === 4) return { data: a.data, shape: [a.shape[0], a.shape[1], a.shape[2], a.shape[3]] };
    throw new Error(`${file}: shape (${a.shape.join(', ')}) is not (D, H, W) or (D, H, W, C)`);
  }
  if (isNifti(file)) {
    const v = readNifti(file);
    return { data: v.data, shape: [v.dims[2], v.dims[1], v.dims[0], 1], affine: v.affine, pixdim: v.pixdim };
  }
  throw new Error(`${file}: use a .npy or NIfTI (.nii, .nii.gz, .hdr/.img) input`);
}

/** Write a [D, H, W] heatmap as .npy or NIfTI (by extension), with the input's geometry when it had one. */
export function writeHeatmap(file: string, map: Float32Array, shape: [number, number, number], geometry: { affine?: Mat4; pixdim?: [number, number, number] } = {}): void {
  if (map.length !== shape[0] * shape[1] * shape[2]) throw new Error(`${file}: ${map.length} values do not fill shape ${shape}`);
  if (file.toLowerCase().endsWith('.npy')) {
    writeNpy(file, map, shape);
    return;
  }
  if (isNifti(file)) {
    const pixdim = geometry.pixdim ?? [1, 1, 1];
    const affine: Mat4 = geometry.affine ?? [
      [pixdim[0], 0, 0, 0],
      [0, pixdim[1], 0, 0],
      [0, 0, pixdim[2], 0],
      [0, 0, 0, 1],
    ];
    writeNifti(file, { data: map, dims: [shape[2], shape[1], shape[0]], pixdim, affine }, { datatype: 'float32', description: 'xai3d heatmap' });
    return;
  }
  throw new Error(`${file}: choose .npy, .nii or .nii.gz for the heatmap`);
}

/**
 * Save the heatmap of volume `index` of a dataset in one call, as NIfTI (.nii / .nii.gz) or .npy by extension, with the
 * volume's geometry (affine and voxel size), so it overlays the preprocessed scan in any viewer.
 */
export function saveHeatmap(file: string, map: Float32Array, ds: Pick<VolumeDataset, 'shape' | 'spacingMm' | 'affine' | 'name'>, index: number): string {
  if (map.length !== ds.shape[0] * ds.shape[1] * ds.shape[2]) throw new Error(`${file}: the map has ${map.length} values, ${ds.name} volumes have ${ds.shape.join('x')}`);
  writeHeatmap(file, map, ds.shape, { affine: ds.affine?.(index), pixdim: ds.spacingMm });
  return file;
}
