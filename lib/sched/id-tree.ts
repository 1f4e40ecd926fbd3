/**
 * An ordered set keyed by class id with a stable position to resume from:
 * HTB's rows and feeds, which the kernel keeps in rb-trees ordered by
 * classid and walks round-robin with a pointer. Here a treap (a binary
 * search tree balanced by random priorities, O(log n) expected per
 * operation) whose nodes know their parent, so `next` needs no search.
 * @module
 */

/** A node: one class's place in one tree. */
export class IdNode<C> {
  key = 0;
  weight = 0;
  left: IdNode<C> | null = null;
  right: IdNode<C> | null = null;
  parent: IdNode<C> | null = null;

  /** A node for `owner`. */
  constructor(readonly owner: C) {}
}

let seed = 0x2545f491;
/** xorshift32: deterministic priorities, so runs repeat exactly. */
function nextWeight(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

/** A treap of {@link IdNode}s ordered by key (keys are unique). */
export class IdTree<C> {
  private root: IdNode<C> | null = null;
  private count = 0;

  /** True when the tree has no node. */
  get empty(): boolean {
    return this.root === null;
  }

  /** Nodes in the tree. */
  get size(): number {
    return this.count;
  }

  /** Adds `n` under `key`. */
  insert(n: IdNode<C>, key: number): void {
    n.key = key;
    n.weight = nextWeight();
    n.left = n.right = n.parent = null;
    this.count++;
    if (!this.root) {
      this.root = n;
      return;
    }
    let p = this.root;
    for (;;) {
      const child = key > p.key ? p.right : p.left;
      if (!child) break;
      p = child;
    }
    if (key > p.key) p.right = n;
    else p.left = n;
    n.parent = p;
    while (n.parent && n.weight < n.parent.weight) this.rotateUp(n);
  }

  /** Removes `n` (which must be in this tree). */
  remove(n: IdNode<C>): void {
    while (n.left || n.right) {
      const child = !n.left ? (n.right as IdNode<C>) : !n.right ? n.left : n.left.weight < n.right.weight ? n.left : n.right;
      this.rotateUp(child);
    }
    const p = n.parent;
    if (!p) this.root = null;
    else if (p.left === n) p.left = null;
    else p.right = null;
    n.parent = null;
    this.count--;
  }

  /** The node with the smallest key, or null. */
  first(): IdNode<C> | null {
    let n = this.root;
    if (!n) return null;
    while (n.left) n = n.left;
    return n;
  }

  /** The node after `n` in key order, or null. */
  next(n: IdNode<C>): IdNode<C> | null {
    if (n.right) {
      let m = n.right;
      while (m.left) m = m.left;
      return m;
    }
    let c = n;
    let p = n.parent;
    while (p && p.right === c) {
      c = p;
      p = p.parent;
    }
    return p;
  }

  /** The node with the smallest key >= `key`, or null (`htb_id_find_next_upper`). */
  atOrAfter(key: number): IdNode<C> | null {
    let n = this.root;
    let best: IdNode<C> | null = null;
    while (n) {
      if (key === n.key) return n;
      if (key > n.key) n = n.right;
      else {
        best = n;
        n = n.left;
      }
    }
    return best;
  }

  private rotateUp(x: IdNode<C>): void {
    const p = x.parent as IdNode<C>;
    const g = p.parent;
    if (p.left === x) {
      p.left = x.right;
      if (x.right) x.right.parent = p;
      x.right = p;
    } else {
      p.right = x.left;
      if (x.left) x.left.parent = p;
      x.left = p;
    }
    p.parent = x;
    x.parent = g;
    if (!g) this.root = x;
    else if (g.left === p) g.left = x;
    else g.right = x;
  }
}
