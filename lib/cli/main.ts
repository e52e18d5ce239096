/**
 * The `xai3d` command line: subcommands over the same lib/ the notebooks use.
 * Exit codes: 0 success, 1 failure while running, 2 bad usage (unknown command, bad flag).
 */
import { info } from '../env/info';
import { noPositionals, parse, UsageError, type Command } from './args';
import { dataCommand } from './data';
import { trainCommand } from './train';
import { explainCommand } from './explain';
import { aopcCommand, sanityCommand } from './evaluate';
import { jobCommand, planCommand, runCommand, statusCommand, submitCommand } from './jobs';

export type { Command } from './args';

const infoCommand: Command = {
  name: 'info',
  summary: 'print backend, versions and data locations as JSON',
  async run(args) {
    const usage = 'usage: xai3d info\n\nPrints the backend (XAI3D_BACKEND, XAI3D_THREADS), versions and data locations as JSON.';
    const { values, positionals } = parse(args, {}, usage);
    if (values.help) return 0;
    noPositionals(positionals, 'info');
    process.stdout.write(JSON.stringify(await info(), null, 2) + '\n');
    return 0;
  },
};

/** Subcommands, in the order `xai3d --help` lists them. Later modules add theirs here. */
export const COMMANDS: Command[] = [infoCommand, dataCommand, trainCommand, explainCommand, aopcCommand, sanityCommand, planCommand, jobCommand, runCommand, submitCommand, statusCommand];

function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'xai3d: explain 3D CNNs on volumes (CAM, LRP composites, AOPC, sanity checks)',
    '',
    'usage: xai3d <command> [options]      (xai3d <command> --help for its options)',
    '',
    'commands:',
    ...lines,
    '',
    'environment: XAI3D_BACKEND=auto|tensorflow|wasm|cpu, XAI3D_THREADS=N, XAI3D_DATA=DIR, XAI3D_RESULTS=DIR',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(helpText());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    process.stdout.write(`${require('../../package.json').version}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`xai3d: unknown command "${name}"\n\n${helpText()}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`xai3d ${name}: ${err.message}\n`);
      return 2;
    }
    const e = err as Error;
    process.stderr.write(`xai3d ${name}: ${process.env.XAI3D_DEBUG ? e.stack ?? e.message : e.message}\n`);
    return 1;
  }
}
