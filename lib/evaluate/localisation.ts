/**
 * Localisation against ground truth (the phantoms' atrophy regions), docs/methods.md:
 *   relevance mass accuracy  = sum of positive relevance inside the region / total positive relevance
 *                              (NaN when the map has no positive relevance);
 *   relevance rank accuracy  = share of the top-|region| voxels (by relevance; ties by voxel index) inside the region;
 *   pointing game            = whether a voxel of maximum relevance lies inside the region dilated by
 *                              `toleranceVoxels` (ties: any maximum inside counts);
 * each with its chance level: the region's share of the volume (or of `within`, e.g. the brain) for mass and rank
 * accuracy, the dilated region's share for the pointing game. An empty region gives NaN scores, never 0; so does a
 * constant heatmap (e.g. a CAM on a 1x1x1 grid: no voxel ranks above another, every voxel "is" the maximum).
 * Also the positive relevance per atlas region (e.g. AAL labels) and the share of positive relevance inside a mask
 * (the shortcut audit: how much of a map lies inside the brain).
 */
export type Shape3 = [number, number, number];

export interface LocalisationScores {
  relevanceMassAccuracy: number;
  relevanceRankAccuracy: number;
  /** 1 or 0 (NaN for an empty region). */
  pointingGame: number;
  regionVoxels: number;
  /** What a heatmap that carries no information scores: the region's share (mass, rank) and the dilated share (pointing). */
  chanceMass: number;
  chancePointing: number;
}

/**
 * The k-th smallest value of `a` (k from 0), found in place by selection (Hoare partitions around a median of three):
 * the value a full numeric sort would put at index k, in linear expected time. Values must not be NaN.
 */
export function selectKth(a: Float64Array, k: number): number {
  if (!(k >= 0 && k < a.length && Number.isInteger(k))) throw new Error(`selectKth: k ${k} outside [0, ${a.length})`);
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // median of a[lo], a[mid], a[hi] as the pivot
    let x = a[lo];
    let y = a[mid];
    const z = a[hi];
    if (x > y) [x, y] = [y, x];
    const pivot = z < x ? x : z > y ? y : z;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    // now a[lo..j] <= pivot <= a[i..hi], and every a[j+1..i-1] equals the pivot
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return pivot;
  }
  return a[k];
}

/**
 * How many of the k highest voxels (ties broken by the lower voxel index) lie inside `region`: the threshold is the
 * k-th largest value (selected, not sorted), every voxel above it counts, and voxels equal to it count in index order
 * until k are taken. The same as sorting all indices by (value desc, index asc), without the sort.
 */
export function topKInside(heatmap: ArrayLike<number>, region: Uint8Array, k: number): number {
  const n = heatmap.length;
  if (k <= 0) return 0;
  const t = selectKth(Float64Array.from(heatmap), n - Math.min(k, n));
  let above = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    if (heatmap[i] > t) {
      above++;
      if (region[i]) hits++;
    }
  }
  let ties = Math.min(k, n) - above;
  for (let i = 0; i < n && ties > 0; i++) {
    if (heatmap[i] === t) {
      ties--;
      if (region[i]) hits++;
    }
  }
  return hits;
}

function dilate(mask: Uint8Array, shape: Shape3, r: number): Uint8Array {
  if (r <= 0) return mask;
  const [D, H, W] = shape;
  let cur = mask;
  for (let it = 0; it < r; it++) {
    const next = cur.slice();
    for (let d = 0; d < D; d++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const i = (d * H + h) * W + w;
          if (cur[i]) continue;
          if ((w > 0 && cur[i - 1]) || (w < W - 1 && cur[i + 1]) || (h > 0 && cur[i - W]) || (h < H - 1 && cur[i + W]) || (d > 0 && cur[i - H * W]) || (d < D - 1 && cur[i + H * W])) next[i] = 1;
        }
    cur = next;
  }
  return cur;
}

/**
 * What the scores of every heatmap of one volume share: the binary region (mask > 0), its dilation by the pointing
 * game's tolerance, and the chance levels. Build it once per volume and score many maps with `localisationOf`.
 */
export interface RegionContext {
  shape: Shape3;
  region: Uint8Array;
  tolerant: Uint8Array;
  size: number;
  chanceMass: number;
  chancePointing: number;
}

/**
 * The region context of a mask. `within` (optional, e.g. the brain mask) restricts the chance levels to that part of
 * the volume; the scores themselves always use the whole map.
 */
export function regionContext(mask: ArrayLike<number>, shape: Shape3, toleranceVoxels = 2, within?: ArrayLike<number>): RegionContext {
  const n = mask.length;
  if (n !== shape[0] * shape[1] * shape[2]) throw new Error(`localisation: the mask has ${n} voxels, the shape ${shape.join('x')} has ${shape[0] * shape[1] * shape[2]}`);
  if (within && within.length !== n) throw new Error(`localisation: the 'within' mask has ${within.length} voxels, the region mask ${n}`);
  const region = new Uint8Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) if (mask[i] > 0) {
    region[i] = 1;
    size++;
  }
  const tolerant = dilate(region, shape, toleranceVoxels);
  let universe = n;
  let regionIn = size;
  let tolerantIn = 0;
  if (within) {
    universe = 0;
    regionIn = 0;
    for (let i = 0; i < n; i++) if (within[i] > 0) {
      universe++;
      if (region[i]) regionIn++;
      if (tolerant[i]) tolerantIn++;
    }
  } else for (let i = 0; i < n; i++) tolerantIn += tolerant[i];
  return { shape, region, tolerant, size, chanceMass: universe > 0 ? regionIn / universe : NaN, chancePointing: universe > 0 ? tolerantIn / universe : NaN };
}

/** Scores of a heatmap against a region context (regionContext). */
export function localisationOf(heatmap: ArrayLike<number>, ctx: RegionContext): LocalisationScores {
  const n = heatmap.length;
  const { region, tolerant, size, chanceMass, chancePointing } = ctx;
  if (region.length !== n) throw new Error(`localisation: the mask has ${region.length} voxels, the heatmap ${n}`);
  let inside = 0;
  let total = 0;
  let max = -Infinity;
  let constant = true;
  const first = heatmap[0];
  for (let i = 0; i < n; i++) {
    const r = heatmap[i];
    if (!Number.isFinite(r)) throw new Error(`localisation: the heatmap has a non-finite value (${r}) at voxel ${i}`);
    if (r > 0) {
      total += r;
      if (region[i]) inside += r;
    }
    if (r > max) max = r;
    if (r !== first) constant = false;
  }
  if (size === 0 || constant) return { relevanceMassAccuracy: NaN, relevanceRankAccuracy: NaN, pointingGame: NaN, regionVoxels: size, chanceMass, chancePointing };
  const hits = topKInside(heatmap, region, size);
  let pointed = 0;
  for (let i = 0; i < n && !pointed; i++) if (heatmap[i] === max && tolerant[i]) pointed = 1;
  return { relevanceMassAccuracy: total > 0 ? inside / total : NaN, relevanceRankAccuracy: hits / size, pointingGame: pointed, regionVoxels: size, chanceMass, chancePointing };
}

/** Scores of a heatmap against a binary region (mask > 0): regionContext + localisationOf for a single map. */
export function localisation(heatmap: ArrayLike<number>, mask: ArrayLike<number>, shape: Shape3, toleranceVoxels = 2, within?: ArrayLike<number>): LocalisationScores {
  const n = heatmap.length;
  if (mask.length !== n) throw new Error(`localisation: the mask has ${mask.length} voxels, the heatmap ${n}`);
  if (n !== shape[0] * shape[1] * shape[2]) throw new Error(`localisation: the heatmap has ${n} voxels, the shape ${shape.join('x')} has ${shape[0] * shape[1] * shape[2]}`);
  if (within && within.length !== n) throw new Error(`localisation: the 'within' mask has ${within.length} voxels, the heatmap ${n}`);
  return localisationOf(heatmap, regionContext(mask, shape, toleranceVoxels, within));
}

/** Share of the positive relevance that lies inside `mask` (the shortcut audit's "inside the brain"); NaN without positive relevance. */
export function positiveShareInside(heatmap: ArrayLike<number>, mask: ArrayLike<number>): number {
  let inside = 0;
  let total = 0;
  for (let i = 0; i < heatmap.length; i++) {
    const r = heatmap[i];
    if (r > 0) {
      total += r;
      if (mask[i] > 0) inside += r;
    }
  }
  return total > 0 ? inside / total : NaN;
}

/** Positive relevance per label of an atlas (label 0 ignored), as shares of the total positive relevance. */
export function relevancePerRegion(heatmap: ArrayLike<number>, atlas: ArrayLike<number>): Map<number, { share: number; voxels: number }> {
  const sums = new Map<number, { sum: number; voxels: number }>();
  let total = 0;
  for (let i = 0; i < heatmap.length; i++) {
    const l = atlas[i];
    const r = heatmap[i] > 0 ? heatmap[i] : 0;
    total += r;
    if (l === 0) continue;
    const e = sums.get(l) ?? { sum: 0, voxels: 0 };
    e.sum += r;
    e.voxels += 1;
    sums.set(l, e);
  }
  const out = new Map<number, { share: number; voxels: number }>();
  for (const [l, e] of sums) out.set(l, { share: total > 0 ? e.sum / total : 0, voxels: e.voxels });
  return out;
}
