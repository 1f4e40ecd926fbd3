/**
 * `move()`: lets a task hand a buffer back to the caller by transfer instead
 * of a copy, as piscina's `Piscina.move()`.
 * @module
 */
import { types } from 'node:util';
import type { Transferable } from 'node:worker_threads';
import { invalid } from '../validate';

/** Marks a {@link Movable}; a registered symbol, so any copy of kernkit in the worker recognises it. */
const MOVABLE = Symbol.for('kernkit.pool.movable');

/** A task result to be transferred, not copied; made by {@link move}. */
export interface Movable<T> {
  readonly [MOVABLE]: true;
  readonly value: T;
  readonly transferList: readonly Transferable[];
}

/**
 * Wraps what a task returns so its memory moves to the caller: an
 * ArrayBuffer, a typed array or DataView (its buffer moves), or a
 * MessagePort. The caller receives the value itself, not the wrapper.
 *
 * ```js
 * module.exports = (n) => move(new Float64Array(n));
 * ```
 */
export function move<T extends ArrayBuffer | ArrayBufferView | Transferable>(value: T): Movable<T> {
  let transfer: Transferable;
  if (types.isArrayBufferView(value)) transfer = (value as ArrayBufferView).buffer as ArrayBuffer;
  else if (typeof value === 'object' && value !== null) transfer = value as Transferable;
  else throw invalid('move() value', value, 'an ArrayBuffer, a typed array, a DataView or a MessagePort');
  return { [MOVABLE]: true, value, transferList: [transfer] };
}

/** The value and transfer list to post for a task's result. @internal */
export function unwrapResult(result: unknown): [unknown, readonly Transferable[] | undefined] {
  if (typeof result === 'object' && result !== null && (result as Movable<unknown>)[MOVABLE] === true) {
    const m = result as Movable<unknown>;
    return [m.value, m.transferList];
  }
  return [result, undefined];
}
