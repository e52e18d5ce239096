/**
 * LRP through xai3d's fused LRP kernels (lib/backend/fused-conv.ts: lrpConv3d, lrpPool2; native kernels only): the
 * same bytes as the separate ops, for every composite, on models that exercise each path (register tiles and dot
 * products, 'same' and 'valid' padding, layers without a bias, an input centering with per-voxel zB bounds, odd
 * sizes whose last voxels lie outside every pooling window), and the fused kernels really ran. The kernels' epilogue
 * arithmetic is also checked on hand-made values where it is delicate: z = 0, -0, negative, NaN in the division.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { kernelCalls } from '../lib/backend/kernels3d';
import { lrpConv3d, lrpFusionAvailable, lrpPool2, setFusedConvEnabled } from '../lib/backend/fused-conv';
import { native } from '../lib/backend/native';
import { buildModel } from '../lib/models/presets';
import { globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';
import { explainTensor } from '../lib/explain/explain';
import { COMPOSITE_NAMES } from '../lib/explain/lrp/composites';
import { stabilisedDivide } from '../lib/explain/lrp/rules';

process.env.XAI3D_QUIET = '1';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const bytes = (a: ArrayLike<number>) => Buffer.from(Float32Array.from(a).buffer);

/** 'same' and 'valid' padding, 16 and 12 filters, a layer without a bias, an odd size (13 -> 6 after pooling, one voxel uncovered). */
function mixedModel(): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.conv3d({ inputShape: [13, 13, 13, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), biasInitializer: tf.initializers.randomNormal({ seed: 2, stddev: 0.1 }) }),
      tf.layers.maxPooling3d({ poolSize: 2 }),
      tf.layers.conv3d({ filters: 12, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: init(3), biasInitializer: tf.initializers.randomNormal({ seed: 4, stddev: 0.1 }) }),
      tf.layers.conv3d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', useBias: false, kernelInitializer: init(5) }),
      globalAveragePooling3d(),
      tf.layers.dense({ units: 3, kernelInitializer: init(6) }),
    ],
  });
}

function centredModel(): tf.LayersModel {
  const size = 16;
  const reference = new Float32Array(size ** 3);
  for (let i = 0; i < reference.length; i++) reference[i] = 0.5 + 0.4 * Math.sin(i * 0.37);
  return buildModel('oasis-3conv', { inputSize: size, baseWidth: 8, seed: 3, centering: { reference, scale: 2.5 } });
}

const FUSED = ['Xai3dLrpConv3D:native', 'Xai3dLrpConv3D:native transposed', 'Xai3dLrpConv3D:native transposed pair', 'Xai3dLrpConv3D:native two terms', 'Xai3dLrpPool2:native'];

// (Where the native kernels cannot run, test/native.test.ts says why, and fails on a CPU that has AVX2 and FMA.)
const needsNative = (t: { skip(m: string): void }) => (native() ? false : (t.skip('native kernels not running here'), true));

test('LRP with the fused LRP kernels gives the same bytes as with the separate ops (every composite, three models)', (t) => {
  if (needsNative(t)) return;
  assert.ok(lrpFusionAvailable(), 'the fused LRP kernels run where the native kernels do');
  const models: [string, tf.LayersModel, number][] = [
    ['mixed', mixedModel(), 13],
    ['centred oasis-3conv', centredModel(), 16],
    ['mnist-6conv', buildModel('mnist-6conv', { inputSize: 16, seed: 4 }), 16],
  ];
  const ran: Record<string, number> = {};
  try {
    for (const [name, m, size] of models) {
      const x = tf.randomUniform([2, size, size, size, 1], 0, 1, 'float32', 9) as tf.Tensor5D;
      for (const composite of COMPOSITE_NAMES) {
        const before = { ...kernelCalls };
        setFusedConvEnabled(true);
        const fused = explainTensor(m, x, { method: 'lrp', composite } as never);
        for (const k of FUSED) ran[k] = (ran[k] ?? 0) + (kernelCalls[k] ?? 0) - (before[k] ?? 0);
        setFusedConvEnabled(false);
        const separate = explainTensor(m, x, { method: 'lrp', composite } as never);
        setFusedConvEnabled(true);
        for (let k = 0; k < 2; k++) assert.ok(bytes(fused.maps[k]).equals(bytes(separate.maps[k])), `${name}, ${composite}: map ${k} differs`);
        assert.deepEqual(fused.audit, separate.audit, `${name}, ${composite}: audit`);
        assert.deepEqual(fused.logits, separate.logits);
      }
      x.dispose();
    }
  } finally {
    setFusedConvEnabled(true);
    for (const [, m] of models) m.dispose();
  }
  for (const k of FUSED) assert.ok(ran[k] > 0, `${k} ran (${ran[k]} calls)`);
});

test('the fused division R / s(z) has the bits of stabilisedDivide where z is 0, -0, negative or NaN; mul and add those of the ops', (t) => {
  if (needsNative(t)) return;
  // A 1x1x1 convolution with weight 1 and 8 channels (identity per channel): the convolution's output is x itself.
  const n = 4 * 4 * 4 * 8;
  const vals = [0, -0, 1, -1, NaN, 1e-12, -1e-12, 3.5, -2.25, 1e-30];
  const xv = new Float32Array(n).map((_, i) => vals[i % vals.length]);
  const x = tf.tensor5d(xv, [1, 4, 4, 4, 8]);
  const eye = tf.tensor5d(Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0)), [1, 1, 1, 8, 8]);
  const R = tf.randomNormal([1, 4, 4, 4, 8], 0, 1, 'float32', 3);
  const u = tf.randomNormal([1, 4, 4, 4, 8], 0, 1, 'float32', 4);
  const acc = tf.randomNormal([1, 4, 4, 4, 8], 0, 1, 'float32', 5);
  for (const eps of [1e-9, 0.25, 0]) {
    const fused = lrpConv3d(x, eye, 'valid', { divide: { r: R, eps } })!;
    assert.ok(fused, 'the fused kernel runs for this shape');
    const want = stabilisedDivide(R, tf.conv3d(x, eye, 1, 'valid'), eps);
    assert.ok(bytes(fused.dataSync()).equals(bytes(want.dataSync())), `divide, eps ${eps}`);
    tf.dispose([fused, want]);
  }
  const fused = lrpConv3d(x, eye, 'valid', { mul: u, add: acc })!;
  const want = acc.add(u.mul(tf.conv3d(x, eye, 1, 'valid')));
  assert.ok(bytes(fused.dataSync()).equals(bytes(want.dataSync())), 'acc + u * conv');
  // Shapes the fused kernel does not take: null (the caller runs the ops), never a wrong answer.
  assert.equal(lrpConv3d(x, eye, 'valid', { mul: tf.zeros([1, 4, 4, 4, 1]) }), null, 'a multiplier of another shape');
  assert.equal(lrpPool2(tf.zeros([1, 6, 6, 6, 4]), tf.zeros([1, 3, 3, 3, 4]), [2, 2, 2], [2, 2, 2], 'valid', 1e-9), null, 'channels not a multiple of 8');
  tf.dispose([x, eye, R, u, acc, fused, want]);
});
