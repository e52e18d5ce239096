/** What a benchmark suite is (suites.ts lists them by name). */
export interface SuiteOptions {
  quick: boolean;
  reps: number;
}

export interface Suite {
  run(opts: SuiteOptions): Promise<unknown>;
  /** Measurements that run in their own process: `part` names which. */
  child?(part: string, args: string[]): Promise<unknown>;
}
