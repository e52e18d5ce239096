/**
 * Plotly figures for notebooks and standalone files, fully offline.
 *
 * In a notebook, the first figure shown in a kernel carries plotly.js inline (one copy per notebook, ~4.7 MB);
 * later figures are a div and a `Plotly.newPlot` call. Standalone files inline plotly.js themselves. No CDN is
 * ever referenced, so the executed notebooks' HTML and every figure file render with the network off.
 */
import { envSwitch } from '../env/switches';
import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { PROJECT_ROOT, resultsDir } from '../env/paths';
import { profileName } from '../env/profile';
import { writeFileAtomic } from '../io/atomic';
import { displayBundle } from './notebook';
import { escapeHtml } from '../util/html';

/** A Plotly trace (see plotly.js reference); typed arrays are accepted and serialised as arrays. */
export type Trace = Record<string, unknown>;

export interface Figure {
  data: Trace[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

let libraryText: string | undefined;
let libraryShownInKernel = false;

/** The plotly.js bundle shipped by plotly.js-dist-min. */
export function plotlyLibraryPath(): string {
  return path.join(PROJECT_ROOT, 'node_modules', 'plotly.js-dist-min', 'plotly.min.js');
}

/**
 * plotly.js as an inline <script>. RequireJS (which notebook HTML templates may load) would make the UMD bundle
 * register as an AMD module instead of window.Plotly, so `define` is hidden while it runs.
 */
export function plotlyLibraryScript(): string {
  if (libraryText === undefined) {
    const file = plotlyLibraryPath();
    if (!fs.existsSync(file)) throw new Error(`plotly.js not found at ${file}: run npm ci`);
    libraryText = fs.readFileSync(file, 'utf8').replace(/<\/script/gi, '<\\/script');
  }
  return (
    '<script type="text/javascript">(function(){var d=window.define;window.define=undefined;try{\n' +
    libraryText +
    '\n}finally{window.define=d;}})();</script>'
  );
}

/** JSON for embedding inside a <script>: typed arrays as arrays, non-finite numbers as null, '</' escaped. */
export function scriptJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, v) => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    if (typeof v === 'number' && !Number.isFinite(v)) return null;
    return v;
  });
  return text.replace(/<\//g, '<\\/').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * The figure as the value of Plotly's MIME type `application/vnd.plotly.v1+json` ({ data, layout, config }, plain JSON:
 * typed arrays as arrays, non-finite numbers as null), the form JupyterLab's and VS Code's Plotly renderers read.
 */
export function plotlyMime(fig: Figure): { data: unknown[]; layout: Record<string, unknown>; config: Record<string, unknown> } {
  // scriptJson's escapes ('<\\/', '\\u2028') are valid JSON escapes, so parsing gives back the plain values.
  return JSON.parse(scriptJson({ data: fig.data, layout: fig.layout ?? {}, config: { responsive: true, displaylogo: false, ...(fig.config ?? {}) } }));
}

export interface FigureHtmlOptions {
  /** Inline plotly.js before the figure. */
  includeLibrary?: boolean;
  /** Height of the figure's div in pixels (default: layout.height or 450). */
  heightPx?: number;
  /** What the figure says when plotly.js is missing (default: the notebook case). */
  missingLibrary?: string;
}

/** An HTML fragment (div + script) drawing the figure. */
export function figureHtml(fig: Figure, opts: FigureHtmlOptions = {}): string {
  const id = `xai3d-fig-${randomBytes(6).toString('hex')}`;
  const layout = { ...(fig.layout ?? {}) };
  const height = opts.heightPx ?? (typeof layout.height === 'number' ? layout.height : 450);
  const config = { responsive: true, displaylogo: false, ...(fig.config ?? {}) };
  const lib = opts.includeLibrary ? plotlyLibraryScript() : '';
  return (
    lib +
    `<div id="${id}" class="xai3d-figure" style="width:100%;height:${height}px;"></div>` +
    `<script type="text/javascript">(function(){var el=document.getElementById(${JSON.stringify(id)});` +
    `var draw=function(){window.Plotly.newPlot(el,${scriptJson(fig.data)},${scriptJson(layout)},${scriptJson(config)});};` +
    `if(window.Plotly){draw();return;}` +
    // No plotly.js on the page (a saved notebook whose first figure cell was re-run, so no output carries the
    // library): in the Jupyter Notebook UI load the copy that \`npm run kernel\` installs as an nbextension, once per page.
    `var base=document.body&&document.body.getAttribute('data-base-url');` +
    `var fail=function(){el.textContent=${scriptJson(opts.missingLibrary ?? 'plotly.js is not loaded: re-run the first figure cell of this notebook (or run npm run kernel, which installs plotly.js for the Notebook UI).')};};` +
    `if(base===null||base===undefined){fail();return;}` +
    `if(!window.__xai3dPlotly){window.__xai3dPlotly=new Promise(function(ok,no){var d=window.define;window.define=void 0;var sc=document.createElement('script');` +
    `sc.src=base.replace(/\\/?$/,'/')+'nbextensions/xai3d/plotly.min.js';sc.onload=function(){window.define=d;ok();};sc.onerror=function(){window.define=d;no();};document.head.appendChild(sc);});}` +
    `window.__xai3dPlotly.then(draw,fail);})();</script>`
  );
}

/** A file-name slug of a figure's title. */
export function figureSlug(fig: Figure, fallback = 'figure'): string {
  const t = (fig.layout?.title as { text?: string } | undefined)?.text ?? fallback;
  return t.toLowerCase().replace(/<[^>]*>/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || fallback;
}

/** The notebook a kernel runs (XAI3D_NOTEBOOK, set by the notebook runner), else "interactive". */
function notebookName(): string {
  const n = (process.env.XAI3D_NOTEBOOK ?? '').trim();
  return n.replace(/[^A-Za-z0-9._-]+/g, '-') || 'interactive';
}

/**
 * Show a figure inline in the notebook (plotly.js is inlined with the first figure of the kernel) and save it as an
 * HTML file under results/figures/<profile>/<notebook>/<title slug>.html (plotly.js beside it, so it opens offline),
 * unless XAI3D_SAVE_FIGURES=0. Files are named by notebook and figure title, so re-running a cell overwrites its
 * figure instead of adding a numbered copy. Returns the saved file, if any.
 */
export function showFigure(fig: Figure, opts: { save?: string | false } = {}): string | undefined {
  const html = figureHtml(fig, { includeLibrary: !libraryShownInKernel });
  // The figure as Plotly's MIME type (JupyterLab, VS Code) with the HTML as the fallback (classic notebook, nbconvert).
  if (displayBundle({ 'application/vnd.plotly.v1+json': plotlyMime(fig), 'text/html': html, 'text/plain': `<Plotly figure: ${figureSlug(fig)}>` })) libraryShownInKernel = true;
  if (opts.save === false || !envSwitch('XAI3D_SAVE_FIGURES', true)) return undefined;
  const name = opts.save ?? figureSlug(fig);
  const dir = path.join(resultsDir(), 'figures', profileName(), notebookName());
  const title = (fig.layout?.title as { text?: string } | undefined)?.text?.replace(/<br\s*\/?>/gi, ' · ').replace(/<[^>]*>/g, '') ?? name;
  // XAI3D_FIGURES_INLINE=1: every page self-contained (plotly.js inlined, about 4.7 MB each), so it can be copied alone.
  return writeFigureHtml(fig, path.join(dir, `${name}.html`), title, { library: envSwitch('XAI3D_FIGURES_INLINE', false) ? 'inline' : 'sibling' });
}

/**
 * A complete offline HTML page with the given figures: plotly.js inlined once ('inline', a self-contained file) or
 * loaded from a plotly.min.js beside the page ('sibling', for folders of many figures).
 */
export function figuresPage(figs: Figure[], title: string, library: 'inline' | 'sibling' = 'inline'): string {
  const lib = library === 'sibling' ? '<script src="plotly.min.js"></script>\n' : '';
  const missingLibrary = library === 'sibling' ? 'plotly.js is not loaded: this page needs plotly.min.js in the same folder (copy it from results/figures/<profile>/), or save self-contained pages with XAI3D_FIGURES_INLINE=1.' : undefined;
  const body = lib + figs.map((f, i) => figureHtml(f, { includeLibrary: library === 'inline' && i === 0, missingLibrary })).join('\n');
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<style>body{font-family:system-ui,sans-serif;margin:1.5em;}</style></head>\n' +
    `<body><h1 style="font-size:1.3em">${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`
  );
}

/** Write figures as an offline HTML file (atomically; 'sibling' also copies plotly.min.js beside it). Returns the path. */
export function writeFigureHtml(fig: Figure | Figure[], file: string, title = path.basename(file, '.html'), opts: { library?: 'inline' | 'sibling' } = {}): string {
  const library = opts.library ?? 'inline';
  if (library === 'sibling') {
    const lib = path.join(path.dirname(file), 'plotly.min.js');
    if (!fs.existsSync(lib)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomic(lib, fs.readFileSync(plotlyLibraryPath()));
    }
  }
  writeFileAtomic(file, figuresPage(Array.isArray(fig) ? fig : [fig], title, library));
  return file;
}
