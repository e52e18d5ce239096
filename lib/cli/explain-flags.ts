/**
 * The explanation flags of `xai3d explain`, `aopc` and `sanity`, generated from the library's option table
 * (lib/explain/options.ts: type, bounds, default, help): the flags, their parsing, the per-method help lines, and the
 * translation of the library's errors (which name option fields) into flag names. A command whose own flags collide
 * with an option's (aopc's --steps, --stride, --seed) takes that option as --explain-<flag>.
 */
import { methodDefinition, methodNames, METHOD_OPTIONS, OPTION_SPECS, OptionError, resolveExplainOptions, type ExplainOptions, type MethodOption } from '../explain/explain';
import { rulesOption, UsageError, type Options } from './args';

export type ExplainFlags = Record<MethodOption, string>;

/** The flag of every method option for a command whose own flags are `own`. */
export function explainFlags(own: readonly string[] = []): ExplainFlags {
  return Object.fromEntries(METHOD_OPTIONS.map((k) => [k, own.includes(OPTION_SPECS[k].flag) ? `explain-${OPTION_SPECS[k].flag}` : OPTION_SPECS[k].flag])) as ExplainFlags;
}

/** parseArgs options for the method flag and every option flag. */
export function explainParseOptions(flags: ExplainFlags): Options {
  return { method: { type: 'string' }, ...Object.fromEntries(Object.values(flags).map((f) => [f, { type: 'string' as const }])) };
}

/** Help: one line per registered method that takes options, each option with its value and default. */
export function explainUsage(flags: ExplainFlags, indent: string): string {
  const lines: string[] = [];
  for (const name of methodNames()) {
    const opts = methodDefinition(name).options;
    if (opts.length === 0) continue;
    const parts = opts.map((k) => {
      const s = OPTION_SPECS[k];
      return `[--${flags[k]} ${s.value}${s.default !== null ? ` (${s.default})` : ''}]`;
    });
    lines.push(`${indent}${name}: ${parts.join(' ')}`);
  }
  return lines.join('\n');
}

/** A library error about an option field, in the command's flag names. */
export function flagError(err: unknown, flags: ExplainFlags, values: Record<string, unknown> = {}): Error {
  if (err instanceof OptionError) {
    if (err.field === 'method') return new UsageError(`--method: ${err.problem}`);
    const flag = err.field in flags ? flags[err.field as MethodOption] : err.field;
    // A value of the wrong kind: "--steps 0: expected an integer >= 1", with the value as given on the command line.
    const expected = /^(expected .*), got .*$/.exec(err.problem);
    if (expected && values[flag] !== undefined) return new UsageError(`--${flag} ${String(values[flag])}: ${expected[1]}`);
    // Field names in the message (e.g. "low 2 must be < high 1") read as flags; methods as --method values.
    const problem = err.problem
      .replace(/\b([a-zA-Z]+)\b(?= -?\d)/g, (w) => (w in flags ? `--${flags[w as MethodOption]}` : w))
      .replace(/applies to (.*) only/, (_, m: string) => `applies to --method ${m.replace(/ and /g, ' or ')} only`);
    return new UsageError(/^--/.test(problem) ? problem : `--${flag}: ${problem}`);
  }
  return err as Error;
}

function parseValue(k: MethodOption, raw: string, flag: string): unknown {
  const spec = OPTION_SPECS[k];
  switch (spec.type) {
    case 'integer':
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      return Number.isNaN(n) ? raw : n;
    }
    case 'number-or-reference':
      return raw === 'reference' ? raw : raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw);
    case 'json':
      if (k === 'rules') return rulesOption(raw);
      try {
        return JSON.parse(raw);
      } catch (err) {
        throw new UsageError(`--${flag} is not valid JSON: ${(err as Error).message}`);
      }
    default:
      return raw;
  }
}

/**
 * The explanation request of a command line: --method (a registered method), each option flag parsed by its spec,
 * resolved and checked by the library (resolveExplainOptions) with its errors in flag names. `extra` (e.g. classes)
 * is added before resolving.
 */
export function explainRequest(values: Record<string, unknown>, flags: ExplainFlags, extra: Partial<ExplainOptions> = {}): ExplainOptions {
  const method = values.method as string | undefined;
  if (method === undefined) throw new UsageError('--method is required');
  if (!methodNames().includes(method)) throw new UsageError(`--method ${method}: use one of ${methodNames().join(', ')}`);
  const req: Record<string, unknown> = { method, ...extra };
  for (const k of METHOD_OPTIONS) {
    const raw = values[flags[k]];
    if (raw === undefined) continue;
    req[k] = parseValue(k, raw as string, flags[k]);
  }
  try {
    return resolveExplainOptions(req as unknown as ExplainOptions);
  } catch (err) {
    throw flagError(err, flags, values);
  }
}

/** Whether any method option flag is set. */
export function anyExplainFlag(values: Record<string, unknown>, flags: ExplainFlags): boolean {
  return Object.values(flags).some((f) => values[f] !== undefined);
}
