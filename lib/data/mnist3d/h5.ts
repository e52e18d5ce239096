/**
 * Loaders for the real 3D MNIST release files (Kaggle "3D MNIST"), read with h5wasm:
 *  - train_point_clouds.h5 / test_point_clouds.h5: one group per sample named "0".."N-1" (taken in numeric order;
 *    HDF5 lists them in text order), each with float64 datasets points (N, 3), normals (N, 3), img (30, 30) and a
 *    scalar int64 attribute `label`. Voxelised here with the dataset's conventions (voxelize.ts).
 *  - full_dataset_vectors.h5: X_train (10000, 4096), y_train, X_test (2000, 4096), y_test; each row a 16^3 grid in
 *    [z][y][x] order (float32 or float64).
 * Loaded volumes are cached under data/mnist3d/, keyed by the file (path, size, mtime) and the voxel parameters.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { dataDir } from '../../env/paths';
import { buildDirAtomic, readJson, writeFileAtomic } from '../../io/atomic';
import { importEsm } from '../../util/esm';
import { configHash } from '../../util/hash';
import { progress } from '../../util/progress';
import type { VolumeDataset } from '../dataset';
import { MNIST3D_CLASSES } from './dataset';
import { voxelize, type VoxelMode } from './voxelize';

interface H5Dataset {
  value: unknown;
  shape: number[];
  dtype: string;
}
interface H5Group {
  keys(): string[];
  get(name: string): (H5Group & H5Dataset) | null;
  attrs: Record<string, { value: unknown }>;
}
interface H5File extends H5Group {
  close(): void;
}
interface H5Module {
  ready: Promise<unknown>;
  File: new (file: string, mode: string) => H5File;
}

let h5: H5Module | undefined;

/** h5wasm (ESM-only), loaded once. */
export async function h5wasm(): Promise<H5Module> {
  if (!h5) {
    const mod = await importEsm<H5Module & { default?: H5Module }>('h5wasm/node');
    h5 = (mod.default ?? mod) as H5Module;
    await h5.ready;
  }
  return h5;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** HDF5 files carry their signature at offset 0, 512, 1024, 2048, ... */
function hasHdf5Signature(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      fs.readSync(fd, buf, 0, 8, off);
      if (buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

async function openH5(file: string): Promise<H5File> {
  if (!fs.existsSync(file)) throw new Error(`${file}: file not found`);
  if (!hasHdf5Signature(file)) throw new Error(`${file}: not a readable HDF5 file (no HDF5 signature)`);
  const lib = await h5wasm();
  try {
    return new lib.File(path.resolve(file), 'r');
  } catch (err) {
    throw new Error(`${file}: not a readable HDF5 file (${(err as Error).message})`);
  }
}

function fileKey(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) throw new Error(`${file}: file not found`);
  const st = fs.statSync(file);
  return { file: path.resolve(file), size: st.size, mtimeMs: Math.round(st.mtimeMs) };
}

interface LoadedCache {
  volumes: Float32Array;
  labels: Uint8Array;
  ids: string[];
  size: number;
}

async function cached(kind: string, key: Record<string, unknown>, root: string, build: () => Promise<LoadedCache>): Promise<LoadedCache> {
  const dir = path.join(root, 'mnist3d', `${kind}-${configHash(key)}`);
  if (!fs.existsSync(path.join(dir, 'meta.json'))) {
    const c = await build();
    await buildDirAtomic(dir, (tmp) => {
      writeFileAtomic(path.join(tmp, 'volumes.f32.gz'), zlib.gzipSync(Buffer.from(c.volumes.buffer, c.volumes.byteOffset, c.volumes.byteLength), { level: 6 }));
      writeFileAtomic(path.join(tmp, 'labels.u8'), c.labels);
      writeFileAtomic(path.join(tmp, 'ids.json'), JSON.stringify(c.ids));
      writeFileAtomic(path.join(tmp, 'meta.json'), JSON.stringify({ kind, key, size: c.size, count: c.labels.length }, null, 2) + '\n');
    });
  }
  const meta = readJson<{ size: number; count: number }>(path.join(dir, 'meta.json'));
  const raw = zlib.gunzipSync(fs.readFileSync(path.join(dir, 'volumes.f32.gz')));
  const volumes = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const labels = new Uint8Array(fs.readFileSync(path.join(dir, 'labels.u8')));
  if (volumes.length !== meta.count * meta.size ** 3 || labels.length !== meta.count) throw new Error(`${dir}: cache is inconsistent; delete it to rebuild`);
  return { volumes, labels, ids: readJson<string[]>(path.join(dir, 'ids.json')), size: meta.size };
}

function asDataset(name: string, c: LoadedCache, split: Uint8Array | undefined, meta: Record<string, unknown>): VolumeDataset {
  const n3 = c.size ** 3;
  return {
    name,
    shape: [c.size, c.size, c.size],
    count: c.labels.length,
    labels: Int32Array.from(c.labels),
    classNames: MNIST3D_CLASSES,
    groups: c.ids.slice(),
    ids: c.ids,
    split,
    spacingMm: [1, 1, 1],
    volume: (i: number) => c.volumes.slice(i * n3, (i + 1) * n3),
    meta,
  };
}

function label(v: unknown, file: string, key: string): number {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Array.isArray(v) || ArrayBuffer.isView(v) ? Number((v as ArrayLike<number | bigint>)[0]) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new Error(`${file}: group "${key}" has label ${String(v)}, expected an integer 0..9`);
  return n;
}

/** Voxelise the clouds of a *_point_clouds.h5 file to size^3. */
export async function loadPointCloudsH5(file: string, opts: { size?: number; mode?: VoxelMode; root?: string } = {}): Promise<VolumeDataset> {
  const size = opts.size ?? 32;
  const mode = opts.mode ?? 'density';
  const key = { ...fileKey(file), size, mode };
  const c = await cached('h5-clouds', key, opts.root ?? dataDir(), async () => {
    const f = await openH5(file);
    try {
      const keys = f.keys().filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
      if (keys.length === 0) throw new Error(`${file}: no sample groups ("0", "1", ...): not a 3D MNIST point-cloud file`);
      keys.forEach((k, i) => {
        if (Number(k) !== i) throw new Error(`${file}: sample groups are not numbered 0..${keys.length - 1} (missing "${i}")`);
      });
      const volumes = new Float32Array(keys.length * size ** 3);
      const labels = new Uint8Array(keys.length);
      const bar = progress(`voxelising ${path.basename(file)}`, keys.length, { unit: 'clouds' });
      keys.forEach((k, i) => {
        const g = f.get(k);
        const pts = g?.get('points');
        if (!g || !pts) throw new Error(`${file}: group "${k}" has no "points" dataset`);
        if (pts.shape.length !== 2 || pts.shape[1] !== 3) throw new Error(`${file}: "${k}/points" has shape [${pts.shape}], expected (N, 3)`);
        if (!g.attrs['label']) throw new Error(`${file}: group "${k}" has no "label" attribute`);
        labels[i] = label(g.attrs['label'].value, file, k);
        volumes.set(voxelize(pts.value as ArrayLike<number>, size, mode), i * size ** 3);
        bar.tick();
      });
      bar.done();
      return { volumes, labels, ids: keys.map((k) => `${path.basename(file, '.h5')}-${k}`), size };
    } finally {
      f.close();
    }
  });
  return asDataset(`mnist3d-h5-${path.basename(file, '.h5')}-${size}`, c, undefined, { source: path.resolve(file), format: 'point_clouds.h5', size, mode });
}

/** The 16^3 vectors of full_dataset_vectors.h5 (train then test), with the file's split. */
export async function loadFullDatasetVectors(file: string, opts: { root?: string } = {}): Promise<VolumeDataset> {
  const key = fileKey(file);
  let nTrain = 0;
  const c = await cached('h5-vectors', key, opts.root ?? dataDir(), async () => {
    const f = await openH5(file);
    try {
      const parts: { X: Float32Array; y: Uint8Array }[] = [];
      for (const [xName, yName] of [['X_train', 'y_train'], ['X_test', 'y_test']]) {
        const X = f.get(xName);
        const y = f.get(yName);
        if (!X || !y) throw new Error(`${file}: missing dataset "${!X ? xName : yName}" (expected X_train, y_train, X_test, y_test)`);
        if (X.shape.length !== 2 || X.shape[1] !== 4096) throw new Error(`${file}: "${xName}" has shape [${X.shape}], expected (N, 4096) = 16^3 rows`);
        if (!/[fd]/.test(X.dtype)) throw new Error(`${file}: "${xName}" has dtype ${X.dtype}, expected float32 or float64`);
        const n = X.shape[0];
        const yv = y.value as ArrayLike<number | bigint>;
        if (yv.length !== n) throw new Error(`${file}: "${yName}" has ${yv.length} labels for ${n} rows of "${xName}"`);
        const labels = new Uint8Array(n);
        for (let i = 0; i < n; i++) labels[i] = label(yv[i], file, `${yName}[${i}]`);
        parts.push({ X: Float32Array.from(X.value as ArrayLike<number>), y: labels });
      }
      nTrain = parts[0].y.length;
      const volumes = new Float32Array(parts[0].X.length + parts[1].X.length);
      volumes.set(parts[0].X, 0);
      volumes.set(parts[1].X, parts[0].X.length);
      const labels = new Uint8Array([...parts[0].y, ...parts[1].y]);
      const ids = [...Array.from({ length: parts[0].y.length }, (_, i) => `train-${i}`), ...Array.from({ length: parts[1].y.length }, (_, i) => `test-${i}`)];
      return { volumes, labels, ids, size: 16 };
    } finally {
      f.close();
    }
  });
  const split = Uint8Array.from(c.ids, (id) => (id.startsWith('test-') ? 1 : 0));
  void nTrain;
  return asDataset('mnist3d-vectors-16', c, split, { source: path.resolve(file), format: 'full_dataset_vectors.h5', size: 16 });
}
