/**
 * The wasm backend, configured for 3D CNNs. (Fast kernels: see issue "Fast and correct 3D convolution".)
 */
import type { BackendName } from './select';

export async function configureWasm(
  threads: number,
  useBackend: (name: BackendName) => Promise<void>,
): Promise<{ threads: number; fast: boolean }> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require('@tensorflow/tfjs-backend-wasm');
  void threads;
  await useBackend('wasm');
  return { threads: 1, fast: false };
}
