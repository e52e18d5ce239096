/** Small helpers for the CLI: parsing with node's util.parseArgs and errors that say what to change. */
import { parseArgs, type ParseArgsConfig } from 'util';
import * as fs from 'fs';
import * as path from 'path';

/** A subcommand of `xai3d`: its name, a one-line summary for the command list, and what it runs (an exit code). */
export interface Command {
  name: string;
  summary: string;
  run(args: string[]): Promise<number>;
}

/** An error in how the command was called: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parse(args: string[], options: Options, usage: string): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (values.help) {
      process.stdout.write(usage.endsWith('\n') ? usage : usage + '\n');
      return { values: { ...values, help: true }, positionals };
    }
    return { values, positionals };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

/** A numeric option: undefined when absent, else a finite number (integer if asked), with a clear error. */
export function numberOption(values: Record<string, unknown>, name: string, opts: { integer?: boolean; min?: number } = {}): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    const what = opts.integer ? 'an integer' : 'a number';
    const min = opts.min !== undefined ? ` >= ${opts.min}` : '';
    throw new UsageError(`--${name} ${String(raw)}: expected ${what}${min}`);
  }
  return n;
}

/** Parse --rules JSON: an object keyed by conv1..convN, dense or layer names, each with a "rule" field. */
export function rulesOption(text: unknown): Record<string, { rule: string }> | undefined {
  if (text === undefined) return undefined;
  let rules: unknown;
  try {
    rules = JSON.parse(text as string);
  } catch (err) {
    throw new UsageError(`--rules is not valid JSON: ${(err as Error).message}`);
  }
  if (rules === null || typeof rules !== 'object' || Array.isArray(rules)) throw new UsageError('--rules must be a JSON object keyed by conv1..convN, dense or layer names');
  for (const [k, v] of Object.entries(rules as Record<string, unknown>)) {
    if (!v || typeof v !== 'object' || typeof (v as { rule?: unknown }).rule !== 'string') throw new UsageError(`--rules: entry "${k}" needs a "rule" field`);
  }
  return rules as Record<string, { rule: string }>;
}

/** Files a model folder or model.json path consists of (model.json and the weight files it names). */
export function modelFiles(modelPath: string): string[] {
  const dir = modelPath.endsWith('.json') ? path.dirname(modelPath) : modelPath;
  const json = path.join(dir, 'model.json');
  const out = [json];
  try {
    const m = JSON.parse(fs.readFileSync(json, 'utf8')) as { weightsManifest?: { paths: string[] }[] };
    for (const g of m.weightsManifest ?? []) for (const p of g.paths) out.push(path.join(dir, p));
  } catch {
    // An unreadable model is reported by the loader.
  }
  return out;
}

/**
 * Check an output path before any work: it must end in one of `exts` and must not be one of the command's own input
 * files (a model, an input volume, a heatmap), which the write would destroy.
 */
export function outputPath(value: unknown, flag: string, exts: string[], inputs: string[]): string {
  const out = value as string;
  const lower = out.toLowerCase();
  if (!exts.some((e) => lower.endsWith(e))) throw new UsageError(`${flag} ${out}: the file it writes must end in ${exts.join(' or ')}`);
  const target = path.resolve(out);
  for (const f of inputs) {
    const same = path.resolve(f) === target || (fs.existsSync(f) && fs.existsSync(target) && fs.statSync(f).ino === fs.statSync(target).ino);
    if (same) throw new UsageError(`${flag} ${out} is one of this command's inputs (${f}); writing there would destroy it: choose another file`);
  }
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new UsageError(`${flag} ${out} is a folder; give a file name`);
  return out;
}

/** Refuse positional arguments a command does not take (a forgotten "--" or a typo would otherwise be ignored). */
export function noPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument${positionals.length > 1 ? 's' : ''} ${positionals.map((p) => `"${p}"`).join(' ')} (xai3d ${command} takes --flags only; see --help)`);
}
