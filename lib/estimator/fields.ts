/**
 * Which counters of a CounterSet an estimator reads: its own field names by
 * default, or the names a field map gives.
 * @internal
 * @module
 */
import { CounterSet } from '../percpu';
import { describeValue } from '../errors';
import { invalid, options, string } from '../validate';

/**
 * Checks that `stats` is a CounterSet with every field `wanted` names (after
 * `map`, the estimator's `options.fields`) and returns their indices in the
 * set, in `wanted` order. EINVAL naming what is missing otherwise.
 */
export function resolveFields<F extends string>(what: string, stats: unknown, wanted: readonly F[], map: unknown): number[] {
  const needs = wanted.join(', ');
  if (!(stats instanceof CounterSet)) throw invalid('stats', stats, `a CounterSet with fields ${needs} (${what})`);
  const names = options<Record<string, unknown>>('options.fields', map, wanted);
  return wanted.map((field) => {
    const mapped = names[field] !== undefined;
    const name = mapped ? string(`options.fields.${field}`, names[field], { expected: 'a field name of the set' }) : field;
    const i = stats.fields.indexOf(name);
    if (i < 0) {
      const via = mapped ? ` (options.fields.${field})` : '';
      throw invalid(
        'stats',
        stats.fields,
        `a CounterSet with a field ${describeValue(name)}${via}; ${what} needs ${needs}, or a map to other names in options.fields`,
      );
    }
    return i;
  });
}
