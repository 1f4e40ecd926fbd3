/**
 * A {@link ResourceCounter} as metrics, from its public `stats()`: usage, max
 * (`+Inf` without a limit), the peak, min and low protection as gauges; refused
 * charges (`failcnt`) and clamped uncharges (`underflows`) as counters. The
 * counter's unit is the user's (bytes, connections, jobs), so no unit suffix.
 * @module
 */
import type { ResourceCounter } from '../../rescounter';
import type { Collectable, MetricFamily } from '../types';
import { family, namesOf } from './family';

const GAUGES = [
  ['usage', 'charged now'],
  ['max', 'the limit (+Inf for none)'],
  ['watermark', 'peak usage since creation or resetWatermark()'],
  ['min', 'declared min protection'],
  ['low', 'declared low protection'],
] as const;
const COUNTERS = [
  ['failcnt', 'charges refused at this level'],
  ['underflows', 'uncharges that would have taken usage below 0 (clamped)'],
] as const;

const SUFFIXES = [...GAUGES.map(([k]) => k), ...COUNTERS.map(([k]) => k)];

/** The adapter of a {@link ResourceCounter}; a released counter shows nothing. */
export function resourceCounterCollector(counter: ResourceCounter): Collectable {
  // Made once, values refreshed at each scrape: a counter per tenant is the common shape.
  const samples = Object.fromEntries(SUFFIXES.map((k) => [k, { value: 0 }])) as Record<(typeof SUFFIXES)[number], { value: number }>;
  let families: MetricFamily[] | undefined;
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: ({ name, help }) => {
      if (counter.closed) return [];
      const s = counter.stats();
      for (const k of SUFFIXES) samples[k].value = s[k];
      families ??= [
        ...GAUGES.map(([k, text]) => family(name, k, 'gauge', `${help}: ${text}`, [samples[k]])),
        ...COUNTERS.map(([k, text]) => family(name, k, 'counter', `${help}: ${text}`, [samples[k]])),
      ];
      return families;
    },
  };
}
