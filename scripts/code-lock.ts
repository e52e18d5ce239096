/**
 * `npm run code-lock [-- --same-numbers training,explanations]`: record the version and source digest of every cached
 * computation in lib/cache/code-lock.json (lib/cache/code-lock.ts says why). Refuses while a computation's sources
 * changed and its version did not, unless --same-numbers names it (a change that cannot alter its numbers).
 */
import { parseArgs } from 'util';
import { writeFileAtomic } from '../lib/io/atomic';
import { LOCK_FILE, readLock, updatedLock } from '../lib/cache/code-lock';

function main(): void {
  let values: { 'same-numbers'?: string; help?: boolean };
  try {
    values = parseArgs({ options: { 'same-numbers': { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    process.stderr.write(`code-lock: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write('usage: npm run code-lock [-- --same-numbers NAME,...]\n');
    return;
  }
  const same = (values['same-numbers'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const before = readLock();
  let next;
  try {
    next = updatedLock(same, before);
  } catch (err) {
    process.stderr.write(`code-lock: ${(err as Error).message}\n`);
    process.exit(1);
  }
  writeFileAtomic(LOCK_FILE, JSON.stringify(next, null, 2) + '\n');
  for (const [name, e] of Object.entries(next)) {
    const b = before[name];
    const what = !b ? 'new' : b.version !== e.version ? `version ${b.version} -> ${e.version}` : b.digest !== e.digest ? 'same version, sources changed (same numbers)' : 'unchanged';
    process.stdout.write(`${name}: ${what}\n`);
  }
}

main();
