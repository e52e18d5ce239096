/** A step of an explainable chain (chain.ts builds them from a model's layers; canonizers.ts rewrites them). */
import type * as tf from '@tensorflow/tfjs';

export type StepKind = 'center' | 'conv3d' | 'dense' | 'maxpool3d' | 'avgpool3d' | 'gap3d' | 'flatten' | 'relu' | 'identity';

export interface Step {
  kind: StepKind;
  /** Name of the model layer (for folded batch norms: the conv's name). */
  name: string;
  /** Position among the weight layers: 'conv1'..'convN' or 'dense' ('dense1'.. when several). */
  position?: string;
  /** Weights (conv3d: [kD, kH, kW, C, F]; dense: [in, out]) and bias, folded with any batch normalisation. */
  kernel?: tf.Tensor;
  bias?: tf.Tensor;
  /** Conv3D / pooling geometry. */
  strides?: [number, number, number];
  padding?: 'same' | 'valid';
  poolSize?: [number, number, number];
  /** 'center': the reference volume [D, H, W, C] and the scale. */
  reference?: tf.Tensor;
  scale?: number;
  /** Index of the model layer this step comes from. */
  layerIndex: number;
}
