/**
 * Rate estimators as gauges (rates are what they estimate), and the
 * estimation kthreads' own counts. The totals behind the rates are the counter
 * set's: register the {@link CounterSet} too and let PromQL's `rate()` work on them.
 * @module
 */
import type { EstimationStats, GenEstimator, RateEstimator } from '../../estimator';
import type { Collectable } from '../types';
import { family, namesOf } from './family';

const RATE_SUFFIXES = ['connections_per_second', 'packets_per_second', 'bytes_per_second'];

/** The adapter of a {@link RateEstimator}: cps, in/out pps and bps (`direction` label). */
export function rateEstimatorCollector(est: RateEstimator): Collectable {
  return {
    metricNames: (name) => namesOf(name, RATE_SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const r = est.read();
      return [
        family(name, 'connections_per_second', 'gauge', `${help}: connections per second`, [{ value: r.cps }]),
        family(name, 'packets_per_second', 'gauge', `${help}: packets per second`, [
          { labels: { direction: 'in' }, value: r.inpps },
          { labels: { direction: 'out' }, value: r.outpps },
        ]),
        family(name, 'bytes_per_second', 'gauge', `${help}: bytes per second`, [
          { labels: { direction: 'in' }, value: r.inbps },
          { labels: { direction: 'out' }, value: r.outbps },
        ]),
      ];
    },
  };
}

const GEN_SUFFIXES = ['bytes_per_second', 'packets_per_second'];

/** The adapter of a {@link GenEstimator}: bytes and packets per second. */
export function genEstimatorCollector(est: GenEstimator): Collectable {
  return {
    metricNames: (name) => namesOf(name, GEN_SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const r = est.read();
      return [
        family(name, 'bytes_per_second', 'gauge', `${help}: bytes per second`, [{ value: r.bps }]),
        family(name, 'packets_per_second', 'gauge', `${help}: packets per second`, [{ value: r.pps }]),
      ];
    },
  };
}

/** What the estimation adapter reads: `estimation.stats()`. */
export interface EstimationSource {
  stats(): EstimationStats;
}

const ESTIMATION_SUFFIXES = ['estimators', 'pending_estimators', 'kthreads', 'kthread_estimations', 'kthread_late_ticks', 'kthread_timer_resets', 'kthread_busy_seconds', 'kthread_start_errors'];

/**
 * The adapter of `estimation`: live estimators, the kthreads and their work.
 * Reads counts only (not the CPU fields, whose shape is the estimator's own business).
 */
export function estimationCollector(source: EstimationSource): Collectable {
  return {
    metricNames: (name) => namesOf(name, ESTIMATION_SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const s = source.stats();
      const per = (pick: (k: EstimationStats['kthreads'][number]) => number, scale = 1) =>
        s.kthreads.map((k) => ({ labels: { kthread: String(k.id) }, value: pick(k) * scale }));
      return [
        family(name, 'estimators', 'gauge', `${help}: live estimators`, [
          { labels: { kind: 'rate' }, value: s.estimators },
          { labels: { kind: 'gen' }, value: s.genEstimators },
        ]),
        family(name, 'pending_estimators', 'gauge', `${help}: rate estimators waiting for a kthread`, [{ value: s.pending }]),
        family(name, 'kthreads', 'gauge', `${help}: estimation kthreads`, [{ value: s.kthreads.length }]),
        family(name, 'kthread_estimations', 'counter', `${help}: estimations done per kthread`, per((k) => k.estimations)),
        family(name, 'kthread_late_ticks', 'counter', `${help}: ticks that started more than a tick late`, per((k) => k.lateTicks)),
        family(name, 'kthread_timer_resets', 'counter', `${help}: times a kthread reset its timer instead of catching up`, per((k) => k.timerResets)),
        family(name, 'kthread_busy_seconds', 'counter', `${help}: time spent estimating`, per((k) => k.busyNs, 1e-9), 'seconds'),
        family(name, 'kthread_start_errors', 'counter', `${help}: kthreads that could not be created`, [{ value: s.startErrors }]),
      ];
    },
  };
}
