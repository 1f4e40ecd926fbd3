/**
 * Time for an IPVS table: the real clock with Node timers, or a manual clock
 * that tests and simulations advance by hand so expiry, GC and trash timers
 * fire deterministically (like `estimation.manual()` for the estimators).
 * @module
 */
import { durationMs } from '../validate';

/** A timer a {@link IpvsClock} armed; `cancel()` is idempotent. */
export interface IpvsTimer {
  /** Stops the timer if it has not fired. */
  cancel(): void;
}

/** What the IPVS table needs of time: milliseconds and one-shot timers. */
export interface IpvsClock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
  /** Calls `fn` once, `delayMs` from now. */
  schedule(delayMs: number, fn: () => void): IpvsTimer;
}

/** The longest delay one Node timer takes; longer ones are re-armed. */
const MAX_TIMER = 2 ** 31 - 1;

/** Real time: `performance.now()` and unref'd Node timers (they never keep the process alive). */
export class IpvsRealClock implements IpvsClock {
  /** Milliseconds since the process started. */
  now(): number {
    return performance.now();
  }

  /** Arms an unref'd timer; long delays are split into chunks Node accepts. */
  schedule(delayMs: number, fn: () => void): IpvsTimer {
    const due = this.now() + delayMs;
    let handle: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = due - this.now();
      handle = setTimeout(left > MAX_TIMER ? arm : fn, Math.max(0, Math.min(left, MAX_TIMER)));
      handle.unref();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  }
}

interface ManualTimer {
  due: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/**
 * A clock that only moves when {@link advance} is called. Timers due by the new
 * time fire in order of due time (then of arming), each seeing `now()` equal to
 * its own due time, as the kernel's timer wheel would run them.
 */
export class IpvsManualClock implements IpvsClock {
  private time = 0;
  private seq = 0;
  private timers: ManualTimer[] = [];

  /** The current manual time in milliseconds (starts at 0). */
  now(): number {
    return this.time;
  }

  /** Arms a timer `delayMs` from the current manual time. */
  schedule(delayMs: number, fn: () => void): IpvsTimer {
    const t: ManualTimer = { due: this.time + delayMs, seq: this.seq++, fn, live: true };
    this.timers.push(t);
    return {
      cancel: () => {
        t.live = false;
      },
    };
  }

  /** Moves time forward by `ms` (a non-negative integer), firing every timer that falls due. */
  advance(ms: number): void {
    durationMs('ms', ms, Number.MAX_SAFE_INTEGER);
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => t.live);
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      next.live = false;
      this.time = Math.max(this.time, next.due);
      next.fn();
    }
    this.time = end;
  }

  /** How many timers are armed (for tests). */
  get pending(): number {
    return this.timers.filter((t) => t.live).length;
  }
}
