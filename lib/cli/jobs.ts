/** `xai3d plan | job | run | submit | status`: a profile as a graph of cached jobs, locally or on Slurm. */
import { profileJobs, STAGES, type Stage } from '../jobs/graph';
import { profileStatus, runLocal, runOne, submitSlurm } from '../jobs/engine';
import { writableWorkDirs } from '../env/paths';
import { parseProfile, type ProfileName } from '../env/profile';
import { noPositionals, numberOption, parse, UsageError } from './args';
import type { Command } from './args';

function profileOf(values: Record<string, unknown>): ProfileName {
  return values.profile !== undefined ? parseProfile(values.profile as string, '--profile') : parseProfile(process.env.XAI3D_PROFILE);
}

function stagesOf(values: Record<string, unknown>): Stage[] {
  if (values.stages === undefined) return STAGES;
  const list = String(values.stages).split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of list) if (!(STAGES as string[]).includes(s)) throw new UsageError(`--stages ${values.stages}: "${s}" is not a stage; use a comma-separated list of ${STAGES.join(', ')}`);
  if (list.length === 0) throw new UsageError('--stages is empty');
  return list as Stage[];
}

const hms = (s: number) => `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;

const PLAN_USAGE = `usage: xai3d plan [--profile tiny|quick|thesis] [--json]
The profile's jobs: ids, dependencies, estimated CPU time and memory (from measured rates on a 2-core machine).`;

export const planCommand: Command = {
  name: 'plan',
  summary: 'the job graph of a profile (ids, dependencies, estimated CPU time and memory)',
  async run(args) {
    const { values, positionals } = parse(args, { profile: { type: 'string' }, json: { type: 'boolean' } }, PLAN_USAGE);
    if (values.help) return 0;
    noPositionals(positionals, 'plan');
    const profile = profileOf(values);
    const jobs = profileJobs(profile);
    if (values.json) {
      process.stdout.write(JSON.stringify({ profile, jobs: jobs.map((j) => ({ id: j.id, stage: j.stage, deps: j.deps, cpuSeconds: j.cpuSeconds, memoryMb: j.memoryMb })) }, null, 2) + '\n');
      return 0;
    }
    const total = jobs.reduce((a, j) => a + j.cpuSeconds, 0);
    process.stdout.write(`profile ${profile}: ${jobs.length} jobs, about ${hms(total)} of 2-core machine time in all\n`);
    for (const j of jobs) process.stdout.write(`  ${j.id.padEnd(36)} ${hms(j.cpuSeconds).padStart(7)} ${String(j.memoryMb).padStart(6)} MB  after: ${j.deps.length > 3 ? `${j.deps.length} jobs` : j.deps.join(', ') || '-'}\n`);
    return 0;
  },
};

const JOB_USAGE = `usage: xai3d job ID [--profile P]
Runs one unit of the profile's graph (see xai3d plan). Idempotent: a finished unit is a cache hit and returns at once.`;

export const jobCommand: Command = {
  name: 'job',
  summary: 'run one unit of a profile (idempotent; what Slurm array tasks call)',
  async run(args) {
    const { values, positionals } = parse(args, { profile: { type: 'string' } }, JOB_USAGE);
    if (values.help) return 0;
    if (positionals.length !== 1) throw new UsageError(`give one job ID\n\n${JOB_USAGE}`);
    const profile = profileOf(values);
    if (!profileJobs(profile).some((j) => j.id === positionals[0])) throw new UsageError(`no job "${positionals[0]}" in profile ${profile}; \`xai3d plan --profile ${profile}\` lists them`);
    writableWorkDirs();
    await runOne(profile, positionals[0]);
    process.stderr.write(`job ${positionals[0]}: done\n`);
    return 0;
  },
};

const RUN_USAGE = `usage: xai3d run [--profile P] [--jobs N (1)] [--stages data,train,summary,eval,report]
Runs the profile's graph on this machine with N worker processes; finished units are skipped.`;

export const runCommand: Command = {
  name: 'run',
  summary: 'run a profile\'s job graph locally with N worker processes',
  async run(args) {
    const { values, positionals } = parse(args, { profile: { type: 'string' }, jobs: { type: 'string' }, stages: { type: 'string' } }, RUN_USAGE);
    if (values.help) return 0;
    noPositionals(positionals, 'run');
    const profile = profileOf(values);
    const workers = numberOption(values, 'jobs', { integer: true, min: 1 }) ?? 1;
    const stages = stagesOf(values);
    writableWorkDirs();
    await runLocal(profile, workers, stages);
    return 0;
  },
};

const SUBMIT_USAGE = `usage: xai3d submit --engine slurm [--profile P] [--partition X] [--time T] [--cpus N (2)] [--mem M]
                    [--gpus N] [--account A] [--stages data,train,summary,eval,report] [--wait]
Writes sbatch scripts (a job array per stage, each stage --dependency=afterok on the previous) under
results/jobs/<profile>/slurm/, submits them, and with --wait follows them until done (exit 1 naming a failed job and
its log). Units that are done or already queued are not submitted again.`;

export const submitCommand: Command = {
  name: 'submit',
  summary: 'submit a profile\'s job graph to a cluster engine (Slurm)',
  async run(args) {
    const { values, positionals } = parse(args, {
      engine: { type: 'string' }, profile: { type: 'string' }, partition: { type: 'string' }, time: { type: 'string' }, cpus: { type: 'string' },
      mem: { type: 'string' }, gpus: { type: 'string' }, account: { type: 'string' }, stages: { type: 'string' }, wait: { type: 'boolean' },
    }, SUBMIT_USAGE);
    if (values.help) return 0;
    noPositionals(positionals, 'submit');
    if (values.engine !== 'slurm') throw new UsageError(`--engine ${values.engine ?? '(missing)'}: the supported engine is slurm (for one machine use xai3d run --jobs N)`);
    const profile = profileOf(values);
    writableWorkDirs();
    await submitSlurm(profile, {
      partition: values.partition as string | undefined,
      time: values.time as string | undefined,
      cpus: numberOption(values, 'cpus', { integer: true, min: 1 }),
      mem: values.mem as string | undefined,
      gpus: numberOption(values, 'gpus', { integer: true, min: 1 }),
      account: values.account as string | undefined,
      stages: stagesOf(values),
      wait: values.wait === true,
    });
    return 0;
  },
};

const STATUS_USAGE = `usage: xai3d status [--profile P] [--json]
What is done, running (locally or in Slurm's queue), submitted, failed or pending.`;

export const statusCommand: Command = {
  name: 'status',
  summary: 'what of a profile is done, running, failed',
  async run(args) {
    const { values, positionals } = parse(args, { profile: { type: 'string' }, json: { type: 'boolean' } }, STATUS_USAGE);
    if (values.help) return 0;
    noPositionals(positionals, 'status');
    const profile = profileOf(values);
    // Reading the cached datasets to locate results prints no progress here.
    process.env.XAI3D_QUIET = process.env.XAI3D_QUIET ?? '1';
    const st = await profileStatus(profile);
    if (values.json) {
      process.stdout.write(JSON.stringify({ profile, units: st }, null, 2) + '\n');
      return 0;
    }
    const counts = st.reduce<Record<string, number>>((a, s) => ((a[s.state] = (a[s.state] ?? 0) + 1), a), {});
    process.stdout.write(`profile ${profile}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}\n`);
    for (const s of st) process.stdout.write(`  ${s.state.padEnd(9)} ${s.id}${s.slurmJobId ? `  (slurm ${s.slurmJobId})` : ''}${s.error ? `  ${s.error}` : ''}${s.state === 'failed' && s.log ? `  log ${s.log}` : ''}\n`);
    return 0;
  },
};
