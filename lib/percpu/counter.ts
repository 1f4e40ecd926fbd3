/**
 * `Counter`: one per-thread sharded counter, like the kernel's percpu_counter.
 * @module
 */
import { invalid, optional, outOfRange, string } from '../validate';
import { acquire, addSlow, allocate, FOLD_THRESHOLD, type Placement, readApprox, sumRawOne, track } from './arena';
import { checkHandle } from './handle';

const FOLD = FOLD_THRESHOLD;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A structured-cloneable description of a {@link Counter}, for {@link Counter.attach} in another thread. */
export interface CounterHandle {
  readonly kind: 'kernkit.counter';
  readonly name: string;
  readonly chunk: number;
  readonly offset: number;
  readonly token: number;
}

/** Only {@link Counter.attach} holds this: with it, the constructor takes the placement it is given. */
const ATTACHED: unique symbol = Symbol('kernkit.Counter.attached');

/** `EINVAL` for an amount that is not a safe integer (shared with CounterSet). @internal */
export function notSafeInteger(value: unknown): never {
  throw invalid('n', value, 'a safe integer, from -(2^53 - 1) to 2^53 - 1');
}

/**
 * A counter that any number of threads increment without contention: each
 * thread adds to its own slot in native memory (a plain typed-array add, no
 * atomics, no native call), and reads sum every thread's slot and an exact
 * 64-bit total. Increments are never lost, also when a worker exits.
 *
 * ```ts
 * const requests = new Counter('requests');
 * requests.inc();
 * requests.add(5);
 * requests.sum(); // 6n
 * worker.postMessage(requests.handle); // Counter.attach(handle) in the worker
 * ```
 */
export class Counter {
  /** The label given at creation (informational). */
  readonly name: string;
  private readonly place: Placement;
  private readonly slots: Float64Array; // this thread's shard of the chunk
  private readonly offset: number;

  /** Creates a counter at zero. `name` is a label for logs and handles. */
  constructor(name?: string);
  /** @internal {@link Counter.attach}'s path: a counter over a placement it acquired. */
  constructor(name: string, via: typeof ATTACHED, place: Placement);
  constructor(name: string = '', via?: typeof ATTACHED, place?: Placement) {
    this.name = string('name', name);
    this.place = via === ATTACHED && place !== undefined ? place : allocate(1);
    track(this, this.place);
    this.slots = this.place.view.mine;
    this.offset = this.place.offset;
  }

  /**
   * A counter over the same memory as the one `handle` came from, typically in
   * another worker thread; this thread writes its own shard. The original must
   * still be alive when attach runs (`EINVAL` otherwise, as for a forged handle).
   */
  static attach(handle: CounterHandle): Counter {
    const h = checkHandle(handle, 'kernkit.counter');
    const name = optional(h.name, (v) => string('handle.name', v), '');
    return new Counter(name, ATTACHED, acquire(h.chunk, h.offset, 1, h.token));
  }

  /** The structured-cloneable descriptor to pass to another thread. */
  get handle(): CounterHandle {
    return { kind: 'kernkit.counter', name: this.name, chunk: this.place.view.id, offset: this.offset, token: this.place.token };
  }

  /** Adds one. */
  inc(): void {
    const slots = this.slots;
    const i = this.offset;
    const x = slots[i] + 1; // NaN in a thread without a shard: slow path
    if (x < FOLD) slots[i] = x;
    else addSlow(this.place.view, i, 1);
  }

  /** Adds `n`, a safe integer (negative allowed, as with percpu_counter_add). */
  add(n: number): void {
    if (typeof n === 'number') {
      const slots = this.slots;
      const i = this.offset;
      const x = slots[i] + n;
      if ((n | 0) === n && x < FOLD && x > -FOLD) {
        slots[i] = x;
        return;
      }
    }
    this.addChecked(n);
  }

  private addChecked(n: number): void {
    if (!Number.isSafeInteger(n)) notSafeInteger(n);
    addSlow(this.place.view, this.offset, n);
  }

  /** The exact value since the last {@link zero}: every thread's shard plus the folded total. */
  sum(): bigint {
    const v = this.place.view;
    const col = this.offset;
    // Base, total, base again: a zero() on another thread in between would pair an old
    // total with a new base (a negative value); read again then.
    for (;;) {
      const base = Atomics.load(v.bases, col);
      const total = sumRawOne(v, col);
      if (Atomics.load(v.bases, col) === base) return total - base;
    }
  }

  /** The exact value as a number; `ERANGE` if it is beyond ±(2^53 − 1). */
  value(): number {
    const s = this.sum();
    if (s > MAX_SAFE || s < -MAX_SAFE) throw outOfRange('counter value', s, 'at most ±(2^53 - 1) as a number; sum() gives any value');
    return Number(s);
  }

  /**
   * A cheap, approximate value: no snapshot and float arithmetic, so it can be
   * off while other threads fold or past 2^53. Like percpu_counter_read, but it
   * does add the shards (the kernel's skips them). For the exact value, see
   * {@link sum} and {@link value}.
   */
  approx(): number {
    return readApprox(this.place.view, this.offset);
  }

  /**
   * The approximate value, as {@link approx}; kept until 1.0.
   * @deprecated Use {@link approx} (or {@link sum}/{@link value} for the exact value).
   */
  read(): number {
    return this.approx();
  }

  /**
   * Starts counting from zero again, as IPVS's ip_vs_zero_stats: writers never
   * see a reset; the current total is recorded as a base that reads subtract.
   */
  zero(): void {
    const v = this.place.view;
    Atomics.store(v.bases, this.offset, sumRawOne(v, this.offset));
  }
}
