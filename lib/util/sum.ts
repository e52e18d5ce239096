/**
 * The sum of an array's values in index order, accumulated in float64. A plain loop: Float32Array.prototype.reduce
 * with a closure is ~10x slower (about 20 ms for a 128^3 map), which showed up in every explanation's cost.
 */
export function sumValues(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s;
}
