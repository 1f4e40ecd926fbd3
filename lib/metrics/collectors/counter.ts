/**
 * A {@link Counter} as one metric: its exact `sum()` (a bigint, so a count past
 * 2^53 prints exactly), as a counter, or as a gauge for one that goes down.
 * @module
 */
import type { Counter } from '../../percpu';
import type { Collectable, MetricType } from '../types';

/** The adapter of a {@link Counter}. */
export function counterCollector(counter: Counter, type: MetricType): Collectable {
  return {
    metricNames: (name) => [name],
    collectMetrics: ({ name, help }) => [{ name, type, help, samples: [{ value: counter.sum() }] }],
  };
}
