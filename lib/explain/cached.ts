/**
 * Explanations of a trained fold's test volumes, cached under results/explain/<hash>/ (maps as float32 + a JSON with
 * classes, logits, relevance sums, the audit and the rules), so notebooks re-run in seconds.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cachedRun } from '../cache/results';
import type { VolumeDataset } from '../data/dataset';
import { loadFoldModel, type TrainSummary } from '../training/train';
import { configHash } from '../util/hash';
import { explainDataset, userMethodDefinition, type ExplainOptions, type Explanation } from './explain';
import { COMPOSITES } from './lrp/composites';
import { userRuleDefinitions } from './lrp/rules';

/**
 * Version of what the explanation code computes (rules, CAM, upsampling): part of the cache key. Bump it whenever a
 * change alters the maps a method produces.
 */
export const EXPLAIN_CODE_VERSION = 4;

export interface CachedExplanation extends Explanation {
  indices: number[];
  ids: string[];
  dir: string;
}

/** The test volumes of a fold (dataset indices, in the fold's order). */
export function foldTestIndices(run: TrainSummary, fold: number, ds: VolumeDataset): number[] {
  const folds = JSON.parse(fs.readFileSync(path.join(run.runDir, 'folds.json'), 'utf8')) as { index: number; test: string[] }[];
  const f = folds.find((x) => x.index === fold);
  if (!f) throw new Error(`${run.runDir}: no fold ${fold}`);
  const pos = new Map(ds.ids.map((id, i) => [id, i]));
  return f.test.map((id) => {
    const i = pos.get(id);
    if (i === undefined) throw new Error(`${ds.name}: volume ${id} of ${run.runDir} is not in this dataset`);
    return i;
  });
}

/** Explain `indices` of `ds` with the model of `fold` of `run`, cached. */
export async function cachedExplanation(run: TrainSummary, fold: number, ds: VolumeDataset, indices: number[], opts: ExplainOptions, force = false): Promise<CachedExplanation> {
  // The composite's definition, not only its name, is part of the key: editing a composite's rules or bounds must
  // not return maps made with the old ones.
  const composite = opts.composite !== undefined ? COMPOSITES[opts.composite] ?? opts.composite : null;
  // So is the definition of every user-registered rule the request names (registerRule), and of a user method.
  const comp = typeof composite === 'object' && composite !== null ? composite : undefined;
  const named = [...Object.values(opts.rules ?? {}), ...Object.values(comp?.byPosition ?? {}), ...Object.values(comp?.byType ?? {})].map((r) => r?.rule).filter((r): r is string => typeof r === 'string');
  const userRules = userRuleDefinitions(named);
  const userMethod = userMethodDefinition(opts.method);
  const config = { code: EXPLAIN_CODE_VERSION, run: path.basename(run.runDir), fold, dataset: ds.name, fingerprint: ds.fingerprint ?? null, ids: configHash(indices.map((i) => ds.ids[i])), count: indices.length, opts: { ...opts, batchSize: undefined }, composite, ...(Object.keys(userRules).length > 0 ? { userRules } : {}), ...(userMethod ? { userMethod } : {}) };
  const n = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const res = await cachedRun(
    'explain',
    config,
    async (ctx) => {
      const model = await loadFoldModel(run, fold);
      try {
        const e = await ctx.time('explain', () => explainDataset(model, ds, indices, opts));
        const all = new Float32Array(indices.length * n);
        e.maps.forEach((m, k) => all.set(m, k * n));
        fs.writeFileSync(path.join(ctx.dir, 'maps.f32'), Buffer.from(all.buffer));
        return { classes: e.classes, logits: e.logits, relevanceSums: e.relevanceSums, audit: e.audit, rules: e.rules, method: e.method };
      } finally {
        model.dispose();
      }
    },
    { force },
  );
  const buf = fs.readFileSync(path.join(res.dir, 'maps.f32'));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const maps = indices.map((_, k) => all.slice(k * n, (k + 1) * n));
  const r = res.result as Omit<Explanation, 'maps'>;
  return { ...r, maps, indices, ids: indices.map((i) => ds.ids[i]), dir: res.dir };
}
