/**
 * `estimation`: the process-wide control of the estimation kthreads, as IPVS's
 * `est_cpulist` and `est_nice` sysctls, their statistics, and the manual clock
 * for tests and simulations.
 * @module
 */
import { getAffinity } from '../cpu/affinity';
import { formatCpuList, parseCpuList } from '../cpu/cpulist';
import { KernkitError, describeValue, invalidArgument } from '../errors';
import { estimatorNative, type NativeConfigureFailure } from './native';

/** What {@link estimation.configure} changes; omitted keys keep their value. */
export interface EstimationConfig {
  /**
   * The CPUs the kthreads may run on, in the kernel's cpulist syntax (`"0-3,8"`).
   * As the kernel does, the list is intersected with the CPUs the calling
   * thread may use. `""` stops estimation until a non-empty list is set.
   * Setting it starts a new calibration.
   *
   * Difference from the kernel: a non-empty list that leaves no CPU once
   * intersected (`"1"` from a thread pinned to CPU 0) is `EINVAL`; the kernel
   * takes it and silently stops estimating.
   */
  cpulist?: string;
  /** The kthreads' nice value, -20 to 19 (EINVAL otherwise, as the sysctl). */
  nice?: number;
}

/** One estimation kthread, as {@link estimation.stats} reports it. */
export interface KthreadStats {
  /** The kthread's index (ktid): 0 is the one that calibrates and distributes. */
  id: number;
  /** Its thread name, `kk-est/<id>`. */
  name: string;
  /** False while stopped (empty cpulist, reconfiguration, not yet started). */
  running: boolean;
  /** Its Linux thread id (see /proc/self/task/<tid>), 0 when not running. */
  tid: number;
  /** The CPUs it may run on, read back from the kernel (sched_getaffinity). */
  cpus: string;
  /** Its nice value, read back from the kernel (getpriority). */
  nice: number;
  /** Estimators in its chains. */
  estimators: number;
  /** Chains that hold estimators (of 50 rows x 48). */
  chains: number;
  /** Estimators per chain at most (est_chain_max). */
  chainMax: number;
  /** Estimators per 40 ms tick at most (48 x chainMax). */
  tickMax: number;
  /** Estimators this kthread takes at most (50 x tickMax). */
  maxEstimators: number;
  /** 40 ms ticks run. */
  ticks: number;
  /** How long the last tick's estimations took, in ns. */
  lastTickNs: number;
  /** The longest tick so far, in ns. */
  maxTickNs: number;
  /** Ticks that started more than one tick (40 ms) after their time. */
  lateTicks: number;
  /** Times the kthread was more than 8 ticks late and reset its timer instead of catching up. */
  timerResets: number;
  /** Time spent estimating, in ns (for the cost per estimation: busyNs / estimations). */
  busyNs: number;
  /** Estimations done. */
  estimations: number;
  /** errno name if sched_setaffinity on its own tid failed. */
  affinityError?: string;
  /** errno name if setpriority on its own tid failed. */
  niceError?: string;
}

/** The state of estimation, from {@link estimation.stats}. */
export interface EstimationStats {
  /** `manual` between {@link estimation.manual} and {@link estimation.automatic}. */
  mode: 'manual' | 'automatic';
  /** The kthreads' cpulist (by default the CPUs of the process's main thread when estimation was first used). */
  cpulist: string;
  /** The kthreads' nice value. */
  nice: number;
  /** True while the cpulist is empty: nothing is estimated. */
  stopped: boolean;
  /** Kthreads allowed: 4 per CPU of the cpulist (est_max_threads). */
  maxThreads: number;
  /** Estimators per chain, from the calibration (0 until the first one). */
  chainMax: number;
  /** True while a calibration is pending or running. */
  calcPhase: boolean;
  /** What one estimation cost in the calibration (hot cache), in ns. */
  estimationCostNs: number;
  /**
   * Writer shards a counter sum read during the last calibration (the
   * counters' shard high-water mark, at least 1). An estimation costs more
   * with more shards, so when twice as many are in use, kthread 0 calibrates
   * again and redistributes the estimators, as after a cpulist change (the
   * kernel sums a fixed set of CPUs and has no such case).
   */
  calibratedShards: number;
  /** Live {@link RateEstimator}s. */
  estimators: number;
  /** Live {@link GenEstimator}s. */
  genEstimators: number;
  /** Rate estimators not yet in a chain (new, or waiting for a free kthread). */
  pending: number;
  /** Gen estimations done. */
  genEstimations: number;
  /**
   * Kthreads that could not be created (pthread_create failed: EAGAIN at
   * RLIMIT_NPROC, ENOMEM). As in the kernel, the estimators meant for them wait
   * in the temp list (`pending`) and kthread 0 tries again every tick.
   */
  startErrors: number;
  /** errno name of the last failed kthread creation, if any. */
  startError?: string;
  /** Estimator slots in use or free. */
  slots: number;
  /** Native memory mapped for estimator slots, in bytes. */
  slabBytes: number;
  /** The kthreads, by id. */
  kthreads: KthreadStats[];
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

const CONFIG_KEYS = new Set(['cpulist', 'nice']);

function checkConfig(config: unknown): { cpus: number[] | null; nice: number | null } {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw invalidArgument('config', config, 'expected { cpulist?, nice? }');
  }
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!CONFIG_KEYS.has(key)) throw invalidArgument(`config.${key}`, c[key], 'the options are cpulist and nice');
  }
  let cpus: number[] | null = null;
  if (c.cpulist !== undefined) {
    cpus = parseCpuList(c.cpulist as string);
    // As the kernel, the kthreads get the CPUs of the list that the calling
    // thread may use. The kernel accepts a list that leaves none (and so stops
    // estimation silently); kernkit refuses it: only "" stops estimation.
    const allowed = new Set(getAffinity());
    const usable = cpus.filter((cpu) => allowed.has(cpu));
    if (cpus.length > 0 && usable.length === 0) {
      throw invalidArgument(
        'cpulist',
        c.cpulist,
        `none of these CPUs is one the calling thread may use (${formatCpuList(allowed)}); the kthreads run on the list's CPUs that the caller may use, and "" stops estimation`,
      );
    }
    cpus = usable;
  }
  let nice: number | null = null;
  if (c.nice !== undefined) {
    const v = c.nice;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -20 || v > 19) {
      // The sysctl's own errno for a nice outside MIN_NICE..MAX_NICE is EINVAL.
      throw new KernkitError(`invalid nice: ${describeValue(v)} (expected an integer from -20 to 19)`, { code: 'EINVAL' });
    }
    nice = v;
  }
  return { cpus, nice };
}

// The error for kthreads that could not be placed as asked (the native side has
// put the previous configuration back).
function placementError(f: NativeConfigureFailure, config: EstimationConfig, before: { cpulist: string; nice: number }): KernkitError {
  const props = { code: f.code, errno: f.errno, syscall: f.syscall };
  const kept = `the configuration is unchanged (cpulist ${describeValue(before.cpulist)}, nice ${before.nice})`;
  if (f.field === 'nice') {
    const why =
      f.code === 'EACCES' || f.code === 'EPERM' ? '; a nice below the one threads start with (normally 0) needs CAP_SYS_NICE or a higher RLIMIT_NICE' : '';
    return new KernkitError(`nice ${describeValue(config.nice)}: the estimation kthreads cannot take it (${f.syscall}: ${f.code})${why}; ${kept}`, props);
  }
  if (f.field === 'cpulist') {
    return new KernkitError(
      `cpulist ${describeValue(config.cpulist)}: the estimation kthreads cannot be pinned to it (${f.syscall}: ${f.code}, e.g. outside their cpuset); ${kept}`,
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
   * nice outside -20..19.
   *
   * If the kthreads cannot be placed as asked, it rejects with the errno of the
   * call that failed (`EACCES` from setpriority for a nice below the current
   * one without CAP_SYS_NICE, `EINVAL` from sched_setaffinity for CPUs outside
   * the threads' cpuset, `EAGAIN` when no thread can be created), naming the
   * setting, and puts the previous configuration back. The kernel's sysctls
   * cannot fail so: its kthreads are placed by the kernel itself. Without
   * estimators, a short-lived probe thread tries the placement.
   */
  async configure(config: EstimationConfig): Promise<void> {
    const { cpus, nice } = checkConfig(config);
    const before = estimatorNative.stats();
    const failure = await estimatorNative.configure(cpus, nice);
    if (failure) throw placementError(failure, config, before);
  },

  /** The configuration, the calibration and every kthread's figures. */
  stats(): EstimationStats {
    return estimatorNative.stats(); // fresh objects from the addon on every call
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
