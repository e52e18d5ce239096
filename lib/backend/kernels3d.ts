/**
 * Fast, correct 3D kernels for tfjs's wasm backend.
 *
 * As shipped (tfjs 4.22), the wasm backend runs Conv3D as naive loops (~1 GFLOP/s) and its Conv3DBackpropInputV2
 * returns wrong values. These replacements are registered under the same kernel names, so tf.conv3d, tf.grad and
 * tf.layers use them without any change to their code. Each has two paths: xai3d's SIMD kernels (simd/kernels.wat,
 * two threads, on tfjs's memory; counted as "<Kernel>:simd") where they apply, else JS loops and XNNPACK ("fast").
 * On the SIMD path the convolutions, filter gradients and input paddings run in xai3d's native AVX2 kernels where
 * they are built and the CPU has AVX2 + FMA (native.ts; counted as "conv:native", "filterGrad:native", ...).
 *
 * - Conv3D (stride 1, dilation 1). SIMD: straight from the zero-padded input, 4 x 8 register tiles for 8k filters
 *   (`conv`), else dot products over 4k input channels (`convDot`). Otherwise a "depth stack"
 *   S[n*Do+d, h, w, s*C+c] = x[n, d+s-front, h, w, c] (zero outside), then ONE XNNPACK conv2d of S with the filter
 *   laid out as [kH, kW, kD*C, F] and explicit H/W padding.
 * - Conv3DBackpropInputV2 (stride 1): the same routines on dy with the filter flipped in all three spatial axes,
 *   in/out channels swapped, and the complementary padding (kD-1-front, kD-1-back, ...). Strided cases use a
 *   direct (slow, correct) loop: the shipped kernel is never used.
 * - Conv3DBackpropFilterV2 (stride 1). SIMD (`filterGrad`): 4 x 8 tiles of dW accumulated over the output positions
 *   (no im2col, no padding waste), float64 per block of planes. Otherwise a transposed im2col A[kD*kH*kW*C, M] times
 *   dy[M, F] with the backend's matMul, in chunks of M, accumulated in float64; on a zero-padded grid every im2col row
 *   is one contiguous copy. Strided cases: direct accumulation (the shipped kernel is wrong for strided 'same'
 *   convolutions).
 * - MaxPool3D / MaxPool3DGrad: ties go to the last maximum in window order (d, h, w), exactly as tfjs's cpu backend
 *   does, so gradients (and LRP's winner-take-all) agree across backends. SIMD for 2x2x2 windows, stride 2, 4k
 *   channels; direct loops otherwise.
 * - AvgPool3D / AvgPool3DGrad (LRP's proportional pooling): SIMD for 2x2x2 windows, stride 2, 4k channels; otherwise
 *   the shipped kernels.
 * - Sum / Mean over one contiguous block of axes (bias gradients, global average pooling, per-sample totals): column
 *   or row sums with float64 accumulators instead of a full transpose (SIMD for large ones).
 * - Xai3dStabilisedDivide: LRP's R / (z + eps sign z) in one pass (an xai3d kernel, wasm only; lrp/rules.ts).
 * - Xai3dLrpConv3D, Xai3dLrpPool2 (native kernels only; conv3d.ts): an LRP rule's convolution or transposed
 *   convolution with its bias, multiply, add and stabilised division applied as each output is stored, and the
 *   proportional 2x2x2 pooling in one pass; the same bits as the kernels they replace.
 * - Add (bias broadcast over the last axis), Relu, Relu's gradient (Xai3dReluGrad) and Identity (shares data): the
 *   elementwise passes of a training step (elementwise.ts).
 * Anything else (other strides, dilations, dtypes) falls back to the shipped kernel, whose forward passes are correct.
 *
 * Files: this one installs and switches the kernels; conv3d.ts (forward, input gradient), conv3d-filter-grad.ts,
 * pool3d.ts, reduce.ts (Sum/Mean, LRP's division), elementwise.ts; kernel-common.ts (fallbacks, shapes, state) and
 * heap.ts (the wasm heap) are shared; simd/ holds the WebAssembly kernels.
 */

import * as tf from '@tensorflow/tfjs';
import { simd } from './simd/index';
import { kernelCalls, type Kernel } from './heap';
import { activeKernels, fallback, originals, setActiveKernels } from './kernel-common';
import { conv3dBackpropInputKernel, conv3dKernel, FUSED_CONV3D, fusedConv3dKernel, LRP_CONV3D, LRP_POOL2, lrpConv3dKernel, lrpPool2Kernel } from './conv3d';
import { installFusedConvLayers } from './fused-conv';
import { conv3dBackpropFilterKernel } from './conv3d-filter-grad';
import { avgPool3dGradKernel, avgPool3dKernel, maxPool3dGradKernel, maxPool3dKernel } from './pool3d';
import { contiguousReduce, STABILISED_DIVIDE, stabilisedDivideFused, stabilisedDivideKernel } from './reduce';
import { elementwiseKernels, RELU_GRAD, reluGradientConfig, reluGradKernel } from './elementwise';
import { ADAM, adamKernel } from './adam';

export { activeKernels, kernelCalls, STABILISED_DIVIDE, stabilisedDivideFused };

export const REPLACED_KERNELS = [
  'Conv3D',
  'Conv3DBackpropInputV2',
  'Conv3DBackpropFilterV2',
  'MaxPool3D',
  'MaxPool3DGrad',
  'AvgPool3D',
  'AvgPool3DGrad',
  'Sum',
  'Mean',
  'Add',
  'Relu',
  'Identity',
] as const;

const replacements = new Map<string, tf.KernelConfig>();

const IMPLEMENTATIONS: Record<(typeof REPLACED_KERNELS)[number], Kernel> = {
  Conv3D: conv3dKernel,
  Conv3DBackpropInputV2: conv3dBackpropInputKernel,
  Conv3DBackpropFilterV2: conv3dBackpropFilterKernel,
  MaxPool3D: maxPool3dKernel,
  MaxPool3DGrad: maxPool3dGradKernel,
  AvgPool3D: avgPool3dKernel,
  AvgPool3DGrad: avgPool3dGradKernel,
  Sum: (args) => contiguousReduce('Sum', args),
  Mean: (args) => contiguousReduce('Mean', args),
  ...elementwiseKernels(fallback),
};

/** Can ReLU's gradient run as the fused SIMD kernel here (wasm, fast kernels on, SIMD on, float32, one shape)? */
function reluGradFused(dy: tf.Tensor, x: tf.Tensor): boolean {
  return activeKernels() === 'fast' && simd() !== undefined && tf.getBackend() === 'wasm' && dy.dtype === 'float32' && x.dtype === 'float32' && dy.size === x.size && dy.size >= 16384;
}

/** Can Adam's update run as the fused SIMD kernel here (wasm, fast kernels on, SIMD on)? */
export function fusedAdamAvailable(): boolean {
  return activeKernels() === 'fast' && simd() !== undefined && tf.getBackend() === 'wasm';
}

function swapIn(configs: Map<string, tf.KernelConfig>): void {
  for (const [name, config] of configs) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
}

/**
 * Register xai3d's kernels for the wasm backend in place of the shipped ones. Call before the wasm backend
 * initialises (their setup functions are the shipped kernels' ones, which the fallbacks need).
 */
export function installFast3dKernels(): void {
  if (activeKernels() !== 'none') {
    if (activeKernels() === 'stock') swapIn(replacements);
    setActiveKernels('fast');
    return;
  }
  for (const name of REPLACED_KERNELS) {
    const orig = tf.getKernel(name, 'wasm');
    if (!orig) throw new Error(`tfjs-backend-wasm has no ${name} kernel to replace (is it version 4.22.0?)`);
    originals.set(name, orig);
    replacements.set(name, {
      kernelName: name,
      backendName: 'wasm',
      setupFunc: orig.setupFunc,
      disposeFunc: orig.disposeFunc,
      kernelFunc: IMPLEMENTATIONS[name] as unknown as tf.KernelFunc,
    });
  }
  swapIn(replacements);
  tf.registerKernel({ kernelName: STABILISED_DIVIDE, backendName: 'wasm', kernelFunc: stabilisedDivideKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: ADAM, backendName: 'wasm', kernelFunc: adamKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: FUSED_CONV3D, backendName: 'wasm', kernelFunc: fusedConv3dKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: LRP_CONV3D, backendName: 'wasm', kernelFunc: lrpConv3dKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: LRP_POOL2, backendName: 'wasm', kernelFunc: lrpPool2Kernel as unknown as tf.KernelFunc });
  installFusedConvLayers();
  tf.registerGradient(reluGradientConfig(reluGradFused));
  setActiveKernels('fast');
}

/**
 * Switch between xai3d's kernels ('fast') and the shipped ones ('stock') at run time. For benchmarks only: the
 * shipped Conv3DBackpropInputV2 is wrong.
 */
export function useKernels(which: 'fast' | 'stock'): void {
  if (activeKernels() === 'none') throw new Error('installFast3dKernels() has not been called');
  if (which === activeKernels()) return;
  swapIn(which === 'fast' ? replacements : originals);
  setActiveKernels(which);
}
