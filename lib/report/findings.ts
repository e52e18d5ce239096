/**
 * Findings: each notebook records its key numbers (results/findings/<profile>/<name>.json, atomically) and the report
 * (scripts/report.ts) puts them side by side with the thesis's claims.
 */
import * as fs from 'fs';
import * as path from 'path';
import { resultsDir } from '../env/paths';
import { profileName } from '../env/profile';
import { readJson, writeJsonAtomic } from '../io/atomic';

export function findingsDir(profile = profileName()): string {
  return path.join(resultsDir(), 'findings', profile);
}

export function writeFinding(name: string, value: unknown, profile = profileName()): string {
  const file = path.join(findingsDir(profile), `${name}.json`);
  writeJsonAtomic(file, { name, profile, recordedAt: new Date().toISOString(), value });
  return file;
}

export function readFinding<T = unknown>(name: string, profile = profileName()): T | undefined {
  const file = path.join(findingsDir(profile), `${name}.json`);
  return fs.existsSync(file) ? readJson<{ value: T }>(file).value : undefined;
}
