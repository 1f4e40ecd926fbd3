/**
 * A {@link ResourceCounter} given as an option to another subsystem (an IPVS
 * memory signal, a scheduler's budget), checked the one way: `EINVAL` for
 * anything else, `EBADF` for a closed counter.
 * Used inside kernkit; not exported from the package index.
 * @module
 */
import { invalid } from '../validate';
import { ResourceCounter } from './counter';

/** `value` as an open {@link ResourceCounter}; `expected` says what else the field takes, for the EINVAL message. */
export function resourceCounterOption(field: string, value: unknown, expected = 'a ResourceCounter'): ResourceCounter {
  if (!(value instanceof ResourceCounter)) throw invalid(field, value, expected);
  if (value.closed) throw invalid(field, value, 'an open ResourceCounter, not a closed one', 'EBADF');
  return value;
}
