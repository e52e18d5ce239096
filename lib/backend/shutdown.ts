/**
 * Ending a process cleanly. The wasm backend's worker threads keep Node alive after the work is done, so
 * commands end through shutdown(): it releases the backend's threads and sets the exit code.
 */
import * as tf from '@tensorflow/tfjs';

export function shutdown(code: number): void {
  process.exitCode = code;
  try {
    if (tf.findBackend('wasm') !== null) tf.removeBackend('wasm');
  } catch {
    /* nothing to release */
  }
  // Flush stdout/stderr, then exit even if a library left a handle open.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
