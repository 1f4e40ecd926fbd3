/**
 * Validation of handles that arrive from other threads (they are plain data, so
 * anything can arrive).
 * Internal: not part of the public API.
 * @module
 */
import { invalidArgument } from '../errors';

/** The fields every percpu handle carries. */
export interface RawHandle {
  kind: string;
  chunk: number;
  offset: number;
  token: number;
  [key: string]: unknown;
}

function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/** Checks a handle's shape and kind; EINVAL naming the first bad field. The addon checks that it is live. */
export function checkHandle(handle: unknown, kind: string): RawHandle {
  if (typeof handle !== 'object' || handle === null) {
    throw invalidArgument('handle', handle, `expected the object from .handle of a ${kind.replace('kernkit.', '')}`);
  }
  const h = handle as Record<string, unknown>;
  if (h.kind !== kind) throw invalidArgument('handle.kind', h.kind, `expected "${kind}"`);
  for (const field of ['chunk', 'offset', 'token'] as const) {
    if (!isUint32(h[field])) throw invalidArgument(`handle.${field}`, h[field], 'expected an integer from 0 to 4294967295');
  }
  return h as RawHandle;
}
