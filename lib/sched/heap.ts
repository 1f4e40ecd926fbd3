/**
 * A binary min-heap of elements ordered by `(key, seq)`: the kernel keeps
 * such sets (fq's throttled flows, htb's wait queues, fq's out-of-order
 * packets) in rb-trees where an equal key goes to the right, so equal keys
 * leave in insertion order; the sequence number gives the heap that order.
 * Each element remembers its position, so removing any element is O(log n).
 * @module
 */

/** What a {@link Heap} stores: its key and the bookkeeping the heap keeps on it. */
export interface HeapNode {
  /** The ordering key (a time in nanoseconds). */
  heapKey: number;
  /** Insertion order among equal keys (set by the heap). */
  heapSeq: number;
  /** Position in the heap, -1 when not in one (set by the heap). */
  heapIndex: number;
}

/** A {@link HeapNode} not in any heap yet: a base class for what heaps hold. */
export class HeapMember implements HeapNode {
  heapKey = 0;
  heapSeq = 0;
  heapIndex = -1;
}

/** A min-heap of {@link HeapNode}s. */
export class Heap<T extends HeapNode> {
  private readonly a: T[] = [];
  private seq = 0;

  /** Elements in the heap. */
  get size(): number {
    return this.a.length;
  }

  /** The smallest element, or undefined. */
  peek(): T | undefined {
    return this.a[0];
  }

  /** Adds `node` with key `key`. */
  push(node: T, key: number): void {
    node.heapKey = key;
    node.heapSeq = this.seq++;
    node.heapIndex = this.a.length;
    this.a.push(node);
    this.up(node.heapIndex);
  }

  /** Removes and returns the smallest element. */
  pop(): T | undefined {
    const top = this.a[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Removes `node` (nothing when it is in no heap). */
  remove(node: T): void {
    const i = node.heapIndex;
    if (i < 0) return;
    const last = this.a.pop() as T;
    node.heapIndex = -1;
    if (last === node) return;
    this.a[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  /** Every element, in no particular order (for stats and tests). */
  values(): readonly T[] {
    return this.a;
  }

  private less(x: T, y: T): boolean {
    return x.heapKey < y.heapKey || (x.heapKey === y.heapKey && x.heapSeq < y.heapSeq);
  }

  private up(i: number): void {
    const a = this.a;
    const node = a[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(node, a[p])) break;
      a[i] = a[p];
      a[i].heapIndex = i;
      i = p;
    }
    a[i] = node;
    node.heapIndex = i;
  }

  private down(i: number): void {
    const a = this.a;
    const n = a.length;
    const node = a[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(a[c + 1], a[c])) c++;
      if (!this.less(a[c], node)) break;
      a[i] = a[c];
      a[i].heapIndex = i;
      i = c;
    }
    a[i] = node;
    node.heapIndex = i;
  }
}
