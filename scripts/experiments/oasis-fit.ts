/**
 * Research script (not part of the library): can a preset learn the OASIS-2 phantom cohort? Trains fold 1 of a 3-fold,
 * subject-grouped split and prints, per epoch, training and test loss, balanced accuracy and AUC (README, "Known limits").
 *
 *   npx tsx scripts/experiments/oasis-fit.ts MODEL LR EPOCHS BATCH none|std|center|mask [SIZE]
 *     none    the volumes as preprocessed            std     (x - 0.35) / 0.3
 *     center  minus the training-set mean volume, x4   mask    times the phantom's brain mask (skull-stripped)
 *   EXP_PROFILE=thesis uses the thesis-size cohort; EXP_ROOT=DIR any OASIS-2 root (e.g. a cohort built for the
 *   experiment); BN=1 puts a batch normalisation after every convolution.
 * Measured (64^3, fold 1): oasis-3conv none lr 1e-3: training loss 0.706 -> 0.669 in 15 epochs, test balanced 0.500;
 * oasis-6conv center lr 3e-4: training AUC 1.00, test AUC 0.65 after 40 epochs; thesis cohort (EXP_PROFILE=thesis, 15 epochs): test AUC 0.42-0.56.
 * With 240 subjects (one visit each, 136 training sessions): oasis-6conv center lr 3e-4: test AUC 0.95, balanced
 * accuracy 0.885 at epoch 11 (training loss 0.08); std: test AUC 0.81 at epoch 10, still at the prior's loss.
 */
import * as tf from '@tensorflow/tfjs';
import { BatchNorm3d } from './batchnorm3d';
import { globalAveragePooling3d } from '../../lib/models/global-average-pooling-3d';
import { initBackend } from '../../lib/backend/select';
import { defaultOasis2 } from '../../lib/data/defaults';
import { loadOasis2 } from '../../lib/data/oasis2/loader';
import { profileConfig } from '../../lib/profiles';
import { kFoldSplits } from '../../lib/data/folds';
import { batchTensor, labelTensor } from '../../lib/data/dataset';
import { buildModel } from '../../lib/models/presets';
import { evaluate } from '../../lib/training/train';
import { Rng } from '../../lib/util/random';
import { parseProfile } from '../../lib/env/profile';

const [model, lrS, epochsS, bsS, xform, fullSize] = process.argv.slice(2);
(async () => {
  await initBackend();
  const prof = profileConfig(parseProfile(process.env.EXP_PROFILE, 'EXP_PROFILE'));
  const ds = process.env.EXP_ROOT ? await loadOasis2(process.env.EXP_ROOT, { preprocess: { size: Number(fullSize ?? 64) }, cacheRoot: '/tmp/exp/cache' }) : await defaultOasis2(prof, fullSize ? { preprocess: { size: Number(fullSize) } } : {});
  const folds = kFoldSplits(ds.labels, ds.groups, 3, { seed: 0, valFraction: 0.15 });
  const fold = folds[0];
  const bn = process.env.BN === '1';
  let m: tf.LayersModel;
  if (!bn) m = buildModel(model, { inputSize: ds.shape[0], classes: 2, baseWidth: 8, seed: 1 });
  else {
    const sq = tf.sequential();
    const nb = model === 'oasis-3conv' ? 3 : 5;
    let w = 8;
    for (let b = 0; b < nb; b++) {
      sq.add(tf.layers.conv3d({ ...(b === 0 ? { inputShape: [...ds.shape, 1] } : {}), filters: w, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.heNormal({ seed: b + 1 }) }));
      sq.add(new BatchNorm3d({}));
      sq.add(tf.layers.reLU());
      sq.add(tf.layers.maxPooling3d({ poolSize: 2, strides: 2 }));
      w *= 2;
    }
    if (model === 'oasis-6conv') { sq.add(tf.layers.conv3d({ filters: w, kernelSize: 3, padding: 'same' })); sq.add(new BatchNorm3d({})); sq.add(tf.layers.reLU()); }
    sq.add(globalAveragePooling3d({ name: 'gap' }));
    sq.add(tf.layers.dense({ units: 2 }));
    m = sq;
  }
  m.compile({ optimizer: tf.train.adam(Number(lrS)), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b) });
  const rng = new Rng(5);
  const bs = Number(bsS);
  const tx = (x: tf.Tensor) => xform === 'std' ? tf.tidy(() => x.sub(0.35).div(0.3)) : x;
  const meanVol = new Float32Array(ds.volume(0).length);
  for (const i of fold.train) { const v = ds.volume(i); for (let j = 0; j < v.length; j++) meanVol[j] += v[j] / fold.train.length; }
  const ds2 = { ...ds, volume: (i: number) => { const v = ds.volume(i); if (xform === 'center') { const o = new Float32Array(v.length); for (let j = 0; j < v.length; j++) o[j] = (v[j] - meanVol[j]) * 4; return o; } if (xform === 'mask') { const mk = ds.brainMask!(i)!; const o = new Float32Array(v.length); for (let j = 0; j < v.length; j++) o[j] = mk[j] ? v[j] : 0; return o; } if (xform !== 'std') return v; const o = new Float32Array(v.length); for (let j = 0; j < v.length; j++) o[j] = (v[j] - 0.35) / 0.3; return o; } };
  console.log('train', fold.train.length, 'val', fold.val.length, 'test', fold.test.length, 'shape', ds.shape);
  for (let e = 0; e < Number(epochsS); e++) {
    const t0 = Date.now();
    const order = rng.shuffle(fold.train.slice());
    let ls = 0;
    for (let s = 0; s < order.length; s += bs) {
      const idx = order.slice(s, s + bs);
      const x = batchTensor(ds2 as any, idx); const y = labelTensor(ds, idx);
      ls += ((await m.trainOnBatch(x, y)) as number) * idx.length; tf.dispose([x, y]);
    }
    const tr = evaluate(m, ds2 as any, fold.train, 8);
    const te = evaluate(m, ds2 as any, fold.test, 8);
    const bal = (ev: any, idx: number[]) => { const c = [0, 0], n = [0, 0]; idx.forEach((i, k) => { const p = ev.logits[k][1] > ev.logits[k][0] ? 1 : 0; n[ds.labels[i]]++; if (p === ds.labels[i]) c[ds.labels[i]]++; }); return ((c[0] / n[0] + c[1] / n[1]) / 2).toFixed(3); };
    const aucOf = (ev: any, idx: number[]) => { const sc = idx.map((i, k) => ({ s: ev.logits[k][1] - ev.logits[k][0], y: ds.labels[i] })); let a = 0, np = 0, nn = 0; for (const p of sc) if (p.y === 1) { np++; for (const q of sc) if (q.y === 0) a += p.s > q.s ? 1 : p.s === q.s ? 0.5 : 0; } else nn++; return (a / (np * nn)).toFixed(3); };
    console.log(`auc train ${aucOf(tr, fold.train)} test ${aucOf(te, fold.test)}`);
    console.log(`ep ${e + 1} loss ${(ls / order.length).toFixed(4)} trainEval ${tr.loss.toFixed(4)} bal ${bal(tr, fold.train)} | test loss ${te.loss.toFixed(4)} bal ${bal(te, fold.test)} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
})();
