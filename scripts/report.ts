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
import { readFinding } from '../lib/report/findings';
import { profileConfig } from '../lib/profiles';
import { accuracyVsParametersFigure } from '../lib/training/family';
import { trainKFold, type TrainSummary } from '../lib/training/train';
import { tableHtml, type Row } from '../lib/viz/table';
import { figureHtml } from '../lib/viz/plotly';
import { defaultMnist3d, defaultOasis2 } from '../lib/data/defaults';
import { escapeHtml } from '../lib/util/html';

const esc = escapeHtml;

interface Claim {
  claim: string;
  reproduced: boolean | null;
  evidence: string;
}

/** Pearson-free monotonic check: the share of adjacent pairs (by depth) that increase. */
function risesWithDepth(values: number[]): { rises: boolean; detail: string } {
  if (values.length < 2) return { rises: false, detail: 'fewer than two models' };
  const first = values[0];
  const last = values[values.length - 1];
  const ups = values.slice(1).filter((v, i) => v >= values[i]).length;
  return { rises: last > first, detail: `${values.map((v) => v.toFixed(3)).join(' → ')} (${ups}/${values.length - 1} steps up)` };
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

  const claims: Claim[] = [];
  const acc = risesWithDepth(runs.map((r) => r.mean));
  claims.push({ claim: '3D MNIST accuracy rises with depth (thesis Table 3, Figure 6)', reproduced: acc.rises, evidence: `mean test accuracy 2 → 6 conv: ${acc.detail}` });
  const camStride4 = cfg.mnistModels.map((m) => aopcRows.find((r) => r.model === m && r.method === 'CAM' && r.stride === 4 && r.strategy === 'uniform' && r.hp === 'sum')?.AOPC as number | undefined);
  if (camStride4.every((v) => typeof v === 'number')) {
    const c = risesWithDepth(camStride4 as number[]);
    claims.push({ claim: "CAM's AOPC rises with depth (thesis)", reproduced: c.rises, evidence: `AOPC (stride 4): ${c.detail}` });
  } else claims.push({ claim: "CAM's AOPC rises with depth (thesis)", reproduced: null, evidence: 'notebook 05 has not run' });
  const comps = ['composite1', 'composite2', 'composite3'].map((c) => aopcRows.find((r) => r.dataset === '3D MNIST' && r.method === `LRP ${c}`)?.AOPC as number | undefined);
  if (comps.every((v) => typeof v === 'number')) {
    const best = (comps as number[]).indexOf(Math.max(...(comps as number[])));
    claims.push({ claim: 'Composite 3 has the best AOPC among the composites (thesis)', reproduced: best === 2, evidence: `AOPC composite1/2/3: ${(comps as number[]).map((v) => v.toFixed(4)).join(' / ')}` });
  } else claims.push({ claim: 'Composite 3 has the best AOPC among the composites (thesis)', reproduced: null, evidence: 'notebook 05 has not run' });
  const oCam = sanityRows.find((r) => r.dataset === 'OASIS-2' && r.method === 'CAM');
  const oC3 = sanityRows.find((r) => r.dataset === 'OASIS-2' && r.method === 'LRP composite3');
  if (oCam && oC3) {
    claims.push({ claim: 'alpha1beta0 (composite 3) fails the cascading sanity check on large inputs while CAM passes (thesis)', reproduced: oC3.verdict === 'fail' && oCam.verdict === 'pass', evidence: `OASIS-2: CAM ${oCam.verdict} (|Spearman| ${Number(oCam['top-layer |Spearman|']).toFixed(3)}), composite 3 ${oC3.verdict} (|Spearman| ${Number(oC3['top-layer |Spearman|']).toFixed(3)})` });
  } else claims.push({ claim: 'alpha1beta0 fails the sanity check on large inputs while CAM passes (thesis)', reproduced: null, evidence: 'notebook 06 has not run' });

  const notebooks = fs.existsSync(notebooksDir) ? fs.readdirSync(notebooksDir).filter((f) => /^\d\d-.*\.html$/.test(f)).sort() : [];
  const reportDir = path.join(resultsDir(), 'report');
  const rel = (f: string) => path.relative(reportDir, path.join(notebooksDir, f));
  const accTable = [...runs, ...oRuns].map((r) => ({ dataset: r.dataset, model: r.model, parameters: r.parameters, ...Object.fromEntries(r.accuracies.map((a, i) => [`fold ${i + 1}`, a])), mean: r.mean, std: r.std }));
  const badge = (v: boolean | null) => (v === null ? '<span class="na">not run</span>' : v ? '<span class="yes">reproduced</span>' : '<span class="no">not reproduced</span>');
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xai3d report (${profile})</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,sans-serif;margin:2em auto;max-width:1100px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table.xai3d-table{border-collapse:collapse;margin:.6em 0;font-size:.9em} .xai3d-table td,.xai3d-table th{border:1px solid #ddd;padding:3px 8px;text-align:right}
.xai3d-table th{background:#f4f4f4} caption{text-align:left;font-weight:600;padding:4px 0}
.yes{color:#1a7f37;font-weight:600}.no{color:#b42318;font-weight:600}.na{color:#888}
.claims td{text-align:left!important} .meta{color:#555;font-size:.9em} ul.nb li{margin:.2em 0}
</style></head><body>
<h1>xai3d: explaining 3D CNNs, ${esc(profile)} profile</h1>
<p class="meta">Generated ${new Date().toISOString()} · backend ${esc(env.backend.name)} (${env.backend.threads} thread(s)${env.backend.fast3dKernels ? `, fast 3D kernels${env.backend.simdKernels ? ' + SIMD' : ''}` : ''}) · xai3d ${esc(env.xai3d)} · Node ${esc(env.versions.node)} · tfjs ${esc(String(env.versions.packages['@tensorflow/tfjs']))}${env.git ? ` · commit ${esc(env.git.commit.slice(0, 10))}${env.git.dirty ? ' (modified)' : ''}` : ''} · ${esc(env.host.cpuModel)}, ${env.host.cpus} cores</p>
<p>Data: ${esc(mnist.name)} (${mnist.count} volumes, generated from the real MNIST digits) and ${esc(oasis.name)} (${oasis.count} sessions, ${process.env.XAI3D_OASIS_ROOT ? 'OASIS-2 release' : 'phantom cohort built from the Colin27 brain, with ground truth'}).</p>
<h2>The thesis's claims</h2>
<table class="xai3d-table claims"><thead><tr><th>claim</th><th>this run</th><th>evidence</th></tr></thead><tbody>
${claims.map((c) => `<tr><td>${esc(c.claim)}</td><td>${badge(c.reproduced)}</td><td>${esc(c.evidence)}</td></tr>`).join('\n')}
</tbody></table>
<h2>Accuracy per model (Tables 3 and 5)</h2>
${tableHtml(accTable as Row[], { caption: 'test accuracy per fold', digits: 3 })}
${figureHtml(accuracyVsParametersFigure(runs, '3D MNIST: accuracy against model size (Figure 6)'), { includeLibrary: true })}
<h2>AOPC per method</h2>
${aopcRows.length ? tableHtml(aopcRows, { caption: 'AOPC(L), mean over test volumes', digits: 4 }) : '<p class="na">notebook 05 has not run</p>'}
<h2>Sanity-check verdicts</h2>
${sanityRows.length ? tableHtml(sanityRows, { caption: 'cascading randomisation (threshold: top-layer |Spearman| < 0.5)', digits: 3 }) : '<p class="na">notebook 06 has not run</p>'}
<h2>Localisation against ground truth</h2>
${locRows.length ? tableHtml(locRows, { caption: 'phantom atrophy regions', digits: 3 }) : '<p class="na">notebook 07 has not run (or the data has no ground truth)</p>'}
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
