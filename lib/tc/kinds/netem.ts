/**
 * netem, the network emulator (net/sched/sch_netem.c), encoded as iproute2
 * 6.1's tc/q_netem.c does (the tc Debian 12 ships): `TCA_OPTIONS` is a
 * `struct tc_netem_qopt` (delay and jitter in scheduler ticks, probabilities
 * scaled to 2^32-1) followed directly by netem's own attributes. Delays too
 * long for 32-bit ticks, which that tc refuses, are sent in the 64-bit
 * nanosecond attributes newer tc always uses.
 * @module
 */
import { AttrTable, StructReader, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { boolean, integerIn, invalid, options } from '../../validate';
import { parsePercent, parseRate, parseSize, parseTime, U32_MAX, type Percent, type Rate, type Size, type Time } from '../units';
import type { CodecContext, QdiscCodec } from './codec';

const TCA_NETEM_CORR = 1;
const TCA_NETEM_REORDER = 3;
const TCA_NETEM_CORRUPT = 4;
const TCA_NETEM_RATE = 6;
const TCA_NETEM_ECN = 7;
const TCA_NETEM_RATE64 = 8;
const TCA_NETEM_LATENCY64 = 10;
const TCA_NETEM_JITTER64 = 11;
const QOPT_LEN = 24;

/** Options of netem. */
export interface NetemOptions {
  /** Packets held (`limit`, default 1000); tc reads it as a size. */
  limit?: Size;
  /** Added delay (`delay`). */
  delay?: Time;
  /** Random variation of the delay (`delay D JITTER`). Needs `delay`. */
  jitter?: Time;
  /** Correlation of successive delays, in percent. */
  delayCorrelation?: Percent;
  /** Random loss (`loss random P`), in percent. */
  loss?: Percent;
  /** Correlation of successive losses. */
  lossCorrelation?: Percent;
  /** Duplicated packets (`duplicate P`), in percent. */
  duplicate?: Percent;
  /**
   * Correlation of duplications. (iproute2 drops this value unless another
   * correlation is given; kernkit always sends it.)
   */
  duplicateCorrelation?: Percent;
  /** Corrupted packets (`corrupt P`), in percent. */
  corrupt?: Percent;
  /** Correlation of corruption. */
  corruptCorrelation?: Percent;
  /** Packets sent immediately, out of order (`reorder P`). Needs `delay`. */
  reorder?: Percent;
  /** Correlation of reordering. */
  reorderCorrelation?: Percent;
  /** Reorder every Nth packet (`gap N`); needs `reorder` (tc sets 1 when reorder is given without it). */
  gap?: number;
  /** Mark instead of dropping ECN-capable packets (`ecn`). Needs a loss. */
  ecn?: boolean;
  /** A rate limit (`rate R`). */
  rate?: Rate;
  /** Bytes added to each packet for the rate (`rate R OVERHEAD`), may be negative. */
  packetOverhead?: number;
  /** Link-layer cell size for the rate (`rate R OVERHEAD CELLSIZE`). */
  cellSize?: number;
  /** Bytes added per cell (`... CELLOVERHEAD`), may be negative. */
  cellOverhead?: number;
}

/** What a netem qdisc dumps (times in microseconds, probabilities in percent, rate in bits per second). */
export interface NetemInfo {
  /** Packets held (`limit`). */
  limit: number;
  /** Added delay, in microseconds. */
  delay: number;
  /** Random variation of the delay, in microseconds. */
  jitter: number;
  /** Random loss, in percent. */
  loss: number;
  /** Duplicated packets, in percent. */
  duplicate: number;
  /** Every Nth packet is reordered (`gap`); 0 without reordering. */
  gap: number;
  /** Correlation of successive delays, in percent. */
  delayCorrelation?: number;
  /** Correlation of successive losses, in percent. */
  lossCorrelation?: number;
  /** Correlation of duplications, in percent. */
  duplicateCorrelation?: number;
  /** Packets sent at once, out of order, in percent. */
  reorder?: number;
  /** Correlation of reordering, in percent. */
  reorderCorrelation?: number;
  /** Corrupted packets, in percent. */
  corrupt?: number;
  /** Correlation of corruption, in percent. */
  corruptCorrelation?: number;
  /** Whether ECN-capable packets are marked instead of dropped. */
  ecn?: boolean;
  /** The rate limit, in bits per second. */
  rate?: number;
  /** Bytes added to each packet for the rate (may be negative). */
  packetOverhead?: number;
  /** Link-layer cell size for the rate, in bytes. */
  cellSize?: number;
  /** Bytes added per cell (may be negative). */
  cellOverhead?: number;
}

const KEYS = [
  'limit',
  'delay',
  'jitter',
  'delayCorrelation',
  'loss',
  'lossCorrelation',
  'duplicate',
  'duplicateCorrelation',
  'corrupt',
  'corruptCorrelation',
  'reorder',
  'reorderCorrelation',
  'gap',
  'ecn',
  'rate',
  'packetOverhead',
  'cellSize',
  'cellOverhead',
] as const;

/** set_percent(): a fraction scaled to 0..2^32-1, rounded as rint() does. */
function scaled(value: Percent | undefined, field: string): number {
  if (value === undefined) return 0;
  const v = parsePercent(value, field) * U32_MAX;
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function encode(w: ByteWriter, value: unknown, ctx: CodecContext): void {
  const o = options<NetemOptions>('netem', value, KEYS);
  const ps = ctx.psched;
  const limit = o.limit === undefined ? 1000 : parseSize(o.limit, 'netem.limit');
  if (o.jitter !== undefined && o.delay === undefined) throw invalid('netem.jitter', o.jitter, 'no jitter without a delay');
  if (o.delayCorrelation !== undefined && o.jitter === undefined) throw invalid('netem.delayCorrelation', o.delayCorrelation, 'no delay correlation without delay and jitter');
  const delayUs = o.delay === undefined ? 0 : parseTime(o.delay, 'netem.delay');
  const jitterUs = o.jitter === undefined ? 0 : parseTime(o.jitter, 'netem.jitter');
  // get_ticks(): iproute2 6.1 sends ticks; a delay whose ticks overflow goes as 64-bit nanoseconds.
  const long = ps.time2big(delayUs) || ps.time2big(jitterUs);
  const latency = long ? 0 : ps.time2tick(delayUs);
  const jitter = long ? 0 : ps.time2tick(jitterUs);
  const loss = scaled(o.loss, 'netem.loss');
  const duplicate = scaled(o.duplicate, 'netem.duplicate');
  const reorder = scaled(o.reorder, 'netem.reorder');
  const corrupt = scaled(o.corrupt, 'netem.corrupt');
  let gap = o.gap === undefined ? 0 : integerIn('netem.gap', o.gap, 0, U32_MAX);
  if (o.reorder !== undefined && reorder) {
    if (delayUs === 0) throw invalid('netem.reorder', o.reorder, 'no reordering without a delay');
    if (gap === 0) gap = 1;
  } else if (gap > 0) {
    throw invalid('netem.gap', o.gap, 'no gap without a reorder probability');
  }
  const ecn = o.ecn === undefined ? false : boolean('netem.ecn', o.ecn);
  if (ecn && loss === 0) throw invalid('netem.ecn', o.ecn, 'no ecn without a loss probability');
  const corr = {
    delay: scaled(o.delayCorrelation, 'netem.delayCorrelation'),
    loss: scaled(o.lossCorrelation, 'netem.lossCorrelation'),
    dup: scaled(o.duplicateCorrelation, 'netem.duplicateCorrelation'),
  };
  const anyCorr = [o.delayCorrelation, o.lossCorrelation, o.duplicateCorrelation, o.reorderCorrelation, o.corruptCorrelation].some((c) => c !== undefined);
  const rate64 = o.rate === undefined ? undefined : parseRate(o.rate, 'netem.rate');
  const rateExtras = o.packetOverhead !== undefined || o.cellSize !== undefined || o.cellOverhead !== undefined;
  if (rateExtras && rate64 === undefined) throw invalid('netem.rate', undefined, 'a rate: packetOverhead, cellSize and cellOverhead need one');
  const packetOverhead = o.packetOverhead === undefined ? 0 : integerIn('netem.packetOverhead', o.packetOverhead, -0x80000000, 0x7fffffff);
  const cellSize = o.cellSize === undefined ? 0 : integerIn('netem.cellSize', o.cellSize, 0, U32_MAX);
  const cellOverhead = o.cellOverhead === undefined ? 0 : integerIn('netem.cellOverhead', o.cellOverhead, -0x80000000, 0x7fffffff);

  // TCA_OPTIONS holds the struct and, after it, netem's attributes.
  const at = w.beginAttr(TCA_OPTIONS, 'netem options');
  w.u32(latency);
  w.u32(limit);
  w.u32(loss);
  w.u32(gap);
  w.u32(duplicate);
  w.u32(jitter);
  if (long) {
    w.attrU64(TCA_NETEM_LATENCY64, BigInt(delayUs) * 1000n, 'netem.delay');
    w.attrU64(TCA_NETEM_JITTER64, BigInt(jitterUs) * 1000n, 'netem.jitter');
  }
  if (anyCorr) {
    const c = w.beginAttr(TCA_NETEM_CORR, 'netem correlations');
    w.u32(corr.delay);
    w.u32(corr.loss);
    w.u32(corr.dup);
    w.endAttr(c);
  }
  if (o.reorder !== undefined) {
    const r = w.beginAttr(TCA_NETEM_REORDER, 'netem.reorder');
    w.u32(reorder);
    w.u32(scaled(o.reorderCorrelation, 'netem.reorderCorrelation'));
    w.endAttr(r);
  }
  if (ecn) w.attrU32(TCA_NETEM_ECN, 1, 'netem.ecn');
  if (o.corrupt !== undefined) {
    const c = w.beginAttr(TCA_NETEM_CORRUPT, 'netem.corrupt');
    w.u32(corrupt);
    w.u32(scaled(o.corruptCorrelation, 'netem.corruptCorrelation'));
    w.endAttr(c);
  }
  if (rate64 !== undefined) {
    if (rate64 >= 2 ** 32) w.attrU64(TCA_NETEM_RATE64, rate64, 'netem.rate');
    const r = w.beginAttr(TCA_NETEM_RATE, 'netem.rate');
    w.u32(rate64 >= 2 ** 32 ? U32_MAX : rate64);
    w.s32(packetOverhead);
    w.u32(cellSize);
    w.s32(cellOverhead);
    w.endAttr(r);
  }
  w.endAttr(at);
}

const percent = (v: number): number => (v / U32_MAX) * 100;

function decode(options: Uint8Array | undefined, ctx: CodecContext): NetemInfo | undefined {
  if (!options) return undefined;
  const q = new StructReader(options, QOPT_LEN, 'tc_netem_qopt');
  const t = new AttrTable(options.subarray(QOPT_LEN), 'netem options');
  const lat64 = t.u64(TCA_NETEM_LATENCY64, 'TCA_NETEM_LATENCY64');
  const jit64 = t.u64(TCA_NETEM_JITTER64, 'TCA_NETEM_JITTER64');
  const info: NetemInfo = {
    limit: q.u32(4),
    delay: lat64 !== undefined ? Number(lat64 / 1000n) : ctx.psched.tick2time(q.u32(0)),
    jitter: jit64 !== undefined ? Number(jit64 / 1000n) : ctx.psched.tick2time(q.u32(20)),
    loss: percent(q.u32(8)),
    duplicate: percent(q.u32(16)),
    gap: q.u32(12),
  };
  const corr = t.get(TCA_NETEM_CORR);
  if (corr) {
    const r = new StructReader(corr, 12, 'tc_netem_corr');
    info.delayCorrelation = percent(r.u32(0));
    info.lossCorrelation = percent(r.u32(4));
    info.duplicateCorrelation = percent(r.u32(8));
  }
  const reorder = t.get(TCA_NETEM_REORDER);
  if (reorder) {
    const r = new StructReader(reorder, 8, 'tc_netem_reorder');
    info.reorder = percent(r.u32(0));
    info.reorderCorrelation = percent(r.u32(4));
  }
  const corrupt = t.get(TCA_NETEM_CORRUPT);
  if (corrupt) {
    const r = new StructReader(corrupt, 8, 'tc_netem_corrupt');
    info.corrupt = percent(r.u32(0));
    info.corruptCorrelation = percent(r.u32(4));
  }
  const ecn = t.u32(TCA_NETEM_ECN, 'TCA_NETEM_ECN');
  if (ecn !== undefined) info.ecn = ecn !== 0;
  const rate = t.get(TCA_NETEM_RATE);
  if (rate) {
    const r = new StructReader(rate, 16, 'tc_netem_rate');
    const rate64 = t.u64(TCA_NETEM_RATE64, 'TCA_NETEM_RATE64');
    info.rate = (rate64 !== undefined ? Number(rate64) : r.u32(0)) * 8;
    info.packetOverhead = r.s32(4);
    info.cellSize = r.u32(8);
    info.cellOverhead = r.s32(12);
  }
  return info;
}

/** netem: delay, jitter, loss, duplication, reordering, corruption and rate. */
export const netem: QdiscCodec = { kind: 'netem', encode, decode };
