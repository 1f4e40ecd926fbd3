/**
 * `ResourceCounter`: a hierarchical counter with a limit, as the kernel's
 * page_counter (mm/page_counter.c), charged lock-free from any thread.
 * @module
 */
import { KernkitError } from '../errors';
import { arrayOf, boolean, integer, integerIn, invalid, oneOf, optional, options, plainObject, string } from '../validate';
import { chunkView, F, flagIndex, rescounterNative, slotBase, UNLIMITED } from './native';
import { effectiveProtection } from './protection';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const KIND = 'kernkit.rescounter';

/** Options of {@link ResourceCounter}'s constructor. */
export interface ResourceCounterOptions {
  /** The limit: an integer from 0 to 2^53 − 1, or `Infinity` for none (default). */
  max?: number;
  /** The counter above this one: every charge here is also charged there, and up to the root. */
  parent?: ResourceCounter;
  /** A label for logs, metrics and handles (default `''`). */
  name?: string;
  /** Count refused charges in `failcnt` at the refusing level (default true; the kernel's `track_failcnt`). */
  trackFailcnt?: boolean;
}

/** A structured-cloneable description of a counter, for {@link ResourceCounter.attach} in another thread. */
export interface ResourceCounterHandle {
  readonly kind: 'kernkit.rescounter';
  readonly chunk: number;
  readonly slot: number;
  readonly token: number;
  /** Names from the counter up to its root. */
  readonly names: readonly string[];
}

/** Options of {@link ResourceCounter.effectiveMin} and {@link ResourceCounter.effectiveLow}. */
export interface ProtectionOptions {
  /** The top of the subtree under pressure (the kernel's reclaim root); default the counter's root. */
  root?: ResourceCounter;
  /** The cgroup2 `memory_recursiveprot` behaviour (default false). */
  recursiveProtection?: boolean;
}

/** The seed's res_counter fields (memcg v1 file names), as a snapshot. */
export interface ResCounterView {
  /** `usage_in_bytes`: what is charged now. */
  usage: number;
  /** `max_usage_in_bytes`: the peak (the watermark). */
  max_usage: number;
  /** `limit_in_bytes`: the limit (`Infinity` for none). */
  limit: number;
  /** `failcnt`: refused charges at this level. */
  failcnt: number;
  /** `soft_limit_in_bytes` (`Infinity` for none). */
  soft_limit: number;
  /** res_counter_soft_limit_excess: how far usage is above the soft limit, else 0. */
  soft_limit_excess: number;
}

/** Every figure of a counter at once (what the metrics exporter reads). */
export interface ResourceCounterStats {
  name: string;
  usage: number;
  max: number;
  watermark: number;
  localWatermark: number;
  failcnt: number;
  underflows: number;
  min: number;
  low: number;
  softLimit: number;
}

// One counter's place in memory: the view of its chunk and the index of its first field.
interface Level {
  readonly view: BigInt64Array;
  readonly ints: Int32Array;
  readonly base: number;
  readonly chunk: number;
  readonly slot: number;
  readonly token: number;
}

// This thread's open counter objects by slot, so attaching two handles of one tree shares ancestors.
const registry = new Map<string, WeakRef<ResourceCounter>>();
const key = (chunk: number, slot: number, token: number): string => `${chunk}:${slot}:${token}`;

// Drops this thread's reference once a counter object is garbage-collected unclosed.
const releaser = new FinalizationRegistry<{ chunk: number; slot: number; key: string }>((held) => {
  if (registry.get(held.key)?.deref() === undefined) registry.delete(held.key);
  rescounterNative.release(held.chunk, held.slot);
});

// Field offsets the hot paths use, as plain constants (see F in ./native).
const MAX = F.max;
const LOCAL_WATERMARK = F.localWatermark;
const PROTECTED_INT = F.protectedFlag * 2; // int32 index of the flag's low word, relative to base * 2

let warnedUnderflow = false;

// Node defines Symbol.dispose as Symbol.for('nodejs.dispose'); a vm context (jest) may lack it.
const DISPOSE = (Symbol.dispose ?? Symbol.for('nodejs.dispose')) as typeof Symbol.dispose;

function toNumber(v: bigint): number {
  return v === UNLIMITED ? Infinity : Number(v);
}

/** A limit or protection value: an integer from 0 to 2^53 − 1, or Infinity for "max". */
function limitValue(field: string, value: unknown): bigint {
  if (value === Infinity) return UNLIMITED;
  return BigInt(integer(field, value, { min: 0, max: MAX_SAFE }));
}

function amountOf(n: unknown): bigint {
  // Fast path: integers that fit 32 bits unsigned; anything else is checked in full.
  if (typeof n === 'number' && n >>> 0 === n) return BigInt(n);
  return BigInt(integerIn('n', n, 0, MAX_SAFE, 'EINVAL'));
}

/** What `new ResourceCounter` adopts instead of allocating (set by attach). */
let adopting: { levels: Level[]; names: readonly string[]; parent: ResourceCounter | undefined } | undefined;

/**
 * A counter in a tree of counters, each with a usage, a limit (`max`), peaks,
 * a failure count and min/low protection, in native memory shared by every
 * thread: the kernel's page_counter. A charge adds at this counter and at each
 * ancestor, and fails where a limit would be crossed, undoing what it added
 * below. The hot paths ({@link tryCharge}, {@link uncharge}) are Atomics on
 * that memory; they never call into native code.
 *
 * ```ts
 * const proc = new ResourceCounter({ name: 'process', max: 64 << 20 });
 * const tenant = new ResourceCounter({ name: 'tenant-a', parent: proc, max: 8 << 20 });
 * if (tenant.tryCharge(bodyBytes)) {
 *   try { await handle(req); } finally { tenant.uncharge(bodyBytes); }
 * } else {
 *   res.statusCode = 503; // over this tenant's or the process's budget
 * }
 * worker.postMessage(tenant.handle); // ResourceCounter.attach(handle) there
 * ```
 */
export class ResourceCounter {
  /** The label given at creation. */
  readonly name: string;
  /** The counter above, or undefined for a root. */
  readonly parent: ResourceCounter | undefined;
  // This counter then each ancestor up to the root: the walk of every charge.
  readonly #views: BigInt64Array[];
  readonly #bases: number[];
  readonly #ints: Int32Array[];
  readonly #levels: Level[];
  readonly #names: readonly string[];
  #closed = false;

  /** Creates a counter at zero usage, under `parent` if given. */
  constructor(opts?: ResourceCounterOptions) {
    const adopted = adopting;
    adopting = undefined;
    if (adopted) {
      this.name = adopted.names[0];
      this.parent = adopted.parent;
      this.#levels = adopted.levels;
      this.#names = adopted.names;
    } else {
      const o = options<ResourceCounterOptions>('options', opts, ['max', 'parent', 'name', 'trackFailcnt']);
      const name = optional(o.name, (v) => string('options.name', v), '');
      const max = optional(o.max, (v) => limitValue('options.max', v), UNLIMITED);
      const track = optional(o.trackFailcnt, (v) => boolean('options.trackFailcnt', v), true);
      const parent = o.parent;
      if (parent !== undefined) {
        if (typeof parent !== 'object' || parent === null || !(#closed in parent)) {
          throw invalid('options.parent', parent, 'a ResourceCounter of this thread (a copy or a counter from another module instance is foreign)');
        }
        parent.#check('options.parent');
      }
      const top = parent === undefined ? undefined : parent.#levels[0];
      const [chunk, slot, token] = top ? rescounterNative.alloc(top.chunk, top.slot, top.token) : rescounterNative.alloc();
      const views = chunkView(chunk);
      const self: Level = { view: views.longs, ints: views.ints, base: slotBase(slot), chunk, slot, token };
      Atomics.store(self.view, self.base + F.max, max);
      Atomics.store(self.view, self.base + F.softLimit, UNLIMITED);
      Atomics.store(self.view, self.base + F.trackFailcnt, track ? 1n : 0n);
      this.name = name;
      this.parent = parent;
      this.#levels = parent === undefined ? [self] : [self, ...parent.#levels];
      this.#names = parent === undefined ? [name] : [name, ...parent.#names];
    }
    this.#views = this.#levels.map((l) => l.view);
    this.#bases = this.#levels.map((l) => l.base);
    this.#ints = this.#levels.map((l) => l.ints);
    const self = this.#levels[0];
    const k = key(self.chunk, self.slot, self.token);
    releaser.register(this, { chunk: self.chunk, slot: self.slot, key: k }, this);
    registry.set(k, new WeakRef(this));
  }

  /**
   * The counter `handle` came from, typically in another worker thread, with
   * its ancestors (`.parent` up to the root): same memory, same tree. The
   * counter must still be open somewhere when attach runs; a forged or released
   * handle gets `EINVAL`.
   */
  static attach(handle: ResourceCounterHandle): ResourceCounter {
    const h = plainObject('handle', handle, 'the object from .handle of a ResourceCounter');
    oneOf('handle.kind', h.kind, [KIND]);
    const chunk = integerIn('handle.chunk', h.chunk, 0, 0xffffffff, 'EINVAL');
    const slot = integerIn('handle.slot', h.slot, 0, 0xffffffff, 'EINVAL');
    const token = integerIn('handle.token', h.token, 1, 0xffffffff, 'EINVAL');
    const names = arrayOf('handle.names', h.names, (f, v) => string(f, v));
    const chain = rescounterNative.acquire(chunk, slot, token); // a reference on each level, or EINVAL
    const levels: Level[] = [];
    for (let i = 0; i < chain.length; i += 3) {
      const views = chunkView(chain[i]);
      levels.push({ view: views.longs, ints: views.ints, base: slotBase(chain[i + 1]), chunk: chain[i], slot: chain[i + 1], token: chain[i + 2] });
    }
    // Build from the root down, reusing counters this thread has open (with every ancestor open).
    let below: ResourceCounter | undefined;
    for (let i = levels.length - 1; i >= 0; i--) {
      const l = levels[i];
      const existing = registry.get(key(l.chunk, l.slot, l.token))?.deref();
      if (existing && existing.#openUpToRoot()) {
        rescounterNative.release(l.chunk, l.slot); // the open object already holds one
        below = existing;
        continue;
      }
      adopting = { levels: levels.slice(i), names: levels.slice(i).map((_, j) => names[i + j] ?? ''), parent: below };
      below = new ResourceCounter();
    }
    return below!;
  }

  /** The structured-cloneable descriptor to pass to another thread. */
  get handle(): ResourceCounterHandle {
    this.#check('handle');
    const l = this.#levels[0];
    return { kind: KIND, chunk: l.chunk, slot: l.slot, token: l.token, names: [...this.#names] };
  }

  /** True once {@link close} ran: every operation through this object then throws `EBADF`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Drops this thread's reference. The memory is freed once no thread and no
   * child holds one; usage still charged then stays charged at the ancestors,
   * as a removed memcg's charges move to its parent. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const l = this.#levels[0];
    releaser.unregister(this);
    registry.delete(key(l.chunk, l.slot, l.token));
    rescounterNative.release(l.chunk, l.slot);
  }

  /** Same as {@link close}, for `using`. */
  [DISPOSE](): void {
    this.close();
  }

  #openUpToRoot(): boolean {
    for (let c: ResourceCounter | undefined = this; c; c = c.parent) if (c.#closed) return false;
    return true;
  }

  #check(what: string): void {
    if (this.#closed) {
      throw new KernkitError(`${what}: the resource counter${this.name ? ` "${this.name}"` : ''} is closed`, { code: 'EBADF' });
    }
  }

  /**
   * Charges `n` here and at every ancestor unless that would take one of them
   * above its max: page_counter_try_charge. Lock-free: each level is an atomic
   * add, then a check against its max; a level that would go over undoes its own
   * add, counts a failure and the levels below are uncharged again. Concurrent
   * chargers may see a transient overshoot of one another's amounts (and a
   * large charge that fails can make a racing small one fail), as in the kernel.
   * `n`: an integer from 0 to 2^53 − 1 (`EINVAL` otherwise).
   */
  tryCharge(n: number): boolean {
    return this.#tryCharge(n) < 0;
  }

  /** {@link tryCharge} naming the refusal: null when charged, else the counter (this or an ancestor) whose max refused. */
  tryChargeOrRefuser(n: number): ResourceCounter | null {
    const failed = this.#tryCharge(n);
    if (failed < 0) return null;
    let c: ResourceCounter = this;
    for (let i = 0; i < failed; i++) c = c.parent!;
    return c;
  }

  // The hot path, kept in one function: no calls on the success path but the atomics.
  // max, the local watermark and the protection flag are read with plain loads, as the
  // kernel reads c->max (and READ_ONCE the watermark): on x64 an aligned 8-byte load
  // does not tear, and V8 keeps typed-array loads after the Atomics.add before them
  // (a locked xadd, a full barrier), so the read of max is ordered after the add as
  // page_counter_set_max's retry rule needs. Atomics.load here costs 30-40% more time.
  #tryCharge(n: number): number {
    if (this.#closed) this.#check('tryCharge');
    const amount = typeof n === 'number' && n >>> 0 === n ? BigInt(n) : amountOf(n);
    const views = this.#views;
    const bases = this.#bases;
    const ints = this.#ints;
    const depth = views.length;
    for (let i = 0; i < depth; i++) {
      const v = views[i];
      const b = bases[i];
      const now = Atomics.add(v, b, amount) + amount; // F.usage is 0
      if (now > v[b + MAX]) {
        this.#refuse(i, amount);
        return i;
      }
      if (ints[i][2 * b + PROTECTED_INT] !== 0) this.#propagate(i, now);
      if (now > v[b + LOCAL_WATERMARK]) this.#raiseWatermarks(v, b, now);
    }
    return -1;
  }

  // Level i refused: undo its add, count the failure, uncharge the levels below.
  #refuse(i: number, amount: bigint): void {
    Atomics.sub(this.#views[i], this.#bases[i], amount);
    if (this.#ints[0][flagIndex(this.#bases[0], F.trackFailcnt)] !== 0) Atomics.add(this.#views[i], this.#bases[i] + F.failcnt, 1n);
    for (let j = 0; j < i; j++) this.#cancel(j, amount);
  }

  /** Charges `n` here and at every ancestor whatever their limits: page_counter_charge. */
  charge(n: number): void {
    this.#check('charge');
    const amount = amountOf(n);
    const views = this.#views;
    const bases = this.#bases;
    for (let i = 0; i < views.length; i++) {
      const v = views[i];
      const b = bases[i];
      const now = Atomics.add(v, b, amount) + amount;
      if (this.#ints[i][2 * b + PROTECTED_INT] !== 0) this.#propagate(i, now);
      if (now > v[b + LOCAL_WATERMARK]) this.#raiseWatermarks(v, b, now);
    }
  }

  /**
   * Takes `n` back here and at every ancestor: page_counter_uncharge. A level
   * that would go below 0 is clamped at 0 and the underflow counted
   * ({@link underflows}); a warning is emitted once per thread, as the kernel
   * warns once.
   */
  uncharge(n: number): void {
    if (this.#closed) this.#check('uncharge');
    const amount = typeof n === 'number' && n >>> 0 === n ? BigInt(n) : amountOf(n);
    const views = this.#views;
    const bases = this.#bases;
    const ints = this.#ints;
    for (let i = 0; i < views.length; i++) {
      const b = bases[i];
      const now = Atomics.sub(views[i], b, amount) - amount;
      if (now < 0n) this.#underflow(i, now);
      else if (ints[i][2 * b + PROTECTED_INT] !== 0) this.#propagate(i, now); // a plain load: see #tryCharge
    }
  }

  // page_counter_cancel at level i.
  #cancel(i: number, amount: bigint): void {
    const now = Atomics.sub(this.#views[i], this.#bases[i], amount) - amount;
    if (now < 0n) this.#underflow(i, now);
    else if (this.#ints[i][2 * this.#bases[i] + PROTECTED_INT] !== 0) this.#propagate(i, now);
  }

  // Level i went to `now` < 0: clamp at 0, count it, warn once per thread.
  #underflow(i: number, now: bigint): void {
    const v = this.#views[i];
    const b = this.#bases[i];
    // Add back only the shortfall: charges racing with this one are kept (the kernel's plain set to 0 could lose them).
    Atomics.add(v, b, -now);
    Atomics.add(v, b + F.underflows, 1n);
    if (!warnedUnderflow) {
      warnedUnderflow = true;
      process.emitWarning(`resource counter underflow: more uncharged than charged at "${this.#names[i]}"`, { code: 'KERNKIT_RESCOUNTER_UNDERFLOW' });
    }
    if (this.#ints[i][2 * b + PROTECTED_INT] !== 0) this.#propagate(i, 0n);
  }

  // The kernel's racy peak update, once usage passed the local watermark: it, then the global one.
  #raiseWatermarks(v: BigInt64Array, b: number, now: bigint): void {
    Atomics.store(v, b + F.localWatermark, now);
    if (now > Atomics.load(v, b + F.watermark)) Atomics.store(v, b + F.watermark, now);
  }

  // propagate_protected_usage at level i: keep min(usage, min) and min(usage, low)
  // of each counter, and their sums over the parent's children, up to date.
  #propagate(i: number, usage: bigint): void {
    if (i + 1 >= this.#views.length) return; // a root has no parent to report to
    const v = this.#views[i];
    const b = this.#bases[i];
    const pv = this.#views[i + 1];
    const pb = this.#bases[i + 1];
    for (const [setting, used, sum] of [
      [F.min, F.minUsage, F.childrenMinUsage],
      [F.low, F.lowUsage, F.childrenLowUsage],
    ] as const) {
      const limit = Atomics.load(v, b + setting);
      const prot = usage < limit ? usage : limit;
      if (prot !== Atomics.load(v, b + used)) {
        const delta = prot - Atomics.exchange(v, b + used, prot);
        if (delta !== 0n) Atomics.add(pv, pb + sum, delta);
      }
    }
  }

  #read(field: number, what: string): number {
    this.#check(what);
    return toNumber(Atomics.load(this.#views[0], this.#bases[0] + field));
  }

  /** What is charged now (page_counter_read). */
  get usage(): number {
    return this.#read(F.usage, 'usage');
  }

  /** The limit; `Infinity` when there is none. */
  get max(): number {
    return this.#read(F.max, 'max');
  }

  /** The peak usage since creation or {@link resetWatermark} (memcg v1 `max_usage_in_bytes`). */
  get watermark(): number {
    return this.#read(F.watermark, 'watermark');
  }

  /** The peak since the last {@link resetLocalWatermark} or {@link resetWatermark} (cgroup2 `memory.peak` after a write). */
  get localWatermark(): number {
    return this.#read(F.localWatermark, 'localWatermark');
  }

  /** Charges refused at this level, counted when the charging counter tracks failcnt. Exact (the kernel's is racy). */
  get failcnt(): number {
    return this.#read(F.failcnt, 'failcnt');
  }

  /** Uncharges that would have taken usage below 0 (clamped). The kernel only warns. */
  get underflows(): number {
    return this.#read(F.underflows, 'underflows');
  }

  /** The declared min protection. */
  get min(): number {
    return this.#read(F.min, 'min');
  }

  /** The declared low protection. */
  get low(): number {
    return this.#read(F.low, 'low');
  }

  /** The res_counter soft limit; `Infinity` when there is none. */
  get softLimit(): number {
    return this.#read(F.softLimit, 'softLimit');
  }

  /**
   * Sets the limit: page_counter_set_max. `EBUSY` when usage is above `n`
   * (kernkit reclaims nothing). The new limit is swapped in, and if usage grew
   * meanwhile while the limit shrank, the old limit is put back and it tries
   * again: a racing charge either sees the new limit or is seen here.
   * `n`: an integer from 0 to 2^53 − 1 or `Infinity` (`ERANGE` outside, `EINVAL` for a non-integer).
   */
  setMax(n: number): void {
    this.#check('setMax');
    const limit = limitValue('max', n);
    const v = this.#views[0];
    const b = this.#bases[0];
    for (;;) {
      const usage = Atomics.load(v, b + F.usage);
      if (usage > limit) throw invalid('max', n, `a limit >= the usage ${usage}`, 'EBUSY');
      const old = Atomics.exchange(v, b + F.max, limit);
      if (Atomics.load(v, b + F.usage) <= usage || limit >= old) return;
      Atomics.compareExchange(v, b + F.max, limit, old);
    }
  }

  /** Sets the min protection and updates the protected usage up the tree: page_counter_set_min. */
  setMin(n: number): void {
    this.#setProtection('min', F.min, n);
  }

  /** Sets the low protection and updates the protected usage up the tree: page_counter_set_low. */
  setLow(n: number): void {
    this.#setProtection('low', F.low, n);
  }

  #setProtection(what: string, field: number, n: number): void {
    this.#check(what === 'min' ? 'setMin' : 'setLow');
    const value = limitValue(what, n);
    const v = this.#views[0];
    const b = this.#bases[0];
    Atomics.store(v, b + field, value);
    if (value !== 0n) Atomics.store(v, b + F.protectedFlag, 1n);
    for (let i = 0; i < this.#views.length; i++) this.#propagate(i, Atomics.load(this.#views[i], this.#bases[i] + F.usage));
  }

  /** Sets the res_counter soft limit (memcg v1 `soft_limit_in_bytes`); kernkit only reports the excess. */
  setSoftLimit(n: number): void {
    this.#check('setSoftLimit');
    Atomics.store(this.#views[0], this.#bases[0] + F.softLimit, limitValue('softLimit', n));
  }

  /** Resets both peaks to the current usage: page_counter_reset_watermark (v1 write to `max_usage_in_bytes`). */
  resetWatermark(): void {
    this.#check('resetWatermark');
    const v = this.#views[0];
    const b = this.#bases[0];
    const usage = Atomics.load(v, b + F.usage);
    Atomics.store(v, b + F.localWatermark, usage); // local first, so it stays <= the global one
    Atomics.store(v, b + F.watermark, usage);
  }

  /** Resets only the local peak to the current usage (a write to cgroup2 `memory.peak`). */
  resetLocalWatermark(): void {
    this.#check('resetLocalWatermark');
    const v = this.#views[0];
    const b = this.#bases[0];
    Atomics.store(v, b + F.localWatermark, Atomics.load(v, b + F.usage));
  }

  /** The effective min protection under `root`: page_counter_calculate_protection's emin. */
  effectiveMin(opts?: ProtectionOptions): number {
    return this.#effective('effectiveMin', opts, F.min, F.childrenMinUsage);
  }

  /** The effective low protection under `root`: page_counter_calculate_protection's elow. */
  effectiveLow(opts?: ProtectionOptions): number {
    return this.#effective('effectiveLow', opts, F.low, F.childrenLowUsage);
  }

  // The kernel computes top-down during reclaim and stores emin/elow; kernkit
  // walks the same path from `root` down to this counter on each call.
  #effective(what: string, opts: ProtectionOptions | undefined, setting: number, children: number): number {
    this.#check(what);
    const o = options<ProtectionOptions>('options', opts, ['root', 'recursiveProtection']);
    const recursive = optional(o.recursiveProtection, (v) => boolean('options.recursiveProtection', v), false);
    let top = this.#levels.length - 1;
    if (o.root !== undefined) {
      const root = o.root;
      const at = typeof root === 'object' && root !== null && #closed in root ? this.#levels.findIndex((l) => l === root.#levels[0]) : -1;
      if (at < 0) throw invalid('options.root', root, 'this counter or one of its ancestors');
      top = at;
    }
    const usageAt = (i: number): bigint => Atomics.load(this.#views[i], this.#bases[i] + F.usage);
    const at = (i: number, field: number): bigint => Atomics.load(this.#views[i], this.#bases[i] + field);
    // The reclaim root's own protection is ignored (0); so is a counter with nothing charged.
    if (top === 0 || usageAt(0) === 0n) return 0;
    let effective = at(top - 1, setting); // a child of the root: its declared value
    for (let i = top - 2; i >= 0; i--) {
      const usage = usageAt(i);
      if (usage === 0n) return 0;
      effective = effectiveProtection({
        usage,
        parentUsage: usageAt(i + 1),
        setting: at(i, setting),
        parentEffective: effective,
        siblingsProtected: at(i + 1, children),
        recursive,
      });
    }
    return toNumber(effective);
  }

  /** The seed's res_counter view of this counter (memcg v1 names). */
  resCounter(): ResCounterView {
    this.#check('resCounter');
    const v = this.#views[0];
    const b = this.#bases[0];
    const usage = Atomics.load(v, b + F.usage);
    const soft = Atomics.load(v, b + F.softLimit);
    return {
      usage: Number(usage),
      max_usage: toNumber(Atomics.load(v, b + F.watermark)),
      limit: toNumber(Atomics.load(v, b + F.max)),
      failcnt: Number(Atomics.load(v, b + F.failcnt)),
      soft_limit: toNumber(soft),
      soft_limit_excess: usage > soft ? Number(usage - soft) : 0,
    };
  }

  /** Every figure at once: usage, max, peaks, failcnt, underflows, protection, soft limit (for metrics). */
  stats(): ResourceCounterStats {
    this.#check('stats');
    const v = this.#views[0];
    const b = this.#bases[0];
    const get = (f: number): number => toNumber(Atomics.load(v, b + f));
    return {
      name: this.name,
      usage: get(F.usage),
      max: get(F.max),
      watermark: get(F.watermark),
      localWatermark: get(F.localWatermark),
      failcnt: get(F.failcnt),
      underflows: get(F.underflows),
      min: get(F.min),
      low: get(F.low),
      softLimit: get(F.softLimit),
    };
  }
}
