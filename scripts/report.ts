/**
 * results/report/index.html: one offline page linking the executed notebooks' HTML and summarising the findings side
 * by side with the thesis's claims (accuracy per model, AOPC per method, sanity verdicts, localisation), with the
 * backend, versions and timings of the run. Run by `npm run pipeline` after the notebooks; also `npx tsx
 * scripts/report.ts [--profile P]`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { resultsDir } from '../lib/env/paths';
import { parseProfile, type ProfileName } from '../lib/env/profile';
import { info } from '../lib/env/info';
import { writeFileAtomic } from '../lib/io/atomic';
import { findingsDir, readFinding } from '../lib/report/findings';
import type { Claim, ClaimVerdict } from '../lib/report/claims';
import { formatInterval, type Interval } from '../lib/util/stats';
import { describeBackend } from '../lib/backend/select';
import { profileConfig } from '../lib/profiles';
import { accuracyVsParametersFigure } from '../lib/training/family';
import { trainKFold, type TrainSummary } from '../lib/training/train';
import { tableHtml, type Row } from '../lib/viz/table';
import { figureHtml } from '../lib/viz/plotly';
import { defaultMnist3d, defaultOasis2 } from '../lib/data/defaults';
import { escapeHtml } from '../lib/util/html';

const esc = escapeHtml;

type ClassificationFinding = { dataset: string; model: string; aboveBaseline: boolean; gate: string; accuracy: Interval; balancedAccuracy: Interval; majorityBaseline: number; chance: number };

/** Every notebook's claims (findings claims-NN), in notebook order. */
function allClaims(profile: ProfileName): Claim[] {
  const dir = findingsDir(profile);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^claims-\d\d\.json$/.test(f)).sort().flatMap((f) => readFinding<Claim[]>(f.replace(/\.json$/, ''), profile) ?? []);
}

export async function buildReport(profile: ProfileName, notebooksDir: string, timingsSeconds: Record<string, number> = {}): Promise<string> {
  const cfg = profileConfig(profile);
  const env = await info();
  const mnist = await defaultMnist3d(cfg);
  const runs: TrainSummary[] = [];
  for (const m of cfg.mnistModels) runs.push(await trainKFold(mnist, { ...cfg.trainMnist, model: m as TrainSummary['model'], seed: 0 }));
  const oasis = await defaultOasis2(cfg);
  const oRuns: TrainSummary[] = [];
  for (const m of cfg.oasisModels) oRuns.push(await trainKFold(oasis, { ...cfg.trainOasis, model: m as TrainSummary['model'], seed: 0 }));
  const aopcRows = readFinding<Row[]>('aopc', profile) ?? [];
  const sanityRows = readFinding<Row[]>('sanity', profile) ?? [];
  const locRows = readFinding<Row[]>('localisation', profile) ?? [];
  const cls = readFinding<ClassificationFinding[]>('classification', profile) ?? [];
  const claims = allClaims(profile);
  const atBaseline = cls.filter((c) => !c.aboveBaseline);

  const notebooks = fs.existsSync(notebooksDir) ? fs.readdirSync(notebooksDir).filter((f) => /^\d\d-.*\.html$/.test(f)).sort() : [];
  const reportDir = path.join(resultsDir(), 'report');
  const rel = (f: string) => path.relative(reportDir, path.join(notebooksDir, f));
  const accTable = [...runs, ...oRuns].map((r) => ({ dataset: r.dataset, model: r.model, parameters: r.parameters, ...Object.fromEntries(r.accuracies.map((a, i) => [`fold ${i + 1}`, a])), mean: r.mean, std: r.std }));
  const badge = (v: ClaimVerdict) => `<span class="${v === 'reproduced' ? 'yes' : v === 'not reproduced' ? 'no' : 'na'}">${esc(v)}</span>`;
  const clsTable = cls.map((c) => ({ dataset: c.dataset, model: c.model, 'accuracy (95 % CI over folds)': formatInterval(c.accuracy), 'balanced accuracy (95 % CI)': formatInterval(c.balancedAccuracy), 'majority baseline': c.majorityBaseline, chance: c.chance, gate: c.aboveBaseline ? 'above baseline' : 'NO BETTER THAN BASELINE' }));
  const counts = ['reproduced', 'not reproduced', 'inconclusive', 'not assessed'].map((v) => `${claims.filter((c) => c.verdict === v).length} ${v}`).join(' · ');
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xai3d report (${profile})</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table.xai3d-table{border-collapse:collapse;margin:.6em 0;font-size:.9em} .xai3d-table td,.xai3d-table th{border:1px solid #ddd;padding:3px 8px;text-align:right}
.xai3d-table th{background:#f4f4f4} caption{text-align:left;font-weight:600;padding:4px 0}
.yes{color:#1a7f37;font-weight:600}.no{color:#b42318;font-weight:600}.na{color:#888}
.claims td,.claims th{text-align:left!important;vertical-align:top} .claims td.ev{font-size:.85em;color:#444;max-width:420px} .meta{color:#555;font-size:.9em} ul.nb li{margin:.2em 0}
.warn{background:#fff4e5;border-left:4px solid #b54708;padding:.6em 1em;margin:1em 0}
</style></head><body>
<h1>xai3d: explaining 3D CNNs, ${esc(profile)} profile</h1>
<p class="meta">Generated ${new Date().toISOString()} · backend ${esc(describeBackend(env.backend))} · xai3d ${esc(env.xai3d)} · Node ${esc(env.versions.node)} · tfjs ${esc(String(env.versions.packages['@tensorflow/tfjs']))}${env.git ? ` · commit ${esc(env.git.commit.slice(0, 10))}${env.git.dirty ? ' (modified)' : ''}` : ''} · ${esc(env.host.cpuModel)}, ${env.host.cpus} cores</p>
<p>Data: ${esc(mnist.name)} (${mnist.count} volumes, generated from the real MNIST digits) and ${esc(oasis.name)} (${oasis.count} sessions, ${process.env.XAI3D_OASIS_ROOT ? 'OASIS-2 release' : 'phantom cohort built from the Colin27 brain, with ground truth'}).</p>
${atBaseline.length ? `<div class="warn"><b>No better than the majority baseline:</b> ${atBaseline.map((c) => `${esc(c.dataset)} ${esc(c.model)} (${esc(c.gate)})`).join('; ')}. The heatmaps of these models explain nothing; no claim below rests on them (such claims read "not assessed").</div>` : ''}
<h2>The thesis's claims</h2>
<p class="meta">Each claim is decided by the stated criterion over all folds or test volumes, with a 95 % interval: "reproduced" when the interval supports it, "not reproduced" when it contradicts it, "inconclusive" when it cannot tell (or two perturbations disagree), "not assessed" when a model it rests on is no better than its baseline. ${esc(counts)}.</p>
<table class="xai3d-table claims"><thead><tr><th>claim</th><th>criterion</th><th>this run</th><th>holds under</th><th>evidence</th></tr></thead><tbody>
${claims.length ? claims.map((c) => `<tr><td>${esc(c.claim)}</td><td>${esc(c.criterion)}</td><td>${badge(c.verdict)}</td><td>${esc(c.holdsUnder ?? '-')}</td><td class="ev">${esc(c.evidence)}</td></tr>`).join('\n') : '<tr><td colspan="5" class="na">the notebooks have not run</td></tr>'}
</tbody></table>
<h2>Models against their baselines</h2>
${clsTable.length ? tableHtml(clsTable as Row[], { caption: 'balanced accuracy against chance, accuracy against the majority class', digits: 3 }) : '<p class="na">notebook 02 has not run</p>'}
<h2>Accuracy per model (Tables 3 and 5)</h2>
${tableHtml(accTable as Row[], { caption: 'test accuracy per fold', digits: 3 })}
${figureHtml(accuracyVsParametersFigure(runs, '3D MNIST: accuracy against model size (Figure 6)'), { includeLibrary: true })}
<h2>AOPC per method</h2>
${aopcRows.length ? tableHtml(aopcRows, { caption: 'AOPC(L), mean over test volumes with 95 % bootstrap intervals; rows of one study share one L; the random order under the same perturbation beside each', digits: 4 }) : '<p class="na">notebook 05 has not run</p>'}
<h2>Sanity-check verdicts</h2>
${sanityRows.length ? tableHtml(sanityRows, { caption: 'cascading randomisation: the top-layer step is changed when the 95 % interval of (1 - |Spearman|) / (1 - null |Spearman|) lies above 0.5 (null: fully re-initialised models)', digits: 3 }) : '<p class="na">notebook 06 has not run</p>'}
<h2>Localisation against ground truth</h2>
${locRows.length ? tableHtml(locRows, { caption: 'phantom atrophy regions: 95 % bootstrap intervals over subjects, chance levels beside them, and the share of positive relevance inside the brain', digits: 3 }) : '<p class="na">notebook 07 has not run (or the data has no ground truth)</p>'}
<h2>Notebooks</h2>
<ul class="nb">${notebooks.map((f) => `<li><a href="${esc(rel(f))}">${esc(f.replace(/\.html$/, ''))}</a>${timingsSeconds[f.replace(/\.html$/, '')] !== undefined ? ` <span class="meta">(${timingsSeconds[f.replace(/\.html$/, '')].toFixed(0)} s)</span>` : ''}</li>`).join('\n')}</ul>
</body></html>
`;
  const file = path.join(reportDir, 'index.html');
  writeFileAtomic(file, html);
  return file;
}

if (require.main === module) {
  const { values } = parseArgs({ options: { profile: { type: 'string' }, notebooks: { type: 'string' } } });
  const profile = parseProfile(values.profile ?? process.env.XAI3D_PROFILE, '--profile');
  process.env.XAI3D_PROFILE = profile;
  const nbDir = values.notebooks ?? path.join(resultsDir(), 'notebooks');
  const timingsFile = path.join(nbDir, 'timings.json');
  const timings = fs.existsSync(timingsFile) ? (JSON.parse(fs.readFileSync(timingsFile, 'utf8')) as Record<string, number>) : {};
  buildReport(profile, nbDir, timings).then(
    (f) => {
      process.stdout.write(`report: ${f}\n`);
      process.exit(0);
    },
    (err) => {
      process.stderr.write(`report: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
