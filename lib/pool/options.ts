/**
 * `WorkerPool` options: their types, defaults and validation (EINVAL for a
 * wrong type, ERANGE for a number out of range, ENOENT for a missing task file).
 * @module
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { invalidArgument, KernkitError, outOfRange } from '../errors';
import { checkOnline, type CpuSpec, getAffinity, MAX_NICE, MIN_NICE, resolveCpus } from '../cpu/affinity';
import { Cgroup } from '../cgroup/cgroup';
import type { RateSettings } from './rates';

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

function resolveFilename(filename: unknown): string {
  let file: string;
  if (filename instanceof URL) {
    if (filename.protocol !== 'file:') throw invalidArgument('filename', filename.href, 'expected a path or a file: URL');
    file = fileURLToPath(filename);
  } else if (typeof filename === 'string' && filename !== '') {
    file = filename.startsWith('file:') ? fileURLToPath(filename) : path.resolve(filename);
  } else {
    throw invalidArgument('filename', filename, 'expected the path or file: URL of the task module');
  }
  if (!existsSync(file)) throw new KernkitError(`filename: no such file ${JSON.stringify(file)}`, { code: 'ENOENT' });
  return file;
}

function integerIn(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidArgument(field, value, `expected an integer from ${min} to ${max}`);
  if (value < min || value > max) throw outOfRange(field, value, `${min} to ${max}`);
  return value;
}

function objectOrUndefined<T>(field: string, value: unknown): T | undefined {
  if (value !== undefined && (typeof value !== 'object' || value === null)) throw invalidArgument(field, value, 'expected an object');
  return value as T | undefined;
}

function arrayOrUndefined<T>(field: string, value: unknown): T[] | undefined {
  if (value !== undefined && !Array.isArray(value)) throw invalidArgument(field, value, 'expected an array');
  return value as T[] | undefined;
}

/** The `rates` option: undefined (off) or the gen estimator settings, defaults as tc's `estimator 1sec 8sec`. */
function resolveRates(rates: unknown): RateSettings | undefined {
  if (rates === undefined || rates === false) return undefined;
  if (rates === true) return { interval: 0, ewmaLog: 3 };
  if (typeof rates !== 'object' || rates === null || Array.isArray(rates)) {
    throw invalidArgument('rates', rates, 'expected true, false or { interval, ewmaLog }');
  }
  const r = rates as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (key !== 'interval' && key !== 'ewmaLog') throw invalidArgument(`rates.${key}`, r[key], 'the rate settings are interval and ewmaLog');
  }
  return {
    interval: r.interval === undefined ? 0 : integerIn('rates.interval', r.interval, -2, 3),
    ewmaLog: r.ewmaLog === undefined ? 3 : integerIn('rates.ewmaLog', r.ewmaLog, 1, 30),
  };
}

const KNOWN = new Set([
  'filename', 'name', 'cpus', 'threadsPerCpu', 'maxQueue', 'nice', 'pin', 'cgroup', 'rates', 'workerData', 'resourceLimits', 'env', 'execArgv',
  'argv',
]);

/** Checks options and fills defaults; throws the first problem found (not part of the public API). */
export function resolveOptions(options: WorkerPoolOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidArgument('options', options, 'expected an object with at least filename');
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new KernkitError(`unknown option ${JSON.stringify(key)} (known: ${[...KNOWN].join(', ')})`, { code: 'EINVAL' });
    }
  }
  const filename = resolveFilename(options.filename);
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || name === '') throw invalidArgument('name', options.name, 'expected the name of an export');
  const cpus = options.cpus === undefined ? getAffinity() : resolveCpus(options.cpus, 'cpus');
  checkOnline(cpus);
  const threadsPerCpu = options.threadsPerCpu === undefined ? 1 : integerIn('threadsPerCpu', options.threadsPerCpu, 1, MAX_THREADS_PER_CPU);
  let maxQueue: number | 'auto' = Infinity;
  if (options.maxQueue === 'auto') maxQueue = 'auto';
  else if (options.maxQueue !== undefined && options.maxQueue !== Infinity) {
    maxQueue = integerIn('maxQueue', options.maxQueue, 0, Number.MAX_SAFE_INTEGER);
  }
  const nice = options.nice === undefined ? undefined : integerIn('nice', options.nice, MIN_NICE, MAX_NICE);
  if (options.pin !== undefined && typeof options.pin !== 'boolean') throw invalidArgument('pin', options.pin, 'expected true or false');
  const cgroup = options.cgroup;
  if (cgroup !== undefined && !(cgroup instanceof Cgroup) && (typeof cgroup !== 'string' || cgroup === '')) {
    throw invalidArgument('cgroup', cgroup, 'expected a Cgroup or the path of one');
  }
  const rates = resolveRates(options.rates);
  return {
    filename,
    name,
    cpus,
    threadsPerCpu,
    maxQueue,
    nice,
    pin: options.pin ?? true,
    cgroup,
    rates,
    workerData: options.workerData,
    resourceLimits: objectOrUndefined('resourceLimits', options.resourceLimits),
    env: options.env as WorkerPoolOptions['env'],
    execArgv: arrayOrUndefined('execArgv', options.execArgv),
    argv: arrayOrUndefined('argv', options.argv),
  };
}
