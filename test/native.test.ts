/**
 * xai3d's native AVX2 + FMA convolution kernels (lib/backend/native.ts, native/kernels.cc): they run wherever the CPU
 * can run them (a broken build must not silently fall back), agree with the cpu backend (kernels3d.test.ts runs every
 * convolution case on them too), give the same bits on one thread as on two, pad like the JS code, and can be switched
 * off.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo } from '../lib/backend/select';
import { kernelCalls } from '../lib/backend/kernels3d';
import { native, setNativeEnabled } from '../lib/backend/native';
import { freePadded, paddedInput, setConvDotRowReuse } from '../lib/backend/conv3d';
import { fusedConv3d, lrpConv3dPair, lrpConv3dTwoTerms, perVolumeSums } from '../lib/backend/fused-conv';
import { upsampleTrilinear, upsampleTrilinearJs } from '../lib/explain/upsample';
import { f32, ptr, type TensorInfo, type WasmBackend } from '../lib/backend/heap';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';
import { runTsx, tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';
let info: BackendInfo;

before(async () => {
  info = await initBackend({ backend: 'wasm' });
});

const cpuFlags = () => (fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [] : []);

test('the native kernels run on an x86-64 CPU with AVX2 and FMA (a failed build is an error here, not a fallback)', (t) => {
  const flags = cpuFlags();
  if (process.arch !== 'x64' || !flags.includes('avx2') || !flags.includes('fma')) {
    t.skip(`this CPU (${process.arch}) lacks AVX2/FMA: the wasm kernels run`);
    return;
  }
  assert.equal(info.nativeKernels, true, `native kernels not running: ${info.notes.join('; ')} (npm run build:native)`);
  assert.ok(native(), 'native() is set');
});

/** Forward, input gradient and filter gradient of sum(conv3d(x, w) * r). */
function convAndGrads(x: tf.Tensor5D, w: tf.Tensor5D, pad: 'same' | 'valid'): Float32Array[] {
  return tf.tidy(() => {
    const y = tf.conv3d(x, w, 1, pad);
    const r = tf.randomNormal(y.shape, 0, 1, 'float32', 5);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, 1, pad).mul(r).sum())([x, w]);
    return [y, gx, gw].map((v) => (v.dataSync() as Float32Array).slice());
  });
}

test('native results are the same bits on one thread and on two, for row, tile and plane splits', (t) => {
  const nk = native();
  if (!nk) {
    t.skip('native kernels not running');
    return;
  }
  // A first layer (C = 1: few filter-gradient tiles, so the planes are split), a middle layer (many tiles, output
  // width not a multiple of the 6-wide tiles) and a deep one (24 = 16 + 8 filters, 2^3 grid computed 4 wide).
  const layers: [[number, number, number, number, number], number, 'same' | 'valid'][] = [
    [[3, 10, 9, 11, 1], 16, 'same'],
    [[2, 7, 8, 13, 16], 32, 'same'],
    [[4, 2, 2, 2, 8], 24, 'same'],
    [[2, 6, 7, 9, 8], 8, 'valid'],
  ];
  for (const [shape, f, pad] of layers) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor5D;
    const w = tf.randomNormal([3, 3, 3, shape[4], f], 0, 0.3, 'float32', 2) as tf.Tensor5D;
    const before = { ...kernelCalls };
    nk.setThreads(2);
    const two = convAndGrads(x, w, pad);
    nk.setThreads(1);
    const one = convAndGrads(x, w, pad);
    nk.setThreads(2);
    assert.ok((kernelCalls['filterGrad:native'] ?? 0) > (before['filterGrad:native'] ?? 0), 'native filter gradient used');
    assert.ok((kernelCalls['conv:native'] ?? 0) > (before['conv:native'] ?? 0), 'native convolution used');
    ['forward', 'input gradient', 'filter gradient'].forEach((what, i) => {
      assert.ok(Buffer.from(one[i].buffer).equals(Buffer.from(two[i].buffer)), `${shape} -> ${f}: ${what} differs between 1 and 2 threads`);
    });
    // And within float32 rounding of the wasm SIMD kernels (the cpu backend comparison is in kernels3d.test.ts).
    setNativeEnabled(false);
    const wasm = convAndGrads(x, w, pad);
    setNativeEnabled(true);
    wasm.forEach((v, i) => {
      let diff = 0;
      let scale = 0;
      for (let j = 0; j < v.length; j++) {
        diff = Math.max(diff, Math.abs(v[j] - two[i][j]));
        scale = Math.max(scale, Math.abs(v[j]));
      }
      assert.ok(diff <= 1e-5 * scale, `${shape} -> ${f}: native vs wasm relative error ${diff / scale}`);
    });
    tf.dispose([x, w]);
  }
});

test('XAI3D_NATIVE=0 keeps the wasm SIMD kernels and says so; a bad value is refused by name', () => {
  const script = path.join(tempDir(), 'backend.ts');
  fs.writeFileSync(script, `import { initBackend } from ${JSON.stringify(path.join(PROJECT_ROOT, 'lib', 'backend', 'select'))};\ninitBackend({ quiet: true }).then((i) => console.log(JSON.stringify(i)));\n`);
  const off = runTsx(script, [], { XAI3D_NATIVE: '0' });
  assert.equal(off.status, 0, off.stderr);
  const got = JSON.parse(off.stdout.trim().split('\n').pop()!) as BackendInfo;
  assert.equal(got.nativeKernels, false);
  assert.equal(got.simdKernels, true);
  assert.ok(got.notes.some((n) => n.includes('XAI3D_NATIVE=0')), got.notes.join('; '));
  const bad = runTsx(script, [], { XAI3D_NATIVE: 'maybe' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /XAI3D_NATIVE="maybe" is not valid/);
});

test('the native zero padding writes the same grid as the JS one, cuts included', (t) => {
  if (!native()) {
    t.skip('native kernels not running');
    return;
  }
  const backend = tf.backend() as unknown as WasmBackend;
  const x = tf.randomNormal([2, 4, 5, 6, 3], 0, 1, 'float32', 9);
  const info = { dataId: x.dataId, shape: x.shape, dtype: x.dtype } as TensorInfo;
  // [grid, front, top, left]: padding on every side, padding on one side only, and a grid that cuts the input.
  const cases: [[number, number, number], number, number, number][] = [
    [[6, 7, 8], 1, 1, 1],
    [[5, 5, 8], 1, 0, 2],
    [[3, 7, 4], -1, 2, -1],
  ];
  for (const [grid, front, top, left] of cases) {
    const grids = [true, false].map((on) => {
      setNativeEnabled(on);
      const before = kernelCalls['pad:native'] ?? 0;
      const p = paddedInput(backend, info, grid, front, top, left);
      assert.equal((kernelCalls['pad:native'] ?? 0) - before, on ? 1 : 0);
      const bytes = Buffer.from(f32(backend, p).slice().buffer);
      if (on) assert.equal(ptr(backend, p) % 64, 0, 'the native padding is 64-byte aligned');
      freePadded(backend, p, info);
      return bytes;
    });
    setNativeEnabled(true);
    assert.ok(grids[0].equals(grids[1]), `grid ${grid} at (${front}, ${top}, ${left})`);
  }
  x.dispose();
});

test('the native trilinear resampling gives the same bits as the JS one (CAM maps)', (t) => {
  if (!native()) {
    t.skip('native kernels not running');
    return;
  }
  const cases: [[number, number, number], [number, number, number]][] = [
    [[2, 2, 2], [64, 64, 64]],
    [[3, 5, 7], [16, 9, 20]],
    [[8, 8, 8], [8, 8, 8]],
    [[1, 4, 2], [5, 4, 9]],
    [[4, 4, 4], [2, 3, 4]],
  ];
  for (const [shape, out] of cases) {
    const src = Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) => Math.sin(i * 1.7) * 3.1);
    const a = upsampleTrilinear(src, shape, out);
    const b = upsampleTrilinearJs(src, shape, out);
    assert.equal(a.length, out[0] * out[1] * out[2]);
    assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), `${shape} -> ${out}`);
  }
});

test("the 3-wide row variants give the bits of the generic kernels (dot products on 8 and 16 channels, first-layer tiles, odd widths, LRP pairs and two-term passes)", (t) => {
  if (!native()) {
    t.skip('native kernels not running here');
    return;
  }
  const calls = () => (kernelCalls['convDot:native 3-wide'] ?? 0) + (kernelCalls['conv:native 3-wide'] ?? 0) * 1e6;
  const before = calls();
  // Transposed convolutions to 1 or 2 channels (the first layer's input gradient) and a forward one with 4 filters.
  const run = () =>
    tf.tidy(() => {
      const out: Buffer[] = [];
      for (const [C, Fo, W] of [[8, 1, 13], [16, 1, 16], [8, 2, 11], [16, 4, 9]] as const) {
        const S = tf.randomNormal([2, 6, 5, W, C], 0, 1, 'float32', C + W);
        const w = tf.randomNormal([3, 3, 3, Fo, C], 0, 1, 'float32', Fo + 3);
        const g = tf.conv3dTranspose(S as tf.Tensor5D, w as tf.Tensor5D, [2, 6, 5, W, Fo], 1, 'same');
        out.push(Buffer.from((g.dataSync() as Float32Array).slice().buffer));
      }
      // First layers (one input channel) on the register tiles: 8, 16 and 24 filters, full and partial tiles, a row
      // narrower than the kernels' 4, with the fused bias + ReLU, and zB's two forward terms in one pass.
      for (const [Fo, W] of [[8, 13], [16, 14], [24, 9], [16, 3]] as const) {
        const x = tf.randomNormal([2, 6, 5, W, 1], 0, 1, 'float32', Fo * W);
        const w = tf.randomNormal([3, 3, 3, 1, Fo], 0, 1, 'float32', Fo + 1);
        const b = tf.randomNormal([Fo], 0, 1, 'float32', Fo + 2) as tf.Tensor1D;
        out.push(Buffer.from((tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 1, 'same').dataSync() as Float32Array).slice().buffer));
        out.push(Buffer.from((fusedConv3d(x as tf.Tensor5D, w as tf.Tensor5D, b, 'valid', 'relu').dataSync() as Float32Array).slice().buffer));
        if (W >= 4) {
          const x2 = tf.randomNormal([2, 6, 5, W, 1], 0, 1, 'float32', Fo * W + 1);
          const w2 = tf.randomNormal([3, 3, 3, 1, Fo], 0, 1, 'float32', Fo + 5);
          const R = tf.randomNormal([2, 6, 5, W, Fo], 0, 1, 'float32', Fo + 6);
          const two = lrpConv3dTwoTerms([{ u: x, w, b: null }, { u: x2, w: w2, b }], 'same', { r: R, eps: 1e-9 });
          assert.ok(two, 'the two-term kernel runs');
          out.push(Buffer.from((two.dataSync() as Float32Array).slice().buffer));
        }
      }
      // zB's two transposed convolutions in one pass (pair mode) on 8 channels, 13 wide (tail outputs included).
      const S = tf.randomNormal([1, 5, 4, 13, 8], 0, 1, 'float32', 21);
      const [w1, w2] = [22, 23].map((sd) => tf.randomNormal([3, 3, 3, 1, 8], 0, 1, 'float32', sd));
      const [u1, u2] = [24, 25].map((sd) => tf.randomNormal([1, 5, 4, 13, 1], 0, 1, 'float32', sd));
      const pair = lrpConv3dPair(S, [w1, w2], [u1, u2], null, 'same', [1, 5, 4, 13, 1]);
      assert.ok(pair, 'the pair kernel runs');
      out.push(Buffer.from((pair.dataSync() as Float32Array).slice().buffer));
      return out;
    });
  setConvDotRowReuse(false);
  let generic: Buffer[];
  try {
    generic = run();
  } finally {
    setConvDotRowReuse(true);
  }
  const rows = run();
  assert.ok(calls() - before > 1e6 && (calls() - before) % 1e6 > 0, 'both row variants ran');
  rows.forEach((b, i) => assert.ok(b.equals(generic[i]), `case ${i}: the row variant differs from the generic kernel`));
});

test('native per-volume float64 sums: the same on one thread as on two, and within float64 rounding of an exact sum', (t) => {
  const nk = native();
  if (!nk) {
    t.skip('native kernels not running here');
    return;
  }
  // 3 volumes of 70001 values (two blocks and a tail not a multiple of 16), values of mixed sign and size.
  const n = 70001;
  const vals = new Float32Array(3 * n).map((_, i) => Math.sin(i * 0.7) * 10 ** ((i % 7) - 3));
  const x = tf.tensor2d(vals, [3, n]);
  const threads = nk.threads;
  try {
    const two = perVolumeSums(x)!;
    nk.setThreads(1);
    const one = perVolumeSums(x)!;
    assert.deepEqual(one, two, 'thread count');
    for (let r = 0; r < 3; r++) {
      // Exact reference: Neumaier-compensated sum of the float32 values.
      let s = 0;
      let c = 0;
      for (let i = r * n; i < (r + 1) * n; i++) {
        const v = vals[i];
        const u = s + v;
        c += Math.abs(s) >= Math.abs(v) ? s - u + v : v - u + s;
        s = u;
      }
      const exact = s + c;
      assert.ok(Math.abs(two[r] - exact) <= 1e-12 * vals.slice(r * n, (r + 1) * n).reduce((a, v) => a + Math.abs(v), 0), `row ${r}: ${two[r]} vs ${exact}`);
    }
  } finally {
    nk.setThreads(threads);
    x.dispose();
  }
});
