/**
 * A {@link CounterSet} as metrics. Its fields usually count different things
 * (connections, packets, bytes), which Prometheus models as separate metrics,
 * so by default each field is its own counter `<name>_<field>`. When the fields
 * are parts of one whole (`get`, `put`, `delete` requests), `fieldLabel` makes
 * one counter `<name>` with the field as a label, so `sum()` over it is meaningful.
 * @module
 */
import type { CounterSet } from '../../percpu';
import { labelName, metricNamePart } from '../names';
import type { Collectable, MetricFamily } from '../types';

/** The adapter of a {@link CounterSet}; `fieldLabel` selects the one-metric form. */
export function counterSetCollector(set: CounterSet, fieldLabel: string | undefined): Collectable {
  const fields = set.fields;
  // Families and samples are made once per registration and their values refreshed at each
  // scrape: 10^3-10^4 sets are common, and a scrape should not allocate per field.
  if (fieldLabel !== undefined) {
    labelName('fieldLabel', fieldLabel);
    const samples = fields.map((f) => ({ labels: { [fieldLabel]: f }, value: 0n }));
    let families: MetricFamily[] | undefined;
    return {
      metricNames: (name) => [name],
      collectMetrics: ({ name, help }) => {
        const sums = set.sum() as Record<string, bigint>;
        for (let i = 0; i < fields.length; i++) samples[i].value = sums[fields[i]];
        families ??= [{ name, type: 'counter', help, samples }];
        return families;
      },
    };
  }
  fields.forEach((f, i) => metricNamePart(`fields[${i}]`, f));
  const samples = fields.map(() => ({ value: 0n }));
  let families: MetricFamily[] | undefined;
  return {
    metricNames: (name) => fields.map((f) => `${name}_${f}`),
    collectMetrics: ({ name, help }) => {
      const sums = set.sum() as Record<string, bigint>;
      for (let i = 0; i < fields.length; i++) samples[i].value = sums[fields[i]];
      families ??= fields.map((f, i) => ({ name: `${name}_${f}`, type: 'counter', help: `${help} (${f})`, samples: [samples[i]] }));
      return families;
    },
  };
}
