/**
 * Htb: the hierarchical token bucket (net/sched/sch_htb.c) on work items.
 * Each class has two buckets of nanoseconds of transmission time: `tokens`
 * fill at `rate` up to `buffer`, `ctokens` at `ceil` up to `cbuffer`; an item
 * costs `l2t(length)` (lib/sched/rate.ts). A class is green (CAN_SEND) while
 * its tokens are not negative, yellow (MAY_BORROW) while only its ctokens
 * are, red (CANT_SEND) otherwise. A backlogged green leaf sits in row[0] of
 * its prio; a yellow class hangs in its parent's feed, up to the first green
 * ancestor, which sits in the row of its level: dequeue takes the lowest
 * level first (least borrowing), then the lowest prio, and within a row or
 * feed serves classes round-robin by classid with DRR (a deficit per level,
 * `quantum` bytes per turn). Sending charges the leaf and every ancestor
 * (lends at the level it was sent from, borrows below it); classes that
 * change mode wait in a per-level event queue until their buckets refill.
 * Items without a leaf go to the direct queue, served first and unshaped.
 *
 * Deviations (docs/sched.md): adding a child to a leaf with items, or
 * deleting a class with items, is refused (`EBUSY`) instead of dropping
 * them; an item naming an unknown class is refused (`ENOENT`) instead of
 * going to the default class; events are processed without the kernel's
 * 2-jiffy budget; no hysteresis (the kernel's default).
 * @module
 */
import { formatHandle, makeHandle, parseClassId, parseQdiscHandle, type Handle } from '../tc/handle';
import type { HtbClassOptions, HtbQdiscOptions } from '../tc/kinds/htb';
import { Psched } from '../tc/psched';
import { func, integerIn, invalid, options as checkOptions } from '../validate';
import { checkClock, monotonicClock, readClock, timeArgument, type Clock } from './clock';
import { Fifo } from './fifo';
import { Heap, HeapMember } from './heap';
import { DEFAULT_PSCHED, htbClassParams, htbQdiscParams, type HtbClassParams } from './htb-options';
import { IdNode, IdTree } from './id-tree';
import { lengthToTime, rateCfg, type RateCfg } from './rate';

/** TC_HTB_MAXDEPTH: levels 0 (leaves) to 7. */
const MAXDEPTH = 8;
/** TC_HTB_NUMPRIO. */
const NUMPRIO = 8;
const NSEC_PER_SEC = 1_000_000_000;
/** mbuffer: a bucket never holds more than a minute of debt or credit. */
const MBUFFER = 60 * NSEC_PER_SEC;
const U32_MAX = 0xffffffff;
const DEFAULT_QLEN = 1000;

/** A class's mode (`enum htb_cmode`). */
export type HtbMode = 'cant_send' | 'may_borrow' | 'can_send';
const CANT_SEND = 0;
const MAY_BORROW = 1;
const CAN_SEND = 2;
const MODE_NAMES: HtbMode[] = ['cant_send', 'may_borrow', 'can_send'];

/** A unit of work for an {@link Htb}. */
export interface HtbItem<T = unknown> {
  /** Cost in bytes (or any unit): a whole number from 1 to 2^32-1. */
  length: number;
  /** The leaf class (`'1:10'` or a number), the qdisc's own handle for the direct queue, or absent for the default. */
  classid?: Handle;
  /** What the item carries. */
  payload?: T;
}

/** Why an item was not queued. */
export type HtbDropReason = 'class_limit' | 'direct_limit';

/** Options of {@link Htb}: htb's qdisc options, plus the handle, clock, classifier and tick arithmetic. */
export interface HtbOptions extends HtbQdiscOptions {
  /** The qdisc's handle (default `'1:'`): class ids must share its major. */
  handle?: Handle;
  /** Time source (default: monotonic). */
  clock?: Clock;
  /** Picks an item's class, as filters would; `undefined` falls back to `item.classid`, then the default class. */
  classify?: (item: HtbItem) => Handle | undefined;
  /** tc's tick arithmetic for default bursts (default: a nanosecond-clock kernel's; `await Psched.read()` for this machine's). */
  psched?: Psched;
}

/** What {@link Htb.addClass} takes: the class's place, its leaf queue's limit, and htb's class options. */
export interface HtbClassSpec extends HtbClassOptions {
  /** The class id (`'1:10'`), with the qdisc's major. */
  classid: Handle;
  /** The parent class (default: the root). */
  parent?: Handle;
  /** Items the leaf's FIFO holds (pfifo's `limit`, default 1000). */
  limit?: number;
}

/** `tc -s class show` for one htb class. */
export interface HtbClassStats {
  /** `'1:10'`. */
  classid: string;
  /** The parent's id, or `'root'`. */
  parent: string;
  /** 0 for a leaf. */
  level: number;
  /** 0..7. */
  prio: number;
  /** Bits per second. */
  rate: number;
  /** Bits per second. */
  ceil: number;
  /** DRR quantum in bytes. */
  quantum: number;
  /** Current mode. */
  mode: HtbMode;
  /** Bytes sent (`Sent ... bytes`). */
  bytes: number;
  /** Items sent (`pkt`). */
  packets: number;
  /** Items dropped at the leaf's limit (`dropped`). */
  drops: number;
  /** Times the class turned red (`overlimits`). */
  overlimits: number;
  /** Bytes queued (`backlog`). */
  backlog: number;
  /** Items queued. */
  qlen: number;
  /** Items sent on this class's own rate at its level (`lended`). */
  lends: number;
  /** Items sent by borrowing from an ancestor (`borrowed`). */
  borrows: number;
  /** Always 0 (`giants`). */
  giants: number;
  /** Rate bucket in ticks of 64 ns (`tokens`). */
  tokens: number;
  /** Ceil bucket in ticks (`ctokens`). */
  ctokens: number;
}

/** `tc -s qdisc show` for htb. */
export interface HtbStats {
  /** Items queued (classes and direct queue). */
  qlen: number;
  /** Bytes queued. */
  backlog: number;
  /** Items sent. */
  packets: number;
  /** Bytes sent. */
  bytes: number;
  /** Items dropped. */
  drops: number;
  /** Times a class turned red. */
  overlimits: number;
  /** Items that went to the direct queue (`direct_packets_stat`). */
  directPackets: number;
}

/** A row or feed for one prio: classes by id, and where round-robin resumes. */
class HtbPrio {
  readonly tree = new IdTree<HtbClass>();
  ptr: IdNode<HtbClass> | null = null;
  lastPtrId = 0;
}

class HtbClass extends HeapMember {
  level = 0;
  children = 0;
  cmode = CAN_SEND;
  tokens: number;
  ctokens: number;
  tc: number;
  prioActivity = 0;
  quantum = 0;
  prio = 0;
  rate!: RateCfg;
  ceil!: RateCfg;
  buffer = 0;
  cbuffer = 0;
  readonly queue = new Fifo<HtbItem>();
  backlog = 0;
  readonly deficit = new Array<number>(MAXDEPTH).fill(0);
  /** Feeds, when inner. */
  clprio: HtbPrio[] = [];
  private readonly nodes: Array<IdNode<HtbClass> | undefined> = new Array(NUMPRIO);
  bytes = 0;
  packets = 0;
  drops = 0;
  overlimits = 0;
  lends = 0;
  borrows = 0;

  constructor(
    readonly classid: number,
    readonly parent: HtbClass | null,
    readonly limit: number,
    p: HtbClassParams,
    r2q: number,
    now: number,
  ) {
    super();
    this.configure(p, r2q);
    this.tokens = this.buffer;
    this.ctokens = this.cbuffer;
    this.tc = now;
  }

  /** The settings htb_change_class() applies. */
  configure(p: HtbClassParams, r2q: number): void {
    this.rate = rateCfg(p.rate, p.overhead, p.mpu, p.atm);
    this.ceil = rateCfg(p.ceil, p.overhead, p.mpu, p.atm);
    if (this.level === 0) {
      let q = Math.min(Math.floor(p.rate / r2q), 0x7fffffff);
      if (!p.quantum && q < 1000) q = 1000;
      if (!p.quantum && q > 200000) q = 200000;
      this.quantum = p.quantum || q;
      this.prio = p.prio;
    }
    this.buffer = p.buffer;
    this.cbuffer = p.cbuffer;
  }

  node(prio: number): IdNode<HtbClass> {
    return (this.nodes[prio] ??= new IdNode(this));
  }
}

function lowestBit(mask: number): number {
  return 31 - Math.clz32(mask & -mask);
}

/** sch_htb as a userspace queue. See the module comment. */
export class Htb<T = unknown> {
  /** The queue's clock. */
  readonly clock: Clock;
  /** The qdisc's handle (major:0). */
  readonly handle: number;

  private readonly psched: Psched;
  private readonly r2q: number;
  private readonly defcls: number;
  private readonly directQlen: number;
  private readonly classifier?: (item: HtbItem) => Handle | undefined;
  private readonly classes = new Map<number, HtbClass>();
  private readonly idCache = new Map<Handle, number>();
  /** lookupLeaf()'s descent, kept between calls. */
  private readonly stack: HtbPrio[] = new Array(MAXDEPTH + 1);
  private readonly direct = new Fifo<HtbItem>();
  private readonly rows: HtbPrio[][] = [];
  private readonly rowMask = new Array<number>(MAXDEPTH).fill(0);
  private readonly waitPq: Array<Heap<HtbClass>> = [];
  private readonly nearEvCache = new Array<number>(MAXDEPTH).fill(0);
  private now = 0;
  private watchdog: number | null = null;
  private qlen = 0;
  private backlogBytes = 0;
  private readonly st = { packets: 0, bytes: 0, drops: 0, overlimits: 0, directPackets: 0 };
  // The result of classMode(): how long until the mode may change.
  private modeDiff = 0;

  /** An htb qdisc: `default`, `r2q`, `directQlen` as tc takes them (validated by the same code), plus `handle`, `clock`, `classify`, `psched`. */
  constructor(options?: HtbOptions) {
    const o = checkOptions<HtbOptions>('htb', options, ['default', 'r2q', 'directQlen', 'offload', 'handle', 'clock', 'classify', 'psched']);
    const { handle, clock, classify, psched, ...qdisc } = o;
    const p = htbQdiscParams(qdisc);
    this.handle = handle === undefined ? makeHandle(1, 0) : parseQdiscHandle(handle, 'htb.handle');
    if (this.handle === 0) throw invalid('htb.handle', handle, 'a qdisc handle other than none');
    this.clock = clock === undefined ? monotonicClock : checkClock('htb.clock', clock);
    if (classify !== undefined) func('htb.classify', classify, 'a function (item) => classid');
    this.classifier = classify;
    if (psched !== undefined && !(psched instanceof Psched)) throw invalid('htb.psched', psched, 'a Psched (await Psched.read())');
    this.psched = psched ?? DEFAULT_PSCHED;
    this.r2q = p.r2q;
    this.defcls = p.defcls;
    this.directQlen = p.directQlen ?? DEFAULT_QLEN;
    for (let l = 0; l < MAXDEPTH; l++) {
      this.rows.push(Array.from({ length: NUMPRIO }, () => new HtbPrio()));
      this.waitPq.push(new Heap<HtbClass>());
    }
  }

  /** Items queued (classes and direct queue). */
  get size(): number {
    return this.qlen;
  }

  /**
   * Adds a leaf class (htb_change_class() creating one). `ENOENT` for a
   * missing parent, `EEXIST` for a taken id, `EINVAL` for an id of another
   * major or a tree deeper than 8 levels, `EBUSY` when the parent is a leaf
   * with items queued; the class options as `tc class add` checks them.
   */
  addClass(spec: HtbClassSpec): void {
    const { classid: rawId, parent: rawParent, limit, ...htbOptions } = checkOptions<HtbClassSpec>('class', spec, ['classid', 'parent', 'limit', 'rate', 'ceil', 'burst', 'cburst', 'prio', 'quantum', 'mtu', 'mpu', 'overhead', 'linklayer']);
    if (rawId === undefined) throw invalid('class.classid', rawId, 'a class id such as "1:10" (required)');
    const classid = this.ownClassId('class.classid', rawId);
    if (this.classes.has(classid)) throw invalid('class.classid', rawId, 'an id no class has', 'EEXIST');
    const parent = rawParent === undefined || rawParent === 'root' ? null : this.find('class.parent', rawParent);
    const leafLimit = limit === undefined ? DEFAULT_QLEN : integerIn('class.limit', limit, 0, U32_MAX);
    const params = htbClassParams(htbOptions as HtbClassOptions, this.psched);
    if (parent && parent.parent && parent.parent.level < 2) throw invalid('class.parent', rawParent, 'a class less than 8 levels deep ("tree is too deep")');
    if (parent && parent.level === 0 && parent.queue.length) throw invalid('class.parent', rawParent, 'a leaf with no items queued (it becomes an inner class)', 'EBUSY');
    const now = readClock(this.clock);
    if (parent && parent.level === 0) {
      // The parent turns into an inner class: it leaves the level-0 event queue and sends again.
      if (parent.cmode !== CAN_SEND) {
        this.waitPq[0].remove(parent);
        parent.cmode = CAN_SEND;
      }
      parent.level = (parent.parent ? parent.parent.level : MAXDEPTH) - 1;
      parent.clprio = Array.from({ length: NUMPRIO }, () => new HtbPrio());
    }
    const cl = new HtbClass(classid, parent, leafLimit, params, this.r2q, now);
    if (parent) parent.children++;
    this.classes.set(classid, cl);
  }

  /** Changes a class's rates, buckets, quantum and prio (htb_change_class() on an existing class); `parent`, if given, must be the current one. */
  changeClass(spec: HtbClassSpec): void {
    const { classid: rawId, parent: rawParent, limit, ...htbOptions } = checkOptions<HtbClassSpec>('class', spec, ['classid', 'parent', 'limit', 'rate', 'ceil', 'burst', 'cburst', 'prio', 'quantum', 'mtu', 'mpu', 'overhead', 'linklayer']);
    const cl = this.find('class.classid', rawId as Handle);
    if (rawParent !== undefined) {
      const parentId = rawParent === 'root' ? null : this.ownClassId('class.parent', rawParent);
      if (parentId !== (cl.parent?.classid ?? null)) throw invalid('class.parent', rawParent, `the class's parent (${cl.parent ? formatHandle(cl.parent.classid) : 'root'}): a class cannot move`);
    }
    if (limit !== undefined) integerIn('class.limit', limit, 0, U32_MAX);
    const params = htbClassParams(htbOptions as HtbClassOptions, this.psched);
    cl.configure(params, this.r2q);
    if (limit !== undefined) (cl as { limit: number }).limit = limit;
  }

  /** Deletes a class: `ENOENT` if unknown, `EBUSY` while it has children or items. Its parent becomes a leaf again when it was the last child. */
  deleteClass(classid: Handle): void {
    const cl = this.find('classid', classid);
    if (cl.children) throw invalid('classid', classid, 'a class without children', 'EBUSY');
    if (cl.queue.length) throw invalid('classid', classid, 'a class with no items queued', 'EBUSY');
    if (cl.prioActivity) this.deactivate(cl);
    if (cl.cmode !== CAN_SEND) this.waitPq[cl.level].remove(cl);
    this.classes.delete(cl.classid);
    const parent = cl.parent;
    if (parent && --parent.children === 0) {
      // htb_parent_to_leaf(): full buckets, green.
      if (parent.cmode !== CAN_SEND) this.waitPq[parent.level].remove(parent);
      parent.level = 0;
      parent.clprio = [];
      parent.deficit.fill(0);
      parent.tokens = parent.buffer;
      parent.ctokens = parent.cbuffer;
      parent.tc = readClock(this.clock);
      parent.cmode = CAN_SEND;
    }
  }

  /**
   * Queues `item` in its leaf (or the direct queue). Returns `'queued'` or
   * the drop reason; bad input (length, an unknown class) throws and
   * changes nothing.
   */
  enqueue(item: HtbItem<T>): 'queued' | HtbDropReason {
    if (item === null || typeof item !== 'object') throw invalid('item', item, 'an object with a length');
    const len = item.length;
    if (!(Number.isInteger(len) && len >= 1 && len <= U32_MAX)) integerIn('item.length', len, 1, U32_MAX);
    const cl = this.classify(item);
    if (cl === null) {
      if (this.direct.length >= this.directQlen) {
        this.st.drops++;
        return 'direct_limit';
      }
      this.direct.push(item);
      this.st.directPackets++;
    } else {
      if (cl.queue.length >= cl.limit) {
        cl.drops++;
        this.st.drops++;
        return 'class_limit';
      }
      cl.queue.push(item);
      cl.backlog += len;
      if (!cl.prioActivity) this.activate(cl);
    }
    this.qlen++;
    this.backlogBytes += len;
    return 'queued';
  }

  /** The next item the classes' rates allow at time `now` (default: the clock's), or null (see {@link nextTime}). */
  dequeue(now?: number): HtbItem<T> | null {
    now = timeArgument('htb.dequeue.now', now, this.clock);
    const d = this.direct.shift();
    if (d) return this.sent(d) as HtbItem<T>;
    if (!this.qlen) return null;
    this.now = now;
    let nextEvent = now + 5 * NSEC_PER_SEC;
    for (let level = 0; level < MAXDEPTH; level++) {
      let event = this.nearEvCache[level];
      if (now >= event) {
        event = this.doEvents(level) || now + NSEC_PER_SEC;
        this.nearEvCache[level] = event;
      }
      if (nextEvent > event) nextEvent = event;
      for (let m = this.rowMask[level]; m; m &= m - 1) {
        const item = this.dequeueTree(lowestBit(m), level);
        if (item) {
          this.watchdog = null;
          return this.sent(item) as HtbItem<T>;
        }
      }
    }
    this.watchdog = Math.max(nextEvent, now + 1);
    return null;
  }

  /** When the last dequeue that found nothing sendable wants to be called again (the kernel's watchdog), or null. */
  nextTime(): number | null {
    return this.qlen ? this.watchdog : null;
  }

  /** `tc -s qdisc show` for this htb. */
  stats(): HtbStats {
    return { qlen: this.qlen, backlog: this.backlogBytes, ...this.st };
  }

  /** `tc -s class show` for one class (`ENOENT` if unknown), or every class by id. */
  classStats(classid: Handle): HtbClassStats;
  classStats(): HtbClassStats[];
  classStats(classid?: Handle): HtbClassStats | HtbClassStats[] {
    if (classid !== undefined) return this.describe(this.find('classid', classid));
    return [...this.classes.values()].sort((a, b) => a.classid - b.classid).map((cl) => this.describe(cl));
  }

  private describe(cl: HtbClass): HtbClassStats {
    const ticks = (ns: number): number => Math.max(-0x80000000, Math.min(0x7fffffff, Math.floor(ns / 64)));
    return {
      classid: formatHandle(cl.classid),
      parent: cl.parent ? formatHandle(cl.parent.classid) : 'root',
      level: cl.level,
      prio: cl.prio,
      rate: cl.rate.rateBytesPs * 8,
      ceil: cl.ceil.rateBytesPs * 8,
      quantum: cl.quantum,
      mode: MODE_NAMES[cl.cmode],
      bytes: cl.bytes,
      packets: cl.packets,
      drops: cl.drops,
      overlimits: cl.overlimits,
      backlog: cl.backlog,
      qlen: cl.queue.length,
      lends: cl.lends,
      borrows: cl.borrows,
      giants: 0,
      tokens: ticks(cl.tokens),
      ctokens: ticks(cl.ctokens),
    };
  }

  private ownClassId(field: string, value: Handle): number {
    const id = parseClassId(value, field);
    if (id >>> 16 !== this.handle >>> 16 || (id & 0xffff) === 0) throw invalid(field, value, `a class id with major ${formatHandle(this.handle)} and a non-zero minor`);
    return id;
  }

  private find(field: string, value: Handle): HtbClass {
    const cl = this.classes.get(parseClassId(value, field));
    if (!cl) throw invalid(field, value, 'the id of an existing class', 'ENOENT');
    return cl;
  }

  /** htb_classify(): the item's leaf, or null for the direct queue. */
  private classify(item: HtbItem): HtbClass | null {
    const chosen = this.classifier ? this.classifier(item) : undefined;
    const raw = chosen ?? item.classid;
    if (raw !== undefined) {
      const id = this.itemClassId(raw);
      if (id === this.handle) return null;
      const cl = this.classes.get(id);
      if (!cl) throw invalid('item.classid', raw, 'the id of an existing class', 'ENOENT');
      if (cl.level === 0) return cl;
      // An inner class: the kernel would run its filters; there are none, so the default applies.
    }
    const def = this.classes.get(makeHandle(this.handle >>> 16, this.defcls));
    return def && def.level === 0 ? def : null;
  }

  /** parseClassId() of an item's classid, remembered: items name few classes, many times. */
  private itemClassId(raw: Handle): number {
    let id = this.idCache.get(raw);
    if (id === undefined) {
      id = parseClassId(raw, 'item.classid');
      if (this.idCache.size >= 65536) this.idCache.clear();
      this.idCache.set(raw, id);
    }
    return id;
  }

  private sent(item: HtbItem): HtbItem {
    this.qlen--;
    this.backlogBytes -= item.length;
    this.st.packets++;
    this.st.bytes += item.length;
    return item;
  }

  /** htb_dequeue_tree(): the leaf the row's pointers lead to sends one item. */
  private dequeueTree(prio: number, level: number): HtbItem | null {
    const hprio = this.rows[level][prio];
    const cl = this.lookupLeaf(hprio, prio);
    if (!cl) return null;
    const item = cl.queue.shift() as HtbItem;
    cl.backlog -= item.length;
    cl.bytes += item.length;
    cl.packets++;
    cl.deficit[level] -= item.length;
    if (cl.deficit[level] < 0) {
      cl.deficit[level] += cl.quantum;
      // The kernel advances the leaf's parent's feed pointer for a borrowed send, the row's at level 0.
      const at = level ? (cl.parent as HtbClass).clprio[prio] : this.rows[0][prio];
      if (at.ptr) at.ptr = at.tree.next(at.ptr);
    }
    if (!cl.queue.length) this.deactivate(cl);
    this.charge(cl, level, item.length);
    return item;
  }

  /** htb_lookup_leaf(): follows (and repairs) the round-robin pointers from a row down to a leaf. */
  private lookupLeaf(hprio: HtbPrio, prio: number): HtbClass | null {
    const stack = this.stack;
    let depth = 0;
    stack[0] = hprio;
    for (let i = 0; i < 65535; i++) {
      const sp = stack[depth];
      if (!sp.ptr && sp.lastPtrId) sp.ptr = sp.tree.atOrAfter(sp.lastPtrId);
      sp.lastPtrId = 0;
      if (!sp.ptr) {
        // Past the right end: rewind, and move the level above on.
        sp.ptr = sp.tree.first();
        if (depth > 0) {
          const up = stack[--depth];
          if (!up.ptr) return null;
          up.ptr = up.tree.next(up.ptr);
        }
      } else {
        const cl = sp.ptr.owner;
        if (cl.level === 0) return cl;
        stack[++depth] = cl.clprio[prio];
      }
    }
    return null;
  }

  /** htb_charge_class(): the leaf and each ancestor pay for `bytes` sent from `level`. */
  private charge(leaf: HtbClass, level: number, bytes: number): void {
    const now = this.now;
    for (let cl: HtbClass | null = leaf; cl; cl = cl.parent) {
      let diff = Math.min(now - cl.tc, MBUFFER);
      if (cl.level >= level) {
        if (cl.level === level) cl.lends++;
        cl.tokens = this.account(cl.tokens, diff, cl.buffer, cl.rate, bytes);
      } else {
        cl.borrows++;
        cl.tokens += diff; // t_c moves on: keep the tokens it earned
      }
      cl.ctokens = this.account(cl.ctokens, diff, cl.cbuffer, cl.ceil, bytes);
      cl.tc = now;
      const oldMode = cl.cmode;
      diff = 0;
      this.changeClassMode(cl, diff);
      if (oldMode !== cl.cmode) {
        if (oldMode !== CAN_SEND) this.waitPq[cl.level].remove(cl);
        if (cl.cmode !== CAN_SEND) this.addToWaitTree(cl, this.modeDiff);
      }
      if (cl.level) {
        cl.bytes += bytes;
        cl.packets++;
      }
    }
  }

  /** htb_accnt_tokens()/ctokens(): refill up to the bucket, pay, and keep the debt above -mbuffer. */
  private account(toks: number, diff: number, bucket: number, rate: RateCfg, bytes: number): number {
    toks += diff;
    if (toks > bucket) toks = bucket;
    toks -= lengthToTime(rate, bytes);
    if (toks <= -MBUFFER) toks = 1 - MBUFFER;
    return toks;
  }

  /** htb_class_mode(): the mode `diff` ns after t_c; sets modeDiff to the time until it may change. */
  private classMode(cl: HtbClass, diff: number): number {
    let toks = cl.ctokens + diff;
    if (toks < 0) {
      this.modeDiff = -toks;
      return CANT_SEND;
    }
    toks = cl.tokens + diff;
    if (toks >= 0) return CAN_SEND;
    this.modeDiff = -toks;
    return MAY_BORROW;
  }

  /** htb_change_class_mode(): relinks the class's feeds and rows for its new mode. */
  private changeClassMode(cl: HtbClass, diff: number): void {
    this.modeDiff = diff;
    const mode = this.classMode(cl, diff);
    if (mode === cl.cmode) return;
    if (mode === CANT_SEND) {
      cl.overlimits++;
      this.st.overlimits++;
    }
    if (cl.prioActivity) {
      if (cl.cmode !== CANT_SEND) this.deactivatePrios(cl);
      cl.cmode = mode;
      if (mode !== CANT_SEND) this.activatePrios(cl);
    } else {
      cl.cmode = mode;
    }
  }

  /** htb_add_to_wait_tree(): the class's mode is due for a change `delay` ns from now. */
  private addToWaitTree(cl: HtbClass, delay: number): void {
    let key = this.now + delay;
    if (key === this.now) key++;
    if (this.nearEvCache[cl.level] > key) this.nearEvCache[cl.level] = key;
    this.waitPq[cl.level].push(cl, key);
  }

  /** htb_do_events(): applies the due mode changes of a level; returns the next event's time, or 0. */
  private doEvents(level: number): number {
    const pq = this.waitPq[level];
    for (let cl = pq.peek(); cl; cl = pq.peek()) {
      if (cl.heapKey > this.now) return cl.heapKey;
      pq.pop();
      const diff = Math.min(this.now - cl.tc, MBUFFER);
      this.changeClassMode(cl, diff);
      if (cl.cmode !== CAN_SEND) this.addToWaitTree(cl, this.modeDiff);
    }
    return 0;
  }

  /** htb_activate(): a leaf with items joins the feeds and rows of its prio. */
  private activate(cl: HtbClass): void {
    cl.prioActivity = 1 << cl.prio;
    this.activatePrios(cl);
  }

  /** htb_deactivate(): an emptied leaf leaves them. */
  private deactivate(cl: HtbClass): void {
    this.deactivatePrios(cl);
    cl.prioActivity = 0;
  }

  /** htb_activate_prios(): a yellow class hangs in its parent's feeds, up to a green ancestor, which joins its row. */
  private activatePrios(start: HtbClass): void {
    let cl = start;
    let p = cl.parent;
    let mask = cl.prioActivity;
    while (cl.cmode === MAY_BORROW && p && mask) {
      for (let m = mask; m; m &= m - 1) {
        const prio = lowestBit(m);
        const feed = p.clprio[prio];
        // The parent is already in the chain for this prio: no need to go further up for it.
        if (!feed.tree.empty) mask &= ~(1 << prio);
        feed.tree.insert(cl.node(prio), cl.classid);
      }
      p.prioActivity |= mask;
      cl = p;
      p = cl.parent;
    }
    if (cl.cmode === CAN_SEND && mask) this.addClassToRow(cl, mask);
  }

  /** htb_deactivate_prios(): undoes activatePrios for the class's old mode. */
  private deactivatePrios(start: HtbClass): void {
    let cl = start;
    let p = cl.parent;
    let mask = cl.prioActivity;
    while (cl.cmode === MAY_BORROW && p && mask) {
      const m0 = mask;
      mask = 0;
      for (let m = m0; m; m &= m - 1) {
        const prio = lowestBit(m);
        const feed = p.clprio[prio];
        const node = cl.node(prio);
        if (feed.ptr === node) {
          // Forget the pointer but remember the id: round-robin resumes at the next class.
          feed.lastPtrId = cl.classid;
          feed.ptr = null;
        }
        feed.tree.remove(node);
        if (feed.tree.empty) mask |= 1 << prio;
      }
      p.prioActivity &= ~mask;
      cl = p;
      p = cl.parent;
    }
    if (cl.cmode === CAN_SEND && mask) this.removeClassFromRow(cl, mask);
  }

  private addClassToRow(cl: HtbClass, mask: number): void {
    this.rowMask[cl.level] |= mask;
    for (let m = mask; m; m &= m - 1) {
      const prio = lowestBit(m);
      this.rows[cl.level][prio].tree.insert(cl.node(prio), cl.classid);
    }
  }

  private removeClassFromRow(cl: HtbClass, mask: number): void {
    let emptied = 0;
    for (let m = mask; m; m &= m - 1) {
      const prio = lowestBit(m);
      const row = this.rows[cl.level][prio];
      const node = cl.node(prio);
      if (row.ptr === node) row.ptr = row.tree.next(node);
      row.tree.remove(node);
      if (row.tree.empty) emptied |= 1 << prio;
    }
    this.rowMask[cl.level] &= ~emptied;
  }
}
