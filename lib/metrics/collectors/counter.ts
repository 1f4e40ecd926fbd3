/**
 * A {@link Counter} as one metric: its exact `sum()` (a bigint, so a count past
 * 2^53 prints exactly), as a counter, or as a gauge for one that goes down.
 * @module
 */
import type { Counter } from '../../percpu';
import type { Collectable, MetricFamily, MetricType } from '../types';

/** The adapter of a {@link Counter}. */
export function counterCollector(counter: Counter, type: MetricType): Collectable {
  // 10^4 counters are common: one family object per registration, its value refreshed at each scrape.
  const sample = { value: 0n as bigint };
  let families: MetricFamily[] | undefined;
  return {
    metricNames: (name) => [name],
    collectMetrics: ({ name, help }) => {
      sample.value = counter.sum();
      families ??= [{ name, type, help, samples: [sample] }];
      return families;
    },
  };
}
