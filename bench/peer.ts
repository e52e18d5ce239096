/**
 * `npm run bench -- peer`: the training step of conv16-pool-conv32-pool-conv64-GAP-dense10 (Adam, batch 32 of 32^3)
 * in xai3d and in PyTorch CPU (Debian's python3-torch), same thread count, as the issue asks to measure it: interleaved
 * rounds (xai3d, PyTorch, xai3d, ...), each side in its own fresh process started while the other's has exited (this
 * parent never starts the wasm backend, so no xai3d worker thread is alive while PyTorch runs), each a median of
 * `--reps` steps (at least 5) after 2 warm-up steps. Reports every round, the medians over rounds, their spread, the
 * ratio of medians and the load average before and after each run: PyTorch's OpenMP threads slow down several-fold
 * under competing load, so a ratio measured on a loaded machine is flagged.
 */
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { versions } from '../lib/env/versions';
import { printTable, runChild } from './child';
import type { TrainStep } from './conv3d';
import type { Suite, SuiteOptions } from './suite';

interface Side {
  msPerStep: number;
  samplesMs: number[];
  loadBefore: number;
  loadAfter: number;
}

const median = (v: number[]) => {
  const s = v.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The 1-minute load average. */
const load = () => os.loadavg()[0];

function pytorchStep(threads: number, reps: number): Omit<Side, 'loadBefore' | 'loadAfter'> & { torch: string } {
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'pytorch_train_step.py'), String(threads), String(reps), '2'], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`the PyTorch peer failed (exit ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function run(opts: SuiteOptions): Promise<unknown> {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    process.stdout.write('peer benchmark: PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch); nothing measured\n');
    return { benchmark: 'peer', date: new Date().toISOString(), pytorch: null };
  }
  const threads = Math.min(2, os.cpus().length);
  const rounds = Math.max(3, opts.reps);
  const reps = Math.max(5, opts.quick ? 5 : 7);
  process.stdout.write(`peer benchmark: ${rounds} interleaved rounds, each side a median of ${reps} steps after 2 warm-ups, ${threads} threads, PyTorch ${probe.stdout.trim()}\n`);
  const rows: { round: number; side: string; msPerStep: number; minMs: number; maxMs: number; loadBefore: number; loadAfter: number }[] = [];
  const xs: Side[] = [];
  const ps: Side[] = [];
  for (let r = 1; r <= rounds; r++) {
    let before = load();
    const x = runChild<TrainStep>('conv3d:train', [String(reps), '2'], { XAI3D_WASM_KERNELS: 'fast', XAI3D_THREADS: String(threads) });
    xs.push({ msPerStep: x.msPerStep, samplesMs: x.samplesMs, loadBefore: before, loadAfter: load() });
    before = load();
    const p = pytorchStep(threads, reps);
    ps.push({ msPerStep: p.msPerStep, samplesMs: p.samplesMs, loadBefore: before, loadAfter: load() });
    for (const [side, s] of [['xai3d', xs[xs.length - 1]], ['PyTorch', ps[ps.length - 1]]] as const) rows.push({ round: r, side, msPerStep: s.msPerStep, minMs: Math.min(...s.samplesMs), maxMs: Math.max(...s.samplesMs), loadBefore: s.loadBefore, loadAfter: s.loadAfter });
    process.stdout.write(`  round ${r}: xai3d ${x.msPerStep.toFixed(0)} ms, PyTorch ${p.msPerStep.toFixed(0)} ms (ratio ${(x.msPerStep / p.msPerStep).toFixed(2)})\n`);
  }
  printTable(rows);
  const xm = median(xs.map((s) => s.msPerStep));
  const pm = median(ps.map((s) => s.msPerStep));
  const perRound = xs.map((s, i) => s.msPerStep / ps[i].msPerStep);
  const loads = [...xs, ...ps].flatMap((s) => [s.loadBefore, s.loadAfter]);
  // The two processes use `threads` cores; a 1-minute load clearly above it means something else was running.
  const loaded = Math.max(...loads) > threads + 0.5;
  process.stdout.write(`xai3d ${xm.toFixed(0)} ms, PyTorch ${pm.toFixed(0)} ms per step: xai3d/PyTorch = ${(xm / pm).toFixed(2)} (rounds ${perRound.map((v) => v.toFixed(2)).join(', ')}); load average ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)}${loaded ? ' (LOADED: other work was running; the ratio is not evidence)' : ''}\n`);
  return {
    benchmark: 'peer',
    date: new Date().toISOString(),
    versions: versions(),
    pytorch: probe.stdout.trim(),
    threads,
    rounds: rows,
    xai3dMedianMs: xm,
    pytorchMedianMs: pm,
    ratioXai3dOverPytorch: xm / pm,
    ratioPerRound: perRound,
    loadAverage: { min: Math.min(...loads), max: Math.max(...loads) },
    loaded,
    targets: { trainStepAtMostPytorch: xm <= pm },
  };
}

export const peerSuite: Suite = { run };
