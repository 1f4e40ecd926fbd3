/**
 * The shapes every metrics source speaks: a {@link MetricFamily} of samples,
 * and the {@link Collectable} interface a kind implements to be registered.
 * @module
 */

/** The metric types kernkit exposes: monotonic counters and gauges. */
export type MetricType = 'counter' | 'gauge';

/** Label names to label values. */
export type Labels = Readonly<Record<string, string>>;

/** One sample of a family: its labels and its value. */
export interface MetricSample {
  /** Labels of this sample (the registry adds the registration's and its own). */
  readonly labels?: Labels;
  /** The value: a bigint prints its exact digits; a number may be NaN or ±Infinity (gauges). */
  readonly value: number | bigint;
}

/**
 * A metric family: one name, one type, one help text, any number of samples.
 * A counter's `name` has no `_total`: the exposition adds it to the samples.
 */
export interface MetricFamily {
  /** The full family name (`kernkit_requests`, `app_cgroup_memory_usage_bytes`). */
  readonly name: string;
  /** `counter` or `gauge`. */
  readonly type: MetricType;
  /** One line of help text (any characters; the exposition escapes them). */
  readonly help: string;
  /** The base unit (`seconds`, `bytes`), the last part of `name` (OpenMetrics `# UNIT`). */
  readonly unit?: string;
  /** The samples. */
  readonly samples: readonly MetricSample[];
}

/** What a {@link Collectable} is asked for at each scrape. */
export interface CollectContext {
  /** The registered name, prefix included: the families' names start with it. */
  readonly name: string;
  /** The registered help text. */
  readonly help: string;
  /** Aborted when the collector's timeout passes: stop any I/O still running. */
  readonly signal: AbortSignal;
}

/**
 * The one interface a metrics source implements. Reading shared memory is
 * synchronous (return the array); I/O returns a promise, and the registry runs
 * it concurrently with the others under a timeout.
 *
 * ```ts
 * const source: Collectable = {
 *   metricNames: (name) => [name],
 *   collectMetrics: ({ name, help }) => [{ name, help, type: 'gauge', samples: [{ value: queue.length }] }],
 * };
 * registry.register(source, { name: 'queue_depth', help: 'Jobs waiting' });
 * ```
 */
export interface Collectable {
  /** The families for one scrape; their names start with `context.name`. */
  collectMetrics(context: CollectContext): readonly MetricFamily[] | Promise<readonly MetricFamily[]>;
  /**
   * The family names {@link collectMetrics} produces for a registered `name`
   * (optional): the registry refuses a registration whose families would clash
   * with another's (EEXIST) when it knows them.
   */
  metricNames?(name: string): readonly string[];
}
