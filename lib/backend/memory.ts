/**
 * Memory planning for the 4 GB wasm heap.
 *
 * tfjs's wasm heap cannot grow past 4 GB; a request beyond it fails deep inside a kernel ("memory access out of
 * bounds" or "Aborted()"). Training and explanation therefore choose batch sizes from an estimate, and a request that
 * cannot fit fails up front with a message naming the batch size that would.
 *
 * The estimate is linear in the batch: fixed + batch * perSample, where perSample is a multiple of the float32
 * activations of one sample (input plus every layer's output) and fixed covers the weights (and, for training,
 * gradients and Adam's two moments) plus the kernels' temporary buffers (<= 256 MB each). The multiples were
 * measured on this backend (peak wasm heap after one step, which only grows):
 *   oasis-6conv 128^3, train: batch 1/2/4 -> 1081/1755/3141 MB, batch 8 fails; activations 108 MB/sample
 *   mnist-6conv 32^3, train: batch 8/32/64 -> 644/1444/2854 MB; activations 6.1 MB/sample
 *   input gradient (explanations): oasis 897/1501/2901 MB at batch 1/2/4; mnist batch 32 1489 MB, batch 128 fails
 * and the multiples below bound all of them from above. Recalibrated for training (2026-12-01) after the Identity
 * kernel stopped copying every tensor the tape saves: oasis-6conv 128^3 batch 4/8 -> 2023/3945 MB (batch 8 runs, 4 %
 * under the cap, too close to plan on: the planner allows 6), mnist-6conv 32^3 batch 32/64 -> 933/1923 MB, about
 * 4.5-5.1 x the activation bytes per sample plus about 100 MB; 5.5 x plus 256 MB bounds every one (batch 1: 530 MB).
 * With Conv3D + bias + ReLU as one op (lib/backend/fused-conv.ts; 2026-12-02) the tape keeps one activation per
 * convolution instead of three. Measured after six training steps (the heap keeps growing after the first one as it
 * fragments: oasis-6conv batch 8 needs 2487 MB for one step, 2999 MB for three or six): oasis-6conv 128^3 batch
 * 4/8/9/10 -> 1246/2999/3368/3741 MB (batch 11 fails on its third step), mnist-6conv 32^3 batch 32/64 -> 643/1402 MB.
 * 4 x the activation bytes per sample plus 256 MB bounds every one; the plan allows batch 9 of oasis-6conv (batch 8:
 * 3.0 GB of the 4 GB). test/memory.test.ts checks that the estimate still bounds live measurements from above without being wildly
 * pessimistic.
 */
import * as tf from '@tensorflow/tfjs';
import * as os from 'os';
import { backendInfo } from './select';
import { fusedConvAvailable } from './fused-conv';

export const WASM_HEAP_BYTES = 4 * 2 ** 30;

/** What the batch is for: inference, one input gradient (CAM, gradients), an LRP pass, or a training step. */
export type MemoryMode = 'predict' | 'gradient' | 'lrp' | 'train';

// LRP keeps every layer's input and the relevance of each layer alive at once: measured on oasis-6conv at 128^3
// (wasm heap high-water mark, composite 3) 1.04 / 1.84 / 2.71 / 3.86 GB for 1 / 2 / 3 / 4 volumes, about 8-11 x the
// activation bytes per volume; 12 x keeps the plan above every measurement.
const PER_SAMPLE_FACTOR: Record<MemoryMode, number> = { predict: 3, gradient: 7, lrp: 12, train: 5.5 };
/** Training with the fused convolution layers (one activation per Conv3D layer on the tape instead of three). */
const TRAIN_FACTOR_FUSED = 4;

function perSampleFactor(mode: MemoryMode): number {
  return mode === 'train' && fusedConvAvailable() ? TRAIN_FACTOR_FUSED : PER_SAMPLE_FACTOR[mode];
}
const PARAM_COPIES: Record<MemoryMode, number> = { predict: 1, gradient: 2, lrp: 2, train: 4 };
const TEMP_BYTES: Record<MemoryMode, number> = { predict: 320 * 2 ** 20, gradient: 512 * 2 ** 20, lrp: 512 * 2 ** 20, train: 256 * 2 ** 20 };

/** float32 bytes of one sample's input and every layer's output. */
export function activationBytesPerSample(model: tf.LayersModel): number {
  let elems = 0;
  const count = (shape: (number | null)[]) => shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  for (const input of model.inputs) elems += count(input.shape);
  for (const layer of model.layers) {
    const shapes = layer.outputShape;
    if (Array.isArray(shapes[0])) for (const s of shapes as (number | null)[][]) elems += count(s);
    else elems += count(shapes as (number | null)[]);
  }
  return elems * 4;
}

/** Estimated peak heap bytes for `batch` samples. */
export function estimateHeapBytes(model: tf.LayersModel, batch: number, mode: MemoryMode): number {
  const paramBytes = model.countParams() * 4;
  return TEMP_BYTES[mode] + PARAM_COPIES[mode] * paramBytes + batch * perSampleFactor(mode) * activationBytesPerSample(model);
}

/** The memory budget of the current backend: the wasm heap (4 GB), else half the machine's memory. */
export function memoryBudgetBytes(): number {
  const name = backendInfo()?.name ?? tf.getBackend();
  return name === 'wasm' ? WASM_HEAP_BYTES : os.totalmem() / 2;
}

/** Largest batch whose estimate fits the budget (0 if not even one sample fits). */
export function maxBatchSize(model: tf.LayersModel, mode: MemoryMode, budgetBytes = memoryBudgetBytes()): number {
  const fixed = estimateHeapBytes(model, 0, mode);
  const per = estimateHeapBytes(model, 1, mode) - fixed;
  return Math.max(0, Math.floor((budgetBytes - fixed) / per));
}

/** Throw a clear error when `batch` cannot fit, naming the batch size that would. */
export function checkBatchFits(model: tf.LayersModel, batch: number, mode: MemoryMode, budgetBytes = memoryBudgetBytes()): void {
  const need = estimateHeapBytes(model, batch, mode);
  if (need <= budgetBytes) return;
  const fits = maxBatchSize(model, mode, budgetBytes);
  const gb = (b: number) => (b / 2 ** 30).toFixed(1);
  const what = mode === 'train' ? 'training' : mode === 'gradient' || mode === 'lrp' ? 'explaining' : 'running';
  throw new Error(
    `batch size ${batch} does not fit: ${what} ${model.name} at batch ${batch} needs about ${gb(need)} GB, ` +
      `the ${memoryBudgetBytes() === WASM_HEAP_BYTES ? 'wasm heap' : 'memory budget'} is ${gb(budgetBytes)} GB; ` +
      (fits > 0 ? `use batch size ${fits} or less` : 'not even batch size 1 fits: use a smaller input size or model'),
  );
}

/** The batch to use: the requested one if it fits (else an error), or the largest that fits up to `cap`. */
export function chooseBatchSize(model: tf.LayersModel, mode: MemoryMode, requested?: number, cap = 32): number {
  if (requested !== undefined) {
    checkBatchFits(model, requested, mode);
    return requested;
  }
  const fits = maxBatchSize(model, mode);
  if (fits < 1) checkBatchFits(model, 1, mode);
  return Math.min(cap, fits);
}
