/**
 * xai3d's SIMD kernels (lib/backend/simd/): the committed binary is what the WebAssembly text compiles to, the kernels
 * share tfjs's memory with two threads, and a failing kernel is reported without breaking the next calls.
 * (Their numbers are checked against the cpu backend in kernels3d.test.ts, on both paths.)
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../lib/backend/select';
import { SIMD_KERNELS, simd, stopSimdWorker, wasmFile } from '../lib/backend/simd/index';
import { WAT_FILE, compileWat, singleThreadedSource } from '../scripts/build-wasm';
import { runTsx } from './helpers';

process.env.XAI3D_QUIET = '1';

before(async () => {
  const info = await initBackend({ backend: 'wasm' });
  assert.equal(info.simdKernels, true, info.notes.join('; '));
});

test('kernels.wasm and kernels-single.wasm are the compiled kernels.wat (run `npm run build:wasm` after editing it)', async () => {
  const text = fs.readFileSync(WAT_FILE, 'utf8');
  for (const [shared, source] of [[true, text], [false, singleThreadedSource(text)]] as const) {
    const fresh = await compileWat(source);
    const committed = new Uint8Array(fs.readFileSync(wasmFile(shared)));
    assert.equal(Buffer.compare(Buffer.from(fresh), Buffer.from(committed)), 0, `${wasmFile(shared)} is stale`);
    const mod = new WebAssembly.Module(committed);
    assert.deepEqual(WebAssembly.Module.exports(mod).map((e) => e.name).sort(), [...SIMD_KERNELS].sort());
    assert.deepEqual(WebAssembly.Module.imports(mod), [{ module: 'env', name: 'memory', kind: 'memory' }]);
  }
});

test('the kernels read and write tfjs tensors in place, split over two threads', () => {
  const rt = simd()!;
  assert.equal(rt.threads, 2);
  // colSum over 1000 rows of 8 columns: both threads' shares land in their own accumulator rows.
  const backend = tf.backend() as unknown as {
    dataIdMap: { get(id: object): { memoryOffset: number } };
    wasm: { HEAPU8: Uint8Array };
  };
  const rows = 1000;
  const x = tf.tidy(() => tf.range(0, rows * 8, 1, 'float32').reshape([rows, 8]));
  const acc = tf.zeros([2 * 2 * 8 + 2]);
  const xPtr = backend.dataIdMap.get(x.dataId).memoryOffset;
  const accPtr = (backend.dataIdMap.get(acc.dataId).memoryOffset + 7) & ~7;
  rt.run('colSum', [xPtr, accPtr, 8], rows, 300);
  const sums = new Float64Array(backend.wasm.HEAPU8.buffer, accPtr, 16);
  for (let i = 0; i < 8; i++) {
    // rows [0, 300) and [300, 1000) of column i: sum of (8 r + i)
    const part = (r0: number, r1: number) => 8 * ((r1 * (r1 - 1)) / 2 - (r0 * (r0 - 1)) / 2) + i * (r1 - r0);
    assert.equal(sums[i], part(0, 300));
    assert.equal(sums[8 + i], part(300, rows));
  }
  tf.dispose([x, acc]);
});

test('a kernel that traps throws an error naming it, and the next calls work', () => {
  const rt = simd()!;
  // Input and accumulator addresses near the end of the 4 GB address space (far past the memory's size): both
  // threads trap on their first load, before anything is written.
  assert.throws(() => rt.run('colSum', [0xfffffff0 | 0, 0xfffff000 | 0, 8], 64), /SIMD kernel colSum failed: .*out of bounds/);
  assert.throws(() => rt.run('colSum', [0xfffffff0 | 0, 0xfffff000 | 0, 8], 64, 0), /SIMD kernel colSum failed in the worker thread/);
  const x = tf.ones([4, 8, 8, 8, 8]) as tf.Tensor5D;
  const y = tf.maxPool3d(x, 2, 2, 'valid');
  assert.deepEqual(y.shape, [4, 4, 4, 4, 8]);
  assert.equal(y.sum().dataSync()[0], 4 * 64 * 8);
  tf.dispose([x, y]);
});

test('the kernels work on tensors above 2 GB in the wasm heap (addresses past the int32 range)', () => {
  // In a fresh process, so that a 2.4 GB filler really lies below the tensors under test.
  const r = runTsx(path.join(__dirname, 'fixtures', 'high-address-probe.ts'), [], { XAI3D_BACKEND: 'wasm' }, 120_000);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { at: number; errors: Record<string, number> };
  assert.ok(out.at > 2 ** 31, `test tensors at ${(out.at / 2 ** 30).toFixed(2)} GB`);
  for (const [what, e] of Object.entries(out.errors)) assert.ok(e <= 1e-5, `${what}: relative error ${e}`);
});

test('after the worker thread ends, calls run on the main thread alone with the same results', async () => {
  const x = tf.randomNormal([2, 6, 8, 8, 8], 0, 1, 'float32', 5) as tf.Tensor5D;
  const w = tf.randomNormal([3, 3, 3, 8, 16], 0, 0.3, 'float32', 6) as tf.Tensor5D;
  const grads = () =>
    tf.tidy(() => {
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.maxPool3d(tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, 1, 'same'), 2, 2, 'valid').square().sum())([x, w]);
      return [gx, gw].map((t) => (t.dataSync() as Float32Array).slice());
    });
  const twoThreads = grads();
  await stopSimdWorker();
  const mainOnly = grads();
  assert.deepEqual(mainOnly, twoThreads);
  tf.dispose([x, w]);
});

