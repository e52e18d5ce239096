/**
 * `npm run probe`: a table of bad inputs across every command, each run as a user would run it.
 *
 * For every case the probe checks four things: the command exits non-zero; its message names the culprit (the file,
 * flag or variable, matched by the case's pattern); no stack trace is printed; and no file in the sandbox is created,
 * changed or removed. Each case is classified as clean, silent (exit 0), stack (a stack trace), unclear (the message
 * does not name the culprit) or damaged (files touched), and the totals are printed (JSON with --json).
 * Exit 0 when every case is clean.
 */
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/env/paths';

export interface ProbeCase {
  name: string;
  /** argv of `xai3d` (or of the notebook runner when runner is set). */
  args: string[];
  /** Environment of the case; "{sandbox}" stands for the sandbox folder. */
  /** What the message must mention (the file, flag or variable at fault). */
  names: RegExp;
  env?: Record<string, string>;
  runner?: 'xai3d' | 'notebooks';
}

export type Outcome = 'clean' | 'silent' | 'stack' | 'unclear' | 'damaged';

export interface ProbeResult {
  name: string;
  outcome: Outcome;
  code: number | null;
  message: string;
}

const BIN = path.join(PROJECT_ROOT, 'bin', 'xai3d.js');
const RUNNER = path.join(PROJECT_ROOT, 'scripts', 'run-notebooks.ts');
const TSX = path.join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Every file under dir with its size and hash (what "no file created or changed" compares). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), createHash('sha1').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

function changes(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(b.has(k) ? `changed ${k}` : `removed ${k}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`created ${k}`);
  return out;
}

function npyBytes(data: Float32Array, shape: number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Build the sandbox: a small trained-shape model, good and bad volumes, heatmaps, NIfTI files and a tiny OASIS tree. */
export async function buildFixtures(dir: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  await (await import('../lib/backend/select')).initBackend({ quiet: true });
  const { buildModel } = await import('../lib/models/presets');
  const { saveModel } = await import('../lib/io/model-files');
  const { writeNifti } = await import('../lib/io/nifti');
  const S = 8;
  const n = S * S * S;
  const model = buildModel('mnist-2conv', { inputSize: S, baseWidth: 2, classes: 3, seed: 1 });
  await saveModel(model, path.join(dir, 'model'));
  model.dispose();
  tf.disposeVariables();
  const vol = new Float32Array(n).map((_, i) => ((i * 7919) % 101) / 100);
  const put = (name: string, bytes: Buffer | string) => fs.writeFileSync(path.join(dir, name), bytes);
  put('input.npy', npyBytes(vol, [S, S, S]));
  put('input2.npy', npyBytes(vol.map((v) => 1 - v), [S, S, S]));
  put('heat.npy', npyBytes(vol.map((v) => v - 0.5), [S, S, S]));
  const nan = vol.slice();
  nan[37] = NaN;
  put('nan.npy', npyBytes(nan, [S, S, S]));
  const inf = vol.map((v) => v - 0.5);
  inf[100] = Infinity;
  put('heat-inf.npy', npyBytes(inf, [S, S, S]));
  put('trunc.npy', npyBytes(vol, [S, S, S]).subarray(0, 300));
  put('text.npy', 'hello, not an array\n');
  put('flat.npy', npyBytes(vol.subarray(0, 64), [8, 8]));
  put('big.npy', npyBytes(new Float32Array(1000), [10, 10, 10]));
  fs.mkdirSync(path.join(dir, 'folder.npy'));
  put('folder.npy/keep', 'a folder named like a file');
  // A NIfTI volume, then damaged copies: truncated body, absurd dims, a huge and a negative vox_offset.
  const geom = { dims: [S, S, S] as [number, number, number], pixdim: [1, 1, 1] as [number, number, number], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] as [number[], number[], number[], number[]] };
  writeNifti(path.join(dir, 'good.nii'), { ...geom, data: vol }, { datatype: 'float32' });
  const good = fs.readFileSync(path.join(dir, 'good.nii'));
  put('trunc.nii', good.subarray(0, good.length - 100));
  const absurd = Buffer.from(good);
  absurd.writeInt16LE(30000, 42);
  absurd.writeInt16LE(30000, 44);
  absurd.writeInt16LE(30000, 46);
  put('absurd.nii', absurd);
  const far = Buffer.from(good);
  far.writeFloatLE(1e12, 108);
  put('far.nii', far);
  const neg = Buffer.from(good);
  neg.writeFloatLE(-999983264, 108);
  put('negoffset.nii', neg);
  const nanNii = Buffer.from(good);
  nanNii.writeFloatLE(NaN, 352 + 4 * 5);
  put('nan.nii', nanNii);
  writeNifti(path.join(dir, 'pair.hdr'), { ...geom, data: vol }, { datatype: 'float32' });
  fs.copyFileSync(path.join(dir, 'pair.hdr'), path.join(dir, 'lonely.hdr'));
  // Models: a graph model, int32 weights, truncated weights, not JSON.
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model', 'model.json'), 'utf8'));
  const copyModel = (name: string, edit: (j: typeof mj, d: string) => void) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d);
    for (const f of fs.readdirSync(path.join(dir, 'model'))) fs.copyFileSync(path.join(dir, 'model', f), path.join(d, f));
    const j = JSON.parse(JSON.stringify(mj));
    edit(j, d);
    fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(j));
  };
  copyModel('graph', (j) => {
    j.format = 'graph-model';
    j.modelTopology = { node: [], library: {}, versions: {} };
  });
  copyModel('int32', (j) => {
    j.weightsManifest[0].weights[0].dtype = 'int32';
  });
  copyModel('truncw', (j, d) => {
    const w = path.join(d, j.weightsManifest[0].paths[0]);
    fs.writeFileSync(w, fs.readFileSync(w).subarray(0, 40));
  });
  copyModel('alteredw', (j, d) => {
    const w = path.join(d, j.weightsManifest[0].paths[0]);
    const b = fs.readFileSync(w);
    b.writeFloatLE(123.5, 8);
    fs.writeFileSync(w, b);
  });
  fs.mkdirSync(path.join(dir, 'notjson'));
  put('notjson/model.json', '{ this is not json');
  // A tiny OASIS-2 tree with one truncated scan.
  for (const [id, bytes] of [['OAS2_0001_MR1', good.length], ['OAS2_0002_MR1', good.length - 100]] as const) {
    const raw = path.join(dir, 'oasis', 'OAS2_RAW_PART1', id, 'RAW');
    fs.mkdirSync(raw, { recursive: true });
    fs.copyFileSync(path.join(dir, 'pair.hdr'), path.join(raw, 'mpr-1.nifti.hdr'));
    fs.writeFileSync(path.join(raw, 'mpr-1.nifti.img'), fs.readFileSync(path.join(dir, 'pair.img')).subarray(0, bytes - 352));
  }
  fs.writeFileSync(path.join(dir, 'oasis', 'oasis_longitudinal.csv'), 'Subject ID,MRI ID,Group,Visit,MR Delay,M/F,Hand,Age,EDUC,SES,MMSE,CDR,eTIV,nWBV,ASF\nOAS2_0001,OAS2_0001_MR1,Nondemented,1,0,M,R,70,12,2,30,0,1500,0.7,1.1\nOAS2_0002,OAS2_0002_MR1,Demented,1,0,F,R,75,12,2,24,1,1400,0.7,1.2\n');
  // A file where a folder is expected (XAI3D_RESULTS / XAI3D_DATA pointing at it cannot be written).
  put('a-file', 'x');
}

/** The table of bad inputs. Paths are relative to the sandbox (the working directory of every case). */
export function probeCases(): ProbeCase[] {
  const M = ['--model', 'model/model.json'];
  const I = ['--input', 'input.npy'];
  const ex = (extra: string[]) => ['explain', ...M, ...I, '--method', 'gradient', '--out', 'out.npy', ...extra];
  const ao = (extra: string[]) => ['aopc', ...M, ...I, '--heatmap', 'heat.npy', '--steps', '3', '--out', 'aopc.json', ...extra];
  const sa = (extra: string[]) => ['sanity', ...M, ...I, '--input', 'input2.npy', '--method', 'gradient', '--out', 'sanity.json', ...extra];
  const replace = (args: string[], flag: string, value: string) => {
    const a = args.slice();
    a[a.indexOf(flag) + 1] = value;
    return a;
  };
  const without = (args: string[], flag: string) => {
    const a = args.slice();
    a.splice(a.indexOf(flag), 2);
    return a;
  };
  const c: ProbeCase[] = [
    // The command line itself.
    { name: 'unknown command', args: ['explian'], names: /unknown command "explian"/ },
    { name: 'unknown flag', args: ex(['--bogus']), names: /--bogus/ },
    { name: 'info: stray argument', args: ['info', 'extra'], names: /"extra"/ },
    { name: 'data: unknown subcommand', args: ['data', 'frobnicate'], names: /frobnicate/ },
    // explain
    { name: 'explain: --model missing', args: without(ex([]), '--model'), names: /--model/ },
    { name: 'explain: model file not found', args: replace(ex([]), '--model', 'nosuch/model.json'), names: /nosuch\/model\.json/ },
    { name: 'explain: model.json not JSON', args: replace(ex([]), '--model', 'notjson/model.json'), names: /notjson\/model\.json/ },
    { name: 'explain: graph model', args: replace(ex([]), '--model', 'graph/model.json'), names: /graph\/model\.json.*graph/ },
    { name: 'explain: int32 weights', args: replace(ex([]), '--model', 'int32/model.json'), names: /int32\/model\.json.*int32/ },
    { name: 'explain: truncated weights', args: replace(ex([]), '--model', 'truncw/model.json'), names: /truncw/ },
    { name: 'explain: altered weights', args: replace(ex([]), '--model', 'alteredw/model.json'), names: /alteredw.*(hash|altered)/ },
    { name: 'explain: model path is not model.json', args: replace(ex([]), '--model', 'input.npy'), names: /input\.npy/ },
    { name: 'explain: input not found', args: replace(ex([]), '--input', 'nosuch.npy'), names: /nosuch\.npy/ },
    { name: 'explain: NaN in .npy input', args: replace(ex([]), '--input', 'nan.npy'), names: /nan\.npy.*(NaN|non-finite)/ },
    { name: 'explain: NaN in NIfTI input', args: replace(ex([]), '--input', 'nan.nii'), names: /nan\.nii.*(NaN|non-finite)/ },
    { name: 'explain: truncated .npy', args: replace(ex([]), '--input', 'trunc.npy'), names: /trunc\.npy/ },
    { name: 'explain: text as .npy', args: replace(ex([]), '--input', 'text.npy'), names: /text\.npy/ },
    { name: 'explain: 2-D input', args: replace(ex([]), '--input', 'flat.npy'), names: /flat\.npy/ },
    { name: 'explain: input of another size', args: replace(ex([]), '--input', 'big.npy'), names: /input shape|10, 10, 10/ },
    { name: 'explain: truncated NIfTI', args: replace(ex([]), '--input', 'trunc.nii'), names: /trunc\.nii.*truncated/ },
    { name: 'explain: negative vox_offset', args: replace(ex([]), '--input', 'negoffset.nii'), names: /negoffset\.nii.*vox_offset/ },
    { name: 'explain: header without image', args: replace(ex([]), '--input', 'lonely.hdr'), names: /lonely\.img/ },
    { name: 'explain: unknown extension', args: replace(ex([]), '--input', 'a-file'), names: /a-file/ },
    { name: 'explain: unknown method', args: replace(ex([]), '--method', 'magic'), names: /--method magic/ },
    { name: 'explain: unknown composite', args: replace(ex(['--composite', 'composite9']), '--method', 'lrp'), names: /composite9/ },
    { name: 'explain: --rules not JSON', args: replace(ex(['--rules', '{oops']), '--method', 'lrp'), names: /--rules/ },
    { name: 'explain: unknown rule', args: replace(ex(['--rules', '{"conv1":{"rule":"magic"}}']), '--method', 'lrp'), names: /magic/ },
    { name: 'explain: --pool bad', args: replace(ex(['--pool', 'max']), '--method', 'lrp'), names: /--pool max/ },
    { name: 'explain: --composite without lrp', args: ex(['--composite', 'composite1']), names: /--composite/ },
    { name: 'explain: --class negative', args: ex(['--class', '-1']), names: /--class/ },
    { name: 'explain: --class beyond the classes', args: ex(['--class', '7']), names: /class 7|--class/ },
    { name: 'explain: --class not a number', args: ex(['--class', 'two']), names: /--class two/ },
    { name: 'explain: --layer unknown', args: replace(ex(['--layer', 'conv9']), '--method', 'gradcam'), names: /conv9/ },
    { name: 'explain: --layer with cam', args: replace(ex(['--layer', 'conv1']), '--method', 'cam'), names: /--layer.*gradcam/ },
    { name: 'explain: --steps with gradient', args: ex(['--steps', '8']), names: /--steps/ },
    { name: 'explain: --noise-level negative', args: replace(ex(['--noise-level', '-1']), '--method', 'smoothgrad'), names: /--noise-level/ },
    { name: 'explain: occlusion window larger than the volume', args: replace(ex(['--window', '20']), '--method', 'occlusion'), names: /window 20/ },
    { name: 'explain: --low above --high', args: replace(ex(['--composite', 'composite1', '--low', '1', '--high', '0']), '--method', 'lrp'), names: /--low 1 must be < --high 0/ },
    { name: 'explain: --out unknown extension', args: replace(ex([]), '--out', 'out.txt'), names: /--out out\.txt/ },
    { name: 'explain: --out onto the input', args: replace(ex([]), '--out', 'input.npy'), names: /--out input\.npy/ },
    { name: 'explain: --out onto model.json', args: replace(ex([]), '--out', 'model/model.json'), names: /--out model\/model\.json/ },
    { name: 'explain: --out is a folder', args: replace(ex([]), '--out', 'folder.npy'), names: /--out folder\.npy/ },
    { name: 'explain: stray argument', args: ex(['stray']), names: /"stray"/ },
    { name: 'explain: --layers with gradient', args: replace(ex(['--layers', 'all']), '--out', 'layers-out'), names: /--layers all applies to --method lrp/ },
    { name: 'explain: --layers some', args: replace(replace(ex(['--layers', 'some']), '--method', 'lrp'), '--out', 'layers-out'), names: /--layers some/ },
    { name: 'explain: --layers onto a file name', args: replace(ex(['--layers', 'all']), '--method', 'lrp'), names: /--out out\.npy.*folder/ },
    // aopc
    { name: 'aopc: --out missing', args: without(ao([]), '--out'), names: /--out/ },
    { name: 'aopc: --out onto model.json', args: replace(ao([]), '--out', 'model/model.json'), names: /--out model\/model\.json/ },
    { name: 'aopc: --out onto the input', args: replace(ao([]), '--out', 'input.npy'), names: /--out input\.npy/ },
    { name: 'aopc: --out onto the heatmap', args: replace(ao([]), '--out', 'heat.npy'), names: /--out heat\.npy/ },
    { name: 'aopc: --out not .json', args: replace(ao([]), '--out', 'aopc.txt'), names: /--out aopc\.txt/ },
    { name: 'aopc: Inf in --heatmap', args: replace(ao([]), '--heatmap', 'heat-inf.npy'), names: /heat-inf\.npy.*(Inf|non-finite)/ },
    { name: 'aopc: NaN in --input', args: replace(ao([]), '--input', 'nan.npy'), names: /nan\.npy/ },
    { name: 'aopc: heatmaps and inputs differ in number', args: ao(['--heatmap', 'heat.npy']), names: /--heatmap/ },
    { name: 'aopc: heatmap of another shape', args: replace(ao([]), '--heatmap', 'big.npy'), names: /big\.npy/ },
    { name: 'aopc: --stride 0', args: ao(['--stride', '0']), names: /--stride/ },
    { name: 'aopc: --steps negative', args: replace(ao([]), '--steps', '-3'), names: /--steps/ },
    { name: 'aopc: --steps fractional', args: replace(ao([]), '--steps', '1.5'), names: /--steps/ },
    { name: 'aopc: --perturb constant:abc', args: ao(['--perturb', 'constant:abc']), names: /perturb/ },
    { name: 'aopc: --order bad', args: ao(['--order', 'best']), names: /--order best/ },
    { name: 'aopc: --strategy bad', args: ao(['--strategy', 'smart']), names: /--strategy smart/ },
    { name: 'aopc: --score bad', args: ao(['--score', 'prob']), names: /--score prob/ },
    { name: 'aopc: --seed not an integer', args: ao(['--seed', 'x']), names: /--seed x/ },
    { name: 'aopc: neither --heatmap nor --method', args: without(ao([]), '--heatmap'), names: /--heatmap|--method/ },
    { name: 'aopc: stray argument', args: ao(['stray']), names: /"stray"/ },
    { name: 'aopc: --heatmap with --composite', args: ao(['--composite', 'composite1']), names: /with --heatmap the maps are given/ },
    { name: 'aopc: --pool bad', args: replace(without(ao(['--method', 'lrp', '--pool', 'max']), '--heatmap'), '--steps', '3'), names: /--pool max/ },
    { name: 'aopc: --explain-steps 0 (a method option aopc owns the flag of)', args: replace(without(ao(['--method', 'integrated-gradients', '--explain-steps', '0']), '--heatmap'), '--steps', '3'), names: /--explain-steps 0: expected an integer >= 1/ },
    { name: 'aopc: --samples with gradient', args: replace(without(ao(['--method', 'gradient', '--samples', '4']), '--heatmap'), '--steps', '3'), names: /--samples: applies to --method smoothgrad/ },
    { name: 'sanity: --layer with gradient', args: sa(['--layer', 'conv1']), names: /--layer: applies to --method gradcam/ },
    { name: 'sanity: --explain-seed not an integer', args: replace(sa(['--explain-seed', 'x']), '--method', 'smoothgrad'), names: /--explain-seed x: expected an integer/ },
    { name: 'sanity: --low above --high', args: replace(sa(['--low', '2', '--high', '1']), '--method', 'lrp'), names: /--low 2 must be < --high 1/ },
    // sanity
    { name: 'sanity: --threshold 2', args: sa(['--threshold', '2']), names: /--threshold/ },
    { name: 'sanity: --threshold -5', args: sa(['--threshold', '-5']), names: /--threshold/ },
    { name: 'sanity: --std 0', args: sa(['--std', '0']), names: /--std/ },
    { name: 'sanity: --mode bad', args: sa(['--mode', 'random']), names: /--mode|random/ },
    { name: 'sanity: --cam-layers bad', args: sa(['--cam-layers', 'some']), names: /--cam-layers/ },
    { name: 'sanity: --null-seeds 0', args: sa(['--null-seeds', '0']), names: /--null-seeds/ },
    { name: 'sanity: --out onto model.json', args: replace(sa([]), '--out', 'model/model.json'), names: /--out model\/model\.json/ },
    { name: 'sanity: --out not .json', args: replace(sa([]), '--out', 'sanity.npy'), names: /--out sanity\.npy/ },
    { name: 'sanity: --method missing', args: without(sa([]), '--method'), names: /--method/ },
    { name: 'sanity: NaN input', args: replace(sa([]), '--input', 'nan.npy'), names: /nan\.npy/ },
    // data inspect
    { name: 'inspect: path not found', args: ['data', 'inspect', 'nosuch.nii'], names: /nosuch\.nii/ },
    { name: 'inspect: truncated .nii', args: ['data', 'inspect', 'trunc.nii'], names: /trunc\.nii.*truncated/ },
    { name: 'inspect: absurd dimensions', args: ['data', 'inspect', 'absurd.nii'], names: /absurd\.nii.*30000/ },
    { name: 'inspect: huge vox_offset', args: ['data', 'inspect', 'far.nii'], names: /far\.nii/ },
    { name: 'inspect: negative vox_offset', args: ['data', 'inspect', 'negoffset.nii'], names: /negoffset\.nii.*vox_offset/ },
    { name: 'inspect: .hdr without .img', args: ['data', 'inspect', 'lonely.hdr'], names: /lonely\.img/ },
    { name: 'inspect: OASIS tree with a truncated scan', args: ['data', 'inspect', 'oasis'], names: /OAS2_0002_MR1/ },
    { name: 'inspect: two paths', args: ['data', 'inspect', 'good.nii', 'pair.hdr'], names: /PATH/ },
    // train
    { name: 'train: --epochs 0', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', '--epochs', '0'], names: /--epochs/ },
    { name: 'train: unknown dataset', args: ['train', '--dataset', 'cifar', '--model', 'mnist-2conv'], names: /--dataset/ },
    { name: 'train: unknown model', args: ['train', '--dataset', 'mnist3d', '--model', 'resnet'], names: /resnet/ },
    { name: 'train: model of the other dataset', args: ['train', '--dataset', 'mnist3d', '--model', 'oasis-3conv'], names: /oasis-3conv/ },
    { name: 'train: --lr negative', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', '--lr', '-1'], names: /--lr/ },
    { name: 'train: --only-fold beyond the folds', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', '--profile', 'tiny', '--only-fold', '9'], names: /--only-fold/ },
    { name: 'train: --profile bad', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', '--profile', 'huge'], names: /--profile/ },
    { name: 'train: stray argument', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', 'now'], names: /"now"/ },
    // environment variables
    { name: 'env: XAI3D_WASM_KERNELS=slow', args: ex([]), env: { XAI3D_WASM_KERNELS: 'slow' }, names: /XAI3D_WASM_KERNELS/ },
    { name: 'env: XAI3D_SIMD=maybe', args: ex([]), env: { XAI3D_SIMD: 'maybe' }, names: /XAI3D_SIMD/ },
    { name: 'env: XAI3D_THREADS=many', args: ex([]), env: { XAI3D_THREADS: 'many' }, names: /XAI3D_THREADS/ },
    { name: 'env: XAI3D_BACKEND=gpu', args: ex([]), env: { XAI3D_BACKEND: 'gpu' }, names: /XAI3D_BACKEND/ },
    { name: 'env: XAI3D_QUIET=loud', args: ex([]), env: { XAI3D_QUIET: 'loud' }, names: /XAI3D_QUIET/ },
    { name: 'env: XAI3D_PROFILE=nonsense', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv'], env: { XAI3D_PROFILE: 'nonsense' }, names: /XAI3D_PROFILE/ },
    { name: 'env: XAI3D_RESULTS not writable', args: ['train', '--dataset', 'mnist3d', '--model', 'mnist-2conv', '--profile', 'tiny'], env: { XAI3D_RESULTS: '{sandbox}/a-file/results' }, names: /XAI3D_RESULTS/ },
    { name: 'env: XAI3D_DATA not writable', args: ['data', 'mnist3d', '--size', '8', '--train', '10', '--test', '10'], env: { XAI3D_DATA: '{sandbox}/a-file/data' }, names: /XAI3D_DATA/ },
    // the notebook runner
    { name: 'notebooks: unknown flag', runner: 'notebooks', args: ['--bogus'], names: /--bogus/ },
    { name: 'notebooks: unknown notebook', runner: 'notebooks', args: ['99-nothing'], names: /99-nothing/ },
    { name: 'notebooks: --profile bad', runner: 'notebooks', args: ['--profile', 'huge'], names: /--profile huge/ },
    { name: 'notebooks: XAI3D_PROFILE bad', runner: 'notebooks', args: [], env: { XAI3D_PROFILE: 'huge' }, names: /XAI3D_PROFILE/ },
    { name: 'notebooks: --timeout bad', runner: 'notebooks', args: ['--timeout', '-1'], names: /--timeout/ },
  ];
  return c;
}

const STACK = /^\s+at .+(\(.+:\d+:\d+\)|:\d+:\d+)$/m;

function runCase(c: ProbeCase, sandbox: string): Promise<{ code: number | null; out: string }> {
  const argv = c.runner === 'notebooks' ? [TSX, RUNNER, ...c.args] : [BIN, ...c.args];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, {
      cwd: sandbox,
      env: { ...process.env, XAI3D_RESULTS: path.join(sandbox, 'results'), XAI3D_DATA: path.join(sandbox, 'data'), XAI3D_QUIET: '1', XAI3D_DEBUG: '', ...Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, v.replace('{sandbox}', sandbox)])) },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

export async function runProbe(opts: { onResult?: (r: ProbeResult) => void } = {}): Promise<{ results: ProbeResult[]; totals: Record<Outcome | 'tried', number> }> {
  const sandbox = fs.mkdtempSync(path.join(os.tmpdir(), 'xai3d-probe-'));
  try {
    await buildFixtures(sandbox);
    const results: ProbeResult[] = [];
    for (const c of probeCases()) {
      // The results and data folders a case may legitimately create are removed before the comparison.
      const before = snapshot(sandbox);
      const { code, out } = await runCase(c, sandbox);
      for (const d of ['results', 'data']) fs.rmSync(path.join(sandbox, d), { recursive: true, force: true });
      const touched = changes(before, snapshot(sandbox));
      const outcome: Outcome = code === 0 ? 'silent' : touched.length > 0 ? 'damaged' : STACK.test(out) ? 'stack' : !c.names.test(out) ? 'unclear' : 'clean';
      const message = (touched.length > 0 ? `${touched.join(', ')}; ` : '') + out.trim().split('\n').slice(0, 3).join(' / ').slice(0, 300);
      const r = { name: c.name, outcome, code, message };
      results.push(r);
      opts.onResult?.(r);
    }
    const totals = { tried: results.length, clean: 0, silent: 0, stack: 0, unclear: 0, damaged: 0 };
    for (const r of results) totals[r.outcome] += 1;
    return { results, totals };
  } finally {
    fs.rmSync(sandbox, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const json = process.argv.includes('--json');
  runProbe({
    onResult: (r) => {
      if (!json) process.stdout.write(`${r.outcome === 'clean' ? 'ok  ' : 'FAIL'} ${r.outcome.padEnd(7)} ${r.name}${r.outcome === 'clean' ? '' : `\n       exit ${r.code}: ${r.message}`}\n`);
    },
  }).then(({ results, totals }) => {
    if (json) process.stdout.write(JSON.stringify({ totals, results }, null, 2) + '\n');
    else process.stdout.write(`probe: ${totals.tried} tried, ${totals.clean} clean, ${totals.unclear} unclear, ${totals.stack} stack traces, ${totals.silent} silent, ${totals.damaged} damaged\n`);
    process.exit(totals.clean === totals.tried ? 0 : 1);
  });
}
