// The baseline: what a user can write without kernkit — page_counter's walk with
// Atomics on a SharedArrayBuffer (64-bit counts, four fields per counter, packed),
// shared with workers by posting the buffer.
const FIELDS = 4; // usage, max, watermark, failcnt
const USAGE = 0;
const MAX = 1;
const WATERMARK = 2;
const FAILCNT = 3;

/**
 * A tree of counters in one SharedArrayBuffer; `parents[i]` is -1 for a root.
 * `plainReads`: read max and the watermark with plain loads (kernkit's and the
 * kernel's choice) instead of Atomics.load.
 */
class AtomicsTree {
  constructor(sab, parents, plainReads = false) {
    this.a = new BigInt64Array(sab);
    this.parents = parents;
    this.plainReads = plainReads;
  }

  static create(parents, max, plainReads = false) {
    const sab = new SharedArrayBuffer(parents.length * FIELDS * 8);
    const t = new AtomicsTree(sab, parents, plainReads);
    parents.forEach((_, i) => Atomics.store(t.a, i * FIELDS + MAX, BigInt(max)));
    return t;
  }

  tryCharge(leaf, n) {
    const a = this.a;
    const amount = BigInt(n);
    for (let c = leaf; c !== -1; c = this.parents[c]) {
      const b = c * FIELDS;
      const now = Atomics.add(a, b + USAGE, amount) + amount;
      if (now > (this.plainReads ? a[b + MAX] : Atomics.load(a, b + MAX))) {
        Atomics.sub(a, b + USAGE, amount);
        Atomics.add(a, b + FAILCNT, 1n);
        for (let d = leaf; d !== c; d = this.parents[d]) Atomics.sub(a, d * FIELDS + USAGE, amount);
        return false;
      }
      if (now > (this.plainReads ? a[b + WATERMARK] : Atomics.load(a, b + WATERMARK))) Atomics.store(a, b + WATERMARK, now);
    }
    return true;
  }

  uncharge(leaf, n) {
    const a = this.a;
    const amount = BigInt(n);
    for (let c = leaf; c !== -1; c = this.parents[c]) {
      const b = c * FIELDS;
      const now = Atomics.sub(a, b + USAGE, amount) - amount;
      if (now < 0n) Atomics.add(a, b + USAGE, -now);
    }
  }

  usage(c) {
    return Atomics.load(this.a, c * FIELDS + USAGE);
  }
}

module.exports = { AtomicsTree };
