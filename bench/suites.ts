/** The benchmark suites, by name (npm run bench -- <name>). */
import { conv3dSuite } from './conv3d';
import { trainSuite } from './train';
import { explainSuite } from './explain';
import { aopcSuite } from './aopc';

export interface SuiteOptions {
  quick: boolean;
  reps: number;
}

export interface Suite {
  run(opts: SuiteOptions): Promise<unknown>;
  /** Measurements that run in their own process: `part` names which. */
  child?(part: string, args: string[]): Promise<unknown>;
}

export const BENCHMARKS: Record<string, Suite> = {
  conv3d: conv3dSuite,
  train: trainSuite,
  explain: explainSuite,
  aopc: aopcSuite,
};
