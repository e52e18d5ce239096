/**
 * Saving and loading tfjs LayersModels on the local file system (pure tfjs has no file:// handler in Node).
 *
 * Layout: the standard tfjs format, `model.json` (topology + weights manifest) beside binary weight shards, so
 * models saved here load in tfjs anywhere and models converted from Keras by tensorflowjs_converter load here.
 * Saving is crash-safe: the weights go to a content-named file first, then model.json is replaced atomically, and
 * only then are weight files that model.json no longer names removed.
 */
import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from './atomic';
// Registers xai3d's custom layers (GlobalAveragePooling3D, ReferenceCentering3D) before any model is deserialised.
import '../models/global-average-pooling-3d';
import '../models/reference-centering';
import { sha256 } from '../util/hash';

function concatBuffers(parts: ArrayBuffer[]): ArrayBuffer {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), o);
    o += p.byteLength;
  }
  return out.buffer;
}

function weightBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(Array.isArray(data) ? concatBuffers(data) : data);
}

/** An IOHandler writing to / reading from `dir` (model.json + weights). */
export function fileSystemModel(dir: string): tf.io.IOHandler {
  const modelJson = path.join(dir, 'model.json');
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('saving a graph-model (binary topology) is not supported; save a LayersModel');
      }
      fs.mkdirSync(dir, { recursive: true });
      const bytes = weightBytes(artifacts.weightData);
      const weightsFile = `weights-${sha256(bytes).slice(0, 16)}.bin`;
      writeFileAtomic(path.join(dir, weightsFile), bytes);
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        trainingConfig: artifacts.trainingConfig,
        userDefinedMetadata: artifacts.userDefinedMetadata,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs ?? [] }],
      };
      writeFileAtomic(modelJson, JSON.stringify(json));
      for (const f of fs.readdirSync(dir)) {
        if (/^weights-[0-9a-f]{16}\.bin$/.test(f) && f !== weightsFile) fs.rmSync(path.join(dir, f), { force: true });
      }
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: bytes.byteLength,
        },
      };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      let json: {
        modelTopology?: unknown;
        weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string | null;
        trainingConfig?: tf.io.TrainingConfig;
        userDefinedMetadata?: { [key: string]: {} };
      };
      try {
        json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new Error(`cannot load model ${modelJson}: ${e.code === 'ENOENT' ? 'file not found' : e.message}`);
      }
      if (json.format === 'graph-model' || (json.modelTopology as { node?: unknown } | undefined)?.node !== undefined) {
        throw new Error(`${modelJson} is a tfjs graph model (format "graph-model"); xai3d explains LayersModels (model.json with format "layers-model", e.g. tensorflowjs_converter --output_format tfjs_layers_model)`);
      }
      if (json.modelTopology === undefined) throw new Error(`${modelJson} has no modelTopology: not a tfjs LayersModel`);
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        weightSpecs.push(...group.weights);
        for (const w of group.weights) {
          if (w.dtype !== undefined && w.dtype !== 'float32' && !w.quantization) {
            throw new Error(`${modelJson}: weight "${w.name}" is ${w.dtype}; xai3d needs float32 weights (or uint8/uint16-quantised float32)`);
          }
        }
        for (const p of group.paths) {
          const file = path.join(dir, p);
          if (!fs.existsSync(file)) throw new Error(`${modelJson} names weight file ${p}, which is missing`);
          const b = fs.readFileSync(file);
          // Files saved by xai3d carry the first 16 hex digits of their SHA-256: a truncated or altered file is refused.
          const named = /^weights-([0-9a-f]{16})\.bin$/.exec(path.basename(p));
          if (named && sha256(b).slice(0, 16) !== named[1]) {
            throw new Error(`${file}: contents do not match the hash in its name (${b.length} bytes; truncated or altered): retrain or restore the model`);
          }
          buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
        }
      }
      const weightData = concatBuffers(buffers);
      const expected = weightSpecs.reduce((n, s) => {
        const bytesPer = s.quantization ? (s.quantization.dtype === 'uint8' ? 1 : 2) : s.dtype === 'bool' ? 1 : 4;
        return n + s.shape.reduce((a, b) => a * b, 1) * bytesPer;
      }, 0);
      if (expected !== weightData.byteLength) {
        throw new Error(`${modelJson}: the weight files hold ${weightData.byteLength} bytes, the manifest needs ${expected}`);
      }
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy ?? undefined,
        trainingConfig: json.trainingConfig,
        userDefinedMetadata: json.userDefinedMetadata,
        weightSpecs,
        weightData,
      };
    },
  };
}

/** Save a LayersModel to `dir` (model.json + weights). */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileSystemModel(dir));
}

/** Load a LayersModel from `dir` or from a model.json path. */
export async function loadModel(dirOrModelJson: string): Promise<tf.LayersModel> {
  const dir = dirOrModelJson.endsWith('.json') ? path.dirname(dirOrModelJson) : dirOrModelJson;
  if (dirOrModelJson.endsWith('.json') && path.basename(dirOrModelJson) !== 'model.json') {
    throw new Error(`${dirOrModelJson}: expected a folder or a file named model.json`);
  }
  return tf.loadLayersModel(fileSystemModel(dir));
}
