/**
 * What the estimators read and report: the readings of {@link RateEstimator}
 * and {@link GenEstimator}, and the statistics of {@link estimation}. One place
 * for them, so that the addon's types (native.ts) and the shared-memory
 * readers (memory.ts) depend on these and not on the public classes.
 * @module
 */

/**
 * A reading of a {@link RateEstimator}, as `ipvsadm --stats --rate` shows it:
 * rates decoded as `ip_vs_read_estimator` does, totals since the last zero.
 */
export interface RateEstimate {
  /** Connections per second: `(avg + 0x1FF) >> 10`. */
  cps: number;
  /** Incoming packets per second. */
  inpps: number;
  /** Outgoing packets per second. */
  outpps: number;
  /** Incoming bytes per second: `(avg + 0xF) >> 5`. */
  inbps: number;
  /** Outgoing bytes per second. */
  outbps: number;
  /** Connections counted up to the last estimation, since the last zero. */
  conns: bigint;
  /** Incoming packets, likewise. */
  inpkts: bigint;
  /** Outgoing packets, likewise. */
  outpkts: bigint;
  /** Incoming bytes, likewise. */
  inbytes: bigint;
  /** Outgoing bytes, likewise. */
  outbytes: bigint;
}

/** A reading of a {@link GenEstimator}, as gen_estimator_read gives it. */
export interface GenEstimate {
  /** Bytes per second (`avbps >> 8`). */
  bps: number;
  /** Packets per second (`avpps >> 8`). */
  pps: number;
}

/** One estimation kthread, as {@link estimation.stats} reports it. */
export interface KthreadStats {
  /** The kthread's index (ktid): 0 is the one that calibrates and distributes. */
  id: number;
  /** Its thread name, `kk-est/<id>`. */
  name: string;
  /** False while stopped (empty CPU list, reconfiguration, not yet started). */
  running: boolean;
  /** Its Linux thread id (see /proc/self/task/<tid>), 0 when not running. */
  tid: number;
  /**
   * The CPUs it may run on, ascending, read back from the kernel
   * (sched_getaffinity); empty when not running. (A cpulist string before 0.2.)
   */
  cpus: number[];
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
  /**
   * The kthreads' CPUs (the kernel's est_cpulist), ascending: by default the
   * CPUs of the process's main thread when estimation was first used; empty
   * while estimation is stopped.
   */
  cpus: number[];
  /** @deprecated Use {@link EstimationStats.cpus}: the same CPUs as a cpulist string (`"0-3"`). */
  cpulist: string;
  /** The kthreads' nice value. */
  nice: number;
  /** True while the CPU list is empty: nothing is estimated. */
  stopped: boolean;
  /** Kthreads allowed: 4 per CPU of the list (est_max_threads). */
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
   * again and redistributes the estimators, as after a CPU list change (the
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
