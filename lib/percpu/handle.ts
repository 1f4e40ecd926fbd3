/**
 * Validation of handles that arrive from other threads (they are plain data, so
 * anything can arrive).
 * Internal: not part of the public API.
 * @module
 */
import { integerIn, oneOf, plainObject } from '../validate';

/** The fields every percpu handle carries. */
export interface RawHandle {
  kind: string;
  chunk: number;
  offset: number;
  token: number;
  [key: string]: unknown;
}

/**
 * Checks a handle's shape and kind; `EINVAL` naming the first bad field. The
 * addon checks that it is live. A number out of range is `EINVAL` too: such a
 * handle was not made by `.handle`, so it names nothing.
 */
export function checkHandle(handle: unknown, kind: 'kernkit.counter' | 'kernkit.counterset'): RawHandle {
  const h = plainObject('handle', handle, `the object from .handle of a ${kind === 'kernkit.counter' ? 'Counter' : 'CounterSet'}`);
  oneOf('handle.kind', h.kind, [kind]);
  for (const field of ['chunk', 'offset', 'token'] as const) integerIn(`handle.${field}`, h[field], 0, 0xffffffff, 'EINVAL');
  return h as RawHandle;
}
