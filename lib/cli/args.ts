/** Small helpers for the CLI: parsing with node's util.parseArgs and errors that say what to change. */
import { parseArgs, type ParseArgsConfig } from 'util';

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
