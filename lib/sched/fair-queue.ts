/**
 * FairQueue: sch_fq of Linux 6.7 and later (net/sched/sch_fq.c) on work items
 * instead of packets. Every flow (a key on the item, or the orphan hash) has
 * a FIFO and a credit; flows take turns in round-robin, new flows before
 * old ones, each sending while its credit lasts and getting `quantum` more
 * per round. Three bands (chosen by `priority` through `priomap`) share the
 * queue by weighted round-robin. With pacing, a flow with a rate (`maxrate`,
 * or the item's `rate`, the socket pacing rate's role) is throttled until
 * its next item's time: throttled flows wait in a tree ordered by that time
 * (here a heap), and `nextTime()` says when the first is due. Items carrying
 * a departure `time` (EDT) are held until then; beyond `horizon` they are
 * dropped or capped. Empty flows are detached and garbage-collected after
 * 3 s. Times are nanoseconds on the queue's clock.
 *
 * Deviations (documented in docs/sched.md): no jiffies (refill delay and GC
 * age are exact nanoseconds); a flow is found through a Map, and the GC frees
 * up to 8 expired detached flows of the bucket the key hashes to (the kernel
 * frees those on the rb-tree search path); no socket reuse (`sk_hash`) check;
 * no offload horizon.
 * @module
 */
import { integerIn, invalid } from '../validate';
import type { FqOptions } from '../tc/kinds/fq';
import { checkClock, monotonicClock, timeArgument, type Clock } from './clock';
import { Fifo } from './fifo';
import { bucketOf, keyHash } from './flow-hash';
import { fqParams, type FqParams } from './fq-options';
import { Heap, HeapMember, type HeapNode } from './heap';

/** FQ_BANDS. */
const BANDS = 3;
/** FQ_GC_AGE: a detached flow older than this may be freed. */
const GC_AGE_NS = 3_000_000_000;
/** At most this many flows freed per enqueue (older kernels' FQ_GC_MAX). */
const GC_MAX = 8;
const NSEC_PER_SEC = 1_000_000_000;
/** The fast path takes no more once this many items wait in it. */
const FASTPATH_MAX = 8;
const U32_MAX = 0xffffffff;

/** A unit of work: its cost, its flow, and what to carry. */
export interface FqItem<T = unknown> {
  /** Cost in bytes (or any unit): a whole number from 1 to 2^32-1 (`qdisc_pkt_len`). */
  length: number;
  /** The flow: a string, number or object (by identity). Absent: an orphan, hashed by `hash & orphan_mask`. */
  flow?: unknown;
  /** An orphan's hash (the kernel's `skb_get_hash`), 0..2^32-1; default 0. */
  hash?: number;
  /** Priority 0..2^32-1; `priority & 15` picks the band through `priomap` (default 0: band 1). */
  priority?: number;
  /** Earliest departure time in ns on the queue's clock (EDT `skb->tstamp`); 0 or absent: none. */
  time?: number;
  /** The flow's pacing rate in bytes/s (the socket's `sk_pacing_rate`); ignored for orphans. */
  rate?: number;
  /** What the item carries. */
  payload?: T;
  /** Set to true by `dequeue` when the item waited longer than `ceThreshold` (ECN CE). */
  ce?: boolean;
}

/** Why an item was not queued (the kernel's drop reasons). */
export type FqDropReason = 'band_limit' | 'horizon_limit' | 'flow_limit';

/** `tc -s qdisc show` for fq: the qdisc counters and `struct tc_fq_qd_stats`. */
export interface FairQueueStats {
  /** Items queued now. */
  qlen: number;
  /** Bytes queued now. */
  backlog: number;
  /** Items dequeued. */
  packets: number;
  /** Bytes dequeued. */
  bytes: number;
  /** Items dropped. */
  drops: number;
  /** Flows known now (`flows`). */
  flows: number;
  /** Known flows with nothing queued (`inactive_flows`). */
  inactiveFlows: number;
  /** Flows throttled now (`throttled_flows`). */
  throttledFlows: number;
  /** Flows freed by the GC (`gc_flows`). */
  gcFlows: number;
  /** Always 0 since 6.7 (`highprio_packets`). */
  highprioPackets: number;
  /** Always 0 (`tcp_retrans`). */
  tcpRetrans: number;
  /** Times a flow was throttled (`throttled`). */
  throttled: number;
  /** Items dropped at `flow_limit` (`flows_plimit`). */
  flowsPlimit: number;
  /** Pacing delays capped at 1 s (`pkts_too_long`). */
  pktsTooLong: number;
  /** Always 0 (`allocation_errors`). */
  allocationErrors: number;
  /** Nanoseconds from now (plus slack) until the first throttled flow is due (`time_next_delayed_flow`); Infinity when none is. */
  timeNextDelayedFlow: number;
  /** EWMA of how late throttled flows were released, ns (`unthrottle_latency_ns`). */
  unthrottleLatencyNs: number;
  /** Items CE-marked (`ce_mark`). */
  ceMark: number;
  /** Items dropped beyond the horizon (`horizon_drops`). */
  horizonDrops: number;
  /** Item times capped at the horizon (`horizon_caps`). */
  horizonCaps: number;
  /** Items that took the fast path (`fastpath_packets`). */
  fastpathPackets: number;
  /** Drops per band at `limit` (`band_drops`). */
  bandDrops: number[];
  /** Items queued per band (`band_pkt_count`). */
  bandPktCount: number[];
}

/** Options of {@link FairQueue}: fq's tc options plus the clock. */
export interface FairQueueOptions extends FqOptions {
  /** Time source (default: the monotonic clock); a {@link SimulatedClock} for simulations. */
  clock?: Clock;
}

/** A queued item and what sch_fq keeps in its skb control block. */
interface Entry extends HeapNode {
  item: FqItem;
  /** `time_to_send`. */
  time: number;
  band: number;
  edt: boolean;
}

class Flow extends HeapMember {
  band = 0;
  qlen = 0;
  /** Items in time order (the common case). */
  readonly fifo = new Fifo<Entry>();
  /** Items whose time is earlier than the FIFO's tail. */
  tree: Heap<Entry> | null = null;
  /** Next flow in a new/old list. */
  next: Flow | null = null;
  detached = true;
  throttled = false;
  age: number;
  timeNextPacket = 0;
  gcPrev: Flow | null = null;
  gcNext: Flow | null = null;
  inGc = false;

  constructor(
    readonly key: unknown,
    readonly orphan: boolean,
    readonly bucket: number,
    public credit: number,
    now: number,
  ) {
    super();
    this.age = now;
  }
}

interface FlowList {
  first: Flow | null;
  last: Flow | null;
}

interface Band {
  readonly newFlows: FlowList;
  readonly oldFlows: FlowList;
  credit: number;
  quantum: number;
}

function checkItem(item: FqItem): void {
  if (item === null || typeof item !== 'object') throw invalid('item', item, 'an object with a length');
  const len = item.length;
  if (!(Number.isInteger(len) && len >= 1 && len <= U32_MAX)) integerIn('item.length', len, 1, U32_MAX);
  if (item.priority !== undefined) integerIn('item.priority', item.priority, 0, U32_MAX);
  if (item.time !== undefined) integerIn('item.time', item.time, 0, Number.MAX_SAFE_INTEGER);
  if (item.hash !== undefined) integerIn('item.hash', item.hash, 0, U32_MAX);
  if (item.rate !== undefined && !(typeof item.rate === 'number' && item.rate >= 0 && (Number.isInteger(item.rate) || item.rate === Infinity))) {
    throw invalid('item.rate', item.rate, 'bytes per second: an integer >= 0, or Infinity');
  }
}

/** floor(len * 1e9 / rate), exact for every u32 len and rate. */
function pacingDelay(len: number, rate: number): number {
  const product = len * NSEC_PER_SEC;
  if (product <= Number.MAX_SAFE_INTEGER) {
    let q = Math.floor(product / rate);
    if (q * rate > product) q--;
    return q;
  }
  return Number((BigInt(len) * BigInt(NSEC_PER_SEC)) / BigInt(rate));
}

/** sch_fq as a userspace queue. See the module comment. */
export class FairQueue<T = unknown> {
  /** The parameters in effect (bytes, bytes/s, ns). */
  readonly params: Readonly<FqParams>;
  /** The queue's clock. */
  readonly clock: Clock;

  private readonly prio2band: Uint8Array;
  private readonly bands: Band[] = [];
  private bandNr = 0;
  private readonly internal: Flow;
  private readonly flowsByKey = new Map<unknown, Flow>();
  private readonly orphans = new Map<number, Flow>();
  private readonly gcHead: Array<Flow | null>;
  private readonly gcTail: Array<Flow | null>;
  private readonly delayed = new Heap<Flow>();
  private readonly spare: Entry[] = [];
  private timeNextDelayedFlow = Infinity;
  private qlen = 0;
  private backlogBytes = 0;
  private readonly st = {
    packets: 0,
    bytes: 0,
    drops: 0,
    flows: 0,
    inactiveFlows: 0,
    throttledFlows: 0,
    gcFlows: 0,
    throttled: 0,
    flowsPlimit: 0,
    pktsTooLong: 0,
    unthrottleLatencyNs: 0,
    ceMark: 0,
    horizonDrops: 0,
    horizonCaps: 0,
    fastpathPackets: 0,
    bandDrops: [0, 0, 0],
    bandPktCount: [0, 0, 0],
  };

  /**
   * A queue with fq's options (the object `tc.qdisc.add({ kind: 'fq', options })`
   * takes, validated by the same code: `EINVAL`/`ERANGE`) plus `clock`.
   */
  constructor(options?: FairQueueOptions) {
    let clock: Clock = monotonicClock;
    let fqOptions: FqOptions | undefined = options;
    if (options !== null && typeof options === 'object' && 'clock' in options) {
      const { clock: c, ...rest } = options;
      if (c !== undefined) clock = checkClock('fq.clock', c);
      fqOptions = rest;
    }
    this.params = Object.freeze(fqParams(fqOptions));
    this.clock = clock;
    this.prio2band = Uint8Array.from(this.params.priomap);
    for (let i = 0; i < BANDS; i++) {
      this.bands.push({ newFlows: { first: null, last: null }, oldFlows: { first: null, last: null }, credit: 0, quantum: this.params.weights[i] });
    }
    this.internal = new Flow(undefined, true, 0, 0, 0);
    this.internal.detached = false;
    const buckets = 2 ** this.params.bucketsLog;
    this.gcHead = new Array<Flow | null>(buckets).fill(null);
    this.gcTail = new Array<Flow | null>(buckets).fill(null);
  }

  /** Items queued. */
  get size(): number {
    return this.qlen;
  }

  /** Bytes (cost units) queued. */
  get backlog(): number {
    return this.backlogBytes;
  }

  /**
   * Queues `item` at time `now` (default: the clock's). Returns `'queued'`, or
   * the reason it was dropped; bad input (length, priority, time, hash, rate)
   * throws `EINVAL`/`ERANGE` and leaves the queue as it was.
   */
  enqueue(item: FqItem<T>, now?: number): 'queued' | FqDropReason {
    now = timeArgument('fq.enqueue.now', now, this.clock);
    checkItem(item);
    const p = this.params;
    const band = this.prio2band[(item.priority ?? 0) & 15];
    if (this.st.bandPktCount[band] >= p.limit) {
      this.st.bandDrops[band]++;
      this.st.drops++;
      return 'band_limit';
    }
    let time = now;
    const edt = item.time !== undefined && item.time !== 0;
    if (edt) {
      time = item.time as number;
      if (time > now + p.horizon) {
        if (p.horizonDrop) {
          this.st.horizonDrops++;
          this.st.drops++;
          return 'horizon_limit';
        }
        this.st.horizonCaps++;
        time = now + p.horizon;
      }
    }
    const orphan = item.flow === undefined || item.flow === null;
    // Entries are recycled: a queue in steady state allocates nothing per item.
    const entry = this.spare.pop() ?? { item, time, band, edt, heapKey: 0, heapSeq: 0, heapIndex: -1 };
    entry.item = item;
    entry.time = time;
    entry.band = band;
    entry.edt = edt;

    if (this.fastpathOk(item, orphan, time, now)) {
      this.st.fastpathPackets++;
      this.internal.qlen++;
      this.addToFlow(this.internal, entry);
      this.qlen++;
      this.backlogBytes += item.length;
      return 'queued';
    }

    const f = this.classify(item, orphan, now);
    if (f.qlen >= p.flowLimit) {
      this.spare.push(entry);
      this.st.flowsPlimit++;
      this.st.drops++;
      return 'flow_limit';
    }
    if (f.detached) {
      this.gcUnlink(f);
      f.detached = false;
      // The kernel links the flow into the band it had before this item's band is recorded.
      this.addTail(f, true);
      if (now > f.age + p.refillDelay) f.credit = Math.max(f.credit, p.quantum);
    }
    f.band = band;
    this.st.bandPktCount[band]++;
    if (f.qlen === 0) this.st.inactiveFlows--;
    f.qlen++;
    this.addToFlow(f, entry);
    this.qlen++;
    this.backlogBytes += item.length;
    return 'queued';
  }

  /**
   * The next item the queue lets go at time `now` (default: the clock's), or
   * null when it is empty or every flow with items is throttled (then
   * {@link nextTime} says until when).
   */
  dequeue(now?: number): FqItem<T> | null {
    now = timeArgument('fq.dequeue.now', now, this.clock);
    if (this.qlen === 0) return null;
    const internalEntry = this.peek(this.internal);
    if (internalEntry) {
      this.internal.qlen--;
      this.take(this.internal, internalEntry);
      return this.release(internalEntry);
    }
    this.checkThrottled(now);
    const p = this.params;
    let retry = 0;
    let pband = this.bands[this.bandNr];
    for (;;) {
      const head = pband.credit <= 0 ? null : pband.newFlows.first ? pband.newFlows : pband.oldFlows.first ? pband.oldFlows : null;
      if (!head) {
        let found = false;
        while (++retry <= BANDS) {
          if (++this.bandNr === BANDS) this.bandNr = 0;
          pband = this.bands[this.bandNr];
          pband.credit = Math.min(pband.credit + pband.quantum, pband.quantum);
          if (pband.credit > 0) {
            found = true;
            break;
          }
          retry = 0;
        }
        if (!found) return null;
        continue;
      }
      const f = head.first as Flow;
      retry = 0;
      if (f.credit <= 0) {
        f.credit += p.quantum;
        head.first = f.next;
        this.addTail(f, false);
        continue;
      }
      const e = this.peek(f);
      if (!e) {
        head.first = f.next;
        // An emptied new flow passes through old_flows once, so new flows cannot starve old ones.
        if (head === pband.newFlows) this.addTail(f, false);
        else this.setDetached(f, now);
        continue;
      }
      const tnp = Math.max(e.time, f.timeNextPacket);
      if (now < tnp) {
        head.first = f.next;
        f.timeNextPacket = tnp;
        this.setThrottled(f);
        continue;
      }
      this.take(f, e);
      if (now - tnp - p.ceThreshold > 0) {
        e.item.ce = true;
        this.st.ceMark++;
      }
      if (--f.qlen === 0) this.st.inactiveFlows++;
      this.st.bandPktCount[e.band]--;
      const plen = e.item.length;
      f.credit -= plen;
      pband.credit -= plen;
      if (p.pacing) this.pace(f, e, plen, now);
      return this.release(e);
    }
  }

  /**
   * When the first throttled flow is due (ns on the queue's clock), or null
   * when no flow is throttled. The kernel arms its watchdog there, with
   * `timerSlack`.
   */
  nextTime(): number | null {
    return this.timeNextDelayedFlow === Infinity ? null : this.timeNextDelayedFlow;
  }

  /** The counters `tc -s qdisc show` prints for fq, at time `now` (default: the clock's). */
  stats(now?: number): FairQueueStats {
    now = timeArgument('fq.stats.now', now, this.clock);
    const s = this.st;
    return {
      qlen: this.qlen,
      backlog: this.backlogBytes,
      packets: s.packets,
      bytes: s.bytes,
      drops: s.drops,
      flows: s.flows,
      inactiveFlows: s.inactiveFlows,
      throttledFlows: s.throttledFlows,
      gcFlows: s.gcFlows,
      highprioPackets: 0,
      tcpRetrans: 0,
      throttled: s.throttled,
      flowsPlimit: s.flowsPlimit,
      pktsTooLong: s.pktsTooLong,
      allocationErrors: 0,
      timeNextDelayedFlow: this.timeNextDelayedFlow === Infinity ? Infinity : this.timeNextDelayedFlow + this.params.timerSlack - now,
      unthrottleLatencyNs: s.unthrottleLatencyNs,
      ceMark: s.ceMark,
      horizonDrops: s.horizonDrops,
      horizonCaps: s.horizonCaps,
      fastpathPackets: s.fastpathPackets,
      bandDrops: [...s.bandDrops],
      bandPktCount: [...s.bandPktCount],
    };
  }

  /** fq_fastpath_check(): an idle queue (or one whose flows all wait) sends at once, up to 8 items. */
  private fastpathOk(item: FqItem, orphan: boolean, time: number, now: number): boolean {
    if (time > now) return false;
    if (this.qlen !== 0) {
      if (this.st.flows !== this.st.inactiveFlows + this.st.throttledFlows) return false;
      if (this.internal.qlen >= FASTPATH_MAX) return false;
      if (this.timeNextDelayedFlow <= now) return false;
    }
    // A flow with its own rate (SO_MAX_PACING_RATE on a non-TCP socket) must be paced.
    if (!orphan && item.rate !== undefined && item.rate !== Infinity) return false;
    return this.params.maxrate === Infinity;
  }

  /** fq_classify() past the fast path: finds or creates the flow, collecting garbage in its bucket first. */
  private classify(item: FqItem, orphan: boolean, now: number): Flow {
    const p = this.params;
    let f: Flow | undefined;
    let orphanKey = 0;
    if (orphan) {
      orphanKey = ((item.hash ?? 0) & p.orphanMask) * 2 + 1;
      f = this.orphans.get(orphanKey);
    } else {
      f = this.flowsByKey.get(item.flow);
    }
    const bucket = f ? f.bucket : bucketOf(orphan ? orphanKey >>> 0 : keyHash(item.flow), p.bucketsLog);
    this.gc(bucket, f, now);
    if (f) return f;
    f = new Flow(orphan ? orphanKey : item.flow, orphan, bucket, p.initialQuantum, now);
    if (orphan) this.orphans.set(orphanKey, f);
    else this.flowsByKey.set(item.flow, f);
    this.gcAppend(f);
    this.st.flows++;
    this.st.inactiveFlows++;
    return f;
  }

  /** fq_gc(): frees detached flows idle for more than 3 s in `bucket`, oldest first, sparing `keep`. */
  private gc(bucket: number, keep: Flow | undefined, now: number): void {
    let f = this.gcHead[bucket];
    let freed = 0;
    while (f && freed < GC_MAX && now > f.age + GC_AGE_NS) {
      const next = f.gcNext;
      if (f !== keep) {
        this.gcUnlink(f);
        if (f.orphan) this.orphans.delete(f.key as number);
        else this.flowsByKey.delete(f.key);
        freed++;
      }
      f = next;
    }
    if (freed) {
      this.st.flows -= freed;
      this.st.inactiveFlows -= freed;
      this.st.gcFlows += freed;
    }
  }

  private gcAppend(f: Flow): void {
    const tail = this.gcTail[f.bucket];
    f.gcPrev = tail;
    f.gcNext = null;
    if (tail) tail.gcNext = f;
    else this.gcHead[f.bucket] = f;
    this.gcTail[f.bucket] = f;
    f.inGc = true;
  }

  private gcUnlink(f: Flow): void {
    if (!f.inGc) return;
    if (f.gcPrev) f.gcPrev.gcNext = f.gcNext;
    else this.gcHead[f.bucket] = f.gcNext;
    if (f.gcNext) f.gcNext.gcPrev = f.gcPrev;
    else this.gcTail[f.bucket] = f.gcPrev;
    f.gcPrev = f.gcNext = null;
    f.inGc = false;
  }

  private setDetached(f: Flow, now: number): void {
    f.detached = true;
    f.age = now;
    this.gcAppend(f);
  }

  /** fq_flow_add_tail(): appends to the new or old list of the flow's band. */
  private addTail(f: Flow, toNew: boolean): void {
    const band = this.bands[f.band];
    const list = toNew ? band.newFlows : band.oldFlows;
    if (list.first) (list.last as Flow).next = f;
    else list.first = f;
    list.last = f;
    f.next = null;
  }

  private setThrottled(f: Flow): void {
    f.throttled = true;
    f.next = null;
    this.delayed.push(f, f.timeNextPacket);
    this.st.throttledFlows++;
    this.st.throttled++;
    if (this.timeNextDelayedFlow > f.timeNextPacket) this.timeNextDelayedFlow = f.timeNextPacket;
  }

  /** fq_check_throttled(): moves every due throttled flow to the tail of old_flows. */
  private checkThrottled(now: number): void {
    if (this.timeNextDelayedFlow > now) return;
    const sample = now - this.timeNextDelayedFlow;
    if (sample > 0) {
      this.st.unthrottleLatencyNs -= Math.floor(this.st.unthrottleLatencyNs / 8);
      this.st.unthrottleLatencyNs += Math.floor(sample / 8);
    }
    this.timeNextDelayedFlow = Infinity;
    for (let f = this.delayed.peek(); f; f = this.delayed.peek()) {
      if (f.timeNextPacket > now) {
        this.timeNextDelayedFlow = f.timeNextPacket;
        break;
      }
      this.delayed.pop();
      f.throttled = false;
      this.st.throttledFlows--;
      this.addTail(f, false);
    }
  }

  /** The pacing part of fq_dequeue(): when this flow may send again. */
  private pace(f: Flow, e: Entry, plen: number, now: number): void {
    const p = this.params;
    let rate = p.maxrate;
    if (!e.edt) {
      if (!f.orphan && e.item.rate !== undefined) rate = Math.min(e.item.rate, rate);
      if (rate <= p.lowRateThreshold) {
        f.credit = 0;
      } else {
        plen = Math.max(plen, p.quantum);
        if (f.credit > 0) return;
      }
    }
    if (rate === Infinity) return;
    let len = rate > 0 ? pacingDelay(plen, rate) : plen * NSEC_PER_SEC;
    if (len > NSEC_PER_SEC) {
      len = NSEC_PER_SEC;
      this.st.pktsTooLong++;
    }
    // Absorb timer lateness: the previous item was due at time_next_packet, not now.
    if (f.timeNextPacket) len -= Math.min(Math.floor(len / 2), now - f.timeNextPacket);
    f.timeNextPacket = now + len;
  }

  /** flow_queue_add(): in time order, in O(1) when times do not go backwards. */
  private addToFlow(f: Flow, e: Entry): void {
    const tail = f.fifo.peekLast();
    if (!tail || e.time >= tail.time) {
      f.fifo.push(e);
      return;
    }
    if (!f.tree) f.tree = new Heap<Entry>();
    f.tree.push(e, e.time);
  }

  /** fq_peek(): the flow's earliest item. */
  private peek(f: Flow): Entry | undefined {
    const head = f.fifo.peek();
    const first = f.tree?.peek();
    if (!first) return head;
    if (!head) return first;
    return first.time < head.time ? first : head;
  }

  /** Returns a sent entry's item and keeps the entry for the next enqueue. */
  private release(e: Entry): FqItem<T> {
    const item = e.item as FqItem<T>;
    e.item = undefined as never;
    this.spare.push(e);
    return item;
  }

  /** Removes `e` (the flow's peek) and counts it sent. */
  private take(f: Flow, e: Entry): void {
    if (e === f.fifo.peek()) f.fifo.shift();
    else (f.tree as Heap<Entry>).remove(e);
    this.qlen--;
    this.backlogBytes -= e.item.length;
    this.st.packets++;
    this.st.bytes += e.item.length;
  }
}
