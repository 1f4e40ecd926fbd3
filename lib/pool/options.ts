/**
 * `WorkerPool` options: their types, defaults and validation (EINVAL for a
 * wrong type, ERANGE for a number out of range, ENOENT for a missing task file).
 * @module
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ResourceLimits, SHARE_ENV } from 'node:worker_threads';
import {
  arrayOf,
  boolean,
  cString,
  finite,
  integer,
  integerIn,
  invalid,
  knownKeys,
  optional,
  options,
  outOfRange,
  plainObject,
  string,
} from '../validate';
import { checkOnline, type CpuSpec, getAffinity, MAX_NICE, MIN_NICE, resolveCpus } from '../cpu/affinity';
import { Cgroup } from '../cgroup/cgroup';
import type { RateSettings } from './rates';
import { withCause } from './errors';

/** Most workers a pool may run per CPU. */
export const MAX_THREADS_PER_CPU = 64;

/** Options of a {@link WorkerPool}. Only `filename` is required. */
export interface WorkerPoolOptions {
  /**
   * The task module: an absolute path, a path relative to the current
   * directory, or a `file:` URL. CommonJS or ESM; its default export (or
   * `module.exports` itself) is called with each task, or the export named by
   * `name`. It may return a value or a promise.
   */
  filename: string | URL;
  /** The export to call; default `'default'`. `run()` can pick another per task. */
  name?: string;
  /**
   * The CPUs to run workers on, as a cpulist (`'0-3'`, `'2-15:1/2'`) or CPU
   * numbers. Default: the CPUs the calling thread may run on (`getAffinity()`),
   * so a pool respects `taskset` and cpusets. Every CPU must be online
   * (`EINVAL` otherwise); one that a cpuset forbids fails when the worker pins.
   */
  cpus?: CpuSpec;
  /** Workers per CPU, each pinned to that CPU; default 1, at most 64. */
  threadsPerCpu?: number;
  /**
   * How many tasks may wait when every worker is busy; beyond it `run()`
   * rejects at once with `EAGAIN`. A number >= 0, `Infinity` (the default), or
   * `'auto'`: the number of workers squared, as piscina.
   */
  maxQueue?: number | 'auto';
  /** Nice value (-20 to 19) each worker sets on its own thread; default: inherited. */
  nice?: number;
  /**
   * Whether each worker pins itself to its CPU (default true). With `false`
   * the pool still runs `threadsPerCpu` workers per listed CPU but leaves
   * them where the scheduler puts them (for comparison, and for tests).
   */
  pin?: boolean;
  /**
   * A cgroup to place every worker thread in, before its first task: a
   * {@link Cgroup} or its path. v1 hierarchies take the thread in `tasks`; on
   * the unified (v2) hierarchy the group must be threaded
   * (`Cgroup.create(path, limits, { threaded: true })`), else the workers fail
   * to start with `EOPNOTSUPP`. Joining a v1 cpuset resets a thread's CPU mask,
   * so the pool pins each worker again afterwards; a CPU outside the group's
   * cpuset fails the start with `EINVAL`.
   */
  cgroup?: Cgroup | string;
  /**
   * Task rates in {@link WorkerPool.stats} (default off): `true`, or the
   * settings of the estimators. Each worker and the pool then get a
   * `GenEstimator` (the kernel's gen_estimator, run by kernkit's estimation
   * kthreads) over their counters: tasks per second and busy time per second.
   * `interval` sets the period to 2^interval seconds (-2 to 3, default 0: 1 s)
   * and `ewmaLog` the average's weight to 2^-ewmaLog (1 to 30, default 3), as
   * `tc ... estimator 1sec 8sec`; out of range is `ERANGE`. A worker's
   * estimator stops when its thread exits, the pool's when close() or
   * destroy() has ended every thread.
   */
  rates?: boolean | { interval?: number; ewmaLog?: number };
  /** Passed to every worker as `require('node:worker_threads').workerData`. */
  workerData?: unknown;
  /** V8 heap limits of each worker (Node's `Worker` option). */
  resourceLimits?: ResourceLimits;
  /** Environment of the workers (Node's `Worker` option; default: a copy of process.env). */
  env?: NodeJS.Dict<string> | typeof import('node:worker_threads').SHARE_ENV;
  /** Node flags of the workers (Node's `Worker` option). */
  execArgv?: string[];
  /** `process.argv` additions of the workers (Node's `Worker` option). */
  argv?: unknown[];
}

/** Options after validation, with defaults filled in (not part of the public API). */
export interface ResolvedOptions {
  /** Absolute path of the task module. */
  readonly filename: string;
  /** The default export to call. */
  readonly name: string;
  /** Sorted, unique, each below the possible CPU count. */
  readonly cpus: readonly number[];
  /** Workers per CPU. */
  readonly threadsPerCpu: number;
  /** Infinity, a count, or 'auto' (the worker count squared, computed when used). */
  readonly maxQueue: number | 'auto';
  /** Nice value for each worker, or undefined to inherit. */
  readonly nice: number | undefined;
  /** Whether workers pin themselves. */
  readonly pin: boolean;
  /** The cgroup for the worker threads, if any. */
  readonly cgroup: Cgroup | string | undefined;
  /** The rate estimators' settings, or undefined without rates. */
  readonly rates: RateSettings | undefined;
  /** The rest are handed to Node's Worker as they are. */
  readonly workerData: unknown;
  /** See {@link WorkerPoolOptions.resourceLimits}. */
  readonly resourceLimits: ResourceLimits | undefined;
  /** See {@link WorkerPoolOptions.env}. */
  readonly env: WorkerPoolOptions['env'];
  /** See {@link WorkerPoolOptions.execArgv}. */
  readonly execArgv: string[] | undefined;
  /** See {@link WorkerPoolOptions.argv}. */
  readonly argv: unknown[] | undefined;
}

/** What `filename` may be, as messages say it. */
const FILENAME = 'the path or file: URL of the task module';

/** The task module's absolute path: a path (through cString: NUL bytes would cut it short) or a file: URL. */
function resolveFilename(filename: unknown): string {
  let file: string;
  if (filename instanceof URL || (typeof filename === 'string' && filename.startsWith('file:'))) {
    const href = filename instanceof URL ? filename.href : filename;
    if (filename instanceof URL && filename.protocol !== 'file:') throw invalid('filename', href, 'a path or a file: URL');
    try {
      file = fileURLToPath(filename);
    } catch {
      throw invalid('filename', href, 'a file: URL of a local path'); // a host, an encoded '/'
    }
    cString('filename', file, { expected: FILENAME }); // %00 decodes to a NUL
  } else {
    file = path.resolve(cString('filename', filename, { nonEmpty: true, expected: FILENAME }));
  }
  if (!existsSync(file)) throw invalid('filename', file, 'an existing file', 'ENOENT');
  return file;
}

/** `maxQueue`: `'auto'`, `Infinity` (the default) or a count >= 0. */
function resolveMaxQueue(value: unknown): number | 'auto' {
  if (value === undefined || value === Infinity) return Infinity;
  if (value === 'auto') return 'auto';
  if (typeof value !== 'number') throw invalid('maxQueue', value, "an integer >= 0, Infinity or 'auto'");
  return integer('maxQueue', value, { min: 0 });
}

/** The `rates` option: undefined (off) or the gen estimator settings, defaults as tc's `estimator 1sec 8sec`. */
function resolveRates(rates: unknown): RateSettings | undefined {
  if (rates === undefined || rates === false) return undefined;
  if (rates === true) return { interval: 0, ewmaLog: 3 };
  const r = plainObject('rates', rates, 'true, false or { interval, ewmaLog }');
  knownKeys('rates', r, ['interval', 'ewmaLog']);
  return {
    interval: optional(r.interval, (v) => integerIn('rates.interval', v, -2, 3), 0),
    ewmaLog: optional(r.ewmaLog, (v) => integerIn('rates.ewmaLog', v, 1, 30), 3),
  };
}

/** The `cgroup` option: a Cgroup, or a path that reaches cgroupfs (through cString). */
function resolveCgroup(cgroup: unknown): Cgroup | string | undefined {
  if (cgroup === undefined || cgroup instanceof Cgroup) return cgroup;
  return cString('cgroup', cgroup, { nonEmpty: true, expected: 'a Cgroup or the path of one' });
}

/** The keys of Node's `ResourceLimits`, each a size in MB. */
const RESOURCE_LIMITS = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

/**
 * `resourceLimits`: the keys Node knows, each a number of MB > 0. Node itself
 * ignores unknown keys and values that are not numbers, and takes 0 or less as
 * "the default": each of those would be a limit the caller thinks is set.
 */
function resolveResourceLimits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  const limits = options<ResourceLimits>('resourceLimits', value, RESOURCE_LIMITS);
  for (const key of RESOURCE_LIMITS) {
    const field = `resourceLimits.${key}`;
    const mb = limits[key];
    if (mb !== undefined && finite(field, mb) <= 0) throw outOfRange(field, mb, 'a number of megabytes > 0');
  }
  return limits;
}

/**
 * `env`: `SHARE_ENV`, or variables whose names and values are strings without
 * NUL bytes (a child process the task starts gets them through execve).
 */
function resolveEnv(value: unknown): WorkerPoolOptions['env'] {
  if (value === undefined || value === SHARE_ENV) return value;
  const env = plainObject('env', value, 'an object of strings or SHARE_ENV');
  for (const [name, v] of Object.entries(env)) {
    cString('env', name, { nonEmpty: true, expected: 'variable names' });
    if (v !== undefined) cString(`env.${name}`, v);
  }
  return env as NodeJS.Dict<string>;
}

/** `argv`: an array; Node turns each element into a string, which a symbol cannot be. */
function resolveArgv(value: unknown): unknown[] | undefined {
  return optional(value, (v) =>
    arrayOf('argv', v, (field, arg) => {
      if (typeof arg === 'symbol') throw invalid(field, arg, 'a value that converts to a string');
      return arg;
    }),
  );
}

/** `workerData`: whatever the structured clone algorithm copies, as Node copies it into every worker. */
function checkWorkerData(value: unknown): unknown {
  try {
    structuredClone(value);
  } catch (err) {
    throw withCause(invalid('workerData', value, 'a value the structured clone algorithm can copy'), err);
  }
  return value;
}

/** Every option a pool takes. */
const KNOWN = [
  'filename', 'name', 'cpus', 'threadsPerCpu', 'maxQueue', 'nice', 'pin', 'cgroup', 'rates', 'workerData', 'resourceLimits', 'env', 'execArgv',
  'argv',
] as const;

/** Checks options and fills defaults; throws the first problem found (not part of the public API). */
export function resolveOptions(value: unknown): ResolvedOptions {
  const o = options<WorkerPoolOptions>('options', value, KNOWN);
  const filename = resolveFilename(o.filename);
  const name = optional(o.name, (v) => string('name', v, { nonEmpty: true, expected: 'the name of an export' }), 'default');
  const cpus = o.cpus === undefined ? getAffinity() : resolveCpus(o.cpus, 'cpus');
  checkOnline(cpus);
  return {
    filename,
    name,
    cpus,
    threadsPerCpu: optional(o.threadsPerCpu, (v) => integerIn('threadsPerCpu', v, 1, MAX_THREADS_PER_CPU), 1),
    maxQueue: resolveMaxQueue(o.maxQueue),
    nice: optional(o.nice, (v) => integerIn('nice', v, MIN_NICE, MAX_NICE)),
    pin: optional(o.pin, (v) => boolean('pin', v), true),
    cgroup: resolveCgroup(o.cgroup),
    rates: resolveRates(o.rates),
    workerData: checkWorkerData(o.workerData),
    resourceLimits: resolveResourceLimits(o.resourceLimits),
    env: resolveEnv(o.env),
    execArgv: optional(o.execArgv, (v) => arrayOf('execArgv', v, (field, flag) => cString(field, flag))),
    argv: resolveArgv(o.argv),
  };
}
