/**
 * xai3d's wasm kernels against tfjs's pure-JS cpu backend (the reference): Conv3D forward, input gradient and filter
 * gradient on many shapes, strided fallbacks, 3D max pooling with ties, reductions, a few training steps, and the
 * GlobalAveragePooling3D layer.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../lib/backend/select';
import { kernelCalls, useKernels } from '../lib/backend/kernels3d';
import { setSimdEnabled, simd } from '../lib/backend/simd/index';
import { native, setNativeEnabled } from '../lib/backend/native';
import { GlobalAveragePooling3D, globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';
import { loadModel, saveModel } from '../lib/io/model-files';
import { runTsx, tempDir } from './helpers';

process.env.XAI3D_QUIET = '1';

before(async () => {
  const info = await initBackend({ backend: 'wasm' });
  assert.equal(info.fast3dKernels, true);
  assert.equal(info.simdKernels, true, `SIMD kernels off: ${info.notes.join('; ')}`);
});

type KernelPath = 'native' | 'simd' | 'fast';

/**
 * Run fn on each kernel path: xai3d's native AVX2 convolutions (where they run), its wasm SIMD kernels (native off),
 * and the JS/XNNPACK paths (SIMD off).
 */
async function bothPaths(fn: (path: KernelPath) => Promise<void>): Promise<void> {
  const paths: KernelPath[] = native() ? ['native', 'simd', 'fast'] : ['simd', 'fast'];
  for (const p of paths) {
    setSimdEnabled(p !== 'fast');
    setNativeEnabled(p === 'native');
    try {
      await fn(p);
    } finally {
      setSimdEnabled(true);
      setNativeEnabled(true);
    }
  }
}

/** Run fn on the cpu backend, return to wasm. */
async function onCpu<T>(fn: () => T): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return fn();
  } finally {
    await tf.setBackend('wasm');
  }
}

/** max |a - b| / max |b| (0 when both are zero). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    assert.ok(Number.isFinite(a[i]), `non-finite value at ${i}`);
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

type Pad = 'same' | 'valid';
type Case = { x: [number, number, number, number, number]; k: [number, number, number]; f: number; pad: Pad; stride?: number };

/** Forward, input gradient and filter gradient of sum(conv3d(x, w) * r) as plain arrays. */
function convAndGrads(xT: tf.Tensor5D, wT: tf.Tensor5D, pad: Pad, stride: number, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const y = tf.conv3d(xT, wT, stride, pad);
    const r = tf.randomNormal(y.shape, 0, 1, 'float32', seed);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv3d(a as tf.Tensor5D, b as tf.Tensor5D, stride, pad).mul(r).sum())([xT, wT]);
    return [y, gx, gw].map((t) => t.dataSync() as Float32Array).map((a) => a.slice());
  });
}

const CASES: Case[] = [
  { x: [1, 5, 6, 7, 1], k: [3, 3, 3], f: 4, pad: 'same' },
  { x: [2, 5, 6, 7, 3], k: [3, 3, 3], f: 5, pad: 'same' },
  { x: [3, 4, 5, 6, 4], k: [3, 3, 3], f: 2, pad: 'valid' },
  { x: [1, 7, 5, 9, 1], k: [2, 2, 2], f: 3, pad: 'same' },
  { x: [2, 6, 7, 5, 3], k: [2, 2, 2], f: 4, pad: 'valid' },
  { x: [2, 5, 5, 5, 3], k: [1, 1, 1], f: 6, pad: 'same' },
  { x: [1, 3, 7, 6, 1], k: [1, 1, 1], f: 1, pad: 'valid' },
  { x: [2, 9, 9, 9, 1], k: [3, 3, 3], f: 8, pad: 'same' },
  { x: [4, 4, 4, 4, 8], k: [3, 3, 3], f: 16, pad: 'same' },
  { x: [1, 6, 5, 7, 5], k: [3, 2, 1], f: 3, pad: 'same' },
  { x: [2, 7, 6, 5, 2], k: [1, 3, 2], f: 3, pad: 'valid' },
  { x: [1, 11, 10, 13, 1], k: [3, 3, 3], f: 2, pad: 'valid' },
  // Multiples of 8 channels take the SIMD convolution (forward: filters; input gradient: input channels), with
  // output widths that are and are not multiples of its 4-wide tiles.
  { x: [2, 5, 6, 7, 8], k: [3, 3, 3], f: 8, pad: 'same' },
  { x: [1, 6, 5, 9, 16], k: [3, 3, 3], f: 16, pad: 'valid' },
  // The deepest layers: grids of 1, 2 and 3 voxels per side (computed 4 wide on a wider padding and cropped).
  { x: [4, 2, 2, 2, 16], k: [3, 3, 3], f: 32, pad: 'same' },
  { x: [2, 3, 3, 3, 8], k: [3, 3, 3], f: 8, pad: 'same' },
  { x: [2, 1, 1, 1, 8], k: [3, 3, 3], f: 16, pad: 'same' },
  { x: [2, 2, 3, 2, 4], k: [3, 3, 3], f: 6, pad: 'same' },
  { x: [3, 4, 5, 6, 8], k: [2, 2, 2], f: 24, pad: 'same' },
  { x: [1, 5, 4, 4, 3], k: [1, 3, 3], f: 8, pad: 'same' },
];

/** Output size along one axis of a stride-1 convolution. */
const outSize = (n: number, k: number, pad: Pad) => (pad === 'same' ? n : n - k + 1);

test('Conv3D forward, input gradient and filter gradient match the cpu backend (rel. error <= 1e-5)', async () => {
  await bothPaths(async (kind) => {
    for (const [i, c] of CASES.entries()) {
      const x = tf.randomNormal(c.x, 0, 1, 'float32', 10 + i) as tf.Tensor5D;
      const w = tf.randomNormal([...c.k, c.x[4], c.f], 0, 0.5, 'float32', 100 + i) as tf.Tensor5D;
      const before = { ...kernelCalls };
      const got = convAndGrads(x, w, c.pad, 1, 1000 + i);
      // SIMD convolution: register tiles for 8k output channels, else dot products over 4k input channels (any width).
      const simdFits = (outCh: number, width: number, inCh: number) =>
        kind !== 'fast' && width >= 1 && (outCh % 8 === 0 || inCh % 4 === 0);
      const paths = [
        `Conv3D:${simdFits(c.f, outSize(c.x[3], c.k[2], c.pad), c.x[4]) ? 'simd' : 'fast'}`,
        `Conv3DBackpropInputV2:${simdFits(c.x[4], c.x[3], c.f) ? 'simd' : 'fast'}`,
        `Conv3DBackpropFilterV2:${kind === 'fast' ? 'fast' : 'simd'}`,
      ];
      // The native kernels take the register-tile convolutions (8k output channels) and every filter gradient.
      if (kind === 'native') paths.push('filterGrad:native');
      // Forward (C -> f) and input gradient (f -> C): register tiles for 8k outputs, dot products over 4k inputs.
      const nativeConv = (outCh: number, inCh: number) => (outCh % 8 === 0 ? 'conv:native' : inCh % 4 === 0 ? 'convDot:native' : null);
      for (const key of kind === 'native' ? [nativeConv(c.f, c.x[4]), nativeConv(c.x[4], c.f)] : []) if (key) paths.push(key);
      if (kind === 'simd') assert.equal(native(), undefined);
      for (const key of paths) assert.ok((kernelCalls[key] ?? 0) > (before[key] ?? 0), `${JSON.stringify(c)}: ${key} used`);
      const want = await onCpu(() => convAndGrads(x, w, c.pad, 1, 1000 + i));
      ['forward', 'input gradient', 'filter gradient'].forEach((what, j) => {
        const e = relErr(got[j], want[j]);
        assert.ok(e <= 1e-5, `${kind} ${JSON.stringify(c)} ${what}: relative error ${e}`);
      });
      tf.dispose([x, w]);
    }
  });
});

test('the SIMD filter gradient splits its tiles over two threads and matches one thread on training-size layers', async () => {
  const rt = simd();
  assert.ok(rt, 'SIMD kernels running');
  assert.equal(rt.threads, 2);
  // Layer shapes of the training benchmark, at batch 2: many tiles, several blocks of planes, F = 16 / 32 / 64.
  const layers: [[number, number, number, number, number], number][] = [
    [[2, 12, 12, 12, 1], 16],
    [[2, 8, 8, 8, 16], 32],
    [[2, 4, 4, 4, 32], 64],
  ];
  for (const [shape, f] of layers) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 21) as tf.Tensor5D;
    const w = tf.randomNormal([3, 3, 3, shape[4], f], 0, 0.2, 'float32', 22) as tf.Tensor5D;
    const got = convAndGrads(x, w, 'same', 1, 23)[2];
    const want = await onCpu(() => convAndGrads(x, w, 'same', 1, 23)[2]);
    const e = relErr(got, want);
    assert.ok(e <= 1e-5, `${shape} -> ${f}: relative error ${e}`);
    tf.dispose([x, w]);
  }
});

test('strided Conv3D: forward falls back to the shipped kernel, the gradients never use the shipped ones', async () => {
  const x = tf.randomNormal([2, 7, 6, 8, 2], 0, 1, 'float32', 7) as tf.Tensor5D;
  const w = tf.randomNormal([3, 3, 3, 2, 3], 0, 1, 'float32', 8) as tf.Tensor5D;
  for (const pad of ['same', 'valid'] as const) {
    const before = { ...kernelCalls };
    const got = convAndGrads(x, w, pad, 2, 9);
    assert.ok((kernelCalls['Conv3D:fallback'] ?? 0) > (before['Conv3D:fallback'] ?? 0));
    assert.ok((kernelCalls['Conv3DBackpropInputV2:direct'] ?? 0) > (before['Conv3DBackpropInputV2:direct'] ?? 0));
    assert.ok((kernelCalls['Conv3DBackpropFilterV2:direct'] ?? 0) > (before['Conv3DBackpropFilterV2:direct'] ?? 0));
    const want = await onCpu(() => convAndGrads(x, w, pad, 2, 9));
    for (let j = 0; j < 3; j++) assert.ok(relErr(got[j], want[j]) <= 1e-5, `stride 2 ${pad} output ${j}`);
  }
});

/** A 3D pooling's output and the gradient of sum(pool(x) * r) for random r, as plain arrays. */
function poolAndGrad(
  pool: (x: tf.Tensor5D, k: number, s: number, p: Pad) => tf.Tensor5D,
  x: tf.Tensor5D,
  k: number,
  st: number,
  pad: Pad,
  seed: number,
): Float32Array[] {
  return tf.tidy(() => {
    const y = pool(x, k, st, pad);
    const r = tf.randomNormal(y.shape, 0, 1, 'float32', seed);
    const g = tf.grad((a: tf.Tensor) => pool(a as tf.Tensor5D, k, st, pad).mul(r).sum())(x);
    return [y.dataSync() as Float32Array, g.dataSync() as Float32Array].map((a) => a.slice());
  });
}

test('MaxPool3D and its gradient match the cpu backend, ties included', async () => {
  // Small integers make ties frequent: the gradient must go to the same (last) maximum as on the cpu backend.
  // Channels 4 and 8 take the SIMD path for 2x2x2 windows (odd sizes leave inputs outside every window).
  const shapes: [number, number, number, number, number][] = [
    [2, 4, 6, 8, 3],
    [1, 5, 7, 6, 1],
    [3, 8, 8, 8, 2],
    [2, 4, 6, 8, 4],
    [1, 5, 7, 9, 8],
  ];
  const configs: [number, number, Pad][] = [[2, 2, 'valid'], [2, 2, 'same'], [3, 2, 'same'], [3, 1, 'valid']];
  const before = { ...kernelCalls };
  for (const s of shapes) {
    const x = tf.randomUniform(s, 0, 4, 'int32', 3).cast('float32') as tf.Tensor5D;
    for (const [k, st, pad] of configs) {
      const run = () => poolAndGrad(tf.maxPool3d, x, k, st, pad, 4);
      const got = run();
      const want = await onCpu(run);
      assert.deepEqual(got[0], want[0], `forward ${s} k${k} s${st} ${pad}`);
      assert.ok(relErr(got[1], want[1]) <= 1e-6, `gradient ${s} k${k} s${st} ${pad}`);
    }
  }
  for (const k of ['MaxPool3D:fast', 'MaxPool3DGrad:fast', 'MaxPool3D:simd', 'MaxPool3DGrad:simd']) {
    assert.ok((kernelCalls[k] ?? 0) > (before[k] ?? 0), `${k} used`);
  }
});

test('AvgPool3D and its gradient (LRP pooling) match the cpu backend', async () => {
  const shapes: [number, number, number, number, number][] = [[2, 4, 6, 8, 4], [1, 5, 7, 9, 8], [2, 4, 4, 4, 3]];
  const before = { ...kernelCalls };
  for (const s of shapes) {
    const x = tf.randomNormal(s, 0, 1, 'float32', 8) as tf.Tensor5D;
    for (const [k, st, pad] of [[2, 2, 'valid'], [3, 1, 'same']] as [number, number, Pad][]) {
      const run = () => poolAndGrad(tf.avgPool3d, x, k, st, pad, 9);
      const got = run();
      const want = await onCpu(run);
      assert.ok(relErr(got[0], want[0]) <= 1e-6, `forward ${s} k${k} s${st} ${pad}`);
      assert.ok(relErr(got[1], want[1]) <= 1e-6, `gradient ${s} k${k} s${st} ${pad}`);
    }
    x.dispose();
  }
  for (const k of ['AvgPool3D:simd', 'AvgPool3DGrad:simd', 'AvgPool3D:fallback', 'AvgPool3DGrad:fallback']) {
    assert.ok((kernelCalls[k] ?? 0) > (before[k] ?? 0), `${k} used`);
  }
});

test("LRP's fused stabilised division equals R / (z + eps sign(z)) exactly, zeros included", async () => {
  const { stabilisedDivide, stabilise } = await import('../lib/explain/lrp/rules');
  for (const n of [4 * 1000, 4 * 1000 + 3, 2]) {
    const z = tf.tidy(() => tf.randomUniform([n], -3, 3, 'int32', 31).cast('float32').mul(0.5)); // many exact zeros
    const R = tf.randomNormal([n], 0, 1, 'float32', 32);
    const before = kernelCalls['Xai3dStabilisedDivide:simd'] ?? 0;
    const fused = stabilisedDivide(R, z, 0.25);
    assert.ok((kernelCalls['Xai3dStabilisedDivide:simd'] ?? 0) > before, 'fused kernel used');
    const plain = tf.tidy(() => R.div(stabilise(z, 0.25)));
    assert.deepEqual(fused.dataSync(), plain.dataSync(), `n = ${n}`);
    tf.dispose([z, R, fused, plain]);
  }
});

test('bias add, ReLU and its gradient run as SIMD passes with the same bits as the shipped kernels; Identity shares data', () => {
  const bits = (t: tf.Tensor) => Buffer.from(t.dataSync().buffer.slice(0));
  // Exact zeros and negative zeros among the values (ReLU and its gradient must treat them as tfjs does).
  const x = tf.tidy(() => tf.randomUniform([2, 10, 10, 11, 8], -3, 3, 'int32', 41).cast('float32').mul(tf.randomUniform([2, 10, 10, 11, 8], 0.5, 1.5, 'float32', 42)).mul(tf.randomUniform([2, 10, 10, 11, 8], 0, 2, 'int32', 47).mul(2).sub(1).cast('float32')));
  assert.ok(Array.from(x.dataSync()).some((v) => Object.is(v, -0)), 'the values include -0');
  const b = tf.randomNormal([8], 0, 1, 'float32', 43);
  const dy = tf.tidy(() => tf.randomNormal([2, 10, 10, 11, 8], 0, 1, 'float32', 44).mul(tf.randomUniform([2, 10, 10, 11, 8], -1, 1, 'int32', 45).cast('float32')));
  const run = () => {
    const sum = tf.add(x, b.reshape([1, 1, 1, 1, 8]));
    const sumFlipped = tf.add(b, x);
    const r = tf.relu(x);
    const g = tf.grad((v: tf.Tensor) => tf.relu(v).mul(dy).sum())(x);
    const out = [sum, sumFlipped, r, g].map(bits);
    tf.dispose([sum, sumFlipped, r, g]);
    return out;
  };
  const before = ['Add:simd', 'Relu:simd', 'Xai3dReluGrad:simd'].map((k) => kernelCalls[k] ?? 0);
  const fast = run();
  ['Add:simd', 'Relu:simd', 'Xai3dReluGrad:simd'].forEach((k, i) => assert.ok((kernelCalls[k] ?? 0) >= before[i] + (k === 'Add:simd' ? 2 : 1), `${k} used`));
  useKernels('stock');
  let stock: Buffer[];
  try {
    stock = run();
  } finally {
    useKernels('fast');
  }
  ['x + b', 'b + x', 'relu', 'relu gradient'].forEach((name, i) => assert.equal(Buffer.compare(fast[i], stock[i]), 0, `${name}: bits differ from the shipped kernel`));
  // Identity (what the tape's clones call): the clone outlives its source, and freeing both frees the buffer.
  const backend = tf.backend() as unknown as { dataIdMap: { numDataIds(): number } };
  const ids = backend.dataIdMap.numDataIds();
  const a = tf.randomNormal([64, 64], 0, 1, 'float32', 46);
  const expect = bits(a);
  const c = a.clone();
  a.dispose();
  assert.equal(Buffer.compare(bits(c), expect), 0);
  c.dispose();
  assert.equal(backend.dataIdMap.numDataIds(), ids, 'the shared buffer is freed with its last tensor');
  tf.dispose([x, b, dy]);
});

test('Sum and Mean over contiguous axes use the column-sum kernel and match the cpu backend', async () => {
  const x = tf.randomNormal([3, 4, 5, 6, 7], 0, 1, 'float32', 5);
  const axesList: number[][] = [[0], [0, 1, 2, 3], [1, 2, 3], [4], [2, 3], [0, 1, 2, 3, 4], [1, 3]];
  for (const axes of axesList) {
    for (const keep of [false, true]) {
      const run = () => [tf.sum(x, axes, keep), tf.mean(x, axes, keep)].map((t) => ({ shape: t.shape, v: t.dataSync().slice() }));
      const got = run();
      const want = await onCpu(run);
      for (let j = 0; j < 2; j++) {
        assert.deepEqual(got[j].shape, want[j].shape);
        assert.ok(relErr(got[j].v, want[j].v) <= 1e-5, `axes ${axes} keep ${keep}`);
      }
    }
  }
  // Bias-gradient sizes take the SIMD column sum (two threads, float64): [N, D, H, W, F] summed over all but F.
  const before = { ...kernelCalls };
  const big = tf.randomNormal([4, 10, 12, 13, 12], 1, 1, 'float32', 6);
  for (const keep of [false, true]) {
    const run = () => [tf.sum(big, [0, 1, 2, 3], keep), tf.mean(big, [0, 1, 2, 3], keep)].map((t) => t.dataSync().slice());
    const got = run();
    const want = await onCpu(run);
    for (let j = 0; j < 2; j++) assert.ok(relErr(got[j], want[j]) <= 1e-5, `large sum ${j} keep ${keep}`);
  }
  assert.ok((kernelCalls['Sum:simd'] ?? 0) > (before['Sum:simd'] ?? 0) && (kernelCalls['Mean:simd'] ?? 0) > (before['Mean:simd'] ?? 0));
  // Per-sample totals (inner size 1) take the SIMD row sums.
  const rowsBefore = kernelCalls['Sum:simd'] ?? 0;
  const flat = big.reshape([4, -1]);
  const run = () => [tf.sum(flat, 1), tf.mean(flat, 1)].map((t) => t.dataSync().slice());
  const got = run();
  const want = await onCpu(run);
  for (let j = 0; j < 2; j++) assert.ok(relErr(got[j], want[j]) <= 1e-5, `row sums ${j}`);
  assert.ok((kernelCalls['Sum:simd'] ?? 0) > rowsBefore);
  tf.dispose([big, flat]);
  // Integer sums keep their dtype (fallback path).
  assert.equal(tf.sum(tf.tensor([1, 2, 3], [3], 'int32')).dtype, 'int32');
});

/** conv8-pool-conv16-GAP-dense3 with fixed initial weights. */
function tinyCnn(seedWeights: tf.Tensor[] | null): tf.Sequential {
  const m = tf.sequential({
    layers: [
      tf.layers.conv3d({ inputShape: [8, 8, 8, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling3d({ poolSize: 2 }),
      tf.layers.conv3d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      globalAveragePooling3d(),
      tf.layers.dense({ units: 3 }),
    ],
  });
  if (seedWeights) m.setWeights(seedWeights);
  m.compile({ optimizer: tf.train.adam(0.01), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp) });
  return m;
}

test('a small 3D CNN trains to the same losses on wasm and cpu (1e-4), without leaking tensors', async () => {
  const x = tf.randomUniform([12, 8, 8, 8, 1], 0, 1, 'float32', 21);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'), 3).cast('float32');
  const init = tinyCnn(null).getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.3, 'float32', 200 + i));
  const counts: number[] = [];
  const train = async () => {
    const m = tinyCnn(init);
    const h = await m.fit(x, labels, {
      epochs: 4,
      batchSize: 4,
      shuffle: false,
      verbose: 0,
      callbacks: { onEpochEnd: async () => void counts.push(tf.memory().numTensors) },
    });
    m.dispose();
    return h.history.loss as number[];
  };
  const wasmLosses = await train();
  const wasmCounts = counts.splice(0);
  await tf.setBackend('cpu');
  const cpuLosses = await train();
  await tf.setBackend('wasm');
  for (let i = 0; i < wasmLosses.length; i++) {
    assert.ok(Math.abs(wasmLosses[i] - cpuLosses[i]) <= 1e-4, `epoch ${i}: wasm ${wasmLosses[i]} cpu ${cpuLosses[i]}`);
  }
  assert.ok(wasmLosses[3] < wasmLosses[0], 'the loss decreases');
  assert.ok(wasmCounts.every((n) => n === wasmCounts[0]), `tensor count changes across epochs: ${wasmCounts}`);
});

test('GlobalAveragePooling3D: spatial mean, Keras config, save/load round trip', async () => {
  const layer = new GlobalAveragePooling3D();
  const x = tf.randomNormal([2, 3, 4, 5, 6], 0, 1, 'float32', 31);
  const y = layer.apply(x) as tf.Tensor;
  assert.deepEqual(y.shape, [2, 6]);
  assert.ok(relErr(y.dataSync(), tf.mean(x, [1, 2, 3]).dataSync()) < 1e-6);
  assert.deepEqual(new GlobalAveragePooling3D({ keepDims: true }).computeOutputShape([null, 3, 4, 5, 6]), [null, 1, 1, 1, 6]);
  const m = tf.sequential({ layers: [tf.layers.conv3d({ inputShape: [4, 4, 4, 1], filters: 2, kernelSize: 3, padding: 'same' }), globalAveragePooling3d(), tf.layers.dense({ units: 3 })] });
  const dir = tempDir();
  await saveModel(m, dir);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const gapConfig = json.modelTopology.config.layers[1];
  assert.equal(gapConfig.class_name, 'GlobalAveragePooling3D');
  assert.equal(gapConfig.config.data_format, 'channels_last');
  assert.equal(gapConfig.config.keepdims, false);
  const m2 = await loadModel(path.join(dir, 'model.json'));
  const inp = tf.randomNormal([2, 4, 4, 4, 1], 0, 1, 'float32', 32);
  assert.ok(relErr((m2.predict(inp) as tf.Tensor).dataSync(), (m.predict(inp) as tf.Tensor).dataSync()) === 0);
  // A Keras-converted config (snake_case, keepdims, dtype) loads too.
  gapConfig.config = { name: 'gap', trainable: true, dtype: 'float32', data_format: 'channels_last', keepdims: false };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  const m3 = await loadModel(dir);
  assert.equal(m3.layers[1].getClassName(), 'GlobalAveragePooling3D');
  assert.ok(relErr((m3.predict(inp) as tf.Tensor).dataSync(), (m.predict(inp) as tf.Tensor).dataSync()) === 0);
});

test('XAI3D_THREADS=2 gives two wasm threads, bit-identical numbers to one thread, the same numbers without SIMD, and the process exits on its own', () => {
  const script = path.join(__dirname, 'fixtures', 'threads-probe.ts');
  const runs: [string, string][] = [['1', '1'], ['2', '1'], ['2', '0']];
  const results = runs.map(([threads, simdOn]) => {
    const r = runTsx(script, [], { XAI3D_THREADS: threads, XAI3D_SIMD: simdOn, XAI3D_BACKEND: 'wasm' }, 60_000);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.signal, null, 'exited on its own (not killed by the timeout)');
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  });
  assert.deepEqual(results.map((r) => [r.threads, r.simd]), [[1, true], [2, true], [2, false]]);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.abs(b);
  assert.equal(results[1].bits, results[0].bits, 'two threads give the same bits as one');
  for (const r of results.slice(1)) {
    assert.ok(close(r.s, results[0].s), `loss ${r.s} vs ${results[0].s}`);
    assert.ok(close(r.g[0], results[0].g[0]) && close(r.g[1], results[0].g[1]), `gradients ${r.g} vs ${results[0].g}`);
  }
});
