/**
 * The localisation study as one step (notebook 07, the report): every method's cached explanations of the study's
 * sessions scored against the ground truth, summarised with subject-bootstrap intervals and chance levels, split by
 * diagnosis and by prediction, and the thesis's two localisation claims measured. A model no better than its
 * baseline is not explained: a row says so and its claims are "not assessed".
 */
import type { VolumeDataset } from '../data/dataset';
import { cachedExplanation } from '../explain/cached';
import type { ExplainOptions } from '../explain/explain';
import { localisationRows, methodLabel, summariseLocalisation, type LocalisationRow } from '../evaluate/workflows';
import { aboveClaim, gated, notExplainedClaim, type Claim } from '../report/claims';
import type { RunClassification } from '../training/metrics';
import type { TrainSummary } from '../training/train';
import { formatInterval, mean } from '../util/stats';
import type { Row } from '../viz/table';

/** The mesial temporal lobe's labels in the phantoms' ground truth: hippocampus, amygdala, parahippocampal gyrus. */
export const MESIAL_TEMPORAL_LABELS = [1, 2, 3];

export interface LocalisationStudyResult {
  /** One row per model and method: scores with intervals, chance levels, the share inside the brain. */
  summary: Row[];
  /** The same split by diagnosis (AD / NC) and by prediction (correct / wrong). */
  byGroup: Row[];
  /** The claims: LRP on the medial temporal lobe above CAM; LRP composite 3 above chance on AD sessions. */
  claims: Claim[];
}

const SUBSETS: [string, (r: LocalisationRow) => boolean][] = [
  ['AD', (r) => r.label === 'AD'],
  ['NC', (r) => r.label === 'NC'],
  ['correct', (r) => r.correct],
  ['wrong', (r) => !r.correct],
];

/** Per subject, the mean of `value` over its rows (subjects in sorted order; non-finite values left out). */
function perSubject(rows: LocalisationRow[], value: (r: LocalisationRow) => number): number[] {
  const subjects = [...new Set(rows.map((r) => r.group))].sort();
  return subjects.map((g) => mean(rows.filter((r) => r.group === g).map(value).filter((v) => Number.isFinite(v))));
}

/** Score `methods` on sessions `images` of `fold` for every run (cached explanations; runs gated by `cls`). */
export async function localisationResults(runs: TrainSummary[], cls: RunClassification[], ds: VolumeDataset, fold: number, images: number[], methods: ExplainOptions[], toleranceVoxels = 2): Promise<LocalisationStudyResult> {
  const summary: Row[] = [];
  const byGroup: Row[] = [];
  const claims: Claim[] = [];
  const fmt = formatInterval;
  for (const [ri, run] of runs.entries()) {
    const mesialText = `LRP points at the medial temporal lobe more than CAM (the thesis's visual claim, measured), ${run.model}`;
    const adText = `On AD sessions LRP composite 3 puts more of its positive relevance on the atrophy regions than chance, ${run.model} (issue target: clearly above chance)`;
    if (!cls[ri].aboveBaseline) {
      summary.push({ model: run.model, method: '(none)', gate: 'AT BASELINE: not explained', sessions: images.length });
      claims.push(notExplainedClaim(`oasis-lrp-mesial-${run.model}`, mesialText, cls[ri]), notExplainedClaim(`oasis-lrp-localises-${run.model}`, adText, cls[ri]));
      continue;
    }
    const mesial: Record<string, number[]> = {};
    let adMass: { mass: number[]; chance: number[] } | undefined;
    for (const e of methods) {
      const ex = await cachedExplanation(run, fold, ds, images, e);
      const rows = localisationRows(ds, images, ex.maps, ex.classes, toleranceVoxels);
      if (rows.length === 0) continue;
      const label = methodLabel(e);
      const s = summariseLocalisation(rows);
      summary.push({ model: run.model, method: label, gate: 'above baseline', sessions: s.sessions, subjects: s.subjects, 'mass accuracy': fmt(s.massAccuracy), 'chance (mass, rank)': s.chanceMass, 'rank accuracy': fmt(s.rankAccuracy), 'pointing game': fmt(s.pointingGame), 'chance (pointing)': s.chancePointing, 'positive relevance inside the brain': fmt(s.insideBrain) });
      for (const [name, keep] of SUBSETS) {
        const sel = rows.filter(keep);
        if (sel.length === 0) continue;
        const g = summariseLocalisation(sel);
        byGroup.push({ model: run.model, method: label, subset: name, sessions: g.sessions, 'mass accuracy': fmt(g.massAccuracy), 'rank accuracy': fmt(g.rankAccuracy), 'pointing game': fmt(g.pointingGame), 'chance (mass)': g.chanceMass, 'inside the brain': fmt(g.insideBrain) });
      }
      if (label === 'LRP composite3') {
        const ad = rows.filter((r) => r.label === 'AD');
        adMass = { mass: perSubject(ad, (r) => r.relevanceMassAccuracy), chance: perSubject(ad, (r) => r.chanceMass) };
      }
      mesial[label] = perSubject(localisationRows(ds, images, ex.maps, ex.classes, toleranceVoxels, MESIAL_TEMPORAL_LABELS), (r) => r.relevanceMassAccuracy);
    }
    if (mesial['CAM'] && mesial['LRP composite3']) {
      claims.push(gated(aboveClaim(`oasis-lrp-mesial-${run.model}`, mesialText, 'relevance mass accuracy on hippocampus + amygdala + parahippocampal gyrus, per subject', { label: 'LRP composite3', values: mesial['LRP composite3'] }, { label: 'CAM', values: mesial['CAM'] }, 'volumes', ri), [cls[ri]]));
    }
    if (adMass && adMass.mass.length >= 2) {
      claims.push(gated(aboveClaim(`oasis-lrp-localises-${run.model}`, adText, "relevance mass accuracy of LRP composite 3 minus its chance level (the regions' share of the brain), AD sessions, per subject", { label: 'LRP composite3', values: adMass.mass }, { label: 'chance', values: adMass.chance }, 'volumes', 20 + ri), [cls[ri]]));
    }
  }
  // Claims in the order a reader meets them: every model's mesial claim, then every model's chance claim.
  claims.sort((a, b) => Number(a.id.startsWith('oasis-lrp-localises')) - Number(b.id.startsWith('oasis-lrp-localises')));
  return { summary, byGroup, claims };
}
