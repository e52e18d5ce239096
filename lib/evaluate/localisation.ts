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
 * How many of the k highest voxels (ties broken by the lower voxel index) lie inside `region`: the threshold is the
 * k-th largest value (a native numeric sort of a copy), every voxel above it counts, and voxels equal to it count in
 * index order until k are taken. The same as sorting all indices by (value desc, index asc), without the comparator.
 */
export function topKInside(heatmap: ArrayLike<number>, region: Uint8Array, k: number): number {
  const n = heatmap.length;
  if (k <= 0) return 0;
  const sorted = Float64Array.from(heatmap).sort();
  const t = sorted[n - Math.min(k, n)];
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
 * Scores of a heatmap against a binary region (mask > 0). `within` (optional, e.g. the brain mask) restricts the
 * chance level to that part of the volume; the scores themselves always use the whole map.
 */
export function localisation(heatmap: ArrayLike<number>, mask: ArrayLike<number>, shape: Shape3, toleranceVoxels = 2, within?: ArrayLike<number>): LocalisationScores {
  const n = heatmap.length;
  if (mask.length !== n) throw new Error(`localisation: the mask has ${mask.length} voxels, the heatmap ${n}`);
  if (n !== shape[0] * shape[1] * shape[2]) throw new Error(`localisation: the heatmap has ${n} voxels, the shape ${shape.join('x')} has ${shape[0] * shape[1] * shape[2]}`);
  if (within && within.length !== n) throw new Error(`localisation: the 'within' mask has ${within.length} voxels, the heatmap ${n}`);
  const region = Uint8Array.from(mask, (v) => (v > 0 ? 1 : 0));
  let inside = 0;
  let total = 0;
  let size = 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const r = heatmap[i];
    if (!Number.isFinite(r)) throw new Error(`localisation: the heatmap has a non-finite value (${r}) at voxel ${i}`);
    if (region[i]) size++;
    if (r > 0) {
      total += r;
      if (region[i]) inside += r;
    }
    if (r > max) max = r;
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
  let constant = true;
  for (let i = 1; i < n && constant; i++) if (heatmap[i] !== heatmap[0]) constant = false;
  if (size === 0 || constant) return { relevanceMassAccuracy: NaN, relevanceRankAccuracy: NaN, pointingGame: NaN, regionVoxels: size, chanceMass: universe > 0 ? regionIn / universe : NaN, chancePointing: universe > 0 ? tolerantIn / universe : NaN };
  const hits = topKInside(heatmap, region, size);
  let pointed = 0;
  for (let i = 0; i < n && !pointed; i++) if (heatmap[i] === max && tolerant[i]) pointed = 1;
  return {
    relevanceMassAccuracy: total > 0 ? inside / total : NaN,
    relevanceRankAccuracy: hits / size,
    pointingGame: pointed,
    regionVoxels: size,
    chanceMass: universe > 0 ? regionIn / universe : NaN,
    chancePointing: universe > 0 ? tolerantIn / universe : NaN,
  };
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
