/** 3D MNIST: the point-cloud construction, voxelisation conventions, the cached generator and the HDF5 loaders. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { readMnistImages, readMnistLabels } from '../lib/data/mnist3d/idx';
import { digitPointCloud, noisyRotatedCopy } from '../lib/data/mnist3d/pointcloud';
import { voxelCounts, voxelize } from '../lib/data/mnist3d/voxelize';
import { loadMnist3d, mnist3dCacheDir } from '../lib/data/mnist3d/dataset';
import { h5wasm, loadFullDatasetVectors, loadPointCloudsH5 } from '../lib/data/mnist3d/h5';
import { Rng } from '../lib/util/random';
import { tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';

test('test digit 0 of t10k gives exactly 19000 points, zero-mean, largest extent 1, unit normals', () => {
  const [digit] = readMnistImages('t10k', 0, 1);
  assert.equal(readMnistLabels('t10k', 0, 1)[0], 7);
  const pc = digitPointCloud(digit);
  const n = pc.points.length / 3;
  assert.equal(n, 19000);
  const mean = [0, 0, 0];
  const min = [Infinity, Infinity, Infinity];
  const max = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++)
    for (let k = 0; k < 3; k++) {
      const v = pc.points[3 * i + k];
      mean[k] += v / n;
      min[k] = Math.min(min[k], v);
      max[k] = Math.max(max[k], v);
      }
  for (const m of mean) assert.ok(Math.abs(m) < 1e-9);
  const ranges = [0, 1, 2].map((k) => max[k] - min[k]);
  assert.ok(Math.abs(Math.max(...ranges) - 1) < 1e-12);
  // After the rotation the depth of the prisms (6 units) is along x: the thinnest axis.
  assert.ok(ranges[0] < ranges[1] && ranges[0] < ranges[2]);
  for (let i = 0; i < n; i += 997) assert.ok(Math.abs(Math.hypot(pc.normals[3 * i], pc.normals[3 * i + 1], pc.normals[3 * i + 2]) - 1) < 1e-6);
  // The padded image: 30x30, the digit shifted by one, values byte/256.
  assert.equal(pc.img.length, 900);
  assert.equal(pc.img[(7 + 1) * 30 + (6 + 1)], digit[7 * 28 + 6] / 256);
});

test('voxelisation: cube bounding box grown symmetrically, searchsorted-left bins, x + y*n + z*n*n, max-normalised', () => {
  // x in [0, 2], y in [0, 1], z in [0, 0.5]: the box (+-0.001) grows to a cube of side 2.002 centred on each axis:
  // x edges -0.001, 0.4995, 1.0, 1.5005, 2.001; y edges -0.501, -0.0005, 0.5, 1.0005, 1.501;
  // z edges -0.751, -0.2505, 0.25, 0.7505, 1.251 (no point lies on an edge).
  const pts = [0, 0, 0, 2, 1, 0.5, 2, 1, 0.5, 1.1, 0.6, 0.3];
  const n = 4;
  const c = voxelCounts(pts, n);
  const at = (x: number, y: number, z: number) => c[x + y * n + z * n * n];
  assert.equal(at(0, 1, 1), 1);
  assert.equal(at(3, 2, 2), 2);
  assert.equal(at(2, 2, 2), 1);
  assert.equal(c.reduce((a, b) => a + b, 0), 4);
  const v = voxelize(pts, n, 'density');
  assert.equal(v[3 + 2 * n + 2 * n * n], 1);
  assert.equal(v[0 + 1 * n + 1 * n * n], 0.5);
  const occ = voxelize(pts, n, 'occupancy');
  assert.equal(occ.reduce((a, b) => a + b, 0), 3);
});

test('the generator caches by parameters, reproduces labels and split, and makes seeded noisy copies', async () => {
  const root = tempDir();
  const cfg = { size: 16, trainCount: 12, testCount: 5 };
  const a = await loadMnist3d(cfg, { root });
  assert.equal(a.count, 17);
  assert.deepEqual(a.shape, [16, 16, 16]);
  assert.deepEqual([...a.labels.slice(0, 12)], [...readMnistLabels('train', 0, 12)]);
  assert.deepEqual([...a.labels.slice(12)], [...readMnistLabels('t10k', 0, 5)]);
  assert.deepEqual([...a.split!], [...Array(12).fill(0), ...Array(5).fill(1)]);
  // The cached volume equals a direct voxelisation of the digit.
  const direct = voxelize(digitPointCloud(readMnistImages('t10k', 0, 1)[0]).points, 16);
  assert.deepEqual([...a.volume(12)], [...direct]);
  const dir = mnist3dCacheDir({ ...cfg, mode: 'density', noisyCopies: false, noiseStd: 0.01, seed: 0 }, root);
  const mtime = fs.statSync(path.join(dir, 'meta.json')).mtimeMs;
  const b = await loadMnist3d(cfg, { root });
  assert.equal(fs.statSync(path.join(dir, 'meta.json')).mtimeMs, mtime, 'read from cache, not rebuilt');
  assert.deepEqual([...b.volume(3)], [...a.volume(3)]);
  // Corrupt cache is detected.
  const gz = path.join(dir, 'counts.u16.gz');
  const zlib = await import('zlib');
  const raw = zlib.gunzipSync(fs.readFileSync(gz));
  raw[100] ^= 0xff;
  fs.writeFileSync(gz, zlib.gzipSync(raw));
  await assert.rejects(loadMnist3d(cfg, { root }), /counts\.u16\.gz is corrupt \(checksum mismatch\)/);
  await loadMnist3d(cfg, { root, force: true });
  // Noisy copies: doubled, seeded.
  const n1 = await loadMnist3d({ ...cfg, noisyCopies: true, seed: 1 }, { root });
  const n1b = await loadMnist3d({ ...cfg, noisyCopies: true, seed: 1 }, { root: tempDir() });
  const n2 = await loadMnist3d({ ...cfg, noisyCopies: true, seed: 2 }, { root });
  assert.equal(n1.count, 34);
  assert.equal(n1.ids[17], 'train-0-rot');
  assert.deepEqual([...n1.volume(20)], [...n1b.volume(20)]);
  assert.notDeepEqual([...n1.volume(20)], [...n2.volume(20)]);
  assert.deepEqual([...n1.volume(2)], [...a.volume(2)], 'originals unchanged');
  await assert.rejects(loadMnist3d({ size: 2 }, { root }), /size 2 must be an integer from 4 to 256/);
  void noisyRotatedCopy;
  void Rng;
});

test('HDF5 loaders read the release formats (groups in numeric order, int64 labels, f4/f8 vectors) and report bad files', async () => {
  const lib = (await h5wasm()) as unknown as { File: new (f: string, m: string) => any };
  const dir = tempDir();
  const digits = readMnistImages('train', 0, 11);
  const clouds = digits.map((d) => digitPointCloud(d));
  const pcFile = path.join(dir, 'train_point_clouds.h5');
  const f = new lib.File(pcFile, 'w');
  for (let i = 0; i < 11; i++) {
    const g = f.create_group(String(i));
    g.create_dataset({ name: 'points', data: clouds[i].points, shape: [clouds[i].points.length / 3, 3], dtype: '<d' });
    g.create_dataset({ name: 'normals', data: Float64Array.from(clouds[i].normals), shape: [clouds[i].points.length / 3, 3], dtype: '<d' });
    g.create_dataset({ name: 'img', data: Float64Array.from(clouds[i].img), shape: [30, 30], dtype: '<d' });
    g.create_attribute('label', BigInt(i % 10), null, '<q');
  }
  f.close();
  const ds = await loadPointCloudsH5(pcFile, { size: 16, root: dir });
  assert.equal(ds.count, 11);
  assert.deepEqual([...ds.labels], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
  for (const i of [2, 10]) assert.deepEqual([...ds.volume(i)], [...voxelize(clouds[i].points, 16)], `group "${i}"`);

  for (const dtype of ['<f', '<d']) {
    const vf = path.join(dir, `full_dataset_vectors${dtype === '<f' ? 32 : 64}.h5`);
    const g = new lib.File(vf, 'w');
    const rows = (n: number, off: number) => Float64Array.from({ length: n * 4096 }, (_, i) => ((i * 7 + off) % 13) / 13);
    g.create_dataset({ name: 'X_train', data: dtype === '<f' ? Float32Array.from(rows(3, 0)) : rows(3, 0), shape: [3, 4096], dtype });
    g.create_dataset({ name: 'y_train', data: new BigInt64Array([BigInt(4), BigInt(5), BigInt(6)]), shape: [3], dtype: '<q' });
    g.create_dataset({ name: 'X_test', data: dtype === '<f' ? Float32Array.from(rows(2, 1)) : rows(2, 1), shape: [2, 4096], dtype });
    g.create_dataset({ name: 'y_test', data: new BigInt64Array([BigInt(1), BigInt(9)]), shape: [2], dtype: '<q' });
    g.close();
    const v = await loadFullDatasetVectors(vf, { root: dir });
    assert.equal(v.count, 5);
    assert.deepEqual(v.shape, [16, 16, 16]);
    assert.deepEqual([...v.labels], [4, 5, 6, 1, 9]);
    assert.deepEqual([...v.split!], [0, 0, 0, 1, 1]);
    assert.ok(Math.abs(v.volume(3)[10] - ((10 * 7 + 1) % 13) / 13) < 1e-6);
  }
  // Bad files.
  const bad = path.join(dir, 'bad.h5');
  const b = new lib.File(bad, 'w');
  b.create_dataset({ name: 'X_train', data: new Float32Array(4096), shape: [1, 4096], dtype: '<f' });
  const g0 = b.create_group('0');
  g0.create_dataset({ name: 'points', data: new Float64Array(6), shape: [2, 3], dtype: '<d' });
  b.close();
  await assert.rejects(loadFullDatasetVectors(bad, { root: dir }), /bad\.h5: missing dataset "y_train"/);
  await assert.rejects(loadPointCloudsH5(bad, { root: dir }), /bad\.h5: group "0" has no "label" attribute/);
  fs.writeFileSync(path.join(dir, 'text.h5'), 'not hdf5');
  await assert.rejects(loadPointCloudsH5(path.join(dir, 'text.h5'), { root: dir }), /text\.h5: not a readable HDF5 file/);
  await assert.rejects(loadPointCloudsH5(path.join(dir, 'none.h5'), { root: dir }), /none\.h5: file not found/);
  // Nothing half-written in the cache after failures.
  assert.ok(fs.readdirSync(path.join(dir, 'mnist3d')).every((d) => !d.startsWith('.tmp-')));
});
