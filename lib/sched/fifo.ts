/**
 * A first-in first-out queue on a growing ring buffer: O(1) push and shift,
 * and no allocation once it has grown to its working size.
 * @module
 */

/** A FIFO queue. */
export class Fifo<T> {
  private buf: Array<T | undefined> = new Array(4);
  private head = 0;
  private len = 0;

  /** Elements queued. */
  get length(): number {
    return this.len;
  }

  /** The oldest element, or undefined. */
  peek(): T | undefined {
    return this.len ? this.buf[this.head] : undefined;
  }

  /** The newest element, or undefined. */
  peekLast(): T | undefined {
    return this.len ? this.buf[(this.head + this.len - 1) & (this.buf.length - 1)] : undefined;
  }

  /** Appends `v`. */
  push(v: T): void {
    if (this.len === this.buf.length) this.grow();
    this.buf[(this.head + this.len) & (this.buf.length - 1)] = v;
    this.len++;
  }

  /** Removes and returns the oldest element. */
  shift(): T | undefined {
    if (!this.len) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.len--;
    return v;
  }

  /** Removes every element for which `drop` returns true, keeping the order of the rest. */
  removeWhere(drop: (v: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    const n = this.len;
    for (let i = 0; i < n; i++) {
      const v = this.shift() as T;
      (drop(v) ? removed : kept).push(v);
    }
    for (const v of kept) this.push(v);
    return removed;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.len; i++) next[i] = this.buf[(this.head + i) & (this.buf.length - 1)];
    this.buf = next;
    this.head = 0;
  }
}
