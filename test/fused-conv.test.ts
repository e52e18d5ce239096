/**
 * Conv3D + bias + ReLU as one op (lib/backend/fused-conv.ts): Conv3D layers that qualify use it, and a model trains
 * to the same bits with and without it, on the native kernels and on the wasm SIMD ones; layers that do not qualify
 * keep tfjs-layers' own three ops.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { kernelCalls } from '../lib/backend/kernels3d';
import { fusedConvAvailable, setFusedConvEnabled } from '../lib/backend/fused-conv';
import { native, setNativeEnabled } from '../lib/backend/native';
import { globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';
import { trainStep } from '../lib/training/train';
import { adam } from '../lib/training/adam';

process.env.XAI3D_QUIET = '1';

before(async () => {
  await initBackend({ backend: 'wasm' });
  assert.ok(fusedConvAvailable(), 'the fused convolution runs on the wasm backend with SIMD');
});

/** A small 3D CNN with layers that qualify (relu and linear, 'same' and 'valid', 16 = 2 x 8 and 12 filters). */
function model(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv3d({ inputShape: [12, 12, 12, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: tf.initializers.randomNormal({ seed: 2 }) }),
      tf.layers.maxPooling3d({ poolSize: 2 }),
      tf.layers.conv3d({ filters: 12, kernelSize: 3, padding: 'valid', activation: 'linear', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }), biasInitializer: tf.initializers.randomNormal({ seed: 4 }) }),
      tf.layers.conv3d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      globalAveragePooling3d(),
      tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }),
    ],
  });
}

/** Weights after three Adam steps and the predictions then, as bytes. */
function trainThree(): Buffer[] {
  const m = model();
  const opt = adam(1e-2);
  const x = tf.randomNormal([4, 12, 12, 12, 1], 0, 1, 'float32', 7);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3).cast('float32');
  for (let i = 0; i < 3; i++) trainStep(m, opt, x, y);
  const p = m.predict(x) as tf.Tensor;
  const out = [...m.getWeights(), p].map((t) => Buffer.from((t.dataSync() as Float32Array).slice().buffer));
  tf.dispose([x, y, p]);
  m.dispose();
  return out;
}

test('a model trains to the same bits with the fused convolution as with the three separate ops (native and wasm kernels)', () => {
  const modes = native() ? [true, false] : [false];
  for (const nat of modes) {
    setNativeEnabled(nat);
    try {
      const before = { ...kernelCalls };
      setFusedConvEnabled(true);
      const fused = trainThree();
      const calls = (since: Record<string, number>, path: string) => (kernelCalls[`Xai3dConv3D:${path}`] ?? 0) - (since[`Xai3dConv3D:${path}`] ?? 0);
      // 3 conv layers x (3 training steps + 1 prediction); natively in one pass where the filters are 8k (16, 8).
      assert.equal(calls(before, 'native') + calls(before, 'separate'), 12, 'fused op calls');
      assert.equal(calls(before, 'native'), nat ? 8 : 0, 'one-pass calls');
      setFusedConvEnabled(false);
      const mid = { ...kernelCalls };
      const separate = trainThree();
      assert.equal(calls(mid, 'native') + calls(mid, 'separate'), 0, 'no fused calls when switched off');
      assert.equal(fused.length, separate.length);
      fused.forEach((b, i) => assert.ok(b.equals(separate[i]), `${nat ? 'native' : 'wasm'}: tensor ${i} differs (fused vs separate)`));
    } finally {
      setFusedConvEnabled(true);
      setNativeEnabled(true);
    }
  }
});

test('Conv3D layers that do not qualify (strided, dilated, tanh) keep their own ops and their numbers', () => {
  const x = tf.randomNormal([2, 9, 9, 9, 4], 0, 1, 'float32', 8);
  const layers = [
    tf.layers.conv3d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
    tf.layers.conv3d({ filters: 8, kernelSize: 3, dilationRate: 2, padding: 'valid', activation: 'relu' }),
    tf.layers.conv3d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'tanh' }),
  ];
  for (const layer of layers) {
    const before = { ...kernelCalls };
    const y = layer.apply(x) as tf.Tensor;
    const fusedCalls = Object.keys(kernelCalls).filter((k) => k.startsWith('Xai3dConv3D')).reduce((s, k) => s + kernelCalls[k] - (before[k] ?? 0), 0);
    assert.equal(fusedCalls, 0, `${layer.getConfig().strides} ${layer.getConfig().activation}: not fused`);
    // The same as the three ops written out.
    const [w, b] = layer.getWeights();
    const cfg = layer.getConfig() as { strides: number[]; dilationRate: number[]; padding: 'same' | 'valid'; activation: string };
    const z = tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, cfg.strides as [number, number, number], cfg.padding, 'NDHWC', cfg.dilationRate as [number, number, number]).add(b);
    const want = cfg.activation === 'tanh' ? z.tanh() : z.relu();
    assert.ok(Buffer.from((y.dataSync() as Float32Array).buffer).equals(Buffer.from((want.dataSync() as Float32Array).buffer)));
    tf.dispose([y, z, want]);
  }
  x.dispose();
});
