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
  if (fieldLabel !== undefined) {
    labelName('fieldLabel', fieldLabel);
    return {
      metricNames: (name) => [name],
      collectMetrics: ({ name, help }) => {
        const sums = set.sum() as Record<string, bigint>;
        return [{ name, type: 'counter', help, samples: fields.map((f) => ({ labels: { [fieldLabel]: f }, value: sums[f] })) }];
      },
    };
  }
  fields.forEach((f, i) => metricNamePart(`fields[${i}]`, f));
  return {
    metricNames: (name) => fields.map((f) => `${name}_${f}`),
    collectMetrics: ({ name, help }) => {
      const sums = set.sum() as Record<string, bigint>;
      const out: MetricFamily[] = [];
      for (const f of fields) out.push({ name: `${name}_${f}`, type: 'counter', help: `${help} (${f})`, samples: [{ value: sums[f] }] });
      return out;
    },
  };
}
