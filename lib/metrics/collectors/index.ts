/**
 * Picks the adapter for a registered object: a {@link Collectable} as it is,
 * every kernkit kind through its adapter, with the options that kind takes.
 * @module
 */
import { Cgroup } from '../../cgroup';
import { estimation, GenEstimator, RateEstimator } from '../../estimator';
import { Counter, CounterSet } from '../../percpu';
import { WorkerPool } from '../../pool';
import { Tc } from '../../tc';
import { cString, integer, invalid, oneOf, optional, string } from '../../validate';
import type { Collectable, MetricType } from '../types';
import { cgroupCollector } from './cgroup';
import { counterCollector } from './counter';
import { counterSetCollector } from './counter-set';
import { estimationCollector, genEstimatorCollector, rateEstimatorCollector } from './estimator';
import { poolCollector } from './pool';
import { tcCollector } from './tc';

/** What each kind reads from the registration options beyond name, help, labels, timeout. */
export interface KindOptions {
  /** Counter: `counter` (default) or `gauge` for one that goes down. */
  type?: MetricType;
  /** CounterSet: one metric with this label for the field, instead of one metric per field. */
  fieldLabel?: string;
  /** Tc: the device whose qdiscs and classes to expose (required). */
  dev?: string | number;
}

/** Everything {@link Registry.register} takes: each kernkit kind, or any {@link Collectable}. */
export type MetricSource = Collectable | Counter | CounterSet | RateEstimator | GenEstimator | typeof estimation | WorkerPool | Cgroup | Tc;

/** An adapted source: its collector, the kind's name for messages, the kind options it accepts. */
export interface Adapted {
  readonly kind: string;
  readonly collector: Collectable;
}

function isCollectable(source: unknown): source is Collectable {
  return typeof source === 'object' && source !== null && typeof (source as Collectable).collectMetrics === 'function';
}

/** The kind options a source accepts (so an option for another kind is EINVAL). */
export function kindOptionKeys(source: unknown): string[] {
  if (source instanceof Counter) return ['type'];
  if (source instanceof CounterSet) return ['fieldLabel'];
  if (source instanceof Tc) return ['dev'];
  return [];
}

/** The collector of `source`, `EINVAL` for something kernkit cannot expose. */
export function adapt(source: unknown, opts: KindOptions): Adapted {
  if (isCollectable(source)) return { kind: 'Collectable', collector: source };
  if (source instanceof Counter) {
    const type = optional(opts.type, (v) => oneOf('options.type', v, ['counter', 'gauge'] as const), 'counter' as const);
    return { kind: 'Counter', collector: counterCollector(source, type) };
  }
  if (source instanceof CounterSet) {
    const fieldLabel = optional(opts.fieldLabel, (v) => string('options.fieldLabel', v));
    return { kind: 'CounterSet', collector: counterSetCollector(source, fieldLabel) };
  }
  if (source instanceof RateEstimator) return { kind: 'RateEstimator', collector: rateEstimatorCollector(source) };
  if (source instanceof GenEstimator) return { kind: 'GenEstimator', collector: genEstimatorCollector(source) };
  if (source === estimation) return { kind: 'estimation', collector: estimationCollector(estimation) };
  if (source instanceof WorkerPool) return { kind: 'WorkerPool', collector: poolCollector(source) };
  if (source instanceof Cgroup) return { kind: 'Cgroup', collector: cgroupCollector(source) };
  if (source instanceof Tc) {
    if (opts.dev === undefined) throw invalid('options.dev', opts.dev, 'a device name or index (the device whose qdiscs and classes to expose)');
    if (typeof opts.dev === 'number') integer('options.dev', opts.dev, { min: 1, rangeCode: 'EINVAL' });
    else cString('options.dev', opts.dev, { nonEmpty: true, expected: 'a device name or index' });
    return { kind: 'Tc', collector: tcCollector(source, opts.dev) };
  }
  throw invalid(
    'source',
    kindName(source),
    'a Counter, CounterSet, RateEstimator, GenEstimator, estimation, WorkerPool, Cgroup, Tc or an object with collectMetrics() (Collectable)',
  );
}

/** What a refused source was, for the message: its class (`a Map`) or its type, never its contents. */
function kindName(source: unknown): unknown {
  if (typeof source !== 'object' || source === null) return source;
  const name = (source as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name !== 'string' || name === '' || name === 'Object') return 'a plain object';
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}
