/**
 * k-fold training of the thesis's 3D CNNs.
 *
 * Per fold: stratified, grouped folds (lib/data/folds.ts) with 10% of the training part held out for validation;
 * Adam on the softmax cross-entropy of the logits; early stopping on the validation loss with patience 3, restoring
 * the best epoch's weights; batches shuffled with a seeded generator, weights initialised from the seed, so the same
 * seed and config give the same weights. The batch size is the requested one if it fits the memory budget, else an
 * error naming the one that would (lib/backend/memory.ts).
 *
 * On disk (results/train/<dataset>-<model>-<hash>/): fold-<k>/ (model.json + weights, history.json, metrics.json,
 * predictions.json), published atomically when the fold finishes, so an interrupted run resumes: finished folds are
 * read back, a fold killed mid-way restarts from its first epoch (no partial checkpoint is ever read). When all folds
 * are done: summary.json, summary.csv (the thesis's Tables 3 and 5: fold accuracies, mean, standard deviation) and
 * manifest.json (config, seed, versions, backend, timings).
 *
 * Why one file of ~450 lines: the cache key, the fold loop and its on-disk layout change together (the code lock hashes
 * this file as the training computation, lib/cache/code-lock.ts); split, a change to one would miss the others.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { chooseBatchSize } from '../backend/memory';
import { initBackend } from '../backend/select';
import { buildManifest } from '../cache/results';
import { batchTensor, labelTensor, type VolumeDataset } from '../data/dataset';
import { kFoldSplits, type Fold } from '../data/folds';
import { resultsDir } from '../env/paths';
import { withLock } from '../cache/lock';
import { buildDirAtomic, readJson, sweepAbandoned, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { loadModel, saveModel } from '../io/model-files';
import { buildModel, describeArchitecture, parameterCount, presetWidths, type PresetName } from '../models/presets';
import { referenceOf } from '../models/reference-centering';
import { adam } from './adam';
import { configHash } from '../util/hash';
import { progress } from '../util/progress';
import { Rng } from '../util/random';
import { mean, sampleStd } from '../util/stats';

export interface TrainConfig {
  model: PresetName;
  /** Number of folds (thesis: 5 for 3D MNIST, 10 for OASIS-2). */
  folds: number;
  /** Maximum epochs per fold (early stopping usually ends sooner). */
  epochs: number;
  /** Early-stopping patience on the validation loss (thesis: 3). */
  patience: number;
  /**
   * Epochs before early stopping starts watching (Keras's `start_from_epoch`; default 0). A model that sits on the
   * class prior for its first epochs (the brain models do) would otherwise be stopped before it starts to learn,
   * with its best epoch the first one.
   */
  minEpochs?: number;
  /** Adam's learning rate (thesis: 1e-5). */
  learningRate: number;
  /** Largest batch size (the memory budget may require smaller; an explicit value that does not fit is an error). */
  batchSize: number;
  /** Share of each training part held out for validation (thesis: 0.1). */
  valFraction: number;
  /** Width of the first convolution (doubled after each max pooling); undefined = the preset's default. */
  baseWidth?: number;
  /** Kernel initialiser of the convolutions (default heNormal; see lib/models/presets.ts). */
  convInit?: 'heNormal' | 'glorotUniform';
  /**
   * Training-time augmentation (off when absent; never applied to validation or test volumes): `flipAxis`, a volume
   * axis (0 D, 1 H, 2 W) mirrored with probability 1/2 (for brains: the left-right axis, see `leftRightAxis`), and a
   * random integer shift of up to `shiftVoxels` per axis (zero fill). Seeded with the fold's shuffling stream.
   */
  augment?: { flipAxis?: 0 | 1 | 2 | 'left-right'; shiftVoxels?: number };
  /**
   * Centre every input on the mean of the fold's training volumes (a fixed first layer, "center", stored with the
   * model; lib/models/reference-centering.ts). Off when absent. The brain models need it: without it they cannot fit
   * their training set (README, "Known limits").
   */
  inputCentering?: boolean;
  seed: number;
}

export interface EpochRecord {
  epoch: number;
  /** Mean training loss over the epoch's batches (each taken before that batch's update). */
  loss: number;
  /** Running training accuracy over the epoch's batches, as Keras reports it (no extra forward pass). */
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  seconds: number;
}

export interface FoldResult {
  fold: number;
  testAccuracy: number;
  testLoss: number;
  bestEpoch: number;
  epochsRun: number;
  history: EpochRecord[];
  trainSize: number;
  valSize: number;
  testSize: number;
  seconds: number;
  /** Model folder (model.json + weights). */
  modelDir: string;
  batchSize: number;
}

export interface TrainSummary {
  dataset: string;
  model: PresetName;
  parameters: number;
  widths: number[];
  folds: FoldResult[];
  accuracies: number[];
  mean: number;
  std: number;
  config: TrainConfig;
  runDir: string;
}

export interface TrainOptions {
  /** Results root (default results/). */
  root?: string;
  /** Retrain even when finished folds or a summary exist. */
  force?: boolean;
  /** Called after every epoch (notebooks, CLI). */
  onEpoch?: (fold: number, rec: EpochRecord) => void;
  /** Stop after this many epochs in total (tests of interruption). */
  stopAfterEpochs?: number;
  /**
   * Train only these folds (0-based; finished folds are read back either way). Until every fold is done the summary
   * covers the finished folds only and is not written to disk (e.g. one fold of the thesis profile on a laptop).
   */
  onlyFolds?: number[];
  /** The batch size was asked for explicitly (e.g. --batch-size): an error when it does not fit, never reduced. */
  strictBatchSize?: boolean;
}

/** Early stopping on a monitored loss: remembers the best epoch; stop after `patience` epochs without improvement. */
export class EarlyStopping {
  best = Infinity;
  bestEpoch = -1;
  private wait = 0;

  /** `startFrom`: epochs (0-based) before it are neither candidates for the best nor counted as waiting. */
  constructor(readonly patience: number, readonly minDelta = 0, readonly startFrom = 0) {}

  /** Record an epoch's loss; returns true when training should stop. */
  update(epoch: number, loss: number): boolean {
    if (epoch < this.startFrom) return false;
    if (loss < this.best - this.minDelta) {
      this.best = loss;
      this.bestEpoch = epoch;
      this.wait = 0;
      return false;
    }
    this.wait += 1;
    return this.wait >= this.patience;
  }

  /** True when `epoch` is the best so far (call right after update). */
  isBest(epoch: number): boolean {
    return this.bestEpoch === epoch;
  }
}

/** The volume axis (0 D, 1 H, 2 W) along which a dataset's world x (left-right) runs, from its affine; null without one. */
export function leftRightAxis(ds: VolumeDataset): 0 | 1 | 2 | null {
  const A = ds.affine?.(0);
  if (!A) return null;
  // NIfTI columns: 0 = W (i), 1 = H (j), 2 = D (k).
  const col = [0, 1, 2].reduce((best, c) => (Math.abs(A[0][c]) > Math.abs(A[0][best]) ? c : best), 0);
  return (2 - col) as 0 | 1 | 2;
}

/** A training batch with random flips and shifts (zero fill). */
function augmentedBatch(ds: VolumeDataset, idx: number[], aug: NonNullable<TrainConfig['augment']>, rng: Rng): tf.Tensor5D {
  const [D, H, W] = ds.shape;
  const n = D * H * W;
  const buf = new Float32Array(idx.length * n);
  const s = aug.shiftVoxels ?? 0;
  idx.forEach((vi, b) => {
    const v = ds.volume(vi);
    const axis = aug.flipAxis === 'left-right' ? leftRightAxis(ds) : aug.flipAxis;
    const flip = axis !== undefined && axis !== null && rng.next() < 0.5;
    const sh = [0, 1, 2].map(() => (s > 0 ? rng.int(2 * s + 1) - s : 0));
    const out = buf.subarray(b * n, (b + 1) * n);
    for (let d = 0; d < D; d++) {
      let sd = d - sh[0];
      if (flip && axis === 0) sd = D - 1 - sd;
      if (sd < 0 || sd >= D) continue;
      for (let h = 0; h < H; h++) {
        let shh = h - sh[1];
        if (flip && axis === 1) shh = H - 1 - shh;
        if (shh < 0 || shh >= H) continue;
        const dst = (d * H + h) * W;
        const src = (sd * H + shh) * W;
        for (let w = 0; w < W; w++) {
          let sw = w - sh[2];
          if (flip && axis === 2) sw = W - 1 - sw;
          if (sw >= 0 && sw < W) out[dst + w] = v[src + sw];
        }
      }
    }
  });
  return tf.tensor5d(buf, [idx.length, D, H, W, 1]);
}

/** Mean loss and accuracy of the model on `indices` (batched, no gradients). */
export function evaluate(model: tf.LayersModel, ds: VolumeDataset, indices: number[], batchSize: number): { loss: number; accuracy: number; logits: number[][] } {
  let lossSum = 0;
  let correct = 0;
  const logits: number[][] = [];
  for (let s = 0; s < indices.length; s += batchSize) {
    const idx = indices.slice(s, s + batchSize);
    const [l, c, z] = tf.tidy(() => {
      const x = batchTensor(ds, idx);
      const y = labelTensor(ds, idx);
      const out = model.predict(x) as tf.Tensor2D;
      const loss = tf.losses.softmaxCrossEntropy(y, out, undefined, undefined, tf.Reduction.SUM);
      const hits = tf.equal(tf.argMax(out, 1), tf.argMax(y, 1)).sum();
      return [loss.dataSync()[0], hits.dataSync()[0], out.arraySync() as number[][]];
    });
    lossSum += l;
    correct += c;
    logits.push(...z);
  }
  const n = Math.max(1, indices.length);
  return { loss: lossSum / n, accuracy: correct / n, logits };
}

function compiled(cfg: TrainConfig, ds: VolumeDataset, seed: number, trainIndices: number[]): tf.LayersModel {
  // The reference comes from the fold's training volumes only (no validation or test volume, no label).
  // Volumes are read one at a time (at 128^3 a fold's training volumes take gigabytes).
  function* trainVolumes(): Generator<Float32Array> {
    for (const i of trainIndices) yield ds.volume(i);
  }
  const centering = cfg.inputCentering ? referenceOf(trainVolumes()) : undefined;
  const model = buildModel(cfg.model, {
    inputSize: ds.shape[0],
    classes: ds.classNames.length,
    baseWidth: cfg.baseWidth,
    convInit: cfg.convInit,
    centering,
    seed,
  });
  if (ds.shape[0] !== ds.shape[1] || ds.shape[1] !== ds.shape[2]) throw new Error(`${ds.name}: volumes must be cubes, got ${ds.shape}`);
  return model;
}

/**
 * One optimiser step on a batch: Adam on the mean softmax cross-entropy of the logits (what Keras's trainOnBatch does
 * for this loss, without regularisers), returning the batch's loss and its correct predictions, both from the forward
 * pass the gradient is taken through, so the epoch's training accuracy costs no extra pass.
 */
export function trainStep(model: tf.LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, y: tf.Tensor): { loss: number; hits: number } {
  let hits: tf.Scalar | null = null;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const loss = optimizer.minimize(
    () => {
      const out = model.apply(x, { training: true }) as tf.Tensor2D;
      hits = tf.keep(tf.equal(tf.argMax(out, 1), tf.argMax(y, 1)).sum() as tf.Scalar);
      return tf.losses.softmaxCrossEntropy(y, out) as tf.Scalar;
    },
    true,
    variables,
  ) as tf.Scalar;
  const out = { loss: loss.dataSync()[0], hits: hits ? (hits as tf.Scalar).dataSync()[0] : 0 };
  tf.dispose([loss, hits as tf.Scalar | null].filter((t): t is tf.Scalar => t !== null));
  return out;
}

/** Train one fold; returns its result (the model is saved by the caller). */
async function trainFold(cfg: TrainConfig, ds: VolumeDataset, fold: Fold, opts: TrainOptions, counter: { epochs: number }, dir: string): Promise<FoldResult> {
  const started = Date.now();
  const model = compiled(cfg, ds, cfg.seed * 1000 + fold.index, fold.train);
  const optimizer = adam(cfg.learningRate);
  // An explicitly requested batch (opts.strictBatchSize) must fit; a profile's default is capped to what fits.
  const batch = opts.strictBatchSize ? chooseBatchSize(model, 'train', cfg.batchSize) : chooseBatchSize(model, 'train', undefined, cfg.batchSize);
  const rng = new Rng(cfg.seed * 7919 + fold.index);
  const stopper = new EarlyStopping(cfg.patience, 0, cfg.minEpochs ?? 0);
  let bestWeights: tf.Tensor[] | null = null;
  const history: EpochRecord[] = [];
  const bar = progress(`${cfg.model} fold ${fold.index + 1}/${cfg.folds}`, cfg.epochs, { unit: 'epochs', intervalMs: 0 });
  try {
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const t0 = Date.now();
      const order = rng.shuffle(fold.train.slice());
      let lossSum = 0;
      let hits = 0;
      let seen = 0;
      for (let s = 0; s < order.length; s += batch) {
        const idx = order.slice(s, s + batch);
        const x = cfg.augment ? augmentedBatch(ds, idx, cfg.augment, rng) : batchTensor(ds, idx);
        const y = labelTensor(ds, idx);
        const r = trainStep(model, optimizer, x, y);
        tf.dispose([x, y]);
        lossSum += r.loss * idx.length;
        hits += r.hits;
        seen += idx.length;
      }
      const train = { loss: lossSum / Math.max(1, seen), accuracy: hits / Math.max(1, seen) };
      const val = fold.val.length > 0 ? evaluate(model, ds, fold.val, batch) : train;
      const rec: EpochRecord = {
        epoch: epoch + 1,
        loss: train.loss,
        accuracy: train.accuracy,
        valLoss: val.loss,
        valAccuracy: val.accuracy,
        seconds: (Date.now() - t0) / 1000,
      };
      history.push(rec);
      const stop = stopper.update(epoch, val.loss);
      if (stopper.isBest(epoch)) {
        if (bestWeights) tf.dispose(bestWeights);
        bestWeights = model.getWeights().map((w) => w.clone());
      }
      opts.onEpoch?.(fold.index, rec);
      bar.tick(1, `loss ${rec.loss.toFixed(4)} acc ${rec.accuracy.toFixed(3)} · val loss ${rec.valLoss.toFixed(4)} acc ${rec.valAccuracy.toFixed(3)} · ${rec.seconds.toFixed(1)} s/epoch`);
      counter.epochs += 1;
      if (opts.stopAfterEpochs !== undefined && counter.epochs >= opts.stopAfterEpochs) {
        throw new Error(`stopped after ${counter.epochs} epochs (stopAfterEpochs)`);
      }
      if (stop) break;
    }
    if (bestWeights) model.setWeights(bestWeights);
    const test = evaluate(model, ds, fold.test, batch);
    const ended = history.length < cfg.epochs ? `early stopping after ${history.length} of ${cfg.epochs} epochs` : `all ${cfg.epochs} epochs (early stopping did not end it)`;
    bar.done(`${ended}; best epoch ${stopper.bestEpoch + 1}, test accuracy ${test.accuracy.toFixed(4)}`);
    const modelDir = path.join(dir, 'model');
    await saveModel(model, modelDir);
    const result: FoldResult = {
      fold: fold.index,
      testAccuracy: test.accuracy,
      testLoss: test.loss,
      bestEpoch: stopper.bestEpoch + 1,
      epochsRun: history.length,
      history,
      trainSize: fold.train.length,
      valSize: fold.val.length,
      testSize: fold.test.length,
      seconds: (Date.now() - started) / 1000,
      modelDir: 'model',
      batchSize: batch,
    };
    writeJsonAtomic(path.join(dir, 'history.json'), history);
    writeJsonAtomic(path.join(dir, 'predictions.json'), { ids: fold.test.map((i) => ds.ids[i]), indices: fold.test, labels: fold.test.map((i) => ds.labels[i]), logits: test.logits });
    writeJsonAtomic(path.join(dir, 'metrics.json'), result);
    return result;
  } finally {
    if (bestWeights) tf.dispose(bestWeights);
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * Version of what the training code computes (optimiser, loss, batching, early stopping, augmentation): part of the
 * cache key, so results from older code are never read back as if the current code had made them. Bump it whenever a
 * change to this file or to the presets changes the numbers a run produces.
 */
export const TRAINING_CODE_VERSION = 6;

/** The run's folder for a dataset and config. */
export function trainRunDir(ds: VolumeDataset, cfg: TrainConfig, root = resultsDir()): string {
  // The resolved initialiser is part of the key, so runs made with another default are not read back.
  const key = { code: TRAINING_CODE_VERSION, fingerprint: ds.fingerprint ?? null, dataset: ds.name, datasetMeta: { count: ds.count, shape: ds.shape, ids: configHash(ds.ids), labels: configHash(Array.from(ds.labels)) }, cfg: { ...cfg, convInit: cfg.convInit ?? 'heNormal' }, architecture: describeArchitecture(cfg.model, { inputSize: ds.shape[0], baseWidth: cfg.baseWidth, classes: ds.classNames.length, convInit: cfg.convInit, centred: cfg.inputCentering === true }) };
  return path.join(root, 'train', `${ds.name}-${cfg.model}-${configHash(key)}`);
}

/** Read a finished fold (its folder is complete by construction). */
function readFold(dir: string): FoldResult {
  return readJson<FoldResult>(path.join(dir, 'metrics.json'));
}

/** k-fold training with resume; returns the summary (from disk when the run is complete). */
export async function trainKFold(ds: VolumeDataset, cfg: TrainConfig, opts: TrainOptions = {}): Promise<TrainSummary> {
  await initBackend();
  if (!Number.isInteger(cfg.epochs) || cfg.epochs < 1) throw new Error(`epochs ${cfg.epochs} must be a positive integer`);
  if (!(cfg.learningRate > 0)) throw new Error(`learningRate ${cfg.learningRate} must be > 0`);
  if (cfg.minEpochs !== undefined && !(Number.isInteger(cfg.minEpochs) && cfg.minEpochs >= 0 && cfg.minEpochs < cfg.epochs)) throw new Error(`minEpochs ${cfg.minEpochs} must be an integer from 0 to epochs - 1 (${cfg.epochs - 1})`);
  const runDir = trainRunDir(ds, cfg, opts.root);
  const summaryFile = path.join(runDir, 'summary.json');
  if (!opts.force && fs.existsSync(summaryFile)) return readJson<TrainSummary>(summaryFile);
  fs.mkdirSync(runDir, { recursive: true });
  // Folders of folds that were killed mid-way are never read; remove them.
  // (only those whose owner process is gone: a concurrent run's live work folder stays).
  sweepAbandoned(runDir);
  const started = Date.now();
  const folds = kFoldSplits(ds.labels, ds.groups, cfg.folds, { seed: cfg.seed, valFraction: cfg.valFraction });
  writeJsonAtomic(path.join(runDir, 'folds.json'), folds.map((f) => ({ index: f.index, train: f.train.map((i) => ds.ids[i]), val: f.val.map((i) => ds.ids[i]), test: f.test.map((i) => ds.ids[i]) })));
  const results: FoldResult[] = [];
  const counter = { epochs: 0 };
  for (const fold of folds) {
    const dir = path.join(runDir, `fold-${fold.index + 1}`);
    if (!opts.force && fs.existsSync(path.join(dir, 'metrics.json'))) {
      results.push(readFold(dir));
      continue;
    }
    if (opts.onlyFolds && !opts.onlyFolds.includes(fold.index)) continue;
    let result: FoldResult | undefined;
    // A lock per fold: a concurrent job asking for the same fold waits for this one and reuses its folder.
    const locked = await withLock(`${dir}.lock`, () => !opts.force && fs.existsSync(path.join(dir, 'metrics.json')), () =>
      buildDirAtomic(dir, async (tmp) => {
        result = await trainFold(cfg, ds, fold, opts, counter, tmp);
      }),
    { onWait: (o) => process.stderr.write(`${cfg.model} fold ${fold.index + 1}: another job is training it${o ? ` (${o.host} pid ${o.pid})` : ''}; waiting to reuse its result\n`) });
    results.push(locked.computed ? result! : readFold(dir));
  }
  const accuracies = results.map((r) => r.testAccuracy);
  const complete = results.length === folds.length;
  const summary: TrainSummary = {
    dataset: ds.name,
    model: cfg.model,
    parameters: parameterCount(cfg.model, { baseWidth: cfg.baseWidth, classes: ds.classNames.length }),
    widths: presetWidths(cfg.model, { baseWidth: cfg.baseWidth }),
    folds: results,
    accuracies,
    mean: mean(accuracies),
    std: sampleStd(accuracies),
    config: cfg,
    runDir,
  };
  if (!complete) return summary;
  const header = ['model', 'parameters', ...results.map((r) => `fold${r.fold + 1}`), 'mean', 'std'];
  const row = [cfg.model, summary.parameters, ...accuracies.map((a) => a.toFixed(4)), summary.mean.toFixed(4), summary.std.toFixed(4)];
  writeFileAtomic(path.join(runDir, 'summary.csv'), `${header.join(',')}\n${row.join(',')}\n`);
  const timings = { total: Date.now() - started, ...Object.fromEntries(results.map((r) => [`fold${r.fold + 1}`, Math.round(r.seconds * 1000)])) };
  writeJsonAtomic(path.join(runDir, 'manifest.json'), buildManifest('train', path.basename(runDir), { dataset: ds.name, datasetMeta: ds.meta, ...cfg }, cfg.seed, started, timings));
  writeJsonAtomic(summaryFile, summary);
  return summary;
}

/** Load the model of one fold of a finished run. */
export async function loadFoldModel(summary: TrainSummary, fold: number): Promise<tf.LayersModel> {
  const f = summary.folds.find((r) => r.fold === fold);
  if (!f) throw new Error(`${summary.runDir}: no fold ${fold}`);
  return loadModel(path.join(summary.runDir, `fold-${fold + 1}`, f.modelDir));
}

/** Rows of the thesis's accuracy table (Tables 3 and 5) for several runs. */
export function accuracyTable(runs: TrainSummary[]): Record<string, string | number>[] {
  return runs.map((r) => ({
    model: r.model,
    parameters: r.parameters,
    ...Object.fromEntries(r.accuracies.map((a, i) => [`fold ${i + 1}`, a])),
    mean: r.mean,
    std: r.std,
  }));
}

/** The same table as CSV text. */
export function accuracyTableCsv(runs: TrainSummary[]): string {
  const rows = accuracyTable(runs);
  const cols = Object.keys(rows[0] ?? {});
  return [cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c] ?? '')).join(','))].join('\n') + '\n';
}
