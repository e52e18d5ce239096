/**
 * Class-average heatmaps after rigid registration (the thesis registered each digit's heatmap before averaging).
 *
 * Registration of a volume to a template: translation by the centres of mass, then a search over in-plane rotations
 * (about the W axis, i.e. in the D-H plane, where 3D MNIST digits lie) and +-1 voxel shifts, maximising the normalised
 * cross-correlation. The same transform moves the volume's heatmap. Per class, the reference is the first volume,
 * refined once (the mean of the class's volumes aligned to it); the result averages volumes and heatmaps aligned to it.
 */
import type { VolumeDataset } from '../data/dataset';

export type Shape3 = [number, number, number];

export interface RigidTransform {
  /** Rotation in the D-H plane about the volume centre, degrees. */
  angleDeg: number;
  /** Translation [d, h, w] in voxels, applied after the rotation. */
  shift: [number, number, number];
}

/** Resample `vol` under the transform (trilinear, zero outside). */
export function applyRigid(vol: ArrayLike<number>, shape: Shape3, t: RigidTransform): Float32Array {
  const [D, H, W] = shape;
  const out = new Float32Array(D * H * W);
  const a = (-t.angleDeg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const cd = (D - 1) / 2;
  const ch = (H - 1) / 2;
  for (let d = 0; d < D; d++)
    for (let h = 0; h < H; h++) {
      // Inverse map: undo the shift, then the rotation.
      const pd = d - t.shift[0] - cd;
      const ph = h - t.shift[1] - ch;
      const sd = cos * pd - sin * ph + cd;
      const sh = sin * pd + cos * ph + ch;
      const d0 = Math.floor(sd);
      const h0 = Math.floor(sh);
      const fd = sd - d0;
      const fh = sh - h0;
      for (let w = 0; w < W; w++) {
        const sw = w - t.shift[2];
        if (sw < 0 || sw >= W) continue;
        let acc = 0;
        for (let dd = 0; dd <= 1; dd++) {
          const di = d0 + dd;
          if (di < 0 || di >= D) continue;
          for (let hh = 0; hh <= 1; hh++) {
            const hi = h0 + hh;
            if (hi < 0 || hi >= H) continue;
            acc += (dd ? fd : 1 - fd) * (hh ? fh : 1 - fh) * vol[(di * H + hi) * W + sw];
          }
        }
        out[(d * H + h) * W + w] = acc;
      }
    }
  return out;
}

function centreOfMass(v: ArrayLike<number>, shape: Shape3): [number, number, number] {
  const [, H, W] = shape;
  let m = 0;
  const c = [0, 0, 0];
  for (let i = 0; i < v.length; i++) {
    const x = Math.max(0, v[i]);
    if (x === 0) continue;
    m += x;
    c[0] += x * Math.floor(i / (H * W));
    c[1] += x * (Math.floor(i / W) % H);
    c[2] += x * (i % W);
  }
  return m > 0 ? [c[0] / m, c[1] / m, c[2] / m] : [(shape[0] - 1) / 2, (shape[1] - 1) / 2, (shape[2] - 1) / 2];
}

function ncc(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** The rigid transform that best aligns `moving` to `fixed`. */
export function registerRigid(moving: ArrayLike<number>, fixed: ArrayLike<number>, shape: Shape3, angles: number[] = [-20, -15, -10, -5, 0, 5, 10, 15, 20]): { transform: RigidTransform; score: number } {
  const cm = centreOfMass(moving, shape);
  const cf = centreOfMass(fixed, shape);
  const base = [0, 1, 2].map((k) => Math.round(cf[k] - cm[k])) as [number, number, number];
  let best: { transform: RigidTransform; score: number } = { transform: { angleDeg: 0, shift: base }, score: -Infinity };
  for (const angleDeg of angles)
    for (let dd = -1; dd <= 1; dd++)
      for (let dh = -1; dh <= 1; dh++)
        for (let dw = -1; dw <= 1; dw++) {
          const t: RigidTransform = { angleDeg, shift: [base[0] + dd, base[1] + dh, base[2] + dw] };
          const score = ncc(applyRigid(moving, shape, t), fixed);
          if (score > best.score) best = { transform: t, score };
        }
  return best;
}

export interface ClassAverage {
  label: number;
  count: number;
  /** The class template (mean of the aligned volumes). */
  template: Float32Array;
  /** The mean of the aligned heatmaps. */
  heatmap: Float32Array;
}

/** Class-average heatmaps of `indices` (their heatmaps `maps`), grouped by the dataset's labels. */
export function classAverageHeatmaps(ds: VolumeDataset, indices: number[], maps: Float32Array[]): ClassAverage[] {
  const byClass = new Map<number, number[]>();
  indices.forEach((vi, k) => {
    const l = ds.labels[vi];
    byClass.set(l, [...(byClass.get(l) ?? []), k]);
  });
  const n = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const out: ClassAverage[] = [];
  for (const [label, ks] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    const vols = ks.map((k) => ds.volume(indices[k]));
    // Template: the first volume, refined once (the mean of all volumes aligned to it); the final pass aligns every
    // volume to the refined template and averages the volumes and their heatmaps with the same transforms.
    let reference = vols[0];
    let template = new Float32Array(n);
    const heat = new Float32Array(n);
    for (let pass = 0; pass < 2; pass++) {
      template = new Float32Array(n);
      heat.fill(0);
      vols.forEach((v, j) => {
        const t = registerRigid(v, reference, ds.shape).transform;
        const aligned = applyRigid(v, ds.shape, t);
        for (let i = 0; i < n; i++) template[i] += aligned[i] / vols.length;
        if (pass === 1) {
          const moved = applyRigid(maps[ks[j]], ds.shape, t);
          for (let i = 0; i < n; i++) heat[i] += moved[i] / vols.length;
        }
      });
      reference = template;
    }
    out.push({ label, count: ks.length, template, heatmap: heat });
  }
  return out;
}
