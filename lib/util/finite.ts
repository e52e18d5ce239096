/** Refusing NaN and Inf at the edges: a single non-finite voxel would turn every downstream number into NaN. */

/** Index of the first NaN or +-Inf value, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** The C-order index i of an array of `shape` as "(a, b, c)". */
export function indexText(i: number, shape?: readonly number[]): string {
  if (!shape || shape.length === 0) return String(i);
  const out: number[] = [];
  let r = i;
  for (let k = shape.length - 1; k >= 0; k--) {
    out.unshift(r % shape[k]);
    r = Math.floor(r / shape[k]);
  }
  return `(${out.join(', ')})`;
}

/** Throw "<what>: non-finite value (NaN) at index (a, b, c)" when `values` holds NaN or Inf. */
export function assertFinite(values: ArrayLike<number>, what: string, shape?: readonly number[]): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new Error(`${what}: non-finite value (${values[i]}) at index ${indexText(i, shape)}; xai3d refuses NaN and Inf`);
}
