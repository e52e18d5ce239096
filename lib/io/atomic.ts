/**
 * Atomic writes: a file is written to a temporary sibling and renamed into place, so a reader sees either the old
 * file or the complete new one, never a half-written file, even if the process dies mid-write.
 */
import * as fs from 'fs';
import * as path from 'path';

let counter = 0;

/** A temporary path in the same folder as `target` (same filesystem, so rename is atomic). */
export function temporarySibling(target: string): string {
  counter += 1;
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${Date.now()}.${counter}.tmp`);
}

/** Write `data` to `target` atomically (temporary file, fsync, rename). Creates the parent folder. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = temporarySibling(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new Error(`could not write ${target}: ${(err as Error).message}`);
  }
}

/** JSON with two-space indentation and a final newline, written atomically. */
export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

/** Read and parse a JSON file, with an error naming the file when it is missing or malformed. */
export function readJson<T = unknown>(file: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Build a folder atomically: `build` fills a temporary sibling folder, which is renamed to `finalDir` only when
 * complete. A crash leaves at most a temporary folder (named .tmp-*), never a partial `finalDir`. An existing
 * `finalDir` is replaced (moved aside first, deleted after).
 */
export async function buildDirAtomic(finalDir: string, build: (tmpDir: string) => void | Promise<void>): Promise<void> {
  const parent = path.dirname(finalDir);
  fs.mkdirSync(parent, { recursive: true });
  counter += 1;
  const tmpDir = path.join(parent, `.tmp-${path.basename(finalDir)}-${process.pid}-${Date.now()}-${counter}`);
  fs.mkdirSync(tmpDir);
  try {
    await build(tmpDir);
    let old: string | undefined;
    if (fs.existsSync(finalDir)) {
      old = path.join(parent, `.old-${path.basename(finalDir)}-${process.pid}-${Date.now()}`);
      fs.renameSync(finalDir, old);
    }
    fs.renameSync(tmpDir, finalDir);
    if (old !== undefined) fs.rmSync(old, { recursive: true, force: true });
  } catch (err) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
}

/** Read a file, with an error naming it: "<file>: file not found" or "<file>: cannot read (<code>)". */
export function readFileChecked(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: ${e.code === 'ENOENT' ? 'file not found' : `cannot read (${e.code ?? e.message})`}`);
  }
}

/** Whether a process with this id is running on this machine. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The owner process of a temporary folder made by buildDirAtomic or the results cache, or null. */
export function temporaryOwner(name: string): number | null {
  const m = /^\.tmp-.+-(\d+)-\d{10,}-\d+$/.exec(name) ?? /^\.old-.+-(\d+)-\d{10,}$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Remove the temporary folders (.tmp-*, .old-*) under `parent` whose owner process is gone (crashes, kills). A live
 * run's work folder, of this or another process, is left alone.
 */
export function sweepAbandoned(parent: string): string[] {
  if (!fs.existsSync(parent)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(parent)) {
    const pid = temporaryOwner(name);
    if (pid === null || pid === process.pid || pidAlive(pid)) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
