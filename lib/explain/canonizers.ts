/**
 * Canonizers (Zennit's term): layers that are not explained as steps of their own but merged into the step before
 * them, so that the chain the LRP rules see is one of linear layers and activations. The model itself is never
 * modified: merging rewrites the chain's own copies of the weights. A canonizer is registered per tfjs layer class
 * (registerCanonizer, from a file or a notebook cell); BatchNormalization is the built-in one.
 */
import * as tf from '@tensorflow/tfjs';
import type { Step } from './step';

export interface Canonizer {
  /** The tfjs class name of the layers it merges (layer.getClassName()). */
  layerClass: string;
  /** Merge `layer` into `prev`, the chain's last step so far (undefined when there is none): rewrite its weights. */
  merge(prev: Step | undefined, layer: tf.layers.Layer): void;
}

const CANONIZERS = new Map<string, Canonizer>();

export function registerCanonizer(c: Canonizer, opts: { replace?: boolean } = {}): void {
  if (CANONIZERS.has(c.layerClass) && !opts.replace) throw new Error(`registerCanonizer: a canonizer for ${c.layerClass} is already registered (pass { replace: true } to replace it)`);
  CANONIZERS.set(c.layerClass, c);
}

export function canonizerFor(layerClass: string): Canonizer | undefined {
  return CANONIZERS.get(layerClass);
}

/** The layer classes that a registered canonizer merges. */
export function canonizedLayers(): string[] {
  return [...CANONIZERS.keys()];
}

/**
 * BatchNormalization after a Conv3D or Dense with a linear activation: y = gamma (Wx + b - mean) / sqrt(var + eps)
 * + beta is the linear layer with W' = W s and b' = (b - mean) s + beta, s = gamma / sqrt(var + eps) per output
 * channel (Zennit's SequentialMergeBatchNorm). The merged step is named "<conv>+<batchnorm>".
 */
export const mergeBatchNorm: Canonizer = {
  layerClass: 'BatchNormalization',
  merge(prev, layer) {
    if (!prev || (prev.kind !== 'conv3d' && prev.kind !== 'dense')) throw new Error(`layer "${layer.name}": BatchNormalization must directly follow a Conv3D or Dense layer (with a linear activation) to be folded`);
    const cfg = layer.getConfig() as Record<string, unknown>;
    const ws = layer.getWeights();
    let k = 0;
    const gamma = cfg.scale !== false ? ws[k++] : tf.onesLike(ws[ws.length - 2]);
    const beta = cfg.center !== false ? ws[k++] : tf.zerosLike(ws[ws.length - 2]);
    const mean = ws[k++];
    const variance = ws[k++];
    const eps = (cfg.epsilon as number) ?? 1e-3;
    const scale = tf.tidy(() => gamma.div(variance.add(eps).sqrt()));
    const kernel = tf.tidy(() => prev.kernel!.mul(scale));
    const bias = tf.tidy(() => prev.bias!.sub(mean).mul(scale).add(beta));
    tf.dispose([prev.kernel!, prev.bias!, scale]);
    prev.kernel = kernel;
    prev.bias = bias;
    prev.name = `${prev.name}+${layer.name}`;
  },
};

registerCanonizer(mergeBatchNorm);
