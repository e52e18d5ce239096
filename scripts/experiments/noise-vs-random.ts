/**
 * Why LRP composites 1 and 2 score below the random order under uniform-noise AOPC on 3D MNIST while far above it
 * under removal (0): is it a bug or a property of the perturbation? For the deepest quick model, fold 1, its test
 * volumes: (1) how many of the first L/4 cubes each order perturbs hold ink (a digit voxel > 0.1); (2) the mean
 * probability drop of one cube replaced by noise (or by 0), for ink and for empty cubes, one cube at a time; (3) the
 * same drop for the first quarter of cubes in MoRF order and in a random order.
 * Run: XAI3D_RESULTS=... XAI3D_DATA=... npx tsx scripts/experiments/noise-vs-random.ts
 */
import * as tf from '@tensorflow/tfjs';
import * as xai from '../../lib/index';
import { uniformCubes } from '../../lib/evaluate/aopc';
import { Rng } from '../../lib/util/random';

async function main() {
  await xai.initBackend();
  const profile = xai.profileConfig('quick');
  const ds = await xai.defaultMnist3d(profile);
  const runs = await xai.trainFamily(ds, profile.mnistModels, profile.trainMnist, 0);
  const run = runs[runs.length - 1];
  const images = xai.foldTestIndices(run, 0, ds).slice(0, 30);
  const model = await xai.loadFoldModel(run, 0);
  const shape = ds.shape;
  const s = 4;
  const cubes = uniformCubes(shape, s);
  const [D, H, W] = shape;
  const voxelsOf = (c: { d: number; h: number; w: number }) => {
    const out: number[] = [];
    for (let d = c.d; d < c.d + s; d++) for (let h = c.h; h < c.h + s; h++) for (let w = c.w; w < c.w + s; w++) out.push((d * H + h) * W + w);
    return out;
  };
  const cubeVoxels = cubes.map(voxelsOf);
  const rng = new Rng(7);
  const prob = (vols: Float32Array[], cls: number[]) => tf.tidy(() => {
    const x = tf.tensor5d(Float32Array.from(vols.flatMap((v) => Array.from(v))), [vols.length, D, H, W, 1]);
    const p = tf.softmax(model.predict(x) as tf.Tensor2D).arraySync() as number[][];
    return p.map((r, i) => r[cls[i]]);
  });
  const rows: string[] = [];
  for (const method of [{ method: 'lrp', composite: 'composite1' }, { method: 'lrp', composite: 'composite3' }, { method: 'cam' }] as xai.ExplainOptions[]) {
    const ex = await xai.cachedExplanation(run, 0, ds, images, method);
    let inkFirstMorf = 0, inkFirstRandom = 0, n = 0;
    const drop = { noise: { ink: [] as number[], empty: [] as number[] }, zero: { ink: [] as number[], empty: [] as number[] } };
    const top = { noise: { morf: [] as number[], random: [] as number[] }, zero: { morf: [] as number[], random: [] as number[] } };
    for (const [k, vi] of images.entries()) {
      const v = ds.volume(vi);
      const ink = cubeVoxels.map((vs) => vs.some((i) => v[i] > 0.1));
      const score = cubeVoxels.map((vs) => vs.reduce((a, i) => a + ex.maps[k][i], 0));
      const morf = cubes.map((_, i) => i).sort((a, b) => score[b] - score[a]);
      const random = cubes.map((_, i) => i).sort(() => rng.uniform(0, 1) - 0.5);
      const q = Math.round(cubes.length / 4);
      inkFirstMorf += morf.slice(0, q).filter((i) => ink[i]).length / q;
      inkFirstRandom += random.slice(0, q).filter((i) => ink[i]).length / q;
      n++;
      if (k >= 10) continue; // single-cube drops on the first 10 volumes
      const base = prob([v], [ex.classes[k]])[0];
      for (const kind of ['noise', 'zero'] as const) {
        const vols = cubeVoxels.map((vs) => { const u = v.slice(); for (const i of vs) u[i] = kind === 'zero' ? 0 : rng.uniform(0, 1); return u; });
        const p = prob(vols, vols.map(() => ex.classes[k]));
        p.forEach((pi, i) => drop[kind][ink[i] ? 'ink' : 'empty'].push(base - pi));
        for (const i of morf.slice(0, q)) top[kind].morf.push(base - p[i]);
        for (const i of random.slice(0, q)) top[kind].random.push(base - p[i]);
      }
    }
    const m = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN).toFixed(4);
    rows.push(`${xai.methodLabel(method)}: ink share of the first quarter of cubes, MoRF ${(inkFirstMorf / n).toFixed(2)}, random ${(inkFirstRandom / n).toFixed(2)}; one-cube probability drop, noise: ink ${m(drop.noise.ink)} (${drop.noise.ink.length}), empty ${m(drop.noise.empty)} (${drop.noise.empty.length}); zero: ink ${m(drop.zero.ink)}, empty ${m(drop.zero.empty)}; one-cube drop of the first quarter, noise: MoRF ${m(top.noise.morf)} random ${m(top.noise.random)}; zero: MoRF ${m(top.zero.morf)} random ${m(top.zero.random)}`);
  }
  console.log(`${run.model} fold 1, ${images.length} test volumes, ${cubes.length} cubes of side ${s}`);
  for (const r of rows) console.log(r);
}
main();
