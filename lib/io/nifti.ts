/**
 * NIfTI-1 and Analyze 7.5 volumes: reading (.nii, .nii.gz, .hdr/.img pairs incl. OASIS's .nifti.hdr/.img, either
 * byte order, magic-less Analyze headers) and writing (.nii, .nii.gz, .hdr/.img pairs) with correct geometry.
 *
 * Memory layout: NIfTI stores x fastest. A Volume keeps that layout, so its data is also a C-order array of shape
 * [nz, ny, nx] = [D, H, W]: the layout of xai3d's tensors and of the .npy heatmaps.
 *
 * Geometry follows the NIfTI-1 standard: the voxel-to-world affine is the sform when sform_code > 0, else the qform
 * (quaternion, qfac from pixdim[0]) when qform_code > 0, else (and always for Analyze) nibabel's base affine:
 * diag(-dx, dy, dz) with the volume centred on the origin.
 *
 * Why one file of ~460 lines: reading and writing share the header's byte layout (offsets, types, the qform and sform
 * conversions); apart, each half would restate it and the two could drift.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { readFileChecked, writeFileAtomic } from './atomic';

export type Mat4 = [number[], number[], number[], number[]];

export interface Volume {
  /** Voxel values, x fastest (C-order [nz, ny, nx]). */
  data: Float32Array;
  /** [nx, ny, nz]. */
  dims: [number, number, number];
  /** Voxel size in mm [dx, dy, dz]. */
  pixdim: [number, number, number];
  /** Voxel (i, j, k) -> world (mm) affine, 4x4 row-major. */
  affine: Mat4;
}

export interface NiftiHeaderInfo {
  file: string;
  format: 'nifti1-single' | 'nifti1-pair' | 'analyze7.5';
  byteOrder: 'little' | 'big';
  /** dim[1..dim[0]] as stored (may be 4-D with a singleton 4th dimension). */
  dims: number[];
  pixdim: number[];
  datatype: number;
  datatypeName: string;
  bitpix: number;
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  affine: Mat4;
  description: string;
}

const DATATYPES: Record<number, { name: string; bytes: number }> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
};

/** The datatype codes xai3d writes, by name. */
export const DATATYPE_CODES = { uint8: 2, int16: 4, int32: 8, float32: 16, float64: 64, int8: 256, uint16: 512 } as const;
export type WriteDatatype = keyof typeof DATATYPE_CODES;

export class NiftiError extends Error {}

function fail(file: string, msg: string): never {
  throw new NiftiError(`${file}: ${msg}`);
}

function readMaybeGz(file: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileChecked(file);
  } catch (err) {
    throw new NiftiError((err as Error).message);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      return zlib.gunzipSync(buf);
    } catch (err) {
      fail(file, `corrupt gzip data (${(err as Error).message})`);
    }
  }
  return buf;
}

/** Split a path into its header and image files (pairs) or one file (single). */
export function niftiFiles(file: string): { header: string; image: string; single: boolean } {
  const lower = file.toLowerCase();
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz')) return { header: file, image: file, single: true };
  for (const [h, i] of [['.hdr.gz', '.img.gz'], ['.hdr', '.img'], ['.img.gz', '.img.gz'], ['.img', '.img']] as const) {
    if (lower.endsWith(h) || lower.endsWith(i)) {
      const stem = file.slice(0, file.length - (lower.endsWith(h) ? h.length : i.length));
      const hdr = [`${stem}.hdr`, `${stem}.hdr.gz`].find((p) => fs.existsSync(p)) ?? `${stem}.hdr`;
      const img = [`${stem}.img`, `${stem}.img.gz`].find((p) => fs.existsSync(p)) ?? `${stem}.img`;
      return { header: hdr, image: img, single: false };
    }
  }
  throw new NiftiError(`${file}: not a NIfTI/Analyze file name (use .nii, .nii.gz, .hdr or .img)`);
}

function cString(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('latin1', start, end < 0 || end > start + len ? start + len : end).trim();
}

function quaternAffine(b: number, c: number, d: number, qx: number, qy: number, qz: number, pix: number[], qfac: number): Mat4 {
  const a2 = 1 - (b * b + c * c + d * d);
  const a = a2 < 1e-7 ? 0 : Math.sqrt(a2);
  const R = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - b * b - c * c],
  ];
  const z = [pix[0], pix[1], pix[2] * qfac];
  return [
    [R[0][0] * z[0], R[0][1] * z[1], R[0][2] * z[2], qx],
    [R[1][0] * z[0], R[1][1] * z[1], R[1][2] * z[2], qy],
    [R[2][0] * z[0], R[2][1] * z[1], R[2][2] * z[2], qz],
    [0, 0, 0, 1],
  ];
}

/** nibabel's affine for headers without orientation: x flipped, volume centred on the origin. */
export function baseAffine(dims: number[], pixdim: number[]): Mat4 {
  const z = [-pixdim[0], pixdim[1], pixdim[2]];
  const o = [0, 1, 2].map((i) => ((dims[i] ?? 1) - 1) / 2);
  return [
    [z[0], 0, 0, -o[0] * z[0]],
    [0, z[1], 0, -o[1] * z[1]],
    [0, 0, z[2], -o[2] * z[2]],
    [0, 0, 0, 1],
  ];
}

/** Parse a 348-byte NIfTI-1 / Analyze 7.5 header (either byte order). */
export function parseHeader(buf: Buffer, file: string, single: boolean): NiftiHeaderInfo {
  if (buf.length < 348) fail(file, `truncated header: ${buf.length} bytes, a NIfTI-1/Analyze header has 348`);
  let le: boolean;
  if (buf.readInt32LE(0) === 348) le = true;
  else if (buf.readInt32BE(0) === 348) le = false;
  else fail(file, `not a NIfTI-1 or Analyze 7.5 header (sizeof_hdr is ${buf.readInt32LE(0)}, expected 348 in either byte order)`);
  const i16 = (o: number) => (le ? buf.readInt16LE(o) : buf.readInt16BE(o));
  const f32 = (o: number) => (le ? buf.readFloatLE(o) : buf.readFloatBE(o));
  const magic = buf.toString('latin1', 344, 347);
  const isNifti = magic === 'n+1' || magic === 'ni1';
  if (!isNifti && single && buf.length >= 352) {
    // .nii files must carry the n+1 magic.
    if (magic !== '\0\0\0' && magic.trim() !== '') fail(file, `unknown magic "${magic}" (expected n+1)`);
  }
  const ndim = i16(40);
  if (ndim < 1 || ndim > 7) fail(file, `invalid dim[0] = ${ndim} (must be 1..7)`);
  const dims: number[] = [];
  for (let i = 1; i <= ndim; i++) dims.push(i16(40 + 2 * i));
  if (dims.some((d) => d < 1)) fail(file, `invalid dimensions [${dims.join(', ')}]`);
  const datatype = i16(70);
  const dt = DATATYPES[datatype];
  if (!dt) fail(file, `unsupported datatype code ${datatype} (supported: ${Object.entries(DATATYPES).map(([k, v]) => `${k}=${v.name}`).join(', ')})`);
  const pixdimAll: number[] = [];
  for (let i = 0; i < 8; i++) pixdimAll.push(f32(76 + 4 * i));
  const pixdim = pixdimAll.slice(1, 1 + Math.max(3, ndim)).map((p) => (Number.isFinite(p) && p !== 0 ? Math.abs(p) : 1));
  const rawOffset = f32(108);
  if (!Number.isFinite(rawOffset) || rawOffset < 0) fail(file, `vox_offset ${rawOffset} is ${Number.isFinite(rawOffset) ? 'negative' : 'not a number'}: the header is corrupt (it gives the byte where the voxels start, >= ${single ? 352 : 0})`);
  const voxOffset = single ? Math.max(352, Math.round(rawOffset)) : Math.round(rawOffset);
  let sclSlope = f32(112);
  let sclInter = f32(116);
  if (!Number.isFinite(sclSlope) || sclSlope === 0) {
    sclSlope = 1;
    sclInter = 0;
  }
  if (!Number.isFinite(sclInter)) sclInter = 0;
  const qformCode = isNifti ? i16(252) : 0;
  const sformCode = isNifti ? i16(254) : 0;
  let affine: Mat4;
  if (sformCode > 0) {
    const row = (o: number) => [f32(o), f32(o + 4), f32(o + 8), f32(o + 12)];
    affine = [row(280), row(296), row(312), [0, 0, 0, 1]];
  } else if (qformCode > 0) {
    const qfac = pixdimAll[0] < 0 ? -1 : 1;
    affine = quaternAffine(f32(256), f32(260), f32(264), f32(268), f32(272), f32(276), pixdim, qfac);
  } else {
    affine = baseAffine(dims, pixdim);
  }
  return {
    file,
    format: isNifti ? (magic === 'n+1' ? 'nifti1-single' : 'nifti1-pair') : 'analyze7.5',
    byteOrder: le ? 'little' : 'big',
    dims,
    pixdim,
    datatype,
    datatypeName: dt.name,
    bitpix: i16(72),
    voxOffset,
    sclSlope,
    sclInter,
    qformCode,
    sformCode,
    affine,
    description: cString(buf, 148, 80),
  };
}

/**
 * Check that a NIfTI/Analyze file's body is all there: the image file exists and holds vox_offset + the voxels the
 * header promises (a .img of a pair exactly that, a .nii at least that). Throws naming the file; returns the sizes.
 */
export function checkNiftiBody(file: string): { header: NiftiHeaderInfo; bytes: number; needed: number } {
  const { header: hdrFile, image: imgFile, single } = niftiFiles(file);
  const h = parseHeader(readMaybeGz(hdrFile), hdrFile, single);
  const voxels = h.dims.reduce((a, b) => a * b, 1);
  const needed = h.voxOffset + voxels * DATATYPES[h.datatype].bytes;
  if (!fs.existsSync(imgFile)) fail(imgFile, `missing: ${hdrFile} is a header whose image file is not there`);
  const bytes = /\.gz$/i.test(imgFile) ? readMaybeGz(imgFile).length : fs.statSync(imgFile).size;
  const what = `${h.dims.join('x')} ${h.datatypeName}${h.voxOffset ? ` from byte ${h.voxOffset}` : ''}`;
  if (bytes < needed) fail(single ? hdrFile : imgFile, `truncated: ${bytes} bytes, the header promises ${needed} (${what})`);
  if (!single && bytes > needed) fail(imgFile, `${bytes} bytes do not match its header's ${needed} (${what})`);
  return { header: h, bytes, needed };
}

/** Read only the header of a NIfTI/Analyze file (for `xai3d data inspect`). */
export function readNiftiHeader(file: string): NiftiHeaderInfo {
  const { header, single } = niftiFiles(file);
  return parseHeader(readMaybeGz(header), header, single);
}

export interface ReadOptions {
  /** Accept NaN/Inf voxels (default: an error naming the file). */
  allowNonFinite?: boolean;
}

/** Read a 3-D volume (a 4-D file must have a singleton 4th dimension), scaled by scl_slope / scl_inter. */
export function readNifti(file: string, opts: ReadOptions = {}): Volume & { header: NiftiHeaderInfo } {
  const { header: hdrFile, image: imgFile, single } = niftiFiles(file);
  const hbuf = readMaybeGz(hdrFile);
  const h = parseHeader(hbuf, hdrFile, single);
  const extra = h.dims.slice(3);
  if (extra.some((d) => d !== 1)) fail(hdrFile, `is ${h.dims.length}-D with dims [${h.dims.join(', ')}]; xai3d reads 3-D volumes (a 4th dimension of 1 is fine)`);
  const [nx, ny, nz] = [h.dims[0], h.dims[1] ?? 1, h.dims[2] ?? 1];
  const n = nx * ny * nz;
  const bytes = DATATYPES[h.datatype].bytes;
  const ibuf = single ? hbuf : readMaybeGz(imgFile);
  const start = single ? h.voxOffset : h.voxOffset;
  const need = start + n * bytes;
  if (ibuf.length < need) {
    fail(single ? hdrFile : imgFile, `truncated image data: ${ibuf.length - start} bytes for ${n} voxels of ${h.datatypeName} (${n * bytes} bytes needed)`);
  }
  if (!single && ibuf.length > need) {
    fail(imgFile, `image size ${ibuf.length} bytes does not match its header (${nx}x${ny}x${nz} ${h.datatypeName} = ${n * bytes} bytes${start ? ` + offset ${start}` : ''})`);
  }
  const le = h.byteOrder === 'little';
  const out = new Float32Array(n);
  const dv = new DataView(ibuf.buffer, ibuf.byteOffset, ibuf.byteLength);
  const read: (o: number) => number = (() => {
    switch (h.datatypeName) {
      case 'uint8': return (o: number) => dv.getUint8(o);
      case 'int8': return (o: number) => dv.getInt8(o);
      case 'int16': return (o: number) => dv.getInt16(o, le);
      case 'uint16': return (o: number) => dv.getUint16(o, le);
      case 'int32': return (o: number) => dv.getInt32(o, le);
      case 'uint32': return (o: number) => dv.getUint32(o, le);
      case 'float32': return (o: number) => dv.getFloat32(o, le);
      case 'float64': return (o: number) => dv.getFloat64(o, le);
      default: return fail(hdrFile, `unsupported datatype ${h.datatypeName}`);
    }
  })();
  const { sclSlope: s, sclInter: c } = h;
  let bad = -1;
  for (let i = 0, o = start; i < n; i++, o += bytes) {
    const v = read(o) * s + c;
    if (!Number.isFinite(v) && bad < 0) bad = i;
    out[i] = v;
  }
  if (bad >= 0 && !opts.allowNonFinite) {
    const x = bad % nx;
    const y = Math.floor(bad / nx) % ny;
    const z = Math.floor(bad / (nx * ny));
    fail(single ? hdrFile : imgFile, `non-finite voxel value (NaN or Inf) at voxel (${x}, ${y}, ${z})`);
  }
  return { data: out, dims: [nx, ny, nz], pixdim: [h.pixdim[0], h.pixdim[1], h.pixdim[2]], affine: h.affine, header: h };
}

// ---------------------------------------------------------------- writing

/** Quaternion parameters (b, c, d, qfac) of the rotation part of an affine (as nibabel does for qform). */
function affineToQuatern(affine: Mat4): { b: number; c: number; d: number; qfac: number; zooms: number[] } {
  const M = [0, 1, 2].map((r) => [affine[r][0], affine[r][1], affine[r][2]]);
  const zooms = [0, 1, 2].map((col) => Math.hypot(M[0][col], M[1][col], M[2][col]) || 1);
  const R = M.map((row) => row.map((v, col) => v / zooms[col]));
  const det =
    R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) -
    R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0]) +
    R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
  let qfac = 1;
  if (det < 0) {
    qfac = -1;
    for (let r = 0; r < 3; r++) R[r][2] = -R[r][2];
  }
  // Rotation matrix to quaternion (a >= 0).
  const [[r11, r12, r13], [r21, r22, r23], [r31, r32, r33]] = R;
  let a = 0.5 * Math.sqrt(Math.max(0, 1 + r11 + r22 + r33));
  let b: number;
  let c: number;
  let d: number;
  if (a > 0.5) {
    b = (r32 - r23) / (4 * a);
    c = (r13 - r31) / (4 * a);
    d = (r21 - r12) / (4 * a);
  } else {
    const xd = 1 + r11 - (r22 + r33);
    const yd = 1 + r22 - (r11 + r33);
    const zd = 1 + r33 - (r11 + r22);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (r12 + r21) / (4 * b);
      d = (r13 + r31) / (4 * b);
      a = (r32 - r23) / (4 * b);
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (r12 + r21) / (4 * c);
      d = (r23 + r32) / (4 * c);
      a = (r13 - r31) / (4 * c);
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (r13 + r31) / (4 * d);
      c = (r23 + r32) / (4 * d);
      a = (r21 - r12) / (4 * d);
    }
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac, zooms };
}

export interface WriteOptions {
  /** Stored datatype (default float32). Integer types round and clip. */
  datatype?: WriteDatatype;
  /** Byte order (default little). */
  byteOrder?: 'little' | 'big';
  /** sform/qform code (default 2 = aligned to another scan; 1 = scanner). */
  xformCode?: number;
  description?: string;
  /** Write scl_slope/scl_inter (integer types: stored = (value - inter) / slope). */
  sclSlope?: number;
  sclInter?: number;
  /** gzip level for .nii.gz (1 fastest .. 9 smallest; default 6). */
  gzipLevel?: number;
}

/** Build a NIfTI-1 header for a 3-D volume. */
export function buildHeader(vol: Pick<Volume, 'dims' | 'pixdim' | 'affine'>, opts: WriteOptions & { single: boolean }): Buffer {
  const le = (opts.byteOrder ?? 'little') === 'little';
  const datatype = DATATYPE_CODES[opts.datatype ?? 'float32'];
  const bytes = DATATYPES[datatype].bytes;
  const h = Buffer.alloc(opts.single ? 352 : 348);
  const i32 = (o: number, v: number) => (le ? h.writeInt32LE(v, o) : h.writeInt32BE(v, o));
  const i16 = (o: number, v: number) => (le ? h.writeInt16LE(v, o) : h.writeInt16BE(v, o));
  const f32 = (o: number, v: number) => (le ? h.writeFloatLE(v, o) : h.writeFloatBE(v, o));
  i32(0, 348);
  h.write('r', 38, 'latin1'); // regular
  i16(40, 3);
  vol.dims.forEach((d, i) => i16(42 + 2 * i, d));
  for (let i = 3; i < 7; i++) i16(42 + 2 * i, 1);
  i16(70, datatype);
  i16(72, bytes * 8);
  const q = affineToQuatern(vol.affine);
  f32(76, q.qfac);
  vol.pixdim.forEach((p, i) => f32(80 + 4 * i, p));
  for (let i = 3; i < 7; i++) f32(80 + 4 * i, 1);
  f32(108, opts.single ? 352 : 0);
  f32(112, opts.sclSlope ?? 1);
  f32(116, opts.sclInter ?? 0);
  h.writeUInt8(2 | 8, 123); // xyzt_units: mm (2) + s (8)
  h.write((opts.description ?? 'xai3d').slice(0, 79), 148, 'latin1');
  const code = opts.xformCode ?? 2;
  i16(252, code);
  i16(254, code);
  f32(256, q.b);
  f32(260, q.c);
  f32(264, q.d);
  f32(268, vol.affine[0][3]);
  f32(272, vol.affine[1][3]);
  f32(276, vol.affine[2][3]);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) f32(280 + 16 * r + 4 * c, vol.affine[r][c]);
  h.write(opts.single ? 'n+1\0' : 'ni1\0', 344, 'latin1');
  return h;
}

function encodeData(data: ArrayLike<number>, opts: WriteOptions): Buffer {
  const le = (opts.byteOrder ?? 'little') === 'little';
  const name = opts.datatype ?? 'float32';
  const bytes = DATATYPES[DATATYPE_CODES[name]].bytes;
  const out = Buffer.alloc(data.length * bytes);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const slope = opts.sclSlope ?? 1;
  const inter = opts.sclInter ?? 0;
  const ranges: Record<string, [number, number]> = {
    uint8: [0, 255], int8: [-128, 127], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
  };
  const r = ranges[name];
  // Fast path: uint8 labels that are already integers in range (the phantoms' masks) are a plain copy.
  if (name === 'uint8' && slope === 1 && inter === 0 && data instanceof Uint8Array) {
    out.set(data);
    return out;
  }
  // Fast path for int16 (scans): round and clip into an Int16Array, then swap bytes for big-endian files.
  if (name === 'int16') {
    const a = new Int16Array(out.buffer, out.byteOffset, data.length);
    for (let i = 0; i < data.length; i++) {
      const v = Math.round((data[i] - inter) / slope);
      a[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
    if (!le) out.swap16();
    return out;
  }
  const put: (o: number, v: number) => void = {
    uint8: (o: number, v: number) => dv.setUint8(o, v),
    int8: (o: number, v: number) => dv.setInt8(o, v),
    int16: (o: number, v: number) => dv.setInt16(o, v, le),
    uint16: (o: number, v: number) => dv.setUint16(o, v, le),
    int32: (o: number, v: number) => dv.setInt32(o, v, le),
    float32: (o: number, v: number) => dv.setFloat32(o, v, le),
    float64: (o: number, v: number) => dv.setFloat64(o, v, le),
  }[name];
  for (let i = 0, o = 0; i < data.length; i++, o += bytes) {
    let v = (data[i] - inter) / slope;
    if (r) v = Math.min(r[1], Math.max(r[0], Math.round(v)));
    put(o, v);
  }
  return out;
}

/**
 * Write a volume: `.nii` / `.nii.gz` (single file) or `.hdr` / `.img` (pair; OASIS-style names like x.nifti.hdr work).
 * Files are written atomically (temporary file + rename), the image before the header for pairs.
 */
export function writeNifti(file: string, vol: Pick<Volume, 'dims' | 'pixdim' | 'affine'> & { data: ArrayLike<number> }, opts: WriteOptions = {}): void {
  const n = vol.dims[0] * vol.dims[1] * vol.dims[2];
  if (vol.data.length !== n) throw new NiftiError(`${file}: data has ${vol.data.length} values, dims [${vol.dims}] need ${n}`);
  const lower = file.toLowerCase();
  if (lower.endsWith('.nii') || lower.endsWith('.nii.gz')) {
    const buf = Buffer.concat([buildHeader(vol, { ...opts, single: true }), encodeData(vol.data, opts)]);
    writeFileAtomic(file, lower.endsWith('.gz') ? zlib.gzipSync(buf, { level: opts.gzipLevel ?? 6 }) : buf);
    return;
  }
  if (lower.endsWith('.hdr') || lower.endsWith('.img')) {
    const stem = file.slice(0, file.length - 4);
    writeFileAtomic(`${stem}.img`, encodeData(vol.data, opts));
    writeFileAtomic(`${stem}.hdr`, buildHeader(vol, { ...opts, single: false }));
    return;
  }
  throw new NiftiError(`${file}: choose .nii, .nii.gz, .hdr or .img as the extension`);
}

/** Apply a 4x4 affine to voxel coordinates (i, j, k). */
export function voxelToWorld(affine: Mat4, i: number, j: number, k: number): [number, number, number] {
  return [0, 1, 2].map((r) => affine[r][0] * i + affine[r][1] * j + affine[r][2] * k + affine[r][3]) as [number, number, number];
}

/** A volume's file name without NIfTI extensions. */
export function niftiStem(file: string): string {
  return path.basename(file).replace(/(\.nifti)?\.(nii|hdr|img)(\.gz)?$/i, '');
}
