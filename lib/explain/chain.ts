/**
 * A tfjs LayersModel as a chain of explainable steps.
 *
 * Supported layers: InputLayer, Conv3D, Dense, MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, Flatten,
 * Dropout, Activation (relu/linear), BatchNormalization (folded into the preceding convolution or dense layer by the
 * canonizer in canonizers.ts; the model itself is never modified) and ReferenceCentering3D, kept as a first
 * step 'center' (x' = (x - r) s): explanations of such a model attribute the centred input x', the volume's deviation
 * from the reference (docs/methods.md, "Models"), and relevance passes from x' to the voxel of x unchanged. Conv3D and Dense may carry a relu or linear
 * activation; a final softmax is dropped, since explanations start from the logit (xai-conventions.md).
 */
import * as tf from '@tensorflow/tfjs';
import { canonizedLayers, canonizerFor } from './canonizers';
import type { Step } from './step';
import { fusedConv3d, fusedConvAvailable } from '../backend/fused-conv';

export type { Step, StepKind } from './step';

/** The layers the chain turns into steps itself (canonizers.ts adds the ones merged into a neighbour). */
export const SUPPORTED_LAYERS = ['InputLayer', 'Conv3D', 'Dense', 'MaxPooling3D', 'AveragePooling3D', 'GlobalAveragePooling3D', 'Flatten', 'Dropout', 'Activation', 'ReferenceCentering3D'];

function triple(v: unknown): [number, number, number] {
  if (typeof v === 'number') return [v, v, v];
  const a = v as number[];
  return [a[0], a[1], a[2]];
}

function activationName(cfg: Record<string, unknown>): string {
  const a = cfg.activation;
  return typeof a === 'string' ? a : 'linear';
}

/** Turn the model into steps; throws naming the first unsupported layer. Tensors in steps belong to the caller. */
export function modelChain(model: tf.LayersModel): Step[] {
  const layers = model.layers;
  for (const l of layers) {
    if (l.inboundNodes.length > 1 || (l.inboundNodes[0] && l.inboundNodes[0].inboundLayers.length > 1)) {
      throw new Error(`layer "${l.name}" has several inputs or is shared: xai3d explains sequential (chain) models only`);
    }
  }
  const steps: Step[] = [];
  let convCount = 0;
  let denseCount = 0;
  const denseTotal = layers.filter((l) => l.getClassName() === 'Dense').length;
  layers.forEach((layer, i) => {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    switch (cls) {
      case 'ReferenceCentering3D': {
        if (steps.length > 0) throw new Error(`layer "${layer.name}": ReferenceCentering3D must be the model's first layer`);
        const [reference] = layer.getWeights();
        steps.push({ kind: 'center', name: layer.name, reference: reference.clone(), scale: Number(cfg.scale), layerIndex: i });
        return;
      }
      case 'InputLayer':
      case 'Dropout':
        return;
      case 'Conv3D':
      case 'Dense': {
        const [kernel, bias] = layer.getWeights();
        const useBias = cfg.useBias !== false && bias !== undefined;
        const dilation = triple(cfg.dilationRate ?? 1);
        if (cls === 'Conv3D' && (dilation[0] !== 1 || dilation[1] !== 1 || dilation[2] !== 1)) {
          throw new Error(`layer "${layer.name}": dilated Conv3D is not supported by the LRP engine`);
        }
        if (cls === 'Conv3D' && cfg.dataFormat === 'channelsFirst') throw new Error(`layer "${layer.name}": channelsFirst Conv3D is not supported; use channelsLast (NDHWC)`);
        const isConv = cls === 'Conv3D';
        if (isConv) convCount += 1;
        else denseCount += 1;
        steps.push({
          kind: isConv ? 'conv3d' : 'dense',
          name: layer.name,
          position: isConv ? `conv${convCount}` : denseTotal === 1 ? 'dense' : `dense${denseCount}`,
          kernel: kernel.clone(),
          bias: useBias ? bias.clone() : tf.zeros([kernel.shape[kernel.shape.length - 1]]),
          strides: isConv ? triple(cfg.strides ?? 1) : undefined,
          padding: isConv ? (cfg.padding as 'same' | 'valid') : undefined,
          layerIndex: i,
        });
        pushActivation(activationName(cfg), layer.name, i, i === layers.length - 1);
        return;
      }
      case 'MaxPooling3D':
      case 'AveragePooling3D': {
        const pool = triple(cfg.poolSize ?? 2);
        const strides = triple(cfg.strides ?? pool);
        if (pool.some((p, a) => p !== strides[a])) throw new Error(`layer "${layer.name}": pooling with strides different from the pool size is not supported`);
        steps.push({ kind: cls === 'MaxPooling3D' ? 'maxpool3d' : 'avgpool3d', name: layer.name, poolSize: pool, strides, padding: (cfg.padding as 'same' | 'valid') ?? 'valid', layerIndex: i });
        return;
      }
      case 'GlobalAveragePooling3D':
        if (cfg.keepdims === true || cfg.keepDims === true) throw new Error(`layer "${layer.name}": keepdims GlobalAveragePooling3D is not supported`);
        steps.push({ kind: 'gap3d', name: layer.name, layerIndex: i });
        return;
      case 'Flatten':
        steps.push({ kind: 'flatten', name: layer.name, layerIndex: i });
        return;
      case 'Activation':
        pushActivation(activationName(cfg), layer.name, i, i === layers.length - 1);
        return;
      default: {
        // A layer a canonizer merges into the step before it (BatchNormalization into its convolution).
        const canonizer = canonizerFor(cls);
        if (canonizer) {
          canonizer.merge(steps.length > 0 ? steps[steps.length - 1] : undefined, layer);
          return;
        }
        throw new Error(`layer "${layer.name}" (${cls}) is not supported by the explanation engine; supported: ${[...SUPPORTED_LAYERS, ...canonizedLayers()].join(', ')}`);
      }
    }
  });

  function pushActivation(act: string, name: string, i: number, last: boolean): void {
    if (act === 'linear') return;
    if (act === 'relu') {
      steps.push({ kind: 'relu', name: `${name}/relu`, layerIndex: i });
      return;
    }
    if (act === 'softmax' && last) return; // explanations use the logit
    throw new Error(`layer "${name}": activation "${act}" is not supported (relu or linear; a final softmax is ignored)`);
  }

  if (steps.length === 0 || steps[steps.length - 1].kind !== 'dense') {
    throw new Error('the model must end with a Dense layer producing the class scores');
  }
  return steps;
}

/** The chain's input centering step (a ReferenceCentering3D first layer), if it has one. */
export function centeringStep(steps: Step[]): Step | undefined {
  return steps[0]?.kind === 'center' ? steps[0] : undefined;
}

/** Free the tensors held by a chain. */
export function disposeChain(steps: Step[]): void {
  for (const s of steps) tf.dispose([s.kernel, s.bias, s.reference].filter((t): t is tf.Tensor => !!t));
}

/** Apply a linear step (conv3d/dense) with given weights (no activation). */
export function linear(step: Step, x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null): tf.Tensor {
  if (step.kind === 'conv3d') {
    // Convolution and bias in one pass where the fused op runs (the same bits as the two ops).
    if (bias && fusable(step, x)) return fusedConv3d(x as tf.Tensor5D, kernel as tf.Tensor5D, bias.reshape([-1]) as tf.Tensor1D, step.padding!, 'linear');
    const y = tf.conv3d(x as tf.Tensor5D, kernel as tf.Tensor5D, step.strides!, step.padding!);
    return bias ? y.add(bias) : y;
  }
  const y = tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
  return bias ? y.add(bias) : y;
}

/** Forward one step. */
export function forwardStep(step: Step, x: tf.Tensor): tf.Tensor {
  switch (step.kind) {
    case 'center':
      return x.sub(step.reference!).mul(step.scale!);
    case 'conv3d':
    case 'dense':
      return linear(step, x, step.kernel!, step.bias!);
    case 'relu':
      return tf.relu(x);
    case 'maxpool3d':
      return tf.maxPool3d(x as tf.Tensor5D, step.poolSize!, step.strides!, step.padding!);
    case 'avgpool3d':
      return tf.avgPool3d(x as tf.Tensor5D, step.poolSize!, step.strides!, step.padding!);
    case 'gap3d':
      return tf.mean(x, [1, 2, 3]);
    case 'flatten':
      return x.reshape([x.shape[0], -1]);
    case 'identity':
      return x;
  }
}

/**
 * A stride-1 convolution with a bias followed by a ReLU, computed as one fused op where it runs (the same bits as
 * the two steps: lib/backend/fused-conv.ts), else null.
 */
function fusedConvRelu(steps: Step[], i: number, h: tf.Tensor): tf.Tensor | null {
  const s = steps[i];
  if (s.kind !== 'conv3d' || steps[i + 1]?.kind !== 'relu' || !s.bias || !fusable(s, h)) return null;
  return fusedConv3d(h as tf.Tensor5D, s.kernel as tf.Tensor5D, s.bias.reshape([-1]) as tf.Tensor1D, s.padding!, 'relu');
}

/** Can a stride-1 convolution step on x run as the fused op here? */
function fusable(step: Step, x: tf.Tensor): boolean {
  return step.strides!.every((v) => v === 1) && x.dtype === 'float32' && fusedConvAvailable();
}

/**
 * Forward step i of the chain on h, with step i + 1 when it is the ReLU of a convolution that runs fused (and
 * i + 1 < end): the output and the index of the next step to run.
 */
export function forwardFrom(steps: Step[], i: number, h: tf.Tensor, end = steps.length): [tf.Tensor, number] {
  const fused = i + 1 < end ? fusedConvRelu(steps, i, h) : null;
  return fused ? [fused, i + 2] : [forwardStep(steps[i], h), i + 1];
}

/**
 * Forward the chain, returning the input of every step and the output (logits). Where a convolution and its ReLU
 * run fused, the ReLU step's input is its output (no rule reads a ReLU's input: relevance passes it unchanged), and
 * the pre-activation is never made; steps in `keepPreActivation` are not fused (their ReLU's input is z).
 */
export function forwardChain(steps: Step[], x: tf.Tensor, keepPreActivation: ReadonlySet<number> = new Set()): { inputs: tf.Tensor[]; logits: tf.Tensor2D } {
  const inputs: tf.Tensor[] = [];
  let h = x;
  for (let i = 0; i < steps.length; ) {
    inputs.push(h);
    const [out, next] = keepPreActivation.has(i) ? [forwardStep(steps[i], h), i + 1] : forwardFrom(steps, i, h);
    if (next === i + 2) inputs.push(out); // the fused ReLU's "input"
    h = out;
    i = next;
  }
  return { inputs, logits: h as tf.Tensor2D };
}

/** The chain's logits (a final softmax dropped), freeing each intermediate activation as soon as it is used. */
export function forwardLogits(steps: Step[], x: tf.Tensor): tf.Tensor2D {
  let h = x;
  for (let i = 0; i < steps.length; ) {
    const [out, next] = forwardFrom(steps, i, h);
    if (h !== x) h.dispose();
    h = out;
    i = next;
  }
  return (h === x ? h.clone() : h) as tf.Tensor2D;
}
