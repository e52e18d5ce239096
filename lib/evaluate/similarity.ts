/**
 * Similarity of two heatmaps (docs/methods.md). A constant map has no rank order and no variance: every similarity
 * with it is undefined (NaN), and the sanity check reports such a comparison as degenerate. Definitions: Spearman rank correlation (average ranks for ties) on signed and on absolute values,
 * Pearson correlation, and 3D SSIM (Wang et al. 2004, extended to volumes: a uniform 7x7x7 window, valid region
 * only, maps min-max normalised to [0, 1] so L = 1, C1 = (0.01 L)^2, C2 = (0.03 L)^2).
 */
export type Shape3 = [number, number, number];

export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length) throw new Error(`pearson: lengths ${a.length} and ${b.length} differ`);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  if (saa === 0 || sbb === 0) return NaN; // a constant map: correlation undefined
  return sab / Math.sqrt(saa * sbb);
}

/** Ranks 1..n with ties given their average rank. */
export function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((x, y) => v[x] - v[y]);
  const r = new Float64Array(v.length);
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(ranks(a), ranks(b));
}

function minMax(v: ArrayLike<number>): Float64Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  const r = hi - lo;
  return Float64Array.from(v, (x) => (r > 0 ? (x - lo) / r : 0));
}

/** Mean SSIM over all 7^3 windows inside the volume (smaller volumes use their smallest side as the window). */
export function ssim3d(a: ArrayLike<number>, b: ArrayLike<number>, shape: Shape3, window = 7): number {
  const [D, H, W] = shape;
  if (a.length !== D * H * W || b.length !== a.length) throw new Error(`ssim3d: maps do not have shape ${shape.join('x')}`);
  const k = Math.min(window, D, H, W);
  const x = minMax(a);
  const y = minMax(b);
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  // Summed-volume tables of x, y, x^2, y^2, xy.
  const P = (D + 1) * (H + 1) * (W + 1);
  const tabs = [new Float64Array(P), new Float64Array(P), new Float64Array(P), new Float64Array(P), new Float64Array(P)];
  const at = (d: number, h: number, w: number) => (d * (H + 1) + h) * (W + 1) + w;
  for (let d = 1; d <= D; d++)
    for (let h = 1; h <= H; h++)
      for (let w = 1; w <= W; w++) {
        const i = ((d - 1) * H + (h - 1)) * W + (w - 1);
        const vals = [x[i], y[i], x[i] * x[i], y[i] * y[i], x[i] * y[i]];
        for (let t = 0; t < 5; t++) {
          const S = tabs[t];
          S[at(d, h, w)] = vals[t] + S[at(d - 1, h, w)] + S[at(d, h - 1, w)] + S[at(d, h, w - 1)] - S[at(d - 1, h - 1, w)] - S[at(d - 1, h, w - 1)] - S[at(d, h - 1, w - 1)] + S[at(d - 1, h - 1, w - 1)];
        }
      }
  const box = (S: Float64Array, d: number, h: number, w: number) =>
    S[at(d + k, h + k, w + k)] - S[at(d, h + k, w + k)] - S[at(d + k, h, w + k)] - S[at(d + k, h + k, w)] + S[at(d, h, w + k)] + S[at(d, h + k, w)] + S[at(d + k, h, w)] - S[at(d, h, w)];
  const N = k * k * k;
  let total = 0;
  let count = 0;
  for (let d = 0; d + k <= D; d++)
    for (let h = 0; h + k <= H; h++)
      for (let w = 0; w + k <= W; w++) {
        const mx = box(tabs[0], d, h, w) / N;
        const my = box(tabs[1], d, h, w) / N;
        const vx = Math.max(0, box(tabs[2], d, h, w) / N - mx * mx);
        const vy = Math.max(0, box(tabs[3], d, h, w) / N - my * my);
        const cxy = box(tabs[4], d, h, w) / N - mx * my;
        total += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
        count++;
      }
  return total / count;
}

export interface Similarity {
  spearman: number;
  spearmanAbs: number;
  pearson: number;
  ssim: number;
}

/** True when every value equals the first (no rank order, no variance). */
export function isConstant(v: ArrayLike<number>): boolean {
  for (let i = 1; i < v.length; i++) if (v[i] !== v[0]) return false;
  return true;
}

export function similarity(a: ArrayLike<number>, b: ArrayLike<number>, shape: Shape3): Similarity {
  if (isConstant(a) || isConstant(b)) return { spearman: NaN, spearmanAbs: NaN, pearson: NaN, ssim: NaN };
  return {
    spearman: spearman(a, b),
    spearmanAbs: spearman(Float64Array.from(a, Math.abs), Float64Array.from(b, Math.abs)),
    pearson: pearson(a, b),
    ssim: ssim3d(a, b, shape),
  };
}
