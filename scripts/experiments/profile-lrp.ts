import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend/select';
import { buildModel } from '../../lib/models/presets';
import { lrp } from '../../lib/explain/lrp/lrp';
import { gradients } from '../../lib/explain/cam';

async function main() {
  const [name, sizeText, threads, what] = process.argv.slice(2);
  const size = Number(sizeText);
  await initBackend({ backend: 'wasm', threads: Number(threads ?? 1) } as never);
  const ref = new Float32Array(size ** 3).fill(0.3);
  const model = buildModel(name, { inputSize: size, centering: { reference: ref, scale: 2 } });
  const x = tf.randomUniform([1, size, size, size, 1], 0, 1, 'float32', 1) as tf.Tensor5D;
  const f = what === 'grad' ? () => gradients(model, x, { timesInput: false }) : () => lrp(model, x, { composite: 'composite3' });
  f(); f();
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) f();
  console.log(what ?? 'lrp', 'ms', ((performance.now() - t0) / 3).toFixed(1));
  const prof = await tf.profile(() => { f(); });
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`.slice(0, 120);
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs); e.n++;
    by.set(key, e);
  }
  const byName = new Map<string, number>();
  for (const k of prof.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  let tot = 0; for (const v of byName.values()) tot += v;
  console.log('kernel total', tot.toFixed(1));
  console.log([...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('\n'));
  console.log('---');
  for (const [k, v] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(v.ms.toFixed(2).padStart(8), v.n, k);
}
main();
