/**
 * tfjs-backend-wasm's heap as xai3d's kernels see it: tensors' addresses, allocation with a clear error when the 4 GB
 * heap is full, views without copies, and per-kernel call counters (for tests and profiling).
 */
import * as tf from '@tensorflow/tfjs';

export type TensorInfo = tf.TensorInfo;

export interface DataEntry {
  id: number;
  memoryOffset: number;
}

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
export interface WasmBackend {
  wasm: { HEAPU8: Uint8Array; tfjs: { disposeData(id: number): void } };
  dataIdMap: { get(dataId: object): DataEntry | undefined; delete(dataId: object): void };
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
}

export type KernelArgs = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };
export type Kernel = (args: KernelArgs) => TensorInfo;

/** Calls counted per kernel and path ('fast', 'fallback'), for tests and profiling. */
export const kernelCalls: Record<string, number> = {};
export function count(key: string): void {
  kernelCalls[key] = (kernelCalls[key] ?? 0) + 1;
}

export function f32(backend: WasmBackend, t: TensorInfo): Float32Array {
  // A fresh view every time: any allocation may grow (and so detach) the wasm memory.
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function alloc(backend: WasmBackend, shape: number[]): TensorInfo {
  const size = shape.reduce((a, b) => a * b, 1);
  const t = backend.makeOutput(shape, 'float32');
  if (size > 0 && backend.dataIdMap.get(t.dataId)?.memoryOffset === 0) {
    backend.dataIdMap.delete(t.dataId);
    throw new Error(
      `wasm heap exhausted allocating ${((size * 4) / 2 ** 20).toFixed(0)} MB for a tensor of shape [${shape}] ` +
        '(the wasm heap is capped at 4 GB): use a smaller batch size',
    );
  }
  return t;
}

/** Byte address of a tensor's data in the wasm memory. */
export function ptr(backend: WasmBackend, t: TensorInfo): number {
  const entry = backend.dataIdMap.get(t.dataId);
  if (!entry) throw new Error('tensor data is not in the wasm memory');
  return entry.memoryOffset;
}

/** The next multiple of 8 (for float64 views), as an unsigned address (wasm addresses go up to 4 GB). */
export function align8(address: number): number {
  return Math.ceil(address / 8) * 8;
}

/** Views (see view): freeing one as a tensor would hand its address, not a block's, to the wasm allocator. */
const views = new WeakSet<object>();

export function free(backend: WasmBackend, t: TensorInfo): void {
  if (views.has(t.dataId)) throw new Error('free() of a view into another tensor: release it with dropView (or freePadded)');
  backend.disposeData(t.dataId);
}

/** A tensor viewing `shape` elements of `base` from element `offset` on (no copy). Release with dropView. */
export function view(backend: WasmBackend, base: TensorInfo, offset: number, shape: number[]): TensorInfo {
  const entry = backend.dataIdMap.get(base.dataId)!;
  const v = backend.makeOutput(shape, 'float32', entry.memoryOffset + 4 * offset);
  views.add(v.dataId);
  return v;
}

/** Forget a view without freeing the memory it points into (which belongs to its base tensor). */
export function dropView(backend: WasmBackend, v: TensorInfo): void {
  const entry = backend.dataIdMap.get(v.dataId);
  views.delete(v.dataId);
  if (entry) {
    backend.wasm.tfjs.disposeData(entry.id);
    backend.dataIdMap.delete(v.dataId);
  }
}
