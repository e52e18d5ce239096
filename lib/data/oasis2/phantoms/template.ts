/**
 * The phantoms' template: the Colin27 T1 (a real head, 27 scans averaged, 181x217x181 at 1 mm, with skull), its brain
 * mask (ch2bet) and the AAL atlas on the same grid, from Debian's mricron-data; or, for unit tests, a procedural head
 * of ellipsoids with the same labels.
 */
import * as fs from 'fs';
import * as path from 'path';
import { dataDir } from '../../../env/paths';
import { readNifti, type Mat4, type Volume } from '../../../io/nifti';

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
