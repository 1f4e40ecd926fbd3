/**
 * fq, the fair queue packet scheduler (net/sched/sch_fq.c), encoded as
 * tc/q_fq.c does: one `TCA_FQ_*` attribute per option given, in tc's order,
 * with `buckets` sent as its log2. Ranges are those of sch_fq as of Linux
 * 6.18, checked before sending: buckets a power of two from 2 to 262144 (log
 * 1..18), initial quantum at most 2^20 (its netlink policy; the kernel
 * refuses more with a bare ERANGE), weights at least 16384, priomap bands
 * 0..2. `quantum` takes any 32-bit value, as 6.18 does: the kernel clamps it
 * to 256..2^20. Older kernels differed (quantum 1..2^20, refused otherwise
 * with EINVAL "invalid quantum"; initial quantum up to 2^31-1), and so did
 * the "quantum 1..2^20": where they differ, the running kernel wins.
 * @module
 */
import { AttrTable, StructReader, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { boolean, integerIn, invalid, options, outOfRange } from '../../validate';
import { parseRate32, parseTime, parseTime64, U32_MAX, type Rate, type Time } from '../units';
import type { QdiscCodec } from './codec';

const TCA_FQ_PLIMIT = 1;
const TCA_FQ_FLOW_PLIMIT = 2;
const TCA_FQ_QUANTUM = 3;
const TCA_FQ_INITIAL_QUANTUM = 4;
const TCA_FQ_RATE_ENABLE = 5;
const TCA_FQ_FLOW_DEFAULT_RATE = 6;
const TCA_FQ_FLOW_MAX_RATE = 7;
const TCA_FQ_BUCKETS_LOG = 8;
const TCA_FQ_FLOW_REFILL_DELAY = 9;
const TCA_FQ_ORPHAN_MASK = 10;
const TCA_FQ_LOW_RATE_THRESHOLD = 11;
const TCA_FQ_CE_THRESHOLD = 12;
const TCA_FQ_TIMER_SLACK = 13;
const TCA_FQ_HORIZON = 14;
const TCA_FQ_HORIZON_DROP = 15;
const TCA_FQ_PRIOMAP = 16;
const TCA_FQ_WEIGHTS = 17;
const TCA_FQ_OFFLOAD_HORIZON = 18;

/** FQ_BANDS. */
const FQ_BANDS = 3;
/** FQ_MIN_WEIGHT. */
const FQ_MIN_WEIGHT = 16384;
/** TC_PRIO_MAX + 1 priorities in a priomap. */
const PRIOMAP_LEN = 16;
/** ilog2(256 * 1024): sch_fq's largest bucket log. */
const MAX_BUCKETS_LOG = 18;
/** sch_fq's `iq_range`: its policy's limit on TCA_FQ_INITIAL_QUANTUM (as of Linux 6.18). */
const MAX_INITIAL_QUANTUM = 1 << 20;
const INT_MAX = 0x7fffffff;

/** Options of fq. */
export interface FqOptions {
  /** Packets the qdisc holds (`limit`). */
  limit?: number;
  /** Packets one flow may hold (`flow_limit`). */
  flowLimit?: number;
  /**
   * Bytes a flow may send per round (`quantum`): any 32-bit value; Linux 6.18
   * clamps it to 256..2^20 (a listing shows the clamped value). Older kernels
   * refuse 0 and values above 2^20 (`EINVAL`, "invalid quantum").
   */
  quantum?: number;
  /** Bytes a new flow may send in its first round (`initial_quantum`), 0..2^20 (sch_fq's policy as of Linux 6.18; older kernels took up to 2^31-1). */
  initialQuantum?: number;
  /** Pacing on (default) or off (`pacing`/`nopacing`). */
  pacing?: boolean;
  /** The most a flow may send (`maxrate`), at most 2^32-1 bytes/s. */
  maxrate?: Rate;
  /** Hash buckets (`buckets`): a power of two from 2 to 262144, sent as its log2. */
  buckets?: number;
  /** Delay before an idle flow's credit is refilled (`refill_delay`). */
  refillDelay?: Time;
  /** Mask applied to the hash of packets without a socket (`orphan_mask`). */
  orphanMask?: number;
  /** Below this rate packets are paced individually (`low_rate_threshold`). */
  lowRateThreshold?: Rate;
  /** Queue delay above which packets get CE marks (`ce_threshold`). */
  ceThreshold?: Time;
  /** Timer slack (`timer_slack`); a plain number is nanoseconds, as tc reads it; at most 2^32-1ns. */
  timerSlack?: Time;
  /** How far in the future a packet's departure time may be (`horizon`). */
  horizon?: Time;
  /** Beyond the horizon: drop (true, `horizon_drop`) or cap the time (false, `horizon_cap`). */
  horizonDrop?: boolean;
  /** The band (0..2) of each of the 16 priorities (`bands 3 priomap ...`). */
  priomap?: number[];
  /** The three bands' weights (`weights`), each at least 16384. */
  weights?: number[];
  /** Obsolete (`defrate`): the kernel ignores it. */
  defrate?: Rate;
  /** Offload horizon (`offload_horizon`); the device caps it. */
  offloadHorizon?: Time;
}

/** What an fq qdisc dumps (rates in bits per second, times in microseconds, timerSlack in ns). */
export interface FqInfo {
  /** Packets the qdisc holds (`limit`). */
  limit?: number;
  /** Packets one flow may hold (`flow_limit`). */
  flowLimit?: number;
  /** Bytes a flow may send per round (`quantum`), as the kernel keeps it (Linux 6.18 clamps it to 256..2^20). */
  quantum?: number;
  /** Bytes a new flow may send in its first round (`initial_quantum`). */
  initialQuantum?: number;
  /** Whether pacing is on (`pacing`/`nopacing`). */
  pacing?: boolean;
  /** The most a flow may send (`maxrate`), in bits per second; absent when unlimited. */
  maxrate?: number;
  /** Hash buckets (`buckets`), a power of two (the kernel keeps its log2). */
  buckets?: number;
  /** Delay before an idle flow's credit is refilled (`refill_delay`), in microseconds (the kernel keeps jiffies: a multiple of its tick). */
  refillDelay?: number;
  /** Mask applied to the hash of packets without a socket (`orphan_mask`). */
  orphanMask?: number;
  /** Below this rate packets are paced individually (`low_rate_threshold`), in bits per second. */
  lowRateThreshold?: number;
  /** Queue delay above which packets get CE marks (`ce_threshold`), in microseconds; absent when disabled (the kernel's ~0). */
  ceThreshold?: number;
  /** Timer slack (`timer_slack`), in nanoseconds. */
  timerSlack?: number;
  /** How far in the future a packet's departure time may be (`horizon`), in microseconds. */
  horizon?: number;
  /** Beyond the horizon: drop (true, `horizon_drop`) or cap the time (false, `horizon_cap`). */
  horizonDrop?: boolean;
  /** The band (0..2) of each of the 16 priorities (`priomap`). */
  priomap?: number[];
  /** The three bands' weights (`weights`), in bytes per round. */
  weights?: number[];
  /** Offload horizon (`offload_horizon`), in microseconds; kernels without it do not send it. */
  offloadHorizon?: number;
}

/** fq's statistics (`struct tc_fq_qd_stats`); fields the kernel's struct lacks are absent. */
export interface FqXstats {
  /** Flows freed by garbage collection (`gc_flows`). */
  gcFlows?: number;
  /** Packets sent through the high-priority queue (`highprio_packets`; always 0 on current kernels). */
  highprioPackets?: number;
  /** TCP retransmissions seen (`tcp_retrans`; always 0 on current kernels). */
  tcpRetrans?: number;
  /** Times a flow was throttled for pacing (`throttled`). */
  throttled?: number;
  /** Packets dropped because their flow was at `flow_limit` (`flows_plimit`). */
  flowsPlimit?: number;
  /** Packets whose pacing delay was capped at one second (`pkts_too_long`). */
  pktsTooLong?: number;
  /** Flow allocations that failed (`allocation_errors`). */
  allocationErrors?: number;
  /** Nanoseconds until the next throttled flow may send (`time_next_delayed_flow`; huge when none is). */
  timeNextDelayedFlow?: number;
  /** Flows known now (`flows`). */
  flows?: number;
  /** Known flows with nothing queued (`inactive_flows`). */
  inactiveFlows?: number;
  /** Flows throttled now (`throttled_flows`). */
  throttledFlows?: number;
  /** Average lateness of the unthrottling timer, in nanoseconds (`unthrottle_latency_ns`). */
  unthrottleLatencyNs?: number;
  /** Packets CE-marked above `ce_threshold` (`ce_mark`). */
  ceMark?: number;
  /** Packets dropped beyond the horizon (`horizon_drops`). */
  horizonDrops?: number;
  /** Packets whose time was capped at the horizon (`horizon_caps`). */
  horizonCaps?: number;
  /** Packets sent through the fast path, bypassing the flow tables (`fastpath_packets`). */
  fastpathPackets?: number;
  /** Packets dropped per band, at the band's limit (`band_drops`). */
  bandDrops?: number[];
  /** Packets queued per band now (`band_pkt_count`). */
  bandPktCount?: number[];
}

const KEYS = [
  'limit',
  'flowLimit',
  'quantum',
  'initialQuantum',
  'pacing',
  'maxrate',
  'buckets',
  'refillDelay',
  'orphanMask',
  'lowRateThreshold',
  'ceThreshold',
  'timerSlack',
  'horizon',
  'horizonDrop',
  'priomap',
  'weights',
  'defrate',
  'offloadHorizon',
] as const;

function bucketsLog(value: unknown): number {
  const n = integerIn('fq.buckets', value, 0, U32_MAX);
  const log = Math.log2(n);
  if (!Number.isInteger(log)) throw invalid('fq.buckets', value, 'a power of two from 2 to 262144');
  if (log < 1 || log > MAX_BUCKETS_LOG) throw outOfRange('fq.buckets', value, 'a power of two from 2 to 262144');
  return log;
}

function parseInitialQuantum(value: unknown): number {
  const n = integerIn('fq.initialQuantum', value, 0, U32_MAX);
  if (n > MAX_INITIAL_QUANTUM) throw outOfRange('fq.initialQuantum', value, `an integer from 0 to ${MAX_INITIAL_QUANTUM}, sch_fq's limit as of Linux 6.18`);
  return n;
}

function priomapBytes(value: unknown): Uint8Array {
  if (!Array.isArray(value) || value.length !== PRIOMAP_LEN) {
    throw invalid('fq.priomap', value, `an array of ${PRIOMAP_LEN} bands, one per priority`);
  }
  const out = new Uint8Array(4 + PRIOMAP_LEN);
  new DataView(out.buffer).setInt32(0, FQ_BANDS, true);
  value.forEach((band, i) => (out[4 + i] = integerIn(`fq.priomap[${i}]`, band, 0, FQ_BANDS - 1)));
  return out;
}

function weightsBytes(value: unknown): Uint8Array {
  if (!Array.isArray(value) || value.length !== FQ_BANDS) throw invalid('fq.weights', value, `an array of ${FQ_BANDS} weights`);
  const out = new Uint8Array(4 * FQ_BANDS);
  const view = new DataView(out.buffer);
  value.forEach((w, i) => view.setInt32(i * 4, integerIn(`fq.weights[${i}]`, w, FQ_MIN_WEIGHT, INT_MAX), true));
  return out;
}

function encode(w: ByteWriter, value: unknown): void {
  const o = options<FqOptions>('fq', value, KEYS);
  // Validate everything before writing anything.
  const v = {
    bucketsLog: o.buckets === undefined ? undefined : bucketsLog(o.buckets),
    limit: o.limit === undefined ? undefined : integerIn('fq.limit', o.limit, 0, U32_MAX),
    flowLimit: o.flowLimit === undefined ? undefined : integerIn('fq.flowLimit', o.flowLimit, 0, U32_MAX),
    quantum: o.quantum === undefined ? undefined : integerIn('fq.quantum', o.quantum, 0, U32_MAX),
    initialQuantum: o.initialQuantum === undefined ? undefined : parseInitialQuantum(o.initialQuantum),
    pacing: o.pacing === undefined ? undefined : boolean('fq.pacing', o.pacing),
    maxrate: o.maxrate === undefined ? undefined : parseRate32(o.maxrate, 'fq.maxrate'),
    lowRateThreshold: o.lowRateThreshold === undefined ? undefined : parseRate32(o.lowRateThreshold, 'fq.lowRateThreshold'),
    defrate: o.defrate === undefined ? undefined : parseRate32(o.defrate, 'fq.defrate'),
    refillDelay: o.refillDelay === undefined ? undefined : parseTime(o.refillDelay, 'fq.refillDelay'),
    orphanMask: o.orphanMask === undefined ? undefined : integerIn('fq.orphanMask', o.orphanMask, 0, U32_MAX),
    ceThreshold: o.ceThreshold === undefined ? undefined : parseTime(o.ceThreshold, 'fq.ceThreshold'),
    timerSlack: o.timerSlack === undefined ? undefined : parseTime64(o.timerSlack, 'fq.timerSlack'),
    horizon: o.horizon === undefined ? undefined : parseTime(o.horizon, 'fq.horizon'),
    horizonDrop: o.horizonDrop === undefined ? undefined : boolean('fq.horizonDrop', o.horizonDrop),
    priomap: o.priomap === undefined ? undefined : priomapBytes(o.priomap),
    weights: o.weights === undefined ? undefined : weightsBytes(o.weights),
    offloadHorizon: o.offloadHorizon === undefined ? undefined : parseTime(o.offloadHorizon, 'fq.offloadHorizon'),
  };
  if (v.timerSlack !== undefined && v.timerSlack > 0xffffffff) throw outOfRange('fq.timerSlack', o.timerSlack, 'a time of at most 4294967295ns');

  w.nest(TCA_OPTIONS, () => {
    if (v.bucketsLog !== undefined) w.attrU32(TCA_FQ_BUCKETS_LOG, v.bucketsLog, 'fq.buckets');
    if (v.limit !== undefined) w.attrU32(TCA_FQ_PLIMIT, v.limit, 'fq.limit');
    if (v.flowLimit !== undefined) w.attrU32(TCA_FQ_FLOW_PLIMIT, v.flowLimit, 'fq.flowLimit');
    if (v.quantum !== undefined) w.attrU32(TCA_FQ_QUANTUM, v.quantum, 'fq.quantum');
    if (v.initialQuantum !== undefined) w.attrU32(TCA_FQ_INITIAL_QUANTUM, v.initialQuantum, 'fq.initialQuantum');
    if (v.pacing !== undefined) w.attrU32(TCA_FQ_RATE_ENABLE, v.pacing ? 1 : 0, 'fq.pacing');
    if (v.maxrate !== undefined) w.attrU32(TCA_FQ_FLOW_MAX_RATE, v.maxrate, 'fq.maxrate');
    if (v.lowRateThreshold !== undefined) w.attrU32(TCA_FQ_LOW_RATE_THRESHOLD, v.lowRateThreshold, 'fq.lowRateThreshold');
    if (v.defrate !== undefined) w.attrU32(TCA_FQ_FLOW_DEFAULT_RATE, v.defrate, 'fq.defrate');
    if (v.refillDelay !== undefined) w.attrU32(TCA_FQ_FLOW_REFILL_DELAY, v.refillDelay, 'fq.refillDelay');
    if (v.orphanMask !== undefined) w.attrU32(TCA_FQ_ORPHAN_MASK, v.orphanMask, 'fq.orphanMask');
    if (v.ceThreshold !== undefined) w.attrU32(TCA_FQ_CE_THRESHOLD, v.ceThreshold, 'fq.ceThreshold');
    if (v.timerSlack !== undefined) w.attrU32(TCA_FQ_TIMER_SLACK, v.timerSlack, 'fq.timerSlack');
    if (v.horizon !== undefined) w.attrU32(TCA_FQ_HORIZON, v.horizon, 'fq.horizon');
    if (v.horizonDrop !== undefined) w.attrU8(TCA_FQ_HORIZON_DROP, v.horizonDrop ? 1 : 0, 'fq.horizonDrop');
    if (v.priomap !== undefined) w.attr(TCA_FQ_PRIOMAP, v.priomap, 'fq.priomap');
    if (v.weights !== undefined) w.attr(TCA_FQ_WEIGHTS, v.weights, 'fq.weights');
    if (v.offloadHorizon !== undefined) w.attrU32(TCA_FQ_OFFLOAD_HORIZON, v.offloadHorizon, 'fq.offloadHorizon');
  });
}

function decode(options: Uint8Array | undefined): FqInfo | undefined {
  if (!options) return undefined;
  const t = new AttrTable(options, 'fq options');
  const info: FqInfo = {};
  const set = <K extends keyof FqInfo>(k: K, v: FqInfo[K] | undefined): void => {
    if (v !== undefined) info[k] = v;
  };
  set('limit', t.u32(TCA_FQ_PLIMIT, 'TCA_FQ_PLIMIT'));
  set('flowLimit', t.u32(TCA_FQ_FLOW_PLIMIT, 'TCA_FQ_FLOW_PLIMIT'));
  set('quantum', t.u32(TCA_FQ_QUANTUM, 'TCA_FQ_QUANTUM'));
  set('initialQuantum', t.u32(TCA_FQ_INITIAL_QUANTUM, 'TCA_FQ_INITIAL_QUANTUM'));
  const pacing = t.u32(TCA_FQ_RATE_ENABLE, 'TCA_FQ_RATE_ENABLE');
  set('pacing', pacing === undefined ? undefined : pacing !== 0);
  const maxrate = t.u32(TCA_FQ_FLOW_MAX_RATE, 'TCA_FQ_FLOW_MAX_RATE');
  set('maxrate', maxrate === undefined || maxrate === 0xffffffff ? undefined : maxrate * 8);
  const log = t.u32(TCA_FQ_BUCKETS_LOG, 'TCA_FQ_BUCKETS_LOG');
  set('buckets', log === undefined || log > 31 ? undefined : 2 ** log);
  set('refillDelay', t.u32(TCA_FQ_FLOW_REFILL_DELAY, 'TCA_FQ_FLOW_REFILL_DELAY'));
  set('orphanMask', t.u32(TCA_FQ_ORPHAN_MASK, 'TCA_FQ_ORPHAN_MASK'));
  const low = t.u32(TCA_FQ_LOW_RATE_THRESHOLD, 'TCA_FQ_LOW_RATE_THRESHOLD');
  set('lowRateThreshold', low === undefined ? undefined : low * 8);
  const ce = t.u32(TCA_FQ_CE_THRESHOLD, 'TCA_FQ_CE_THRESHOLD');
  set('ceThreshold', ce === undefined || ce === 0xffffffff ? undefined : ce);
  set('timerSlack', t.u32(TCA_FQ_TIMER_SLACK, 'TCA_FQ_TIMER_SLACK'));
  set('horizon', t.u32(TCA_FQ_HORIZON, 'TCA_FQ_HORIZON'));
  const drop = t.u8(TCA_FQ_HORIZON_DROP, 'TCA_FQ_HORIZON_DROP');
  set('horizonDrop', drop === undefined ? undefined : drop !== 0);
  const pm = t.get(TCA_FQ_PRIOMAP);
  if (pm) {
    new StructReader(pm, 4 + PRIOMAP_LEN, 'tc_prio_qopt');
    info.priomap = Array.from(pm.subarray(4, 4 + PRIOMAP_LEN));
  }
  const wt = t.get(TCA_FQ_WEIGHTS);
  if (wt) {
    const r = new StructReader(wt, 4 * FQ_BANDS, 'fq weights');
    info.weights = [r.s32(0), r.s32(4), r.s32(8)];
  }
  set('offloadHorizon', t.u32(TCA_FQ_OFFLOAD_HORIZON, 'TCA_FQ_OFFLOAD_HORIZON'));
  return info;
}

function decodeXstats(data: Uint8Array): FqXstats {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: FqXstats = {};
  const u64 = (off: number): number | undefined => (off + 8 <= data.length ? Number(view.getBigUint64(off, true)) : undefined);
  const u32 = (off: number): number | undefined => (off + 4 <= data.length ? view.getUint32(off, true) : undefined);
  const fields: Array<[keyof FqXstats, number | undefined]> = [
    ['gcFlows', u64(0)],
    ['highprioPackets', u64(8)],
    ['tcpRetrans', u64(16)],
    ['throttled', u64(24)],
    ['flowsPlimit', u64(32)],
    ['pktsTooLong', u64(40)],
    ['allocationErrors', u64(48)],
    ['timeNextDelayedFlow', data.length >= 64 ? Number(view.getBigInt64(56, true)) : undefined],
    ['flows', u32(64)],
    ['inactiveFlows', u32(68)],
    ['throttledFlows', u32(72)],
    ['unthrottleLatencyNs', u32(76)],
    ['ceMark', u64(80)],
    ['horizonDrops', u64(88)],
    ['horizonCaps', u64(96)],
    ['fastpathPackets', u64(104)],
  ];
  for (const [k, v] of fields) if (v !== undefined) (out as Record<string, number>)[k] = v;
  if (data.length >= 136) out.bandDrops = [0, 1, 2].map((i) => Number(view.getBigUint64(112 + i * 8, true)));
  if (data.length >= 148) out.bandPktCount = [0, 1, 2].map((i) => view.getUint32(136 + i * 4, true));
  return out;
}

/** fq: fair queueing with pacing. */
export const fq: QdiscCodec = { kind: 'fq', encode, decode, decodeXstats };
