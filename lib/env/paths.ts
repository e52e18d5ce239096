/**
 * Where xai3d lives on disk: the project root, the data folder and the results folder.
 *
 * The root is found from this file's real location (notebooks import lib/ through a symlink), so the same
 * folders are used by the CLI, the tests and the notebooks. XAI3D_DATA and XAI3D_RESULTS move the data and
 * results folders (e.g. to a larger disk); relative values are taken from the project root.
 */
import * as fs from 'fs';
import * as path from 'path';

function findProjectRoot(): string {
  let dir = fs.realpathSync(__dirname);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'xai3d') return dir;
      } catch {
        /* not ours: keep walking up */
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`xai3d: cannot find the project root (package.json named "xai3d") above ${__dirname}`);
    dir = parent;
  }
}

export const PROJECT_ROOT: string = findProjectRoot();

function fromEnv(name: string, fallback: string): string {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return fallback;
  return path.resolve(PROJECT_ROOT, v);
}

/** Folder of generated and cached datasets (XAI3D_DATA, default <root>/data). */
export function dataDir(): string {
  return fromEnv('XAI3D_DATA', path.join(PROJECT_ROOT, 'data'));
}

/** Folder of cached results, manifests, executed notebooks and reports (XAI3D_RESULTS, default <root>/results). */
export function resultsDir(): string {
  return fromEnv('XAI3D_RESULTS', path.join(PROJECT_ROOT, 'results'));
}

/**
 * Check, before any work, that a folder can be written (created if missing): a read-only or misplaced results or data
 * folder is reported by name at the start, not as an ENOENT after minutes of work. Returns the folder.
 */
export function ensureWritable(dir: string, source: string): string {
  const probe = path.join(dir, `.write-test-${process.pid}-${Date.now()}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${source} ${dir} is not writable (${e.code ?? e.message}): point ${source.startsWith('XAI3D_') ? source : 'it'} at a folder you can write`);
  }
  return dir;
}

/** The results and data folders, both checked writable (see ensureWritable). */
export function writableWorkDirs(): { data: string; results: string } {
  return {
    data: ensureWritable(dataDir(), process.env.XAI3D_DATA ? 'XAI3D_DATA' : 'the data folder'),
    results: ensureWritable(resultsDir(), process.env.XAI3D_RESULTS ? 'XAI3D_RESULTS' : 'the results folder'),
  };
}
