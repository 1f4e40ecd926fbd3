/**
 * `estimation`: the process-wide control of the estimation kthreads, as IPVS's
 * `est_cpulist` and `est_nice` sysctls, their statistics, and the manual clock
 * for tests and simulations.
 * @module
 */
import { getAffinity, resolveCpus, type CpuSpec } from '../cpu/affinity';
import { formatCpuList } from '../cpu/cpulist';
import { KernkitError, describeValue } from '../errors';
import { integerIn, invalid, options } from '../validate';
import { estimatorNative, type NativeConfigureFailure } from './native';
import type { EstimationStats } from './types';

/** What {@link estimation.configure} changes; omitted keys keep their value. */
export interface EstimationConfig {
  /**
   * The CPUs the kthreads may run on (the kernel's est_cpulist): CPU numbers
   * or a cpulist string (`"0-3,8"`). As the kernel does, the list is
   * intersected with the CPUs the calling thread may use. `[]` or `""` stops
   * estimation until a non-empty list is set. Setting it starts a new
   * calibration.
   *
   * Difference from the kernel: a non-empty list that leaves no CPU once
   * intersected (`[1]` from a thread pinned to CPU 0) is `EINVAL`; the kernel
   * takes it and silently stops estimating.
   */
  cpus?: CpuSpec;
  /** @deprecated Use {@link EstimationConfig.cpus}, which takes the same cpulist strings. */
  cpulist?: string;
  /** The kthreads' nice value, -20 to 19 (EINVAL otherwise, as the sysctl). */
  nice?: number;
}

/** The controller {@link estimation.manual} returns. */
export interface ManualClock {
  /**
   * Runs exactly one 2-second estimation pass, synchronously on the calling
   * thread: every {@link RateEstimator} is estimated once, and every
   * {@link GenEstimator}'s timer fires as often as 2 s of its period allow (a
   * 250 ms one 8 times, an 8 s one every 4th step). `EINVAL` once the clock is
   * back to automatic.
   */
  step(): void;
}

const CONFIG_KEYS = ['cpus', 'cpulist', 'nice'] as const;

// An empty cpulist: nothing but the kernel's (ASCII) whitespace.
const BLANK = /^[ \t\n\v\f\r]*$/;

// The CPUs a configuration asks for: an empty list or string stops estimation;
// anything else goes through resolveCpus and is intersected with the CPUs the
// calling thread may use, as the kernel does with current's. The kernel accepts
// a list that leaves none (and so stops estimation silently); kernkit refuses
// it: only an empty list stops estimation.
function configuredCpus(field: string, value: unknown): number[] {
  if ((Array.isArray(value) && value.length === 0) || (typeof value === 'string' && BLANK.test(value))) return [];
  const cpus = resolveCpus(value as CpuSpec, field);
  const allowed = new Set(getAffinity());
  const usable = cpus.filter((cpu) => allowed.has(cpu));
  if (usable.length === 0) {
    throw invalid(
      field,
      value,
      `CPUs the calling thread may use (${formatCpuList(allowed)}): the kthreads run on the list's CPUs that the caller may use, and [] or "" stops estimation`,
    );
  }
  return usable;
}

// What a configuration asks for, checked: the key and value it named the CPUs
// with, and the native arguments (null: unchanged).
interface CheckedConfig {
  cpusKey: 'cpus' | 'cpulist';
  cpusGiven: unknown;
  cpus: number[] | null;
  nice: number | null;
}

function checkConfig(config: unknown): CheckedConfig {
  const c = options<EstimationConfig>('config', config, CONFIG_KEYS);
  if (c.cpus !== undefined && c.cpulist !== undefined) {
    throw invalid('config.cpulist', c.cpulist, 'no cpulist next to cpus (cpulist is the deprecated name of cpus)');
  }
  const cpusKey = c.cpulist !== undefined ? 'cpulist' : 'cpus';
  const cpusGiven = c[cpusKey];
  const cpus = cpusGiven === undefined ? null : configuredCpus(`config.${cpusKey}`, cpusGiven);
  // The sysctl's own errno for a nice outside MIN_NICE..MAX_NICE is EINVAL.
  const nice = c.nice === undefined ? null : integerIn('config.nice', c.nice, -20, 19, 'EINVAL');
  return { cpusKey, cpusGiven, cpus, nice };
}

// The error for kthreads that could not be placed as asked (the native side has
// put the previous configuration back).
function placementError(f: NativeConfigureFailure, config: CheckedConfig, before: { cpus: number[]; nice: number }): KernkitError {
  const props = { code: f.code, errno: f.errno, syscall: f.syscall };
  const kept = `the configuration is unchanged (cpus ${describeValue(before.cpus)}, nice ${before.nice})`;
  if (f.field === 'nice') {
    const why =
      f.code === 'EACCES' || f.code === 'EPERM' ? '; a nice below the one threads start with (normally 0) needs CAP_SYS_NICE or a higher RLIMIT_NICE' : '';
    return new KernkitError(`nice ${describeValue(config.nice)}: the estimation kthreads cannot take it (${f.syscall}: ${f.code})${why}; ${kept}`, props);
  }
  if (f.field === 'cpulist') {
    return new KernkitError(
      `${config.cpusKey} ${describeValue(config.cpusGiven)}: the estimation kthreads cannot be pinned to them (${f.syscall}: ${f.code}, e.g. outside their cpuset); ${kept}`,
      props,
    );
  }
  return new KernkitError(`the estimation kthreads cannot be started (${f.syscall}: ${f.code}); ${kept}`, props);
}

/**
 * Process-wide control of the estimation kthreads (the kernel's per-netns
 * `est_cpulist`, `est_nice` and the kthreads' state), shared by every thread.
 */
export const estimation = {
  /**
   * Sets the kthreads' cpulist and/or nice value and restarts them with it, as
   * IPVS's est_reload: every estimator stays where it is in its 2 s cycle; a new
   * cpulist also recalibrates (and may change the number of kthreads). Resolves
   * once the kthreads run with the new placement (the restart waits for the old
   * threads, so it happens off the event loop). Rejects with `EINVAL`/`ERANGE`
   * for a malformed cpulist or a CPU this machine cannot have, `EINVAL` for a
   * nice outside -20..19, for an unknown key and for `cpus` with `cpulist`.
   * `configure()` or `configure({})` changes nothing.
   *
   * If the kthreads cannot be placed as asked, it rejects with the errno of the
   * call that failed (`EACCES` from setpriority for a nice below the current
   * one without CAP_SYS_NICE, `EINVAL` from sched_setaffinity for CPUs outside
   * the threads' cpuset, `EAGAIN` when no thread can be created), naming the
   * setting, and puts the previous configuration back. The kernel's sysctls
   * cannot fail so: its kthreads are placed by the kernel itself. Without
   * estimators, a short-lived probe thread tries the placement.
   */
  async configure(config?: EstimationConfig): Promise<void> {
    const checked = checkConfig(config);
    const before = estimatorNative.stats();
    const failure = await estimatorNative.configure(checked.cpus, checked.nice);
    if (failure) throw placementError(failure, checked, before);
  },

  /** The configuration, the calibration and every kthread's figures. */
  stats(): EstimationStats {
    const s = estimatorNative.stats(); // fresh objects from the addon on every call
    return { ...s, cpulist: formatCpuList(s.cpus) };
  },

  /**
   * Stops the kthreads' clock: they park, and estimations happen only when the
   * returned controller's `step()` is called. For tests and simulations;
   * process-wide. Returns after any kthread in the middle of a chain has
   * finished it.
   */
  manual(): ManualClock {
    estimatorNative.manual();
    return {
      step(): void {
        estimatorNative.step();
      },
    };
  },

  /**
   * Returns to real time. The clock resumes from where manual mode left it, so
   * each kthread continues its cycle where it was; the first pass after the
   * switch may cover less than 2 s of real time for some estimators.
   */
  automatic(): void {
    estimatorNative.automatic();
  },
};
