/**
 * AOPC: the area over the perturbation curve (Samek et al. 2017), as the thesis used it (docs/methods.md).
 *
 * Regions are cubes of side `strideVoxels`: `uniform` is the non-overlapping grid; `greedy` is the thesis's search
 * over overlapping cubes (a new cube every step, candidates on a `candidateStride` grid, priority over the voxels not
 * yet perturbed). Priority is the cube's relevance `sum` or `abs` sum. MoRF takes the most relevant first (ties: the
 * lower cube index, row-major over d, h, w), LeRF the least relevant first, `random` a seeded order. Perturbation
 * replaces a cube's voxels with seeded uniform noise over the data range, or a constant (removal); perturbations
 * accumulate. The score is the explained class's softmax probability computed from the logits (the pre-softmax
 * output, read exactly as the explanation chain reads it, so a model that ends in a softmax scores like its linear
 * twin), or that logit. For image n:
 *     AOPC_n(k) = 1/(k+1) sum_{i=0..k} (f(x^0) - f(x^i)),  k = 0..L
 * The curve is the mean over images; AOPC = curve(L); coverage = the fraction of voxels perturbed after L steps.
 * All L+1 perturbed copies of a volume are built first and scored in batches, so the cost stays close to the (L+1) x N
 * forward passes it needs.
 */
import { assertFinite } from '../util/finite';
import * as tf from '@tensorflow/tfjs';
import { chooseBatchSize } from '../backend/memory';
import { centeringStep, disposeChain, forwardLogits, modelChain } from '../explain/chain';
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
  /** Greedy search only: candidate cube corners lie on a grid of this step (1: every position where a cube fits). */
  candidateStride: number;
  order: 'morf' | 'lerf' | 'random';
  /**
   * 'uniform' noise over dataRange, a constant value, or 'reference': the voxels of the model's own reference volume
   * (a model with an input centering: the training fold's mean brain), so a perturbed region looks like the average
   * brain instead of a dark hole (on a brain model, a hole or noise looks like atrophy and adds evidence for AD).
   */
  perturb: { kind: 'uniform' } | { kind: 'constant'; value: number } | { kind: 'reference' };
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
  candidateStride: 1,
  order: 'morf',
  perturb: { kind: 'uniform' },
  dataRange: [0, 1],
  score: 'softmax',
  seed: 0,
};

/** Parse 'uniform' or 'constant:V'. */
export function parsePerturb(text: string): AopcConfig['perturb'] {
  if (text === 'uniform') return { kind: 'uniform' };
  if (text === 'reference') return { kind: 'reference' };
  const m = /^constant:(-?\d+(\.\d+)?(e-?\d+)?)$/.exec(text);
  if (m) return { kind: 'constant', value: Number(m[1]) };
  throw new Error(`perturb ${text}: use uniform, constant:V (e.g. constant:0) or reference`);
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
function integral(v: Float64Array, shape: Shape3, S = new Float64Array((shape[0] + 1) * (shape[1] + 1) * (shape[2] + 1))): Float64Array {
  const [D, H, W] = shape;
  const W1 = W + 1;
  const P = (H + 1) * W1;
  for (let d = 1; d <= D; d++)
    for (let h = 1; h <= H; h++) {
      let row = 0;
      const src = ((d - 1) * H + (h - 1)) * W;
      const base = d * P + h * W1;
      for (let w = 1; w <= W; w++) {
        row += v[src + w - 1];
        // S(d,h,w) = row sum + S(d,h-1,w) + S(d-1,h,w) - S(d-1,h-1,w)
        S[base + w] = row + S[base - W1 + w] + S[base - P + w] - S[base - P - W1 + w];
      }
    }
  return S;
}

/** Corners of the greedy search's candidate cubes: every `candidateStride`-th position where a cube of side s fits. */
export function greedyCandidates(shape: Shape3, s: number, candidateStride: number): Cube[] {
  const out: Cube[] = [];
  for (let d = 0; d + s <= shape[0]; d += candidateStride) for (let h = 0; h + s <= shape[1]; h += candidateStride) for (let w = 0; w + s <= shape[2]; w += candidateStride) out.push({ d, h, w });
  return out;
}

/**
 * The thesis's greedy search (xai-conventions.md): overlapping cubes, a NEW cube at every step. Candidates are the
 * cube positions on a `candidateStride` grid; at step k the pick is, among candidates not chosen before that still
 * hold at least one unperturbed voxel, the one with the largest priority (MoRF; LeRF: the smallest; random: a seeded
 * draw), where the priority (sum or |sum|) counts only the voxels not yet perturbed. Ties: the lowest candidate
 * index (row-major d, h, w). Two summed-volume tables per step (relevance and unperturbed count) keep it cheap.
 * Throws when fewer than `steps` cubes can be chosen (every voxel already perturbed).
 */
export function greedyOrder(map: ArrayLike<number>, shape: Shape3, cfg: Pick<AopcConfig, 'strideVoxels' | 'hp' | 'order' | 'steps'> & Partial<Pick<AopcConfig, 'candidateStride' | 'seed'>>, imageSeed = 0): Cube[] {
  const [D, H, W] = shape;
  const s = cfg.strideVoxels;
  const cs = cfg.candidateStride ?? 1;
  if (s > D || s > H || s > W) throw new Error(`strideVoxels ${s} is larger than the volume ${shape.join('x')}`);
  const cands = greedyCandidates(shape, s, cs);
  const n = D * H * W;
  const work = Float64Array.from(map, (v) => (cfg.hp === 'abs' ? Math.abs(v) : v));
  const free = new Float64Array(n).fill(1);
  const chosen = new Uint8Array(cands.length);
  const S = new Float64Array((D + 1) * (H + 1) * (W + 1));
  const F = new Float64Array(S.length);
  const rng = cfg.order === 'random' ? new Rng((cfg.seed ?? 0) * 1000003 + imageSeed * 7 + 2) : null;
  const P = (H + 1) * (W + 1);
  const W1 = W + 1;
  const box = (T: Float64Array, c: Cube) => {
    const a = c.d * P + c.h * W1 + c.w;
    const dd = s * P;
    const hh = s * W1;
    return T[a + dd + hh + s] - T[a + hh + s] - T[a + dd + s] - T[a + dd + hh] + T[a + s] + T[a + hh] + T[a + dd] - T[a];
  };
  const out: Cube[] = [];
  for (let step = 0; step < cfg.steps; step++) {
    integral(work, shape, S);
    integral(free, shape, F);
    let pick = -1;
    let best = cfg.order === 'lerf' ? Infinity : -Infinity;
    const open: number[] = [];
    for (let c = 0; c < cands.length; c++) {
      if (chosen[c] || box(F, cands[c]) < 0.5) continue;
      if (rng) {
        open.push(c);
        continue;
      }
      const v = box(S, cands[c]);
      if (cfg.order === 'lerf' ? v < best : v > best) {
        best = v;
        pick = c;
      }
    }
    if (rng && open.length > 0) pick = open[rng.int(open.length)];
    if (pick < 0) throw new Error(`greedy search: only ${step} cubes of side ${s} can be chosen before every voxel of the ${shape.join('x')} volume is perturbed (steps ${cfg.steps}); lower steps`);
    chosen[pick] = 1;
    const c = cands[pick];
    out.push(c);
    for (let d = c.d; d < c.d + s; d++)
      for (let h = c.h; h < c.h + s; h++) {
        const row = (d * H + h) * W + c.w;
        work.fill(0, row, row + s);
        free.fill(0, row, row + s);
      }
  }
  return out;
}

/** Perturb cube c of x in place. */
function perturbCube(x: Float32Array, shape: Shape3, c: Cube, s: number, cfg: AopcConfig, rng: Rng, touched: Uint8Array, reference?: Float32Array): void {
  const [D, H, W] = shape;
  const [lo, hi] = cfg.dataRange;
  const p = cfg.perturb;
  for (let d = c.d; d < Math.min(D, c.d + s); d++)
    for (let h = c.h; h < Math.min(H, c.h + s); h++) {
      const row = (d * H + h) * W;
      for (let w = c.w; w < Math.min(W, c.w + s); w++) {
        x[row + w] = p.kind === 'uniform' ? rng.uniform(lo, hi) : p.kind === 'constant' ? p.value : reference![row + w];
        touched[row + w] = 1;
      }
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

/** Fill in the defaults and check every field; errors name the option field. */
export function resolveAopcConfig(config: Partial<AopcConfig>, shape: Shape3): AopcConfig {
  const cfg: AopcConfig = { ...AOPC_DEFAULTS, ...config };
  const int = (name: keyof AopcConfig, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} ${v}: must be an integer >= ${min}`);
  };
  int('strideVoxels', cfg.strideVoxels, 1);
  int('steps', cfg.steps, 1);
  int('candidateStride', cfg.candidateStride, 1);
  if (!Number.isInteger(cfg.seed)) throw new Error(`seed ${cfg.seed}: must be an integer`);
  if (cfg.strideVoxels > Math.min(...shape)) throw new Error(`strideVoxels ${cfg.strideVoxels} is larger than the volume ${shape.join('x')}`);
  if (cfg.hp !== 'sum' && cfg.hp !== 'abs') throw new Error(`hp ${cfg.hp}: use sum or abs`);
  if (cfg.strategy !== 'uniform' && cfg.strategy !== 'greedy') throw new Error(`strategy ${cfg.strategy}: use uniform or greedy`);
  if (!['morf', 'lerf', 'random'].includes(cfg.order)) throw new Error(`order ${cfg.order}: use morf, lerf or random`);
  if (cfg.score !== 'softmax' && cfg.score !== 'logit') throw new Error(`score ${cfg.score}: use softmax or logit`);
  if (cfg.perturb.kind === 'constant' && !Number.isFinite(cfg.perturb.value)) throw new Error(`perturb constant ${cfg.perturb.value}: must be a finite number`);
  const nCubes = uniformCubes(shape, cfg.strideVoxels).length;
  if (cfg.strategy === 'uniform' && cfg.steps > nCubes) throw new Error(`steps ${cfg.steps} is more than the ${nCubes} cubes of side ${cfg.strideVoxels} in a ${shape.join('x')} volume`);
  const nCand = greedyCandidates(shape, cfg.strideVoxels, cfg.candidateStride).length;
  if (cfg.strategy === 'greedy' && cfg.steps > nCand) throw new Error(`steps ${cfg.steps} is more than the ${nCand} greedy candidates (strideVoxels ${cfg.strideVoxels}, candidateStride ${cfg.candidateStride}) in a ${shape.join('x')} volume`);
  if (!(cfg.dataRange[0] < cfg.dataRange[1])) throw new Error(`dataRange [${cfg.dataRange}] is empty`);
  return cfg;
}

/** A short label of the perturbation ("uniform noise", "constant 0"). */
export function perturbLabel(p: AopcConfig['perturb']): string {
  return p.kind === 'uniform' ? 'uniform noise' : p.kind === 'reference' ? 'reference (mean brain)' : `constant ${p.value}`;
}

/**
 * AOPC of `heatmaps` for `volumes` (each [D, H, W], one channel) under `model`. `classes`: the explained class per
 * volume (default: the predicted class of the unperturbed volume).
 */
export function aopc(model: tf.LayersModel, volumes: Float32Array[], shape: Shape3, heatmaps: Float32Array[], config: Partial<AopcConfig> = {}, classes?: number[], batchSize?: number): AopcResult {
  const cfg = resolveAopcConfig(config, shape);
  if (heatmaps.length !== volumes.length) throw new Error(`${heatmaps.length} heatmaps for ${volumes.length} inputs`);
  const n = shape[0] * shape[1] * shape[2];
  volumes.forEach((v, i) => {
    if (v.length !== n) throw new Error(`input ${i} has ${v.length} voxels, expected ${shape.join('x')}`);
    if (heatmaps[i].length !== n) throw new Error(`heatmap ${i} has ${heatmaps[i].length} voxels, expected ${shape.join('x')} like its input`);
    assertFinite(v, `input ${i}`, shape);
    assertFinite(heatmaps[i], `heatmap ${i}`, shape);
  });
  // An explicit batchSize that does not fit is an error (not a silent reduction); else the largest that fits, up to 64.
  const batch = chooseBatchSize(model, 'predict', batchSize, 64);
  const started = performance.now();
  const scores: number[][] = [];
  const usedClasses: number[] = [];
  const coverages: number[] = [];
  let passes = 0;
  // Scores come from the explanation chain's logits (a final softmax is dropped there), never from model.predict.
  const chain = modelChain(model);
  let reference: Float32Array | undefined;
  if (cfg.perturb.kind === 'reference') {
    const centering = centeringStep(chain);
    if (!centering) {
      disposeChain(chain);
      throw new Error('perturb "reference" needs a model with an input centering (a ReferenceCentering3D first layer); this one has none');
    }
    reference = centering.reference!.dataSync() as Float32Array;
    if (reference.length !== n) {
      disposeChain(chain);
      throw new Error(`perturb "reference": the model's reference has ${reference.length} voxels, the inputs ${n}`);
    }
  }
  try {
  volumes.forEach((vol, img) => {
    const order = cfg.strategy === 'greedy' ? greedyOrder(heatmaps[img], shape, cfg, img) : uniformOrder(heatmaps[img], shape, cfg, img).slice(0, cfg.steps);
    const touched = new Uint8Array(n);
    const rng = new Rng(cfg.seed * 1000003 + img);
    const L = order.length;
    // x^0 .. x^L, each a perturbation of the previous one.
    const copies = new Float32Array((L + 1) * n);
    copies.set(vol, 0);
    for (let k = 1; k <= L; k++) {
      copies.copyWithin(k * n, (k - 1) * n, k * n);
      perturbCube(copies.subarray(k * n, (k + 1) * n), shape, order[k - 1], cfg.strideVoxels, cfg, rng, touched, reference);
    }
    coverages.push(touched.reduce((a, t) => a + t, 0) / n);
    const f: number[] = [];
    let cls = classes?.[img];
    for (let s0 = 0; s0 <= L; s0 += batch) {
      const m = Math.min(batch, L + 1 - s0);
      const out = tf.tidy(() => {
        const x = tf.tensor5d(copies.subarray(s0 * n, (s0 + m) * n), [m, shape[0], shape[1], shape[2], 1]);
        const logits = forwardLogits(chain, x);
        return (cfg.score === 'softmax' ? tf.softmax(logits) : logits).arraySync() as number[][];
      });
      passes += m;
      if (cls === undefined) cls = out[0].indexOf(Math.max(...out[0]));
      for (const row of out) f.push(row[cls]);
    }
    usedClasses.push(cls!);
    scores.push(f);
  });
  } finally {
    disposeChain(chain);
  }
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
    coverage: coverages.reduce((a, c) => a + c, 0) / Math.max(1, coverages.length),
    classes: usedClasses,
    config: cfg,
    forwardPasses: passes,
    seconds: (performance.now() - started) / 1000,
  };
}
