/** Figures of classification results: confusion matrices (pooled over folds), one panel per model. */
import type { RunClassification } from '../training/metrics';
import type { Figure, Trace } from './plotly';

export function confusionFigure(cls: RunClassification[], title = 'Confusion matrices (test folds pooled)'): Figure {
  const data: Trace[] = [];
  const annotations: unknown[] = [];
  const layout: Record<string, unknown> = {};
  const n = cls.length;
  cls.forEach((c, k) => {
    const K = c.classNames.length;
    const rowSums = c.confusion.map((r) => r.reduce((a, b) => a + b, 0));
    const z = c.confusion.map((r, i) => r.map((v) => (rowSums[i] > 0 ? v / rowSums[i] : 0)));
    const ax = k === 0 ? '' : String(k + 1);
    data.push({ type: 'heatmap', z, x: c.classNames, y: c.classNames, zmin: 0, zmax: 1, colorscale: 'Blues', showscale: k === n - 1, colorbar: { title: { text: 'share of true class' } }, xaxis: `x${ax}`, yaxis: `y${ax}`, hovertemplate: 'true %{y}, predicted %{x}: %{z:.2f}<extra></extra>' });
    const x0 = k / n;
    layout[`xaxis${ax}`] = { domain: [x0 + 0.02, x0 + 1 / n - 0.04], title: { text: `${c.model}: predicted` }, anchor: `y${ax}`, type: 'category' };
    layout[`yaxis${ax}`] = { title: { text: k === 0 ? 'true class' : '' }, anchor: `x${ax}`, autorange: 'reversed', type: 'category' };
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) if (K <= 4) annotations.push({ x: c.classNames[j], y: c.classNames[i], xref: `x${ax}`, yref: `y${ax}`, text: String(c.confusion[i][j]), showarrow: false, font: { color: z[i][j] > 0.5 ? 'white' : 'black' } });
  });
  return { data, layout: { title: { text: title }, height: 340, annotations, ...layout } };
}
