/**
 * `npm run bench -- explain`: time per volume of CAM, the gradient and each composite on mnist-6conv (32^3, batch 32)
 * and oasis-6conv (128^3, batch 1), each as a ratio to one forward pass and to one forward+backward pass (tf.grad of
 * the logit) of the same model measured in the same process; peak RSS of a 128^3 LRP in its own process.
 * The machines are shared VMs whose speed drifts within seconds, so each ratio is also given as the median (and
 * quartiles) of the per-round ratios: method and reference timed in the same round; the order of the methods is
 * rotated from round to round (what ran just before changes a pass's time).
 * Targets: CAM <= 1.2x a forward pass, LRP composites <= 2x forward+backward (both models), 128^3 LRP peak RSS under
 * 2 GB; issue 18's for oasis-6conv at 128^3: CAM <= 1.05x a forward pass, LRP composites <= 1.5x forward+backward
 * (per-round medians).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend/select';
import { versions } from '../lib/env/versions';
import { explainTensor, type ExplainOptions } from '../lib/explain/explain';
import { buildModel } from '../lib/models/presets';
import { computeAndRead, peakRssMB, printTable, runChild, timeInterleaved } from './child';
import type { Suite, SuiteOptions } from './suite';

interface Row {
  model: string;
  batch: number;
  method: string;
  msPerVolume: number;
  ratioToForward: number;
  ratioToForwardBackward: number;
  /** Median and quartiles of the per-round ratios to the forward pass and to forward+backward. */
  perRoundToForward: [number, number, number];
  perRoundToForwardBackward: [number, number, number];
}

/** [q25, median, q75] of the per-round ratios a_i / b_i. */
function perRound(a: number[], b: number[]): [number, number, number] {
  const r = a.map((v, i) => v / b[i]).sort((p, q) => p - q);
  const at = (f: number) => r[Math.min(r.length - 1, Math.max(0, Math.round(f * (r.length - 1))))];
  return [at(0.25), at(0.5), at(0.75)];
}

const METHODS: [string, ExplainOptions][] = [
  ['cam', { method: 'cam' }],
  ['gradient', { method: 'gradient' }],
  ['lrp composite1', { method: 'lrp', composite: 'composite1' }],
  ['lrp composite2', { method: 'lrp', composite: 'composite2' }],
  ['lrp composite3', { method: 'lrp', composite: 'composite3' }],
];

async function measure(name: string, size: number, batch: number, reps: number): Promise<Row[]> {
  const model = buildModel(name, { inputSize: size, seed: 1 });
  const x = tf.randomUniform([batch, size, size, size, 1], 0, 1, 'float32', 2) as tf.Tensor5D;
  // All measurements interleaved (round-robin), so that load drift on a shared machine does not bias the ratios.
  const t = await timeInterleaved(
    {
      forward: () => computeAndRead(() => model.predict(x) as tf.Tensor),
      'forward+backward': () => computeAndRead(() => tf.grad((u: tf.Tensor) => tf.sum(tf.max(model.apply(u) as tf.Tensor, 1)))(x)),
      ...Object.fromEntries(METHODS.map(([label, opts]) => [label, () => explainTensor(model, x, opts)])),
    },
    reps,
    { rotate: true },
  );
  const fwd = t.forward.medianMs;
  const fb = t['forward+backward'].medianMs;
  const rows: Row[] = Object.entries(t).map(([method, m]) => ({
    model: name,
    batch,
    method,
    msPerVolume: m.medianMs / batch,
    ratioToForward: m.medianMs / fwd,
    ratioToForwardBackward: m.medianMs / fb,
    perRoundToForward: perRound(m.samplesMs, t.forward.samplesMs),
    perRoundToForwardBackward: perRound(m.samplesMs, t['forward+backward'].samplesMs),
  }));
  tf.dispose([x]);
  model.dispose();
  return rows;
}

async function run(opts: SuiteOptions): Promise<unknown> {
  const info = await initBackend({ backend: 'wasm' });
  const rows = [...(await measure('mnist-6conv', 32, 32, opts.reps)), ...(await measure('oasis-6conv', 128, 1, Math.max(opts.reps, 15)))];
  const q = (v: [number, number, number]) => `${v[1].toFixed(2)} [${v[0].toFixed(2)}, ${v[2].toFixed(2)}]`;
  printTable(
    rows.map(({ perRoundToForward, perRoundToForwardBackward, ...r }) => ({
      ...r,
      msPerVolume: Number(r.msPerVolume.toFixed(2)),
      ratioToForward: Number(r.ratioToForward.toFixed(2)),
      ratioToForwardBackward: Number(r.ratioToForwardBackward.toFixed(2)),
      'per round: /forward': q(perRoundToForward),
      '/forward+backward': q(perRoundToForwardBackward),
    })),
  );
  const rss = runChild<{ peakRssMB: number; ms: number }>('explain:lrp128');
  process.stdout.write(`oasis-6conv 128^3 LRP (composite3) in its own process: ${rss.ms.toFixed(0)} ms, peak RSS ${rss.peakRssMB} MB\n`);
  const by = (m: string, method: string) => rows.find((r) => r.model === m && r.method === method)!;
  const targets = {
    camAtMost1_2xForward: ['mnist-6conv', 'oasis-6conv'].every((m) => by(m, 'cam').ratioToForward <= 1.2),
    compositesAtMost2xForwardBackward: rows.filter((r) => r.method.startsWith('lrp')).every((r) => r.ratioToForwardBackward <= 2),
    lrp128Under2GB: rss.peakRssMB < 2048,
    oasisCamAtMost1_05xForward: by('oasis-6conv', 'cam').perRoundToForward[1] <= 1.05,
    oasisCompositesAtMost1_5xForwardBackward: rows.filter((r) => r.model === 'oasis-6conv' && r.method.startsWith('lrp')).every((r) => r.perRoundToForwardBackward[1] <= 1.5),
  };
  process.stdout.write(`targets: ${JSON.stringify(targets)}\n`);
  return { benchmark: 'explain', date: new Date().toISOString(), backend: info, versions: versions(), reps: opts.reps, rows, lrp128: rss, targets };
}

export const explainSuite: Suite = {
  run,
  async child(part) {
    if (part !== 'lrp128') throw new Error(`unknown explain child part ${part}`);
    await initBackend({ backend: 'wasm' });
    const model = buildModel('oasis-6conv', { inputSize: 128, seed: 1 });
    const x = tf.randomUniform([1, 128, 128, 128, 1], 0, 1, 'float32', 2) as tf.Tensor5D;
    const t0 = performance.now();
    explainTensor(model, x, { method: 'lrp', composite: 'composite3' });
    return { ms: performance.now() - t0, peakRssMB: peakRssMB() };
  },
};
