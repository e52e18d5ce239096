/**
 * `npm run bench -- conv3d`: xai3d's wasm 3D kernels against the kernels tfjs 4.22 ships, in one run.
 *
 * Targets (issue "Fast and correct 3D convolution on CPU"): Conv3D forward >= 15x stock on every shape; training step
 * >= 20x stock; training step within 2x of PyTorch CPU (same machine and threads, where torch is installed);
 * oasis-6conv forward on one 128^3 volume under 1 s and 1 GB RSS.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { initBackend } from '../lib/backend/select';
import { useKernels } from '../lib/backend/kernels3d';
import { buildModel } from '../lib/models/presets';
import { trainStep } from '../lib/training/train';
import { adam } from '../lib/training/adam';
import { globalAveragePooling3d } from '../lib/models/global-average-pooling-3d';
import { versions } from '../lib/env/versions';
import { computeAndRead, peakRssMB, printTable, runChild, time } from './child';
import type { Suite, SuiteOptions } from './suite';

type Shape5 = [number, number, number, number, number];

/** [N, D, H, W, C] -> F, 3x3x3 'same' (the list). */
export const FORWARD_SHAPES: [Shape5, number][] = [
  [[32, 32, 32, 32, 1], 16],
  [[32, 16, 16, 16, 16], 32],
  [[32, 8, 8, 8, 32], 64],
  [[1, 128, 128, 128, 1], 16],
  [[1, 64, 64, 64, 8], 16],
  [[2, 128, 128, 128, 1], 8],
];

export interface TrainStep {
  kernels: string;
  threads: number;
  msPerStep: number;
  samplesMs: number[];
  samplesPerSec: number;
  peakRssMB: number;
}

interface OasisForward {
  threads: number;
  msPerVolume: number;
  peakRssMB: number;
}

function trainStepModel(): tf.Sequential {
  const m = tf.sequential({
    layers: [
      tf.layers.conv3d({ inputShape: [32, 32, 32, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling3d({ poolSize: 2 }),
      tf.layers.conv3d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling3d({ poolSize: 2 }),
      tf.layers.conv3d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      globalAveragePooling3d(),
      tf.layers.dense({ units: 10 }),
    ],
  });
  return m;
}

export async function childTrainStep(args: string[]): Promise<TrainStep> {
  const reps = Number(args[0] ?? 3);
  const warmup = Number(args[1] ?? 1);
  const info = await initBackend({ backend: 'wasm' });
  const stock = process.env.XAI3D_WASM_KERNELS === 'stock';
  const model = trainStepModel();
  const x = tf.randomUniform([32, 32, 32, 32, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([32], 0, 10, 'int32', 2), 10).cast('float32');
  // The stock kernels take ~20 s a step: one timed step, no warm-up.
  // The step training runs (lib/training/train.ts: Adam on the softmax cross-entropy, what trainOnBatch computes).
  const optimizer = adam(1e-3);
  const t = await time(() => trainStep(model, optimizer, x, y), stock ? 1 : reps, stock ? 0 : warmup);
  return {
    kernels: stock ? 'stock' : process.env.XAI3D_SIMD === '0' ? 'xai3d without SIMD' : 'xai3d',
    threads: info.threads,
    msPerStep: t.medianMs,
    samplesMs: t.samplesMs,
    samplesPerSec: 32 / (t.medianMs / 1000),
    peakRssMB: peakRssMB(),
  };
}

async function childOasisForward(args: string[]): Promise<OasisForward> {
  const reps = Number(args[0] ?? 3);
  const info = await initBackend({ backend: 'wasm' });
  const model = buildModel('oasis-6conv', { inputSize: 128 });
  const x = tf.randomUniform([1, 128, 128, 128, 1], 0, 1, 'float32', 3);
  const t = await time(() => computeAndRead(() => model.predict(x) as tf.Tensor), reps, 1);
  return { threads: info.threads, msPerVolume: t.medianMs, peakRssMB: peakRssMB() };
}

function pytorchPeer(threads: number, reps: number): { msPerStep: number; forwardMs: number; torch: string } | null {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return null;
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'pytorch_train_step.py'), String(threads), String(reps)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) {
    process.stderr.write(`bench: the PyTorch peer failed: ${r.stderr}\n`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function run(opts: SuiteOptions): Promise<unknown> {
  const info = await initBackend({ backend: 'wasm' });
  process.stdout.write(`conv3d benchmark: wasm backend, ${info.threads} thread(s); stock = tfjs 4.22's shipped kernels\n`);
  const forward = [];
  for (const [shape, filters] of FORWARD_SHAPES) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor5D;
    const w = tf.randomNormal([3, 3, 3, shape[4], filters], 0, 0.1, 'float32', 2) as tf.Tensor5D;
    const gflop = (2 * shape[0] * shape[1] * shape[2] * shape[3] * shape[4] * filters * 27) / 1e9;
    const conv = () => tf.conv3d(x, w, 1, 'same').dispose();
    useKernels('fast');
    const fast = await time(conv, opts.reps, 1);
    useKernels('stock');
    const stock = await time(conv, 1, 0);
    useKernels('fast');
    const row = {
      input: `[${shape.join(',')}]`,
      filters,
      gflop,
      stockMs: stock.medianMs,
      xai3dMs: fast.medianMs,
      stockGflops: gflop / (stock.medianMs / 1000),
      xai3dGflops: gflop / (fast.medianMs / 1000),
      ratio: stock.medianMs / fast.medianMs,
    };
    forward.push(row);
    process.stdout.write(`  forward ${row.input} -> ${filters}: ${row.ratio.toFixed(1)}x\n`);
    tf.dispose([x, w]);
  }
  printTable(forward);

  process.stdout.write('training step (Adam, batch 32 of 32^3, conv16-pool-conv32-pool-conv64-GAP-dense10):\n');
  const fastStep = runChild<TrainStep>('conv3d:train', [String(opts.reps)], { XAI3D_WASM_KERNELS: 'fast' });
  const stockStep = runChild<TrainStep>('conv3d:train', ['1'], { XAI3D_WASM_KERNELS: 'stock' });
  const fastStep1 = runChild<TrainStep>('conv3d:train', [String(opts.reps)], { XAI3D_WASM_KERNELS: 'fast', XAI3D_THREADS: '1' });
  const noSimdStep = runChild<TrainStep>('conv3d:train', [String(opts.reps)], { XAI3D_WASM_KERNELS: 'fast', XAI3D_SIMD: '0' });
  const pytorch = pytorchPeer(info.threads, Math.max(opts.reps, 3));
  const steps = [stockStep, noSimdStep, fastStep1, fastStep];
  printTable(steps.map((s) => ({ kernels: s.kernels, threads: s.threads, msPerStep: s.msPerStep, samplesPerSec: s.samplesPerSec, peakRssMB: s.peakRssMB })));
  const trainRatio = stockStep.msPerStep / fastStep.msPerStep;
  process.stdout.write(`  training step: ${trainRatio.toFixed(1)}x the stock kernels\n`);
  if (pytorch) {
    process.stdout.write(`  PyTorch ${pytorch.torch} (${info.threads} threads): ${pytorch.msPerStep.toFixed(0)} ms/step; xai3d/PyTorch = ${(fastStep.msPerStep / pytorch.msPerStep).toFixed(2)}\n`);
  } else {
    process.stdout.write('  PyTorch peer: not run (no torch for /usr/bin/python3)\n');
  }

  const oasis = runChild<OasisForward>('conv3d:oasis-forward', [String(opts.reps)]);
  process.stdout.write(`oasis-6conv forward, one 128^3 volume: ${oasis.msPerVolume.toFixed(0)} ms, peak RSS ${oasis.peakRssMB} MB\n`);

  const targets = {
    forwardAtLeast15x: forward.every((r) => r.ratio >= 15),
    trainStepAtLeast20x: trainRatio >= 20,
    trainStepWithin2xOfPytorch: pytorch ? fastStep.msPerStep <= 2 * pytorch.msPerStep : null,
    oasisForwardUnder1s: oasis.msPerVolume < 1000,
    oasisForwardUnder1GB: oasis.peakRssMB < 1024,
  };
  process.stdout.write(`targets: ${JSON.stringify(targets)}\n`);
  return {
    benchmark: 'conv3d',
    date: new Date().toISOString(),
    backend: info,
    versions: versions(),
    reps: opts.reps,
    forward,
    trainStep: {
      stock: stockStep,
      xai3d1Thread: fastStep1,
      xai3dWithoutSimd: noSimdStep,
      xai3d: fastStep,
      ratio: trainRatio,
      pytorch: pytorch ? { ...pytorch, threads: info.threads, ratioXai3dOverPytorch: fastStep.msPerStep / pytorch.msPerStep } : null,
    },
    oasis6Forward: oasis,
    targets,
  };
}

export const conv3dSuite: Suite = {
  run,
  async child(part, args) {
    if (part === 'train') return childTrainStep(args);
    if (part === 'oasis-forward') return childOasisForward(args);
    throw new Error(`unknown conv3d child part ${part}`);
  },
};
