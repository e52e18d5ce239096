/** Training a family of presets (the thesis's model-complexity study) and its figures. */
import type { VolumeDataset } from '../data/dataset';
import { isPresetName } from '../models/presets';
import type { TrainSettings } from '../profiles';
import type { Figure } from '../viz/plotly';
import { trainKFold, type TrainOptions, type TrainSummary } from './train';

/** Train every preset in `models` with the same settings (cached runs are read back). */
export async function trainFamily(ds: VolumeDataset, models: string[], settings: TrainSettings, seed = 0, opts: TrainOptions = {}): Promise<TrainSummary[]> {
  const out: TrainSummary[] = [];
  for (const m of models) {
    if (!isPresetName(m)) throw new Error(`unknown model preset "${m}"`);
    out.push(await trainKFold(ds, { ...settings, model: m, seed }, opts));
  }
  return out;
}

/** The thesis's Figure 6: mean test accuracy (with the standard deviation over folds) against parameter count. */
export function accuracyVsParametersFigure(runs: TrainSummary[], title = 'Accuracy against model size'): Figure {
  return {
    data: [
      {
        type: 'scatter',
        mode: 'lines+markers+text',
        x: runs.map((r) => r.parameters),
        y: runs.map((r) => r.mean),
        text: runs.map((r) => r.model),
        textposition: 'top center',
        error_y: { type: 'data', array: runs.map((r) => r.std), visible: true },
        name: runs[0]?.dataset ?? '',
      },
    ],
    layout: {
      title: { text: title },
      xaxis: { title: { text: 'trainable parameters' }, type: 'log' },
      yaxis: { title: { text: `mean test accuracy over ${runs[0]?.folds.length ?? 0} folds` }, range: [0, 1.05] },
      height: 400,
    },
  };
}

/** Training curves (loss and validation loss per epoch) of every fold of a run. */
export function trainingCurvesFigure(run: TrainSummary): Figure {
  const data = run.folds.flatMap((f) => [
    { type: 'scatter', mode: 'lines', x: f.history.map((h) => h.epoch), y: f.history.map((h) => h.loss), name: `fold ${f.fold + 1} train`, line: { dash: 'solid' } },
    { type: 'scatter', mode: 'lines', x: f.history.map((h) => h.epoch), y: f.history.map((h) => h.valLoss), name: `fold ${f.fold + 1} val`, line: { dash: 'dot' } },
  ]);
  return { data, layout: { title: { text: `${run.model}: loss per epoch` }, xaxis: { title: { text: 'epoch' } }, yaxis: { title: { text: 'cross-entropy' } }, height: 340 } };
}
