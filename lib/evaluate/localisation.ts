/**
 * Localisation against ground truth (the phantoms' atrophy regions):
 *   relevance mass accuracy  = sum of positive relevance inside the region / total positive relevance;
 *   relevance rank accuracy  = share of the top-|region| voxels (by relevance) that lie inside the region;
 *   pointing game            = whether the voxel of maximum relevance lies inside the region dilated by
 *                              `toleranceVoxels` (a few voxels).
 * Also the positive relevance per atlas region (e.g. AAL labels).
 */
export type Shape3 = [number, number, number];

export interface LocalisationScores {
  relevanceMassAccuracy: number;
  relevanceRankAccuracy: number;
  pointingGame: boolean;
  regionVoxels: number;
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

/** Scores of a heatmap against a binary region (mask > 0). */
export function localisation(heatmap: ArrayLike<number>, mask: ArrayLike<number>, shape: Shape3, toleranceVoxels = 2): LocalisationScores {
  const n = heatmap.length;
  if (mask.length !== n) throw new Error(`localisation: the mask has ${mask.length} voxels, the heatmap ${n}`);
  const region = Uint8Array.from(mask, (v) => (v > 0 ? 1 : 0));
  let inside = 0;
  let total = 0;
  let size = 0;
  let argmax = 0;
  for (let i = 0; i < n; i++) {
    const r = heatmap[i];
    if (region[i]) size++;
    if (r > 0) {
      total += r;
      if (region[i]) inside += r;
    }
    if (r > heatmap[argmax]) argmax = i;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => heatmap[b] - heatmap[a] || a - b);
  let hits = 0;
  for (let k = 0; k < size; k++) if (region[order[k]]) hits++;
  const tolerant = dilate(region, shape, toleranceVoxels);
  return {
    relevanceMassAccuracy: total > 0 ? inside / total : 0,
    relevanceRankAccuracy: size > 0 ? hits / size : 0,
    pointingGame: tolerant[argmax] === 1,
    regionVoxels: size,
  };
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
