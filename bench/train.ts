/**
 * `npm run bench -- train`: training throughput of the thesis's largest models on the wasm backend, each in its own
 * process (for its peak RSS): mnist-6conv at 32^3 with batch 32, and oasis-6conv at 128^3 with the thesis profile's
 * batch (4) and the largest batch that fits the 4 GB wasm heap, with the time per epoch of the thesis-size cohort.
 * Widths are the presets' defaults (base 16 for 3D MNIST, 8 for OASIS-2).
 */
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../lib/backend/memory';
import { initBackend } from '../lib/backend/select';
import { versions } from '../lib/env/versions';
import { buildModel } from '../lib/models/presets';
import { trainStep } from '../lib/training/train';
import { adam } from '../lib/training/adam';
import { peakRssMB, printTable, runChild, time } from './child';
import type { Suite, SuiteOptions } from './suite';

interface Throughput {
  model: string;
  inputSize: number;
  batchSize: number;
  threads: number;
  msPerStep: number;
  volumesPerSec: number;
  peakRssMB: number;
}

async function childStep(args: string[]): Promise<Throughput> {
  const [name, sizeText, batchText, repsText] = args;
  const size = Number(sizeText);
  const info = await initBackend({ backend: 'wasm' });
  const model = buildModel(name, { inputSize: size });
  const optimizer = adam(1e-5);
  const batch = batchText === 'auto' ? chooseBatchSize(model, 'train', undefined, 64) : Number(batchText);
  const classes = model.outputs[0].shape[1] as number;
  const x = tf.randomUniform([batch, size, size, size, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 2), classes).cast('float32');
  const t = await time(() => trainStep(model, optimizer, x, y), Number(repsText), 1);
  return { model: name, inputSize: size, batchSize: batch, threads: info.threads, msPerStep: t.medianMs, volumesPerSec: batch / (t.medianMs / 1000), peakRssMB: peakRssMB() };
}

async function run(opts: SuiteOptions): Promise<unknown> {
  const rows = [
    runChild<Throughput>('train:step', ['mnist-6conv', '32', '32', String(opts.reps)]),
    // The quick profile's brain model (64^3, one pooling fewer, batch 4).
    runChild<Throughput>('train:step', ['oasis-6conv', '64', '4', String(opts.reps)]),
    // The thesis profile's batch (4) and the largest that fits the 4 GB heap.
    runChild<Throughput>('train:step', ['oasis-6conv', '128', '4', String(Math.min(opts.reps, 3))]),
    runChild<Throughput>('train:step', ['oasis-6conv', '128', 'auto', String(Math.min(opts.reps, 2))]),
  ];
  printTable(rows.map((r) => ({ ...r })));
  // An epoch of the thesis-size cohort (OASIS-2: 373 sessions, 10 folds: 301 training sessions per fold), training
  // steps only, at each 128^3 batch size measured.
  const thesisEpoch = rows.filter((r) => r.model === 'oasis-6conv' && r.inputSize === 128).map((r) => ({ batchSize: r.batchSize, trainingSecondsPerEpoch: 301 / r.volumesPerSec }));
  for (const e of thesisEpoch) process.stdout.write(`thesis-size epoch (301 training sessions, 128^3, batch ${e.batchSize}): ${e.trainingSecondsPerEpoch.toFixed(0)} s of training steps\n`);
  return { benchmark: 'train', date: new Date().toISOString(), versions: versions(), reps: opts.reps, rows, thesisEpoch };
}

export const trainSuite: Suite = {
  run,
  async child(part, args) {
    if (part === 'step') return childStep(args);
    throw new Error(`unknown train child part ${part}`);
  },
};
