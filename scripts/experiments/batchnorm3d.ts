/** A batch normalisation layer for rank-5 tensors (tfjs has none), for the learnability experiments only. */
import * as tf from '@tensorflow/tfjs';
export class BatchNorm3d extends tf.layers.Layer {
  static className = 'BatchNorm3d';
  gamma!: tf.LayerVariable; beta!: tf.LayerVariable; movMean!: tf.LayerVariable; movVar!: tf.LayerVariable;
  constructor(cfg: any = {}) { super(cfg); }
  override build(shape: tf.Shape | tf.Shape[]) {
    const c = (shape as number[])[4];
    this.gamma = this.addWeight('gamma', [c], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [c], 'float32', tf.initializers.zeros());
    this.movMean = this.addWeight('moving_mean', [c], 'float32', tf.initializers.zeros(), undefined, false);
    this.movVar = this.addWeight('moving_variance', [c], 'float32', tf.initializers.ones(), undefined, false);
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: any) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => {
      if (kwargs?.training) {
        const { mean, variance } = tf.moments(x, [0, 1, 2, 3]);
        const m = tf.keep(mean.clone()); const v = tf.keep(variance.clone());
        const nm = this.movMean.read().mul(0.9).add(m.mul(0.1)); const nv = this.movVar.read().mul(0.9).add(v.mul(0.1));
        this.movMean.write(tf.keep(nm) as any); this.movVar.write(tf.keep(nv) as any);
        return x.sub(mean).mul(this.gamma.read().div(variance.add(1e-3).sqrt())).add(this.beta.read());
      }
      return x.sub(this.movMean.read()).mul(this.gamma.read().div(this.movVar.read().add(1e-3).sqrt())).add(this.beta.read());
    });
  }
  override getClassName() { return 'BatchNorm3d'; }
}
tf.serialization.registerClass(BatchNorm3d);
