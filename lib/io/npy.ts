/**
 * NumPy .npy files (format versions 1-3): reading float32/float64/int/uint arrays of either byte order in C or
 * Fortran order, and writing float32 little-endian C-order arrays (what Python users load with np.load).
 */
import { readFileChecked, writeFileAtomic } from './atomic';

export interface NpyArray {
  data: Float32Array;
  shape: number[];
  /** The dtype stored in the file (e.g. '<f4'). */
  dtype: string;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function fail(file: string, msg: string): never {
  throw new Error(`${file}: ${msg}`);
}

/** Parse the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } */
function parseHeaderDict(text: string, file: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(file, `malformed .npy header: ${text.trim()}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail(file, `malformed shape (${shapeText}) in .npy header`);
  return { descr, fortran: fortran === 'True', shape };
}

export function readNpy(file: string): NpyArray {
  const buf = readFileChecked(file);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail(file, 'not a .npy file (missing \\x93NUMPY magic)');
  const major = buf[6];
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else fail(file, `unsupported .npy format version ${major}`);
  if (buf.length < offset + headerLen) fail(file, 'truncated .npy header');
  const { descr, fortran, shape } = parseHeaderDict(buf.toString(major === 3 ? 'utf8' : 'latin1', offset, offset + headerLen), file);
  const dataStart = offset + headerLen;
  const m = /^([<>|=])([fiu])(\d)$/.exec(descr);
  if (!m) fail(file, `unsupported dtype '${descr}' (use float32/float64 or an integer type)`);
  const le = m[1] !== '>';
  const kind = m[2];
  const bytes = Number(m[3]);
  const n = shape.reduce((a, b) => a * b, 1);
  if (buf.length < dataStart + n * bytes) fail(file, `truncated data: ${buf.length - dataStart} bytes for ${n} values of '${descr}'`);
  const read = (o: number): number => {
    if (kind === 'f') return bytes === 4 ? (le ? buf.readFloatLE(o) : buf.readFloatBE(o)) : bytes === 8 ? (le ? buf.readDoubleLE(o) : buf.readDoubleBE(o)) : fail(file, `unsupported float width ${bytes}`);
    if (bytes === 1) return kind === 'i' ? buf.readInt8(o) : buf.readUInt8(o);
    if (bytes === 2) return kind === 'i' ? (le ? buf.readInt16LE(o) : buf.readInt16BE(o)) : le ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
    if (bytes === 4) return kind === 'i' ? (le ? buf.readInt32LE(o) : buf.readInt32BE(o)) : le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
    if (bytes === 8) return Number(kind === 'i' ? (le ? buf.readBigInt64LE(o) : buf.readBigInt64BE(o)) : le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
    return fail(file, `unsupported dtype '${descr}'`);
  };
  const data = new Float32Array(n);
  if (!fortran || shape.length < 2) {
    for (let i = 0; i < n; i++) data[i] = read(dataStart + i * bytes);
  } else {
    // Fortran order: first index fastest. Convert to C order.
    const strides = shape.map((_, i) => shape.slice(0, i).reduce((a, b) => a * b, 1));
    const idx = new Array(shape.length).fill(0);
    for (let c = 0; c < n; c++) {
      let f = 0;
      for (let k = 0; k < shape.length; k++) f += idx[k] * strides[k];
      data[c] = read(dataStart + f * bytes);
      for (let k = shape.length - 1; k >= 0; k--) {
        idx[k]++;
        if (idx[k] < shape[k]) break;
        idx[k] = 0;
      }
    }
  }
  return { data, shape, dtype: descr };
}

/** Write a float32 little-endian C-order .npy (format 1.0), atomically. */
export function writeNpy(file: string, data: ArrayLike<number>, shape: number[]): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`${file}: ${data.length} values do not fill shape (${shape.join(', ')})`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) body.writeFloatLE(data[i], i * 4);
  writeFileAtomic(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}
