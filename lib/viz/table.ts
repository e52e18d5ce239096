/** Tables in notebooks: rows of plain objects as an HTML table (or console.table outside a notebook). */
import { displayHtml } from './notebook';
import { escapeHtml } from '../util/html';

export type Row = Record<string, string | number | boolean | null | undefined>;


function cellText(v: Row[string], digits: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  return String(v);
}

export interface TableOptions {
  caption?: string;
  /** Decimal places for non-integer numbers (default 4). */
  digits?: number;
}

/** An HTML table of the rows (columns: the union of keys, in first-seen order). */
export function tableHtml(rows: Row[], opts: TableOptions = {}): string {
  const digits = opts.digits ?? 4;
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const head = cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${cols.map((c) => `<td>${escapeHtml(cellText(r[c], digits))}</td>`).join('')}</tr>`)
    .join('\n');
  const caption = opts.caption ? `<caption>${escapeHtml(opts.caption)}</caption>` : '';
  return `<table class="xai3d-table">${caption}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** Show rows as a table in the notebook, or with console.table in a terminal. */
export function showTable(rows: Row[], opts: TableOptions = {}): void {
  if (!displayHtml(tableHtml(rows, opts))) {
    if (opts.caption) console.log(opts.caption);
    console.table(rows);
  }
}

/** A danfojs DataFrame (anything with `columns` and `values`) as a table. */
export function showDataFrame(df: { columns: string[]; values: unknown }, opts: TableOptions = {}): void {
  const values = df.values as unknown[][];
  const rows = values.map((r) => Object.fromEntries(df.columns.map((c, i) => [c, (Array.isArray(r) ? r[i] : r) as Row[string]])));
  showTable(rows, opts);
}
