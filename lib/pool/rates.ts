/**
 * Task rates for {@link WorkerPool.stats}: the kernel's generic estimator
 * (`GenEstimator`, net/core/gen_estimator.c) over a pool's or a worker's
 * counter set, reading `completed` as its packets and `busyNs` as its bytes.
 * @module
 */
import { GenEstimator } from '../estimator/gen-estimator';
import type { CounterSet } from '../percpu/counter-set';

/** Rates of one worker, from its estimator. */
export interface WorkerRates {
  /** Tasks finished per second: the estimator's `pps` over `completed` (an integer, as the kernel's). */
  tasksPerSec: number;
  /**
   * Busy time per second of time: the estimator's `bps` over `busyNs`
   * (busy ns per second), / 1e9. From 0 to 1 in a steady state; a task's time
   * is counted when it finishes, so one longer than the period shows as a
   * spike that may pass 1.
   */
  utilization: number;
}

/** Rates of the whole pool, from its estimator over the pool counters. */
export interface PoolRates {
  /** Tasks finished per second, by every worker. */
  tasksPerSec: number;
  /** Busy ns per second of all workers / 1e9: how many workers were busy, on average. */
  busyThreads: number;
  /** busyThreads over the workers of the pool's shape (CPUs x threadsPerCpu). */
  utilization: number;
}

/** The gen estimator settings of the `rates` option, as validated. */
export interface RateSettings {
  /** The period is 2^interval seconds, -2 to 3. */
  readonly interval: number;
  /** The average's weight is 2^-ewmaLog, 1 to 30. */
  readonly ewmaLog: number;
}

/** Starts estimating a pool or worker counter set (fields `completed` and `busyNs`). */
export function startRates(counters: CounterSet, settings: RateSettings): GenEstimator {
  return new GenEstimator(counters, { ...settings, fields: { packets: 'completed', bytes: 'busyNs' } });
}

/** A worker's rates from its estimator. */
export function workerRates(est: GenEstimator): WorkerRates {
  const { pps, bps } = est.read();
  return { tasksPerSec: pps, utilization: bps / 1e9 };
}

/** The pool's rates from its estimator, for a pool shaped for `slots` workers. */
export function poolRates(est: GenEstimator, slots: number): PoolRates {
  const { pps, bps } = est.read();
  const busyThreads = bps / 1e9;
  return { tasksPerSec: pps, busyThreads, utilization: slots > 0 ? busyThreads / slots : 0 };
}
