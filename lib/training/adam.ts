/**
 * Adam as training uses it: tfjs's AdamOptimizer with each variable's update in one fused kernel on the wasm backend
 * with xai3d's SIMD kernels (lib/backend/adam.ts: the same float32 operations in the same order, so the same
 * weights bit for bit), and tfjs's own update elsewhere. Moments, step counters and serialisation are tfjs's.
 */
import * as tf from '@tensorflow/tfjs';
import { ADAM } from '../backend/adam';
import { fusedAdamAvailable } from '../backend/kernels3d';

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  incrementIterations(): void;
}

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  static override get className(): string {
    return 'Adam';
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (!fusedAdamAvailable()) return super.applyGradients(variableGradients);
    const self = this as unknown as AdamInternals;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    // 1 - b^t in float32, as tfjs's sub(1, accBeta) computes it (the difference of two float32 values is exact in a
    // double, so rounding it once gives the float32 result).
    const a1 = Math.fround(1 - self.accBeta1.dataSync()[0]);
    const a2 = Math.fround(1 - self.accBeta2.dataSync()[0]);
    const scalars = [self.beta1, 1 - self.beta1, self.beta2, 1 - self.beta2, a1, a2, self.epsilon, -self.learningRate];
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const gradient = Array.isArray(variableGradients) ? variableGradients[i].tensor : (variableGradients as tf.NamedTensorMap)[name];
        if (gradient == null) return;
        const m = self.accumulatedFirstMoment[i]!.variable;
        const v = self.accumulatedSecondMoment[i]!.variable;
        if (value.dtype !== 'float32' || gradient.dtype !== 'float32') throw new Error(`FusedAdamOptimizer: ${name} is ${value.dtype}, not float32`);
        const [nextValue, nextM, nextV] = tf.engine().runKernel(ADAM, { value, m, v, g: gradient }, { scalars } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(nextM);
        v.assign(nextV);
        value.assign(nextValue);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    self.incrementIterations();
  }
}

/** Adam with tfjs's defaults (beta1 0.9, beta2 0.999, epsilon the backend's), fused where the kernels allow. */
export function adam(learningRate: number): tf.AdamOptimizer {
  return new FusedAdamOptimizer(learningRate, 0.9, 0.999);
}
