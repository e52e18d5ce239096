/**
 * ReferenceCentering3D: y = (x - r) * s, with r a fixed reference volume [D, H, W, C] (the mean of the training
 * fold's volumes) and s a fixed scalar, both stored with the model and never trained.
 *
 * Why: on brain MRI every volume shares the same anatomy; a GAP network fed the raw [0, 1] intensities sees features
 * dominated by what all brains share and cannot even fit its training set (README, "Known limits"). Centred on the
 * training mean, the input carries what differs between subjects. The reference is computed from training volumes
 * only (no labels, no test volumes), so it leaks nothing.
 *
 * Explanations of such a model are of its centred input x' (the deviation from the reference): lib/explain/chain.ts
 * keeps the layer as a first step 'center', LRP passes relevance from x' to the voxel unchanged, gradients are taken
 * in x', and zB's [0, 1] bounds are mapped the same way (docs/methods.md, "Models").
 */
import * as tf from '@tensorflow/tfjs';

export interface ReferenceCenteringArgs {
  name?: string;
  inputShape?: (number | null)[];
  batchInputShape?: (number | null)[];
  dtype?: tf.DataType;
  trainable?: boolean;
  /** The scale s applied after subtracting the reference. */
  scale: number;
  /** Initial reference (C-order [D, H, W, C]); zeros when absent (a model being deserialised gets its saved weights). */
  reference?: Float32Array;
}

type Shape = (number | null)[];

export class ReferenceCentering3D extends tf.layers.Layer {
  static className = 'ReferenceCentering3D';
  readonly scale: number;
  private readonly initial?: Float32Array;
  private reference: tf.LayerVariable | null = null;

  constructor(args: ReferenceCenteringArgs) {
    const { scale, reference, ...layerArgs } = args;
    super({ ...layerArgs, trainable: false });
    if (!(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) throw new Error(`ReferenceCentering3D: scale must be a positive finite number, got ${String(scale)}`);
    this.scale = scale;
    this.initial = reference;
    this.inputSpec = [{ ndim: 5 }];
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const shape = s.slice(1) as number[];
    if (shape.some((d) => d === null)) throw new Error('ReferenceCentering3D needs a fixed input shape');
    const n = shape.reduce((a, b) => a * b, 1);
    if (this.initial && this.initial.length !== n) throw new Error(`ReferenceCentering3D: reference has ${this.initial.length} values, the input ${n} (shape [${shape.join(', ')}])`);
    this.reference = this.addWeight('reference', shape, 'float32', tf.initializers.zeros(), undefined, false);
    if (this.initial) this.reference.write(tf.tensor(this.initial, shape));
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return x.sub(this.reference!.read()).mul(this.scale);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scale: this.scale };
  }
}

tf.serialization.registerClass(ReferenceCentering3D);

/** Root mean square that the centred training inputs are scaled to. */
export const CENTRED_RMS = 0.5;

/**
 * The reference (mean volume) and scale of a set of volumes: r = mean_i x_i, s = CENTRED_RMS / rms(x_i - r), so the
 * centred inputs have a root mean square of CENTRED_RMS (on the phantom cohort at 64^3, rms(x - r) is about 0.14).
 */
export function referenceOf(volumes: Iterable<Float32Array>): { reference: Float32Array; scale: number } {
  let sum: Float64Array | null = null;
  let sq: Float64Array | null = null;
  let n = 0;
  for (const v of volumes) {
    if (!sum) {
      sum = new Float64Array(v.length);
      sq = new Float64Array(v.length);
    }
    if (v.length !== sum.length) throw new Error(`referenceOf: volumes differ in size (${v.length} vs ${sum.length})`);
    for (let j = 0; j < v.length; j++) {
      sum[j] += v[j];
      sq![j] += v[j] * v[j];
    }
    n++;
  }
  if (!sum || n === 0) throw new Error('referenceOf: no volumes');
  const reference = new Float32Array(sum.length);
  let dev = 0;
  for (let j = 0; j < sum.length; j++) {
    const m = sum[j] / n;
    reference[j] = m;
    dev += Math.max(0, sq![j] / n - m * m);
  }
  const rms = Math.sqrt(dev / sum.length);
  if (!(rms > 0)) throw new Error('referenceOf: the volumes are all identical (no variation to centre)');
  return { reference, scale: CENTRED_RMS / rms };
}
