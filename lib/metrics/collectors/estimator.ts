/**
 * Rate estimators as gauges (rates are what they estimate), and the
 * estimation kthreads' own counts. The totals behind the rates are the counter
 * set's: register the {@link CounterSet} too and let PromQL's `rate()` work on them.
 * @module
 */
import type { EstimationStats, GenEstimator, RateEstimator } from '../../estimator';
import type { Collectable, MetricFamily } from '../types';
import { family, namesOf } from './family';

const RATE_SUFFIXES = ['connections_per_second', 'packets_per_second', 'bytes_per_second'];

/** The adapter of a {@link RateEstimator}: cps, in/out pps and bps (`direction` label). */
export function rateEstimatorCollector(est: RateEstimator): Collectable {
  // Made once, values refreshed at each scrape (10^3-10^6 estimators are common).
  const cps = { value: 0 };
  const pps = [{ labels: { direction: 'in' }, value: 0 }, { labels: { direction: 'out' }, value: 0 }];
  const bps = [{ labels: { direction: 'in' }, value: 0 }, { labels: { direction: 'out' }, value: 0 }];
  let families: MetricFamily[] | undefined;
  return {
    metricNames: (name) => namesOf(name, RATE_SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const r = est.read();
      cps.value = r.cps;
      pps[0].value = r.inpps;
      pps[1].value = r.outpps;
      bps[0].value = r.inbps;
      bps[1].value = r.outbps;
      families ??= [
        family(name, 'connections_per_second', 'gauge', `${help}: connections per second`, [cps]),
        family(name, 'packets_per_second', 'gauge', `${help}: packets per second`, pps),
        family(name, 'bytes_per_second', 'gauge', `${help}: bytes per second`, bps),
      ];
      return families;
    },
  };
}

const GEN_SUFFIXES = ['bytes_per_second', 'packets_per_second'];

/** The adapter of a {@link GenEstimator}: bytes and packets per second. */
export function genEstimatorCollector(est: GenEstimator): Collectable {
  const bps = { value: 0 };
  const pps = { value: 0 };
  let families: MetricFamily[] | undefined;
  return {
    metricNames: (name) => namesOf(name, GEN_SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const r = est.read();
      bps.value = r.bps;
      pps.value = r.pps;
      families ??= [
        family(name, 'bytes_per_second', 'gauge', `${help}: bytes per second`, [bps]),
        family(name, 'packets_per_second', 'gauge', `${help}: packets per second`, [pps]),
      ];
      return families;
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
