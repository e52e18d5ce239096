/**
 * NIfTI / Analyze / .npy files written by the tests themselves: round trips of values and geometry in every format
 * and byte order, magic-less Analyze headers, 4-D singleton headers, scaling, and every kind of bad input. Geometry is
 * cross-checked against nifti-reader-js and, where installed, nibabel (independent implementations).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readNifti, readNiftiHeader, writeNifti, buildHeader, voxelToWorld, type Mat4 } from '../lib/io/nifti';
import { readNpy, writeNpy } from '../lib/io/npy';
import { importEsm } from '../lib/util/esm';
import { tempDir } from './helpers';

const dims: [number, number, number] = [5, 4, 3];
const pixdim: [number, number, number] = [1.0, 1.2, 1.25];
// A rotation about z by 30 degrees, scaled, with an offset: exercises sform and qform.
const c30 = Math.cos(Math.PI / 6);
const s30 = Math.sin(Math.PI / 6);
const affine: Mat4 = [
  [c30 * 1.0, -s30 * 1.2, 0, -10.5],
  [s30 * 1.0, c30 * 1.2, 0, 20.25],
  [0, 0, 1.25, -30],
  [0, 0, 0, 1],
];
const data = Float32Array.from({ length: 60 }, (_, i) => (i * 37) % 23 - 7.5);

function close(a: number[][], b: number[][], tol = 1e-5): void {
  for (let r = 0; r < a.length; r++) for (let c = 0; c < a[r].length; c++) assert.ok(Math.abs(a[r][c] - b[r][c]) <= tol, `affine[${r}][${c}]: ${a[r][c]} vs ${b[r][c]}`);
}

test('write/read round trips: .nii, .nii.gz, .hdr/.img, both byte orders, several datatypes', () => {
  const dir = tempDir();
  const cases = [
    ['a.nii', { datatype: 'float32' }],
    ['b.nii.gz', { datatype: 'float64', byteOrder: 'big' }],
    ['c.hdr', { datatype: 'float32', byteOrder: 'big' }],
    ['OAS2_0001_MR1_mpr-1.nifti.hdr', { datatype: 'int16', sclSlope: 0.5, sclInter: -7.5 }],
  ] as const;
  for (const [name, opts] of cases) {
    const file = path.join(dir, name);
    writeNifti(file, { data, dims, pixdim, affine }, opts);
    const v = readNifti(file);
    assert.deepEqual(v.dims, dims, name);
    assert.deepEqual(v.pixdim.map((p) => Math.round(p * 1e5) / 1e5), pixdim, name);
    close(v.affine, affine);
    assert.equal(v.header.byteOrder, (opts as { byteOrder?: string }).byteOrder ?? 'little');
    for (let i = 0; i < data.length; i++) assert.equal(v.data[i], data[i], `${name} voxel ${i}`);
  }
  assert.ok(fs.existsSync(path.join(dir, 'OAS2_0001_MR1_mpr-1.nifti.img')));
});

test('the qform alone (sform_code 0) gives the same affine, including a left-handed one (qfac -1)', () => {
  const dir = tempDir();
  const flipped: Mat4 = affine.map((row) => row.slice()) as Mat4;
  for (let r = 0; r < 3; r++) flipped[r][2] = -flipped[r][2];
  for (const aff of [affine, flipped]) {
    const file = path.join(dir, 'q.nii');
    writeNifti(file, { data, dims, pixdim, affine: aff });
    const buf = fs.readFileSync(file);
    buf.writeInt16LE(0, 254); // sform_code = 0
    fs.writeFileSync(file, buf);
    const v = readNifti(file);
    assert.equal(v.header.sformCode, 0);
    close(v.affine, aff);
  }
});

test('magic-less Analyze 7.5 headers and 4-D headers with a singleton 4th dimension read like OASIS-2 scans', () => {
  const dir = tempDir();
  for (const order of ['little', 'big'] as const) {
    const file = path.join(dir, `mpr-1-${order}.nifti.hdr`);
    writeNifti(file, { data, dims, pixdim, affine }, { datatype: 'int16', byteOrder: order });
    const h = fs.readFileSync(file);
    h.fill(0, 344, 348); // no magic: plain Analyze 7.5
    const w16 = (o: number, v: number) => (order === 'little' ? h.writeInt16LE(v, o) : h.writeInt16BE(v, o));
    w16(40, 4); // dim[0] = 4
    w16(48, 1); // dim[4] = 1
    fs.writeFileSync(file, h);
    const v = readNifti(file);
    assert.equal(v.header.format, 'analyze7.5');
    assert.deepEqual(v.header.dims, [5, 4, 3, 1]);
    assert.deepEqual(v.dims, dims);
    assert.deepEqual([...v.data], [...data].map((x) => Math.round(x) + 0));
    // Analyze has no orientation: nibabel's base affine (x flipped, centred).
    assert.deepEqual(voxelToWorld(v.affine, 2, 1.5, 1), [0, 0, 0]);
    assert.ok(v.affine[0][0] < 0);
  }
});

test('bad input fails with the file name and the problem, never a bare stack trace', () => {
  const dir = tempDir();
  const good = path.join(dir, 'g.nii');
  writeNifti(good, { data, dims, pixdim, affine });
  const variants: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['truncated-header.nii', (b) => b.subarray(0, 200), /truncated header: 200 bytes/],
    ['truncated-data.nii', (b) => b.subarray(0, b.length - 10), /truncated image data/],
    ['not-nifti.nii', (b) => { const c = Buffer.from(b); c.writeInt32LE(999, 0); return c; }, /not a NIfTI-1 or Analyze 7.5 header/],
    ['complex.nii', (b) => { const c = Buffer.from(b); c.writeInt16LE(32, 70); return c; }, /unsupported datatype code 32/],
    ['five-d.nii', (b) => { const c = Buffer.from(b); c.writeInt16LE(4, 40); c.writeInt16LE(2, 48); return c; }, /is 4-D with dims \[5, 4, 3, 2\]/],
    ['nan.nii', (b) => { const c = Buffer.from(b); c.writeFloatLE(NaN, 352 + 4 * 7); return c; }, /non-finite voxel value \(NaN or Inf\) at voxel \(2, 1, 0\)/],
  ];
  for (const [name, mutate, re] of variants) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, mutate(fs.readFileSync(good)));
    assert.throws(() => readNifti(file), (err: Error) => err.message.includes(file) && re.test(err.message), name);
  }
  assert.equal(readNifti(path.join(dir, 'nan.nii'), { allowNonFinite: true }).data.length, 60);
  // An .img whose size does not match its header.
  const pair = path.join(dir, 'p.hdr');
  writeNifti(pair, { data, dims, pixdim, affine }, { datatype: 'int16' });
  fs.appendFileSync(path.join(dir, 'p.img'), Buffer.alloc(6));
  assert.throws(() => readNifti(pair), /p\.img: image size 126 bytes does not match its header \(5x4x3 int16 = 120 bytes\)/);
  assert.throws(() => readNifti(path.join(dir, 'missing.nii')), /missing\.nii: file not found/);
  assert.throws(() => readNifti(path.join(dir, 'x.txt')), /not a NIfTI\/Analyze file name/);
});

test('headers agree with nifti-reader-js (an independent parser)', async () => {
  const nifti = await importEsm<{ readHeader(b: ArrayBuffer): Record<string, any>; isCompressed(b: ArrayBuffer): boolean; decompress(b: ArrayBuffer): ArrayBuffer }>('nifti-reader-js');
  const dir = tempDir();
  for (const [name, order] of [['x.nii', 'little'], ['y.nii.gz', 'big']] as const) {
    const file = path.join(dir, name);
    writeNifti(file, { data, dims, pixdim, affine }, { byteOrder: order, datatype: 'int16' });
    const b = fs.readFileSync(file);
    let ab: ArrayBuffer = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    if (nifti.isCompressed(ab)) ab = nifti.decompress(ab);
    const h = nifti.readHeader(ab);
    const ours = readNiftiHeader(file);
    assert.deepEqual(h.dims.slice(1, 4), dims);
    assert.equal(h.datatypeCode, 4);
    assert.equal(h.littleEndian, order === 'little');
    close(h.affine.slice(0, 3), ours.affine.slice(0, 3));
  }
});

test('nibabel opens xai3d files with the same values and geometry (where python3-nibabel is installed)', () => {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import nibabel'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    assert.ok(!process.env.CI, 'CI installs python3-nibabel for this cross-check');
    return;
  }
  const dir = tempDir();
  const files = ['n.nii.gz', 'm.hdr'].map((f) => path.join(dir, f));
  writeNifti(files[0], { data, dims, pixdim, affine });
  writeNifti(files[1], { data, dims, pixdim, affine }, { byteOrder: 'big', datatype: 'float64' });
  const script = `
import json, sys, nibabel as nib, numpy as np
out = []
for f in sys.argv[1:]:
    img = nib.load(f)
    a = np.asarray(img.dataobj, dtype=np.float64)
    out.append({"shape": list(a.shape), "affine": img.affine.tolist(), "zooms": [float(z) for z in img.header.get_zooms()],
                "first": float(a[1, 2, 0]), "sum": float(a.sum())})
print(json.dumps(out))`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const res of JSON.parse(r.stdout)) {
    assert.deepEqual(res.shape, dims);
    close(res.affine, affine);
    // voxel (x=1, y=2, z=0) is at C index z*ny*nx + y*nx + x.
    assert.equal(res.first, data[0 * 20 + 2 * 5 + 1]);
    assert.ok(Math.abs(res.sum - data.reduce((a, b) => a + b, 0)) < 1e-3);
  }
});

test('.npy round trip (float32 C order) and reading float64, big-endian and Fortran-order arrays', () => {
  const dir = tempDir();
  const f = path.join(dir, 'h.npy');
  writeNpy(f, data, [3, 4, 5]);
  const back = readNpy(f);
  assert.deepEqual(back.shape, [3, 4, 5]);
  assert.equal(back.dtype, '<f4');
  assert.deepEqual([...back.data], [...data]);
  assert.equal((fs.statSync(f).size - 60 * 4) % 64, 0, 'header padded to 64 bytes');
  // Hand-built variants.
  const build = (descr: string, shape: string, fortran: boolean, body: Buffer) => {
    let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
    header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    pre.writeUInt16LE(header.length, 8);
    return Buffer.concat([pre, Buffer.from(header), body]);
  };
  const f64 = Buffer.alloc(48);
  [1, 2, 3, 4, 5, 6].forEach((v, i) => f64.writeDoubleBE(v, i * 8));
  fs.writeFileSync(path.join(dir, 'be.npy'), build('>f8', '(2, 3)', false, f64));
  assert.deepEqual([...readNpy(path.join(dir, 'be.npy')).data], [1, 2, 3, 4, 5, 6]);
  const fo = Buffer.alloc(24);
  [1, 4, 2, 5, 3, 6].forEach((v, i) => fo.writeFloatLE(v, i * 4)); // Fortran order of [[1,2,3],[4,5,6]]
  fs.writeFileSync(path.join(dir, 'fo.npy'), build('<f4', '(2, 3)', true, fo));
  assert.deepEqual([...readNpy(path.join(dir, 'fo.npy')).data], [1, 2, 3, 4, 5, 6]);
  fs.writeFileSync(path.join(dir, 'bad.npy'), Buffer.from('hello world'));
  assert.throws(() => readNpy(path.join(dir, 'bad.npy')), /bad\.npy: not a \.npy file/);
  fs.writeFileSync(path.join(dir, 'c.npy'), build('<c8', '(2,)', false, Buffer.alloc(16)));
  assert.throws(() => readNpy(path.join(dir, 'c.npy')), /unsupported dtype '<c8'/);
  void buildHeader;
});
