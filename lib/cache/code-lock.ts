/**
 * The code-version lock: every cached computation (training, explanations, AOPC, sanity checks, phantom cohorts)
 * carries a version number in its cache key, bumped by hand when the computation changes. A bump that is forgotten
 * serves stale results (edit the optimiser, get the old Adam numbers back). So each computation lists the source
 * files its numbers depend on, and code-lock.json records, per computation, the version and a digest of those
 * sources. test/cache.test.ts fails when a digest no longer matches: the sources changed and nobody decided whether
 * the numbers did. `npm run code-lock` records the new digests, and refuses while a computation's sources changed
 * but its version did not, unless it is told the numbers stay the same (`--same-numbers training,...`, for comments
 * and refactors). The wasm kernels belong to both training and explanations: a kernel change asks for both decisions.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../env/paths';
import { PHANTOM_VERSION } from '../data/oasis2/phantoms/cohort';
import { EXPLAIN_CODE_VERSION } from '../explain/cached';
import { EVALUATION_VERSIONS } from '../evaluate/workflows';
import { TRAINING_CODE_VERSION } from '../training/train';

// The wasm kernels (every file that computes a kernel's numbers) and the memory plan (it picks batch sizes).
const KERNELS = [
  'lib/backend/kernels3d.ts',
  'lib/backend/kernel-common.ts',
  'lib/backend/conv3d.ts',
  'lib/backend/conv3d-filter-grad.ts',
  'lib/backend/pool3d.ts',
  'lib/backend/reduce.ts',
  'lib/backend/elementwise.ts',
  'lib/backend/adam.ts',
  'lib/backend/heap.ts',
  'lib/backend/simd/kernels.wat',
  'lib/backend/native.ts',
  'lib/backend/fused-conv.ts',
  'native/kernels.cc',
  'lib/backend/memory.ts',
];

export interface Computation {
  /** The constant in the cache key, and where it is defined. */
  version: number;
  constant: string;
  /** Files and folders (every .ts below them) whose content the numbers depend on, relative to the project. */
  sources: string[];
}

export const COMPUTATIONS: Record<string, Computation> = {
  training: {
    version: TRAINING_CODE_VERSION,
    constant: 'TRAINING_CODE_VERSION (lib/training/train.ts)',
    sources: ['lib/training/train.ts', 'lib/training/adam.ts', 'lib/models', 'lib/data/folds.ts', 'lib/data/dataset.ts', ...KERNELS],
  },
  explanations: {
    version: EXPLAIN_CODE_VERSION,
    constant: 'EXPLAIN_CODE_VERSION (lib/explain/cached.ts)',
    sources: ['lib/explain', 'lib/models', ...KERNELS],
  },
  aopc: { version: EVALUATION_VERSIONS.aopc, constant: 'EVALUATION_VERSIONS.aopc (lib/evaluate/workflows.ts)', sources: ['lib/evaluate/aopc.ts'] },
  sanity: { version: EVALUATION_VERSIONS.sanity, constant: 'EVALUATION_VERSIONS.sanity (lib/evaluate/workflows.ts)', sources: ['lib/evaluate/sanity.ts', 'lib/evaluate/similarity.ts'] },
  phantoms: { version: PHANTOM_VERSION, constant: 'PHANTOM_VERSION (lib/data/oasis2/phantoms/cohort.ts)', sources: ['lib/data/oasis2/phantoms', 'lib/util/random.ts'] },
};

export const LOCK_FILE = path.join(PROJECT_ROOT, 'lib', 'cache', 'code-lock.json');

export interface LockEntry {
  version: number;
  digest: string;
}

function files(rel: string): string[] {
  const abs = path.join(PROJECT_ROOT, rel);
  if (!fs.existsSync(abs)) throw new Error(`code lock: ${rel} does not exist (lib/cache/code-lock.ts lists it)`);
  if (fs.statSync(abs).isFile()) return [rel];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(rel, e.name)) : e.name.endsWith('.ts') ? [path.join(rel, e.name)] : []));
}

/** sha256 over the computation's source files (sorted paths, each path and its content). */
export function sourceDigest(c: Computation): string {
  const h = crypto.createHash('sha256');
  for (const f of [...new Set(c.sources.flatMap(files))].sort()) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(PROJECT_ROOT, f)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

export function readLock(file = LOCK_FILE): Record<string, LockEntry> {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, LockEntry>) : {};
}

/** What is out of date, one line each ("" when the lock matches the code). */
export function lockProblems(lock = readLock()): string[] {
  const out: string[] = [];
  for (const [name, c] of Object.entries(COMPUTATIONS)) {
    const entry = lock[name];
    const digest = sourceDigest(c);
    if (!entry) out.push(`${name}: not in lib/cache/code-lock.json; run \`npm run code-lock\``);
    else if (entry.digest !== digest && entry.version === c.version)
      out.push(`${name}: its sources changed since version ${c.version} was recorded: if its numbers can change, bump ${c.constant}; then \`npm run code-lock\` (with --same-numbers ${name} if they cannot)`);
    else if (entry.digest !== digest || entry.version !== c.version) out.push(`${name}: version ${entry.version} -> ${c.version} not recorded yet; run \`npm run code-lock\``);
  }
  return out;
}

/**
 * The lock for the code as it is. Refuses (throws, naming them) computations whose sources changed while their
 * version did not, unless listed in `sameNumbers`.
 */
export function updatedLock(sameNumbers: string[] = [], lock = readLock()): Record<string, LockEntry> {
  for (const n of sameNumbers) if (!COMPUTATIONS[n]) throw new Error(`--same-numbers ${n}: not a computation; use ${Object.keys(COMPUTATIONS).join(', ')}`);
  const refused: string[] = [];
  const next: Record<string, LockEntry> = {};
  for (const [name, c] of Object.entries(COMPUTATIONS)) {
    const digest = sourceDigest(c);
    const entry = lock[name];
    if (entry && entry.digest !== digest && entry.version === c.version && !sameNumbers.includes(name)) refused.push(name);
    next[name] = { version: c.version, digest };
  }
  if (refused.length > 0) {
    throw new Error(
      refused.map((n) => `${n}: its sources changed but ${COMPUTATIONS[n].constant} is still ${COMPUTATIONS[n].version}`).join('\n') +
        `\nBump the version where the numbers can change; pass --same-numbers ${refused.join(',')} where they cannot.`,
    );
  }
  return next;
}
