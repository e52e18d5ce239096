import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend/select';
import { buildModel } from '../../lib/models/presets';
import { trainStep } from '../../lib/training/train';

async function main() {
  const [name, sizeText, batchText, threads] = process.argv.slice(2);
  const size = Number(sizeText), batch = Number(batchText);
  await initBackend({ backend: 'wasm', threads: Number(threads ?? 1) } as never);
  const model = buildModel(name, { inputSize: size, baseWidth: 8 });
  const opt = tf.train.adam(1e-4);
  const classes = model.outputs[0].shape[1] as number;
  const x = tf.randomUniform([batch, size, size, size, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 2), classes).cast('float32');
  for (let i = 0; i < 2; i++) trainStep(model, opt, x, y);
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) trainStep(model, opt, x, y);
  console.log('step ms', ((performance.now() - t0) / 3).toFixed(1));
  const prof = await tf.profile(() => { trainStep(model, opt, x, y); });
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`.slice(0, 110);
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs); e.n++;
    by.set(key, e);
  }
  const rows = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms);
  let tot = 0; for (const [, v] of rows) tot += v.ms;
  console.log('kernel total', tot.toFixed(1));
  const byName = new Map<string, number>();
  for (const k of prof.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  console.log([...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('\n'));
  console.log('---');
  for (const [k, v] of rows.slice(0, 30)) console.log(v.ms.toFixed(2).padStart(8), v.n, k);
}
main();
