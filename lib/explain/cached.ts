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
import { explainDataset, resolveExplainOptions, userMethodDefinition, type ExplainOptions, type Explanation } from './explain';
import { COMPOSITES } from './lrp/composites';
import { userRuleDefinitions } from './lrp/rules';

/**
 * Version of what the explanation code computes (rules, CAM, upsampling): part of the cache key. Bump it whenever a
 * change alters the maps a method produces.
 */
export const EXPLAIN_CODE_VERSION = 8;

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

/**
 * What an explanation request contributes to a cache key (explanations, and the AOPC and sanity results made from
 * them): the resolved request (every default written in, resolveExplainOptions; not the batch size, which does not
 * change the maps), the composite's definition rather than its name (editing a composite's rules or bounds must not
 * return maps made with the old ones), and the source of every user-registered rule it names and of a user method.
 */
export function explanationKey(opts: ExplainOptions, shape: readonly number[]): Record<string, unknown> {
  const resolved = { ...resolveExplainOptions(opts, shape), batchSize: undefined };
  const composite = resolved.composite !== undefined ? COMPOSITES[resolved.composite] : null;
  const named = [...Object.values(resolved.rules ?? {}), ...Object.values(composite?.byPosition ?? {}), ...Object.values(composite?.byType ?? {}), composite?.first].map((r) => r?.rule).filter((r): r is string => typeof r === 'string');
  const userRules = userRuleDefinitions(named);
  const userMethod = userMethodDefinition(resolved.method);
  return { opts: resolved, composite, ...(Object.keys(userRules).length > 0 ? { userRules } : {}), ...(userMethod ? { userMethod } : {}) };
}

/** Explain `indices` of `ds` with the model of `fold` of `run`, cached. */
export async function cachedExplanation(run: TrainSummary, fold: number, ds: VolumeDataset, indices: number[], opts: ExplainOptions, force = false): Promise<CachedExplanation> {
  const config = { code: EXPLAIN_CODE_VERSION, run: path.basename(run.runDir), fold, dataset: ds.name, fingerprint: ds.fingerprint ?? null, ids: configHash(indices.map((i) => ds.ids[i])), count: indices.length, ...explanationKey(opts, ds.shape) };
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
