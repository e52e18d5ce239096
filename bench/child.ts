/** Benchmark helpers: child processes (for per-measurement peak RSS) and timing. */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';

/** Run `bench/run.ts --child suite:part args` in a fresh process and parse its result line. */
export function runChild<T>(suiteAndPart: string, args: string[] = [], env: Record<string, string> = {}): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'run.ts'), '--child', suiteAndPart, ...args], {
    encoding: 'utf8',
    cwd: PROJECT_ROOT,
    env: { ...process.env, XAI3D_QUIET: '1', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('XAI3D_BENCH_RESULT '));
  if (r.status !== 0 || !line) throw new Error(`bench child ${suiteAndPart} failed (exit ${r.status}):\n${r.stderr}`);
  return JSON.parse(line.slice('XAI3D_BENCH_RESULT '.length)) as T;
}

export interface Timing {
  medianMs: number;
  minMs: number;
  samplesMs: number[];
}

/** Time `fn` `reps` times after `warmup` untimed calls; the work must be finished when fn returns. */
export async function time(fn: () => unknown | Promise<unknown>, reps: number, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  const sorted = samples.slice().sort((a, b) => a - b);
  return { medianMs: sorted[Math.floor((sorted.length - 1) / 2)], minMs: sorted[0], samplesMs: samples };
}

/**
 * Compute a tensor in a tidy scope, read it back to JS (the work is finished), and free it. The read happens outside
 * the scope: tf.tidy walks whatever its function returns, element by element for a typed array (seconds for a 128^3
 * volume), which would be measured as if it were the computation's cost.
 */
export function computeAndRead(f: () => tf.Tensor): void {
  const t = tf.tidy(f);
  t.dataSync();
  t.dispose();
}

/**
 * Time several functions round-robin: one warm-up call each, then `reps` rounds that call every function once, so
 * that drift in the machine's load (shared machines) falls on all of them alike. Medians per function. With
 * `rotate`, round r starts at function r mod n: a function's cost can depend on what ran just before it (in two of
 * three experiments the first LRP pass after a gradient pass at 128^3 took about 20 % longer than the next), and
 * rotating spreads that over all of them instead of charging it to whichever comes first.
 */
export async function timeInterleaved(fns: Record<string, () => unknown>, reps: number, opts: { rotate?: boolean } = {}): Promise<Record<string, Timing>> {
  const names = Object.keys(fns);
  for (const n of names) await fns[n]();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < reps; r++) {
    const order = opts.rotate ? [...names.slice(r % names.length), ...names.slice(0, r % names.length)] : names;
    for (const n of order) {
      const t0 = performance.now();
      await fns[n]();
      samples[n].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(
    names.map((n) => {
      const sorted = samples[n].slice().sort((a, b) => a - b);
      return [n, { medianMs: sorted[Math.floor((sorted.length - 1) / 2)], minMs: sorted[0], samplesMs: samples[n] }];
    }),
  );
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** Print rows as an aligned text table. */
export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]);
  const text = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i])).join('  ');
  process.stdout.write(line(cols) + '\n' + line(widths.map((w) => '-'.repeat(w))) + '\n');
  for (const r of rows) process.stdout.write(line(cols.map((c) => text(r[c]))) + '\n');
}
