/**
 * `npm run bench -- aopc`: AOPC's total time against the time of the (L + 1) x N forward passes it needs, measured in
 * the same process: 3D MNIST (mnist-6conv, 32^3, stride 4, L = 500) and OASIS size (oasis-6conv, 128^3, stride 32,
 * L = 50). Target: total <= 1.2x the forward passes alone.
 */
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../lib/backend/memory';
import { initBackend } from '../lib/backend/select';
import { versions } from '../lib/env/versions';
import { aopc } from '../lib/evaluate/aopc';
import { buildModel } from '../lib/models/presets';
import { computeAndRead, printTable } from './child';
import type { Suite, SuiteOptions } from './suite';

async function measure(name: string, size: number, stride: number, steps: number, images: number) {
  const model = buildModel(name, { inputSize: size, seed: 1 });
  const n = size ** 3;
  const vols = Array.from({ length: images }, (_, i) => tf.tidy(() => tf.randomUniform([n], 0, 1, 'float32', i).dataSync() as Float32Array));
  const maps = Array.from({ length: images }, (_, i) => tf.tidy(() => tf.randomNormal([n], 0, 1, 'float32', 100 + i).dataSync() as Float32Array));
  const batch = chooseBatchSize(model, 'predict', undefined, 64);
  // The forward passes alone: (L + 1) x N volumes through the model in the same batches.
  const total = (steps + 1) * images;
  const x = tf.randomUniform([batch, size, size, size, 1], 0, 1, 'float32', 7);
  computeAndRead(() => model.predict(x) as tf.Tensor); // warm-up
  const t0 = performance.now();
  for (let done = 0; done < total; done += batch) {
    const m = Math.min(batch, total - done);
    computeAndRead(() => model.predict(m === batch ? x : x.slice([0], [m])) as tf.Tensor);
  }
  const forwardS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const r = aopc(model, vols, [size, size, size], maps, { strideVoxels: stride, steps, seed: 0 }, undefined, batch);
  const aopcS = (performance.now() - t1) / 1000;
  x.dispose();
  model.dispose();
  return { model: name, inputSize: size, stride, steps, images, batch, forwardPasses: r.forwardPasses, forwardOnlySeconds: forwardS, aopcSeconds: aopcS, ratio: aopcS / forwardS };
}

async function run(opts: SuiteOptions): Promise<unknown> {
  const info = await initBackend({ backend: 'wasm' });
  const rows = [await measure('mnist-6conv', 32, 4, 500, opts.quick ? 2 : 4), await measure('oasis-6conv', 128, 32, 50, opts.quick ? 1 : 2)];
  printTable(rows.map((r) => ({ ...r })));
  const targets = { atMost1_2xForwardPasses: rows.every((r) => r.ratio <= 1.2) };
  process.stdout.write(`targets: ${JSON.stringify(targets)}\n`);
  return { benchmark: 'aopc', date: new Date().toISOString(), backend: info, versions: versions(), rows, targets };
}

export const aopcSuite: Suite = { run };
