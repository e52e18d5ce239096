/**
 * The thesis's 3D CNN architectures as named presets.
 *
 * Every convolution is 3x3x3, stride 1, 'same' padding, ReLU; max pooling is 2x2x2 with stride 2; the head is
 * GlobalAveragePooling3D and ONE Dense layer to the classes with a linear activation, so the model's output is the
 * pre-softmax logit that CAM and LRP explain (softmax is applied by the loss and by evaluation code).
 *
 * 3D MNIST (thesis Table 2):
 *   mnist-2conv  Conv, Maxpool, Conv, GAP, Dense
 *   mnist-3conv  (Conv, Maxpool) x2, Conv, GAP, Dense
 *   mnist-4conv  Conv, (Conv, Maxpool) x2, Conv, GAP, Dense
 *   mnist-5conv  (Conv, Conv, Maxpool) x2, Conv, GAP, Dense
 *   mnist-6conv  (Conv, Conv, Maxpool) x2, Conv, Conv, GAP, Dense
 * OASIS-2 (thesis Table 4):
 *   oasis-3conv  (Conv, Maxpool) x3, GAP, Dense
 *   oasis-6conv  (Conv, Maxpool) x6, GAP, Dense
 *
 * Widths: the thesis does not give them. Default: VGG-like, a base width (16 for 3D MNIST, 8 for OASIS-2) doubled
 * after every max pooling; `baseWidth` changes the base, `widths` sets every convolution explicitly.
 */
import * as tf from '@tensorflow/tfjs';
import { globalAveragePooling3d } from './global-average-pooling-3d';
import { ReferenceCentering3D } from './reference-centering';

export type Block = 'conv' | 'pool';

export interface PresetSpec {
  dataset: 'mnist3d' | 'oasis2';
  blocks: readonly Block[];
  defaultBaseWidth: number;
  defaultInputSize: number;
  defaultClasses: number;
}

const C: Block = 'conv';
const P: Block = 'pool';

export const PRESETS = {
  'mnist-2conv': { dataset: 'mnist3d', blocks: [C, P, C], defaultBaseWidth: 16, defaultInputSize: 32, defaultClasses: 10 },
  'mnist-3conv': { dataset: 'mnist3d', blocks: [C, P, C, P, C], defaultBaseWidth: 16, defaultInputSize: 32, defaultClasses: 10 },
  'mnist-4conv': { dataset: 'mnist3d', blocks: [C, C, P, C, P, C], defaultBaseWidth: 16, defaultInputSize: 32, defaultClasses: 10 },
  'mnist-5conv': { dataset: 'mnist3d', blocks: [C, C, P, C, C, P, C], defaultBaseWidth: 16, defaultInputSize: 32, defaultClasses: 10 },
  'mnist-6conv': { dataset: 'mnist3d', blocks: [C, C, P, C, C, P, C, C], defaultBaseWidth: 16, defaultInputSize: 32, defaultClasses: 10 },
  'oasis-3conv': { dataset: 'oasis2', blocks: [C, P, C, P, C, P], defaultBaseWidth: 8, defaultInputSize: 128, defaultClasses: 2 },
  'oasis-6conv': { dataset: 'oasis2', blocks: [C, P, C, P, C, P, C, P, C, P, C, P], defaultBaseWidth: 8, defaultInputSize: 128, defaultClasses: 2 },
} as const satisfies Record<string, PresetSpec>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(name: string): name is PresetName {
  return Object.prototype.hasOwnProperty.call(PRESETS, name);
}

export interface BuildOptions {
  /** Cube side of the input volume (default: 32 for 3D MNIST, 128 for OASIS-2). */
  inputSize?: number;
  /** Input channels (default 1). */
  channels?: number;
  /** Number of classes (default: 10 for 3D MNIST, 2 for OASIS-2). */
  classes?: number;
  /** Width of the first convolution, doubled after each max pooling. */
  baseWidth?: number;
  /** Explicit width of every convolution (overrides baseWidth). */
  widths?: number[];
  /** Seed of the weight initialisers. */
  seed?: number;
  /**
   * Kernel initialiser of the convolutions: 'heNormal' (default; He et al. 2015, suited to ReLU and the sparse 3D
   * MNIST volumes, on which Glorot-initialised deep models can sit on the initial loss plateau for many epochs) or
   * 'glorotUniform' (Keras's default). The Dense layer is always Glorot uniform; biases start at zero.
   */
  convInit?: 'heNormal' | 'glorotUniform';
  /**
   * Centre the input on a reference volume first (lib/models/reference-centering.ts): a layer named "center",
   * y = (x - reference) * scale, before conv1. The reference is C-order [D, H, W, channels].
   */
  centering?: { reference: Float32Array; scale: number };
}

/** Widths of the preset's convolutions in order. */
export function presetWidths(name: PresetName, opts: BuildOptions = {}): number[] {
  const spec: PresetSpec = PRESETS[name];
  const nConv = spec.blocks.filter((b) => b === 'conv').length;
  if (opts.widths) {
    if (opts.widths.length !== nConv || opts.widths.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new Error(`${name}: widths must be ${nConv} positive integers, got [${opts.widths}]`);
    }
    return opts.widths.slice();
  }
  const out: number[] = [];
  let w = opts.baseWidth ?? spec.defaultBaseWidth;
  for (const b of spec.blocks) {
    if (b === 'conv') out.push(w);
    else w *= 2;
  }
  return out;
}

/** Smallest side of the last feature maps (the CAM grid) that a preset keeps by dropping trailing max poolings. */
export const MIN_CAM_GRID = 2;

/**
 * The preset's blocks for an input of side `size`: trailing max poolings are dropped while the last feature maps
 * would be smaller than MIN_CAM_GRID per side (a 1x1x1 grid makes CAM one constant). oasis-6conv at the thesis's
 * 128^3 keeps all six poolings (2^3 grid); at 64^3 it drops the last one (the 128^3 geometry scaled: same layers and
 * widths, one pooling fewer, again a 2^3 grid).
 */
export function presetBlocks(name: PresetName, size: number): Block[] {
  const blocks: Block[] = [...PRESETS[name].blocks];
  let pools = blocks.filter((b) => b === 'pool').length;
  while (pools > 0 && size / 2 ** pools < MIN_CAM_GRID) {
    blocks.splice(blocks.lastIndexOf('pool'), 1);
    pools--;
  }
  return blocks;
}

/** A short description of the built architecture, e.g. "64:C8 P C16 P C32 ... GAP D2" (part of training cache keys). */
export function describeArchitecture(name: PresetName, opts: BuildOptions & { centred?: boolean } = {}): string {
  const size = opts.inputSize ?? PRESETS[name].defaultInputSize;
  const widths = presetWidths(name, opts);
  let c = 0;
  const body = presetBlocks(name, size).map((b) => (b === 'conv' ? `C${widths[c++]}` : 'P')).join(' ');
  return `${size}:${opts.centering || opts.centred ? 'R ' : ''}${body} GAP D${opts.classes ?? PRESETS[name].defaultClasses}:${opts.convInit ?? 'heNormal'}`;
}

/** Build a preset as a tf.Sequential with layer names conv1..convN, pool1..poolM, gap, dense. */
export function buildModel(name: string, opts: BuildOptions = {}): tf.Sequential {
  if (!isPresetName(name)) throw new Error(`unknown model preset "${name}"; use one of: ${PRESET_NAMES.join(', ')}`);
  const spec: PresetSpec = PRESETS[name];
  const size = opts.inputSize ?? spec.defaultInputSize;
  const channels = opts.channels ?? 1;
  const classes = opts.classes ?? spec.defaultClasses;
  const seed = opts.seed ?? 0;
  const widths = presetWidths(name, opts);
  if (!Number.isInteger(size) || size < MIN_CAM_GRID) throw new Error(`${name}: inputSize ${size} must be an integer >= ${MIN_CAM_GRID}`);
  const blocks = presetBlocks(name, size);
  const model = tf.sequential({ name });
  let conv = 0;
  let pool = 0;
  let first = true;
  if (opts.centering) {
    model.add(new ReferenceCentering3D({ name: 'center', inputShape: [size, size, size, channels], scale: opts.centering.scale, reference: opts.centering.reference }));
    first = false;
  }
  for (const b of blocks) {
    const inputShape = first ? { inputShape: [size, size, size, channels] } : {};
    first = false;
    if (b === 'conv') {
      conv += 1;
      model.add(
        tf.layers.conv3d({
          ...inputShape,
          name: `conv${conv}`,
          filters: widths[conv - 1],
          kernelSize: 3,
          strides: 1,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: (opts.convInit ?? 'heNormal') === 'heNormal' ? tf.initializers.heNormal({ seed: seed * 1000 + conv }) : tf.initializers.glorotUniform({ seed: seed * 1000 + conv }),
          biasInitializer: 'zeros',
        }),
      );
    } else {
      pool += 1;
      model.add(tf.layers.maxPooling3d({ ...inputShape, name: `pool${pool}`, poolSize: 2, strides: 2, padding: 'valid' }));
    }
  }
  model.add(globalAveragePooling3d({ name: 'gap' }));
  model.add(
    tf.layers.dense({
      name: 'dense',
      units: classes,
      activation: 'linear',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 1000 + 999 }),
      biasInitializer: 'zeros',
    }),
  );
  return model;
}

/** Number of trainable parameters of a preset (without building tensors for it). */
export function parameterCount(name: PresetName, opts: BuildOptions = {}): number {
  const spec: PresetSpec = PRESETS[name];
  const widths = presetWidths(name, opts);
  let inCh = opts.channels ?? 1;
  let n = 0;
  for (const w of widths) {
    n += 27 * inCh * w + w;
    inCh = w;
  }
  const classes = opts.classes ?? spec.defaultClasses;
  return n + inCh * classes + classes;
}
