/** The benchmark suites, by name (npm run bench -- <name>). */
import { conv3dSuite } from './conv3d';
import { trainSuite } from './train';
import { explainSuite } from './explain';
import { aopcSuite } from './aopc';
import { peerSuite } from './peer';
import type { Suite } from './suite';

export type { Suite, SuiteOptions } from './suite';

export const BENCHMARKS: Record<string, Suite> = {
  conv3d: conv3dSuite,
  train: trainSuite,
  explain: explainSuite,
  aopc: aopcSuite,
  peer: peerSuite,
};
