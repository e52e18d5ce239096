/** `xai3d explain`: a heatmap for one volume (a stable contract: keep these flags and formats). */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/select';
import { explainTensor, methodNames } from '../explain/explain';
import { readInputVolume, writeHeatmap } from '../explain/heatmap-io';
import { ruleNames } from '../explain/lrp/rules';
import { loadModel } from '../io/model-files';
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic } from '../io/atomic';
import { writeNpy } from '../io/npy';
import { lrp } from '../explain/lrp/lrp';
import { modelFiles, noPositionals, numberOption, outputPath, parse, UsageError } from './args';
import { explainFlags, explainParseOptions, explainRequest, explainUsage, flagError } from './explain-flags';
import type { Command } from './args';

const FLAGS = explainFlags();

/** The usage text, generated from the option table and the registered methods (so a registered method shows up). */
function usage(): string {
  return `usage: xai3d explain --model DIR/model.json --input FILE --method ${methodNames().join('|')}
                     [--class K] [OPTIONS OF THE METHOD] --out FILE [--json]
${explainUsage(FLAGS, '                     ')}
       xai3d explain --model ... --input FILE --method lrp [--composite C] [--rules JSON] --layers all --out DIR
                     the relevance at every layer's input: DIR/NN-<layer>.npy (one volume's shape, channels last)
                     and DIR/layers.json (layer, kind, shape, sum: the conservation audit per layer)
  FILE (input): .npy (D,H,W or D,H,W,C; float32/float64) or NIfTI (.nii, .nii.gz, .hdr/.img)
  FILE (out):   .npy (float32, C order, D,H,W) or .nii/.nii.gz (the input's geometry)
  --rules: JSON keyed by conv1..convN, dense or a layer name: {"rule": ${ruleNames().map((r) => `"${r}"`).join('|')},
           "epsilon", "gamma", "alpha", "beta", "low", "high"}; layers not named use LRP-0;
           combined with --composite it overrides the composite's entries. zB bounds: the entry's low/high, else
           --low/--high, else [0, 1].
  --json: prints {"class", "logit", "relevance_sum", "per_layer": [...]} to stdout (integrated-gradients adds
          "reference": logit(x) - logit(baseline), which relevance_sum approximates).`;
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'heatmap of one volume: CAM, Grad-CAM, gradient, input x gradient, LRP composites',
  async run(args) {
    const USAGE = usage();
    const { values, positionals } = parse(args, {
      model: { type: 'string' }, input: { type: 'string' }, ...explainParseOptions(FLAGS), class: { type: 'string' },
      out: { type: 'string' }, json: { type: 'boolean' }, layers: { type: 'string' },
    }, USAGE);
    if (values.help) return 0;
    for (const req of ['model', 'input', 'method', 'out']) if (!values[req]) throw new UsageError(`--${req} is required\n\n${USAGE}`);
    noPositionals(positionals, 'explain');
    if (values.layers !== undefined) return layersRun(values);
    const out = outputPath(values.out, '--out', ['.npy', '.nii', '.nii.gz'], [...modelFiles(values.model as string), values.input as string]);
    const cls = numberOption(values, 'class', { integer: true, min: 0 });
    const request = explainRequest(values, FLAGS, cls !== undefined ? { classes: cls } : {});
    await initBackend();
    const model = await loadModel(values.model as string);
    const input = readInputVolume(values.input as string);
    const x = tf.tensor5d(input.data, [1, ...input.shape]);
    try {
      let r;
      try {
        r = explainTensor(model, x, request);
      } catch (err) {
        throw flagError(err, FLAGS);
      }
      writeHeatmap(out, r.maps[0], [input.shape[0], input.shape[1], input.shape[2]], { affine: input.affine, pixdim: input.pixdim });
      if (values.json) {
        process.stdout.write(
          JSON.stringify({
            class: r.classes[0],
            logit: r.logits[0],
            relevance_sum: r.relevanceSums[0],
            ...(r.reference ? { reference: r.reference[0] } : {}),
            per_layer: r.audit.map((a) => ({ layer: a.layer, kind: a.kind, position: a.position ?? null, rule: a.rule ?? null, relevance_out: a.relevanceOut, relevance_in: a.relevanceIn, absorbed: a.absorbed })),
          }) + '\n',
        );
      } else {
        process.stderr.write(`${request.method}${request.composite ? ` (${request.composite})` : ''}: class ${r.classes[0]}, logit ${r.logits[0].toFixed(4)}, relevance sum ${r.relevanceSums[0].toFixed(4)} -> ${out}\n`);
      }
    } finally {
      x.dispose();
    }
    return 0;
  },
};

/** `--layers all`: LRP relevance at every layer's input, one .npy per layer and a JSON index. */
async function layersRun(values: Record<string, unknown>): Promise<number> {
  if (values.layers !== 'all') throw new UsageError(`--layers ${values.layers}: the only value is all`);
  if (values.method !== 'lrp') throw new UsageError('--layers all applies to --method lrp only');
  const dir = values.out as string;
  if (/\.(npy|nii|nii\.gz|json)$/i.test(dir)) throw new UsageError(`--out ${dir}: with --layers all, --out is a folder (one .npy per layer is written into it)`);
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--out ${dir} exists and is not a folder`);
  const cls = numberOption(values, 'class', { integer: true, min: 0 });
  const request = explainRequest(values, FLAGS);
  await initBackend();
  const model = await loadModel(values.model as string);
  const input = readInputVolume(values.input as string);
  const x = tf.tensor5d(input.data, [1, ...input.shape]);
  try {
    const r = lrp(model, x, { composite: request.composite, rules: request.rules, pool: request.pool, low: request.low, high: request.high, classes: cls !== undefined ? [cls] : undefined, keepLayers: true });
    const index = r.layers!.map((l, k) => {
      const file = `${String(k).padStart(2, '0')}-${l.layer.replace(/[^A-Za-z0-9_.-]+/g, '_')}.npy`;
      writeNpy(path.join(dir, file), l.values[0], l.shape);
      return { layer: l.layer, kind: l.kind, shape: l.shape, sum: l.sums[0], file };
    });
    writeJsonAtomic(path.join(dir, 'layers.json'), { class: r.classes[0], logit: r.logits[0], rules: r.rules, pool: r.pool, layers: index });
    process.stderr.write(`lrp: class ${r.classes[0]}, logit ${r.logits[0].toFixed(4)}; relevance at ${index.length} layer inputs -> ${dir}/ (input sum ${r.relevanceSums[0].toFixed(4)})\n`);
  } finally {
    x.dispose();
  }
  return 0;
}
