/**
 * AOPC: the area over the perturbation curve (Samek et al. 2017), as the thesis used it (xai-conventions.md).
 *
 * Regions are cubes of side `strideVoxels`: `uniform` is the non-overlapping grid; `greedy` picks, at every step,
 * the cube position (any voxel offset) whose priority is largest on the heatmap with the already perturbed voxels
 * set to zero. Priority is the cube's relevance `sum` or `abs` sum. MoRF takes the most relevant first (ties: the
 * lower cube index, row-major over d, h, w), LeRF the least relevant first, `random` a seeded order. Perturbation
 * replaces a cube's voxels with seeded uniform noise over the data range, or a constant; perturbations accumulate.
 * The score is the explained class's softmax probability (or logit). For image n:
 *     AOPC_n(k) = 1/(k+1) sum_{i=0..k} (f(x^0) - f(x^i)),  k = 0..L
 * The curve is the mean over images; AOPC = curve(L); coverage = L / number of uniform cubes.
 * All L+1 perturbed copies of a volume are built first and scored in batches, so the cost stays close to the (L+1) x N
 * forward passes it needs.
 */
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../backend/memory';
import { Rng } from '../util/random';

export type Shape3 = [number, number, number];

export interface AopcConfig {
  /** Cube side in voxels (thesis: 4 and 8 for 3D MNIST 32^3, 32 for OASIS-2 128^3). */
  strideVoxels: number;
  /** Perturbation steps L (thesis: 500, 50, 50). */
  steps: number;
  /** Region priority. */
  hp: 'sum' | 'abs';
  strategy: 'uniform' | 'greedy';
  order: 'morf' | 'lerf' | 'random';
  /** 'uniform' noise over dataRange, or a constant value. */
  perturb: { kind: 'uniform' } | { kind: 'constant'; value: number };
  /** Range of the uniform noise (default [0, 1], the range of xai3d's volumes). */
  dataRange: [number, number];
  score: 'softmax' | 'logit';
  seed: number;
}

export const AOPC_DEFAULTS: AopcConfig = {
  strideVoxels: 4,
  steps: 500,
  hp: 'sum',
  strategy: 'uniform',
  order: 'morf',
  perturb: { kind: 'uniform' },
  dataRange: [0, 1],
  score: 'softmax',
  seed: 0,
};

/** Parse 'uniform' or 'constant:V'. */
export function parsePerturb(text: string): AopcConfig['perturb'] {
  if (text === 'uniform') return { kind: 'uniform' };
  const m = /^constant:(-?\d+(\.\d+)?(e-?\d+)?)$/.exec(text);
  if (m) return { kind: 'constant', value: Number(m[1]) };
  throw new Error(`--perturb ${text}: use uniform or constant:V (e.g. constant:0)`);
}

export interface Cube {
  d: number;
  h: number;
  w: number;
}

/** Origins of the uniform (non-overlapping) grid, row-major over d, h, w; edge cubes may be partial. */
export function uniformCubes(shape: Shape3, s: number): Cube[] {
  const out: Cube[] = [];
  for (let d = 0; d < shape[0]; d += s) for (let h = 0; h < shape[1]; h += s) for (let w = 0; w < shape[2]; w += s) out.push({ d, h, w });
  return out;
}

function cubeSum(map: ArrayLike<number>, shape: Shape3, c: Cube, s: number, abs: boolean): number {
  const [D, H, W] = shape;
  let acc = 0;
  for (let d = c.d; d < Math.min(D, c.d + s); d++)
    for (let h = c.h; h < Math.min(H, c.h + s); h++) {
      const row = (d * H + h) * W;
      for (let w = c.w; w < Math.min(W, c.w + s); w++) acc += abs ? Math.abs(map[row + w]) : map[row + w];
    }
  return acc;
}

/** The perturbation order of uniform cubes. */
export function uniformOrder(map: ArrayLike<number>, shape: Shape3, cfg: Pick<AopcConfig, 'strideVoxels' | 'hp' | 'order' | 'seed'>, imageSeed = 0): Cube[] {
  const cubes = uniformCubes(shape, cfg.strideVoxels);
  if (cfg.order === 'random') return new Rng(cfg.seed * 1000003 + imageSeed * 7 + 1).shuffle(cubes);
  const pr = cubes.map((c) => cubeSum(map, shape, c, cfg.strideVoxels, cfg.hp === 'abs'));
  const idx = cubes.map((_, i) => i);
  idx.sort((a, b) => (cfg.order === 'morf' ? pr[b] - pr[a] : pr[a] - pr[b]) || a - b);
  return idx.map((i) => cubes[i]);
}

/** Summed-volume table of `v` (size (D+1)(H+1)(W+1)). */
function integral(v: Float64Array, shape: Shape3): Float64Array {
  const [D, H, W] = shape;
  const S = new Float64Array((D + 1) * (H + 1) * (W + 1));
  const at = (d: number, h: number, w: number) => (d * (H + 1) + h) * (W + 1) + w;
  for (let d = 1; d <= D; d++)
    for (let h = 1; h <= H; h++)
      for (let w = 1; w <= W; w++) {
        S[at(d, h, w)] = v[((d - 1) * H + (h - 1)) * W + (w - 1)] + S[at(d - 1, h, w)] + S[at(d, h - 1, w)] + S[at(d, h, w - 1)] - S[at(d - 1, h - 1, w)] - S[at(d - 1, h, w - 1)] - S[at(d, h - 1, w - 1)] + S[at(d - 1, h - 1, w - 1)];
      }
  return S;
}

/**
 * Greedy order: at every step the cube position (any offset with the cube inside the volume) with the largest
 * priority on the heatmap with perturbed voxels zeroed (MoRF; LeRF takes the smallest). Ties: the lower index.
 */
export function greedyOrder(map: ArrayLike<number>, shape: Shape3, cfg: Pick<AopcConfig, 'strideVoxels' | 'hp' | 'order' | 'steps'>): Cube[] {
  const [D, H, W] = shape;
  const s = cfg.strideVoxels;
  if (s > D || s > H || s > W) throw new Error(`stride ${s} is larger than the volume ${shape.join('x')}`);
  const work = Float64Array.from(map, (v) => (cfg.hp === 'abs' ? Math.abs(v) : v));
  const out: Cube[] = [];
  const at = (d: number, h: number, w: number) => (d * (H + 1) + h) * (W + 1) + w;
  for (let step = 0; step < cfg.steps; step++) {
    const S = integral(work, shape);
    let best = cfg.order === 'lerf' ? Infinity : -Infinity;
    let pick: Cube | null = null;
    for (let d = 0; d + s <= D; d++)
      for (let h = 0; h + s <= H; h++)
        for (let w = 0; w + s <= W; w++) {
          const v = S[at(d + s, h + s, w + s)] - S[at(d, h + s, w + s)] - S[at(d + s, h, w + s)] - S[at(d + s, h + s, w)] + S[at(d, h, w + s)] + S[at(d, h + s, w)] + S[at(d + s, h, w)] - S[at(d, h, w)];
          if (cfg.order === 'lerf' ? v < best : v > best) {
            best = v;
            pick = { d, h, w };
          }
        }
    out.push(pick!);
    for (let d = pick!.d; d < pick!.d + s; d++)
      for (let h = pick!.h; h < pick!.h + s; h++) work.fill(0, (d * H + h) * W + pick!.w, (d * H + h) * W + pick!.w + s);
  }
  return out;
}

/** Perturb cube c of x in place. */
function perturbCube(x: Float32Array, shape: Shape3, c: Cube, s: number, cfg: AopcConfig, rng: Rng): void {
  const [D, H, W] = shape;
  const [lo, hi] = cfg.dataRange;
  for (let d = c.d; d < Math.min(D, c.d + s); d++)
    for (let h = c.h; h < Math.min(H, c.h + s); h++) {
      const row = (d * H + h) * W;
      for (let w = c.w; w < Math.min(W, c.w + s); w++) x[row + w] = cfg.perturb.kind === 'uniform' ? rng.uniform(lo, hi) : cfg.perturb.value;
    }
}

export interface AopcResult {
  /** Mean AOPC(k) over images, k = 0..L. */
  curve: number[];
  /** Standard deviation over images of AOPC(k). */
  curveStd: number[];
  /** Per-image AOPC curves. */
  perImage: number[][];
  /** Per-image scores f(x^0..L). */
  scores: number[][];
  aopc: number;
  coverage: number;
  classes: number[];
  config: AopcConfig;
  /** Number of forward passes and their time, for the cost check. */
  forwardPasses: number;
  seconds: number;
}

function validate(cfg: AopcConfig, shape: Shape3): void {
  if (!Number.isInteger(cfg.strideVoxels) || cfg.strideVoxels < 1) throw new Error(`--stride ${cfg.strideVoxels}: must be a positive integer`);
  if (cfg.strideVoxels > Math.min(...shape)) throw new Error(`--stride ${cfg.strideVoxels} is larger than the volume ${shape.join('x')}`);
  if (!Number.isInteger(cfg.steps) || cfg.steps < 1) throw new Error(`--steps ${cfg.steps}: must be a positive integer`);
  const nCubes = uniformCubes(shape, cfg.strideVoxels).length;
  if (cfg.strategy === 'uniform' && cfg.steps > nCubes) throw new Error(`--steps ${cfg.steps} is more than the ${nCubes} cubes of side ${cfg.strideVoxels} in a ${shape.join('x')} volume`);
  if (!(cfg.dataRange[0] < cfg.dataRange[1])) throw new Error(`data range [${cfg.dataRange}] is empty`);
}

/**
 * AOPC of `heatmaps` for `volumes` (each [D, H, W], one channel) under `model`. `classes`: the explained class per
 * volume (default: the predicted class of the unperturbed volume).
 */
export function aopc(model: tf.LayersModel, volumes: Float32Array[], shape: Shape3, heatmaps: Float32Array[], config: Partial<AopcConfig> = {}, classes?: number[], batchSize?: number): AopcResult {
  const cfg: AopcConfig = { ...AOPC_DEFAULTS, ...config };
  validate(cfg, shape);
  if (heatmaps.length !== volumes.length) throw new Error(`${heatmaps.length} heatmaps for ${volumes.length} inputs`);
  const n = shape[0] * shape[1] * shape[2];
  volumes.forEach((v, i) => {
    if (v.length !== n) throw new Error(`input ${i} has ${v.length} voxels, expected ${shape.join('x')}`);
    if (heatmaps[i].length !== n) throw new Error(`heatmap ${i} has ${heatmaps[i].length} voxels, expected ${shape.join('x')} like its input`);
  });
  const batch = Math.max(1, Math.min(batchSize ?? 64, chooseBatchSize(model, 'predict', undefined, batchSize ?? 64)));
  const started = performance.now();
  const scores: number[][] = [];
  const usedClasses: number[] = [];
  let passes = 0;
  volumes.forEach((vol, img) => {
    const order = cfg.strategy === 'greedy' ? greedyOrder(heatmaps[img], shape, cfg) : uniformOrder(heatmaps[img], shape, cfg, img).slice(0, cfg.steps);
    const rng = new Rng(cfg.seed * 1000003 + img);
    const L = order.length;
    // x^0 .. x^L, each a perturbation of the previous one.
    const copies = new Float32Array((L + 1) * n);
    copies.set(vol, 0);
    for (let k = 1; k <= L; k++) {
      copies.copyWithin(k * n, (k - 1) * n, k * n);
      perturbCube(copies.subarray(k * n, (k + 1) * n), shape, order[k - 1], cfg.strideVoxels, cfg, rng);
    }
    const f: number[] = [];
    let cls = classes?.[img];
    for (let s0 = 0; s0 <= L; s0 += batch) {
      const m = Math.min(batch, L + 1 - s0);
      const out = tf.tidy(() => {
        const x = tf.tensor5d(copies.subarray(s0 * n, (s0 + m) * n), [m, shape[0], shape[1], shape[2], 1]);
        const logits = model.predict(x) as tf.Tensor2D;
        return (cfg.score === 'softmax' ? tf.softmax(logits) : logits).arraySync() as number[][];
      });
      passes += m;
      if (cls === undefined) cls = out[0].indexOf(Math.max(...out[0]));
      for (const row of out) f.push(row[cls]);
    }
    usedClasses.push(cls!);
    scores.push(f);
  });
  const perImage = scores.map((f) => {
    const curve: number[] = [];
    let acc = 0;
    for (let k = 0; k < f.length; k++) {
      acc += f[0] - f[k];
      curve.push(acc / (k + 1));
    }
    return curve;
  });
  const L1 = perImage[0]?.length ?? 0;
  const curve = Array.from({ length: L1 }, (_, k) => perImage.reduce((s, c) => s + c[k], 0) / perImage.length);
  const curveStd = Array.from({ length: L1 }, (_, k) => {
    if (perImage.length < 2) return 0;
    const m = curve[k];
    return Math.sqrt(perImage.reduce((s, c) => s + (c[k] - m) ** 2, 0) / (perImage.length - 1));
  });
  return {
    curve,
    curveStd,
    perImage,
    scores,
    aopc: curve[curve.length - 1],
    coverage: cfg.steps / uniformCubes(shape, cfg.strideVoxels).length,
    classes: usedClasses,
    config: cfg,
    forwardPasses: passes,
    seconds: (performance.now() - started) / 1000,
  };
}
