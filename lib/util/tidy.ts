/** tf.tidy for functions that return plain data (numbers, typed arrays): every tensor made inside is disposed. */
import * as tf from '@tensorflow/tfjs';

export function tidyValue<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}
