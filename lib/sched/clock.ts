/**
 * The time source of the flow schedulers, in nanoseconds like the kernel's
 * `ktime_get_ns()`: a monotonic clock by default, or a {@link SimulatedClock}
 * that only moves when told to, for tests and simulations (as
 * `estimation.manual()` is for the estimators).
 * @module
 */
import { integerIn, invalid } from '../validate';

/** Something that tells the time in nanoseconds (a safe integer, never decreasing). */
export interface Clock {
  /** Nanoseconds since an arbitrary origin. */
  now(): number;
}

const origin = process.hrtime.bigint();

/** The process's monotonic clock, in nanoseconds since this module was loaded. */
export const monotonicClock: Clock = {
  now: () => Number(process.hrtime.bigint() - origin),
};

/** A clock that moves only when {@link SimulatedClock.advance} or {@link SimulatedClock.set} says so. */
export class SimulatedClock implements Clock {
  private t: number;

  /** Starts at `start` nanoseconds (default 0). */
  constructor(start = 0) {
    this.t = integerIn('clock.start', start, 0, Number.MAX_SAFE_INTEGER);
  }

  /** The current time in nanoseconds. */
  now(): number {
    return this.t;
  }

  /** Moves the clock forward by `ns` nanoseconds (a non-negative integer); returns the new time. */
  advance(ns: number): number {
    integerIn('clock.advance', ns, 0, Number.MAX_SAFE_INTEGER - this.t);
    this.t += ns;
    return this.t;
  }

  /** Sets the time to `ns`, which may not be earlier than now (a clock is monotonic). */
  set(ns: number): number {
    this.t = integerIn('clock.set', ns, this.t, Number.MAX_SAFE_INTEGER);
    return this.t;
  }
}

/** `value` if it is a clock (an object with `now()`), else `EINVAL` naming `field`. */
export function checkClock(field: string, value: unknown): Clock {
  if (value === null || typeof value !== 'object' || typeof (value as Clock).now !== 'function') throw invalid(field, value, 'a clock: an object with now()');
  return value as Clock;
}

/**
 * `value` if it is a time on a scheduler clock: integer nanoseconds, finite
 * and non-negative (what {@link Clock.now} gives); `EINVAL` naming `field`
 * otherwise. A NaN or Infinity kept as "now" would stall the queues for good.
 */
export function checkTime(field: string, value: unknown): number {
  return integerIn(field, value, 0, Number.MAX_SAFE_INTEGER, 'EINVAL');
}

/** `clock.now()`, checked by {@link checkTime}: a broken clock is an `EINVAL`, not a hang. */
export function readClock(clock: Clock): number {
  return checkTime('clock.now()', clock.now());
}

/** The `now` argument of a queue method: `clock`'s time when `undefined`, else checked by {@link checkTime}. */
export function timeArgument(field: string, value: unknown, clock: Clock): number {
  return value === undefined ? readClock(clock) : checkTime(field, value);
}
