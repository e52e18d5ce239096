/**
 * Benchmarks: `npm run bench -- <name> [options]`. Each writes results/bench/<name>.json (atomically) and prints a
 * table. Ratios are measured in the same run, since the machines are shared and noisy.
 *
 *   conv3d   Conv3D forward, stock wasm kernel vs xai3d's, on the shapes; the training step of
 *            conv16-pool-conv32-pool-conv64-GAP-dense10 (Adam, batch 32 of 32^3), stock vs xai3d (each in its own
 *            process for its peak RSS); the oasis-6conv forward pass on one 128^3 volume; PyTorch where installed.
 *
 * Options: --quick (fewer repetitions, stock kernel on the small shapes only), --reps N.
 */
import * as path from 'path';
import { parseArgs } from 'util';
import { resultsDir, PROJECT_ROOT } from '../lib/env/paths';
import { writeJsonAtomic } from '../lib/io/atomic';
import { BENCHMARKS } from './suites';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { quick: { type: 'boolean' }, reps: { type: 'string' }, child: { type: 'string' } },
    allowPositionals: true,
  });
  if (values.child) {
    // A measurement that needs its own process (peak RSS): bench/run.ts --child <suite>:<part> [args]
    const [suite, part] = values.child.split(':');
    const result = await BENCHMARKS[suite].child!(part, positionals);
    process.stdout.write(`XAI3D_BENCH_RESULT ${JSON.stringify(result)}\n`);
    return;
  }
  const names = positionals.length > 0 ? positionals : Object.keys(BENCHMARKS);
  for (const name of names) {
    const suite = BENCHMARKS[name];
    if (!suite) {
      process.stderr.write(`bench: unknown benchmark "${name}"; have: ${Object.keys(BENCHMARKS).join(', ')}\n`);
      process.exit(2);
    }
    const reps = values.reps !== undefined ? Number(values.reps) : values.quick ? 2 : 3;
    const out = await suite.run({ quick: values.quick === true, reps });
    const file = path.join(resultsDir(), 'bench', `${name}.json`);
    writeJsonAtomic(file, out);
    process.stdout.write(`bench ${name}: written ${path.relative(PROJECT_ROOT, file)}\n`);
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
