/**
 * GlobalAveragePooling3D: the spatial mean of each channel of a 5-D volume, [N, D, H, W, C] -> [N, C].
 *
 * tfjs-layers 4.22 has GlobalAveragePooling1D/2D but not 3D. This layer is registered under Keras's class name with
 * Keras's config (data_format, keepdims), so `model.save` / `tf.loadLayersModel` round-trip and Keras models
 * converted with tensorflowjs_converter load unchanged. CAM relies on it: logit_c = mean(sum_k w_kc A_k) + b_c.
 */
import * as tf from '@tensorflow/tfjs';

export interface GlobalAveragePooling3DArgs {
  name?: string;
  trainable?: boolean;
  dtype?: tf.DataType;
  inputShape?: (number | null)[];
  batchInputShape?: (number | null)[];
  /** 'channelsLast' (default; NDHWC) or 'channelsFirst' (NCDHW). */
  dataFormat?: 'channelsLast' | 'channelsFirst';
  /** Keep the reduced spatial axes as size 1 (Keras `keepdims`). */
  keepDims?: boolean;
}

type Shape = (number | null)[];

export class GlobalAveragePooling3D extends tf.layers.Layer {
  static className = 'GlobalAveragePooling3D';
  readonly dataFormat: 'channelsLast' | 'channelsFirst';
  readonly keepDims: boolean;

  constructor(args: GlobalAveragePooling3DArgs = {}) {
    const { dataFormat, keepDims, ...layerArgs } = args as GlobalAveragePooling3DArgs & { keepdims?: boolean };
    super(layerArgs);
    const format = dataFormat ?? 'channelsLast';
    if (format !== 'channelsLast' && format !== 'channelsFirst') {
      throw new Error(`GlobalAveragePooling3D: dataFormat "${String(format)}" is not channelsLast or channelsFirst`);
    }
    this.dataFormat = format;
    this.keepDims = keepDims ?? (args as { keepdims?: boolean }).keepdims ?? false;
    this.inputSpec = [{ ndim: 5 }];
  }

  /** The spatial axes of a 5-D input. */
  spatialAxes(): [number, number, number] {
    return this.dataFormat === 'channelsLast' ? [1, 2, 3] : [2, 3, 4];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (s.length !== 5) throw new Error(`GlobalAveragePooling3D expects a 5-D input, got shape [${s.join(', ')}]`);
    const channels = this.dataFormat === 'channelsLast' ? s[4] : s[1];
    if (this.keepDims) return this.dataFormat === 'channelsLast' ? [s[0], 1, 1, 1, channels] : [s[0], channels, 1, 1, 1];
    return [s[0], channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.mean(x, this.spatialAxes(), this.keepDims);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    // 'keepdims' exactly as Keras spells it (a camelCase key would be saved as keep_dims).
    return { ...super.getConfig(), dataFormat: this.dataFormat, keepdims: this.keepDims };
  }
}

tf.serialization.registerClass(GlobalAveragePooling3D);

/** Factory in the style of tf.layers.*. */
export function globalAveragePooling3d(args: GlobalAveragePooling3DArgs = {}): GlobalAveragePooling3D {
  return new GlobalAveragePooling3D(args);
}
