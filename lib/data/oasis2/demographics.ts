/**
 * The OASIS-2 demographics table (oasis_longitudinal.csv, or the first sheet of
 * oasis_longitudinal_demographics.xlsx), one row per MRI session, and the AD / NC labelling rules.
 *
 * Columns: Subject ID, MRI ID (= the session folder name), Group, Visit, MR Delay, M/F, Hand, Age, EDUC, SES, MMSE,
 * CDR, eTIV, nWBV, ASF. `Group` is the subject's trajectory (Nondemented, Demented, Converted), repeated on every
 * row; CDR is per visit.
 *
 * Label rules (selectable, documented in manifests):
 *   cdr    (default) AD when the visit's CDR >= 0.5, else NC.
 *   group  Demented -> AD, Nondemented -> NC, Converted -> by the visit's CDR (>= 0.5 AD).
 */
import * as fs from 'fs';
import * as path from 'path';

export interface SessionRow {
  subjectId: string;
  mriId: string;
  group: 'Nondemented' | 'Demented' | 'Converted';
  visit: number;
  mrDelay: number;
  sex: string;
  hand: string;
  age: number;
  educ: number | null;
  ses: number | null;
  mmse: number | null;
  cdr: number;
  etiv: number | null;
  nwbv: number | null;
  asf: number | null;
}

export type LabelRule = 'cdr' | 'group';
export const LABEL_RULES: LabelRule[] = ['cdr', 'group'];
export const OASIS_CLASSES = ['NC', 'AD'];

const REQUIRED = ['Subject ID', 'MRI ID', 'Group', 'Visit', 'CDR'] as const;
const GROUPS = ['Nondemented', 'Demented', 'Converted'];

/** 0 = NC, 1 = AD under `rule`. */
export function labelOf(row: SessionRow, rule: LabelRule): 0 | 1 {
  if (rule === 'cdr') return row.cdr >= 0.5 ? 1 : 0;
  if (row.group === 'Demented') return 1;
  if (row.group === 'Nondemented') return 0;
  return row.cdr >= 0.5 ? 1 : 0;
}

/** Parse one CSV line with quotes ("a, b" and doubled "" inside quotes). */
function csvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

function toRows(file: string, header: string[], records: string[][]): SessionRow[] {
  const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');
  const col = new Map(header.map((h, i) => [norm(h), i]));
  const missing = REQUIRED.filter((c) => !col.has(norm(c)));
  if (missing.length > 0) throw new Error(`${file}: missing column(s) ${missing.map((m) => `"${m}"`).join(', ')} (found: ${header.join(', ')})`);
  const get = (r: string[], name: string) => {
    const i = col.get(norm(name));
    return i === undefined ? '' : (r[i] ?? '').trim();
  };
  const num = (r: string[], name: string, line: number, required = false): number | null => {
    const v = get(r, name);
    if (v === '' || v.toLowerCase() === 'nan' || v.toLowerCase() === 'n/a') {
      if (required) throw new Error(`${file}: row ${line}: "${name}" is empty`);
      return null;
    }
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${file}: row ${line}: "${name}" is "${v}", not a number`);
    return n;
  };
  const rows: SessionRow[] = [];
  const seen = new Set<string>();
  records.forEach((r, k) => {
    const line = k + 2;
    if (r.every((c) => c.trim() === '')) return;
    const group = get(r, 'Group');
    if (!GROUPS.includes(group)) throw new Error(`${file}: row ${line}: unknown Group "${group}" (expected ${GROUPS.join(', ')})`);
    const mriId = get(r, 'MRI ID');
    if (!/^OAS2_\d{4}_MR\d+$/.test(mriId)) throw new Error(`${file}: row ${line}: MRI ID "${mriId}" is not of the form OAS2_0001_MR1`);
    if (seen.has(mriId)) throw new Error(`${file}: row ${line}: MRI ID ${mriId} appears twice`);
    seen.add(mriId);
    const cdr = num(r, 'CDR', line, true)!;
    if (![0, 0.5, 1, 2, 3].includes(cdr)) throw new Error(`${file}: row ${line}: CDR ${cdr} is not one of 0, 0.5, 1, 2, 3`);
    rows.push({
      subjectId: get(r, 'Subject ID'),
      mriId,
      group: group as SessionRow['group'],
      visit: num(r, 'Visit', line, true)!,
      mrDelay: num(r, 'MR Delay', line) ?? 0,
      sex: get(r, 'M/F'),
      hand: get(r, 'Hand'),
      age: num(r, 'Age', line) ?? NaN,
      educ: num(r, 'EDUC', line),
      ses: num(r, 'SES', line),
      mmse: num(r, 'MMSE', line),
      cdr,
      etiv: num(r, 'eTIV', line),
      nwbv: num(r, 'nWBV', line),
      asf: num(r, 'ASF', line),
    });
  });
  if (rows.length === 0) throw new Error(`${file}: the table has no rows`);
  return rows;
}

export function parseDemographicsCsv(text: string, file = 'demographics.csv'): SessionRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`${file}: empty file`);
  return toRows(file, csvLine(lines[0]), lines.slice(1).map(csvLine));
}

/** The first sheet of an .xlsx file, read with exceljs (not the xlsx package, which has open advisories). */
export async function parseDemographicsXlsx(file: string): Promise<SessionRow[]> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ExcelJS = require('exceljs') as typeof import('exceljs');
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.readFile(file);
  } catch (err) {
    throw new Error(`${file}: not a readable .xlsx workbook (${(err as Error).message})`);
  }
  const sheet = wb.worksheets[0];
  if (!sheet) throw new Error(`${file}: the workbook has no sheet`);
  const text = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object' && v !== null && 'result' in v) return text((v as { result: unknown }).result);
    if (typeof v === 'object' && v !== null && 'richText' in v) return (v as { richText: { text: string }[] }).richText.map((t) => t.text).join('');
    return String(v);
  };
  const records: string[][] = [];
  sheet.eachRow({ includeEmpty: false }, (row) => {
    const values = row.values as unknown[];
    records.push(values.slice(1).map(text));
  });
  if (records.length === 0) throw new Error(`${file}: the first sheet is empty`);
  return toRows(file, records[0], records.slice(1));
}

/** Read oasis_longitudinal.csv or oasis_longitudinal_demographics.xlsx. */
export async function readDemographics(file: string): Promise<SessionRow[]> {
  if (!fs.existsSync(file)) throw new Error(`${file}: file not found`);
  const ext = path.extname(file).toLowerCase();
  if (ext === '.xlsx') return parseDemographicsXlsx(file);
  if (ext === '.csv') return parseDemographicsCsv(fs.readFileSync(file, 'utf8'), file);
  throw new Error(`${file}: expected a .csv or .xlsx demographics table`);
}

const CSV_COLUMNS = ['Subject ID', 'MRI ID', 'Group', 'Visit', 'MR Delay', 'M/F', 'Hand', 'Age', 'EDUC', 'SES', 'MMSE', 'CDR', 'eTIV', 'nWBV', 'ASF'];

/** The table as CSV, in the release's column order. */
export function demographicsCsv(rows: SessionRow[]): string {
  const v = (x: number | null) => (x === null || Number.isNaN(x) ? '' : String(x));
  const lines = rows.map((r) =>
    [r.subjectId, r.mriId, r.group, r.visit, r.mrDelay, r.sex, r.hand, v(r.age), v(r.educ), v(r.ses), v(r.mmse), r.cdr, v(r.etiv), v(r.nwbv), v(r.asf)].join(','),
  );
  return [CSV_COLUMNS.join(','), ...lines].join('\n') + '\n';
}
