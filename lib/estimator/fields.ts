/**
 * Which counters of a CounterSet an estimator reads: its own field names by
 * default, or the names a field map gives.
 * @internal
 * @module
 */
import { CounterSet } from '../percpu';
import { describeValue, invalidArgument } from '../errors';

/**
 * Checks that `stats` is a CounterSet with every field `wanted` names (after
 * `map`) and returns their indices in the set, in `wanted` order. EINVAL
 * naming what is missing otherwise.
 */
export function resolveFields<F extends string>(
  what: string,
  stats: unknown,
  wanted: readonly F[],
  map: unknown,
): number[] {
  if (!(stats instanceof CounterSet)) {
    throw invalidArgument('stats', stats, `${what} needs a CounterSet with fields ${wanted.join(', ')}`);
  }
  if (map !== undefined && (typeof map !== 'object' || map === null || Array.isArray(map))) {
    throw invalidArgument('options.fields', map, `expected an object mapping ${wanted.join(', ')} to field names of the set`);
  }
  const names = (map ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(names)) {
    if (!(wanted as readonly string[]).includes(key)) {
      throw invalidArgument(`options.fields.${key}`, names[key], `${what} reads only ${wanted.join(', ')}`);
    }
  }
  const set = stats as CounterSet;
  return wanted.map((field) => {
    const name = names[field] ?? field;
    if (typeof name !== 'string') throw invalidArgument(`options.fields.${field}`, name, 'expected a field name of the set');
    const i = set.fields.indexOf(name);
    if (i < 0) {
      const via = name === field ? '' : ` (options.fields.${field})`;
      throw invalidArgument(
        'stats',
        set.fields,
        `the CounterSet has no field ${describeValue(name)}${via}; ${what} needs ${wanted.join(', ')}, or a map to other names in options.fields`,
      );
    }
    return i;
  });
}
