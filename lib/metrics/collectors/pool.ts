/**
 * A {@link WorkerPool} as metrics: task outcomes and busy time as counters,
 * queue depth, running tasks, threads and utilization as gauges, and per-worker
 * counters labelled `worker` (Node's threadId) and `cpu` (when pinned).
 * Reads only counts and times from `stats()`.
 * @module
 */
import type { PoolStats, WorkerPool, WorkerStats } from '../../pool';
import type { Labels, MetricSample } from '../types';
import type { Collectable } from '../types';
import { family, namesOf } from './family';

const OUTCOMES = ['submitted', 'completed', 'failed', 'aborted', 'rejected'] as const;

const SUFFIXES = [
  ...OUTCOMES.map((o) => `tasks_${o}`),
  'workers_crashed',
  'busy_seconds',
  'queue_depth',
  'tasks_running',
  'threads',
  'utilization',
  'worker_tasks_completed',
  'worker_tasks_failed',
  'worker_busy_seconds',
];

function workerLabels(w: WorkerStats): Labels {
  return w.cpu === null || w.cpu === undefined ? { worker: String(w.threadId) } : { worker: String(w.threadId), cpu: String(w.cpu) };
}

function perWorker(workers: readonly WorkerStats[], pick: (w: WorkerStats) => number): MetricSample[] {
  return workers.map((w) => ({ labels: workerLabels(w), value: pick(w) }));
}

/** The adapter of a {@link WorkerPool}. */
export function poolCollector(pool: WorkerPool): Collectable {
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const s: PoolStats = pool.stats();
      return [
        ...OUTCOMES.map((o) => family(name, `tasks_${o}`, 'counter', `${help}: tasks ${o}`, [{ value: s[o] }])),
        family(name, 'workers_crashed', 'counter', `${help}: workers that died and were replaced`, [{ value: s.crashed }]),
        family(name, 'busy_seconds', 'counter', `${help}: time all workers spent in finished tasks`, [{ value: s.busyMs / 1000 }], 'seconds'),
        family(name, 'queue_depth', 'gauge', `${help}: tasks waiting for a worker`, [{ value: s.queued }]),
        family(name, 'tasks_running', 'gauge', `${help}: tasks on a worker now`, [{ value: s.running }]),
        family(name, 'threads', 'gauge', `${help}: worker threads`, [{ value: s.threads }]),
        family(name, 'utilization', 'gauge', `${help}: busy time over the lifetime of every worker thread`, [{ value: s.utilization }]),
        family(name, 'worker_tasks_completed', 'counter', `${help}: tasks each worker finished`, perWorker(s.workers, (w) => w.completed)),
        family(name, 'worker_tasks_failed', 'counter', `${help}: tasks that threw, per worker`, perWorker(s.workers, (w) => w.failed)),
        family(name, 'worker_busy_seconds', 'counter', `${help}: time each worker spent in finished tasks`, perWorker(s.workers, (w) => w.busyMs / 1000), 'seconds'),
      ];
    },
  };
}
