/**
 * htb, the hierarchical token bucket (net/sched/sch_htb.c), encoded as
 * tc/q_htb.c does. The qdisc carries `struct tc_htb_glob` (default class,
 * r2q) and the direct queue's length; each class carries `struct tc_htb_opt`
 * with its rate and ceil buckets in ticks, their rate tables, and 64-bit
 * rates as separate attributes when they exceed 32 bits.
 * @module
 */
import { AttrTable, StructReader, badMessage, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { boolean, integerIn, invalid, options, outOfRange } from '../../validate';
import { parseRate, parseSizeAndCell, U32_MAX, type Rate, type Size } from '../units';
import type { CodecContext, QdiscCodec } from './codec';
import { linkLayerName, linkLayerNumber, parseLinkLayer, rate32, rateTableBytes, readRateSpec, writeRateSpec, type RateSpec } from './ratespec';

const TCA_HTB_PARMS = 1;
const TCA_HTB_INIT = 2;
const TCA_HTB_CTAB = 3;
const TCA_HTB_RTAB = 4;
const TCA_HTB_DIRECT_QLEN = 5;
const TCA_HTB_RATE64 = 6;
const TCA_HTB_CEIL64 = 7;
const TCA_HTB_OFFLOAD = 9;
/** TC_HTB_PROTOVER: the kernel refuses any other version. */
const HTB_PROTOVER = 3;
/** TC_HTB_NUMPRIO: priorities 0..7. */
const HTB_NUMPRIO = 8;
const HTB_OPT_LEN = 44;
const HTB_GLOB_LEN = 20;
/** tc's default for the largest packet the rate tables cover. */
const DEFAULT_MTU = 1600;

/** Options of the htb qdisc. */
export interface HtbQdiscOptions {
  /**
   * The class unclassified packets go to, as its minor id. A number is the
   * minor itself (`0x10` for class `1:10`); a string is read as tc reads
   * `default`, in hex (`'10'` is `0x10`). 0 (the default) sends them
   * unshaped through the direct queue.
   */
  default?: number | string;
  /** Divisor from a class's rate (bytes/s) to its DRR quantum (default 10). */
  r2q?: number;
  /** Length of the direct queue in packets (default: the device's txqueuelen). */
  directQlen?: number;
  /** Offload to hardware (`offload`); needs a device that supports it. */
  offload?: boolean;
}

/** What an htb qdisc dumps. */
export interface HtbQdiscInfo {
  /** The default class's minor id. */
  default: number;
  /** The rate-to-quantum divisor. */
  r2q: number;
  /** The direct queue's length. */
  directQlen?: number;
  /** Packets sent through the direct queue. */
  directPacketsStat: number;
  /** The kernel's htb version (`3.17`). */
  version: string;
  /** True when offloaded. */
  offload: boolean;
}

/** Options of an htb class (tc's keywords). */
export interface HtbClassOptions {
  /** The guaranteed rate. Required; non-zero. Rates beyond 32 bits of bytes/s are sent as 64-bit. */
  rate: Rate;
  /** The most the class may take by borrowing (default: `rate`). */
  ceil?: Rate;
  /**
   * Bytes that may be sent at full speed before `rate` applies (default
   * rate/HZ + mtu), optionally `'/cell'`. Sent as ticks computed as the chosen
   * iproute2 does (`burstRounding`): by default rounded down, so the bucket
   * may hold a little less.
   */
  burst?: Size;
  /** As `burst`, for `ceil` (default ceil/HZ + mtu). */
  cburst?: Size;
  /** Priority, 0 (first) to 7. */
  prio?: number;
  /** Bytes served per DRR round (default: rate / r2q, kept within 1000..200000 by the kernel). */
  quantum?: number;
  /** The largest packet the rate tables cover (default 1600). */
  mtu?: number;
  /** Minimum packet size accounted (0..65535). */
  mpu?: number;
  /** Bytes added to each packet when accounting (0..65535). */
  overhead?: number;
  /** `'ethernet'` (default) or `'atm'`/`'adsl'`. */
  linklayer?: 'ethernet' | 'atm' | 'adsl';
}

/** What an htb class dumps, in the units its options take (rates in bits per second). */
export interface HtbClassInfo {
  /** Bits per second. */
  rate: number;
  /** Bits per second. */
  ceil: number;
  /**
   * Bytes, as tc shows it: computed back from the kernel's ticks with the
   * `burstRounding` arithmetic (by default iproute2 6.1's, which can show less
   * than was asked: 1375 for a 1600-byte burst at 1gbit).
   */
  burst: number;
  /** Bytes, as tc shows it (see `burst`). */
  cburst: number;
  /** Priority. */
  prio: number;
  /** The quantum in effect. */
  quantum: number;
  /** 0 for a leaf; inner classes have higher levels. */
  level: number;
  /** Minimum packet size accounted. */
  mpu: number;
  /** Per-packet overhead. */
  overhead: number;
  /** Link layer. */
  linklayer: string;
}

/** htb's per-class statistics (`struct tc_htb_xstats`). */
export interface HtbClassXstats {
  /** Times the class lent to its children. */
  lends: number;
  /** Times the class borrowed from its parent. */
  borrows: number;
  /** Packets too big for the rate table (unused since TSO). */
  giants: number;
  /** Tokens left in the rate bucket, in ticks (negative when in debt). */
  tokens: number;
  /** Tokens left in the ceil bucket, in ticks. */
  ctokens: number;
}

/** Reads `default` as tc does: a string in hex, a number as is. */
function parseDefault(value: unknown): number {
  if (typeof value === 'string') {
    if (!/^(0[xX])?[0-9a-fA-F]+$/.test(value)) throw invalid('htb.default', value, 'a class minor id in hex, e.g. "10"');
    return integerIn('htb.default', parseInt(value, 16), 0, U32_MAX);
  }
  return integerIn('htb.default', value, 0, U32_MAX);
}

function encodeQdisc(w: ByteWriter, value: unknown): void {
  const o = options<HtbQdiscOptions>('htb', value, ['default', 'r2q', 'directQlen', 'offload']);
  const defcls = o.default === undefined ? 0 : parseDefault(o.default);
  const r2q = o.r2q === undefined ? 10 : integerIn('htb.r2q', o.r2q, 0, U32_MAX);
  const directQlen = o.directQlen === undefined ? undefined : integerIn('htb.directQlen', o.directQlen, 0, 0xfffffffe);
  const offload = o.offload === undefined ? false : boolean('htb.offload', o.offload);
  w.nest(TCA_OPTIONS, () => {
    const at = w.beginAttr(TCA_HTB_INIT, 'htb options');
    w.u32(HTB_PROTOVER);
    w.u32(r2q);
    w.u32(defcls);
    w.u32(0); // debug
    w.u32(0); // direct_pkts (out only)
    w.endAttr(at);
    if (directQlen !== undefined) w.attrU32(TCA_HTB_DIRECT_QLEN, directQlen, 'htb.directQlen');
    if (offload) w.attrFlag(TCA_HTB_OFFLOAD, 'htb.offload');
  });
}

function decodeQdisc(options: Uint8Array | undefined): HtbQdiscInfo | undefined {
  if (!options) return undefined;
  const t = new AttrTable(options, 'htb options');
  // htb_dump() always sends its struct tc_htb_glob: without it there is nothing true to report.
  const init = t.get(TCA_HTB_INIT);
  if (!init) throw badMessage('htb options lack TCA_HTB_INIT');
  const r = new StructReader(init, HTB_GLOB_LEN, 'tc_htb_glob');
  const version = r.u32(0);
  const info: HtbQdiscInfo = {
    default: r.u32(8),
    r2q: r.u32(4),
    directPacketsStat: r.u32(16),
    version: `${version >>> 16}.${version & 0xffff}`,
    offload: t.has(TCA_HTB_OFFLOAD),
  };
  const directQlen = t.u32(TCA_HTB_DIRECT_QLEN, 'TCA_HTB_DIRECT_QLEN');
  if (directQlen !== undefined) info.directQlen = directQlen;
  return info;
}

const CLASS_KEYS = ['rate', 'ceil', 'burst', 'cburst', 'prio', 'quantum', 'mtu', 'mpu', 'overhead', 'linklayer'] as const;

function encodeClass(w: ByteWriter, value: unknown, ctx: CodecContext): void {
  if (value === undefined) throw invalid('htb', value, 'class options with at least a rate');
  const o = options<HtbClassOptions>('htb', value, CLASS_KEYS);
  if (o.rate === undefined) throw invalid('htb.rate', undefined, 'a rate (required)');
  const rate64 = parseRate(o.rate, 'htb.rate');
  const ceil64 = o.ceil === undefined ? rate64 : parseRate(o.ceil, 'htb.ceil');
  // sch_htb refuses a zero rate or ceil (the 32-bit fields) with EINVAL and no message.
  if (rate64 === 0) throw invalid('htb.rate', o.rate, 'a rate of at least 8bit (the kernel refuses 0)');
  if (ceil64 === 0) throw invalid('htb.ceil', o.ceil, 'a ceil of at least 8bit (the kernel refuses 0)');
  // The kernel clamps a higher prio to 7 silently; kernkit refuses it instead.
  const prio = o.prio === undefined ? 0 : integerIn('htb.prio', o.prio, 0, HTB_NUMPRIO - 1);
  const quantum = o.quantum === undefined ? 0 : integerIn('htb.quantum', o.quantum, 0, U32_MAX);
  const mtu = o.mtu === undefined ? DEFAULT_MTU : integerIn('htb.mtu', o.mtu, 0, U32_MAX);
  const mpu = o.mpu === undefined ? 0 : integerIn('htb.mpu', o.mpu, 0, 0xffff);
  const overhead = o.overhead === undefined ? 0 : integerIn('htb.overhead', o.overhead, 0, 0xffff);
  const linklayer = o.linklayer === undefined ? 'ethernet' : parseLinkLayer(o.linklayer, 'htb.linklayer');
  const burst = o.burst === undefined ? undefined : parseSizeAndCell(o.burst, 'htb.burst');
  const cburst = o.cburst === undefined ? undefined : parseSizeAndCell(o.cburst, 'htb.cburst');

  const ps = ctx.psched;
  // tc's default buckets: one clock tick's worth of bytes plus an mtu.
  const buffer = burst?.size || Math.trunc(rate64 / ps.hz) + mtu;
  const cbuffer = cburst?.size || Math.trunc(ceil64 / ps.hz) + mtu;
  if (buffer > 0xffffffff || cbuffer > 0xffffffff) throw outOfRange('htb.burst', o.burst, 'burst and cburst given: the default burst at this rate exceeds 32 bits');

  const rateSpec: RateSpec = { cellLog: 0, linklayer: 0, overhead, cellAlign: 0, mpu, rate: rate32(rate64) };
  const ceilSpec: RateSpec = { cellLog: 0, linklayer: 0, overhead, cellAlign: 0, mpu, rate: rate32(ceil64) };
  const rtab = rateTableBytes(ps, rateSpec.rate, mpu, burst?.cellLog, mtu, linklayer);
  Object.assign(rateSpec, { cellLog: rtab.cellLog, cellAlign: -1, linklayer: linkLayerNumber(linklayer) });
  const ctab = rateTableBytes(ps, ceilSpec.rate, mpu, cburst?.cellLog, mtu, linklayer);
  Object.assign(ceilSpec, { cellLog: ctab.cellLog, cellAlign: -1, linklayer: linkLayerNumber(linklayer) });
  const bufferTicks = ps.xmittime(rate64, buffer, 'htb.burst');
  const cbufferTicks = ps.xmittime(ceil64, cbuffer, 'htb.cburst');

  w.nest(TCA_OPTIONS, () => {
    if (rate64 >= 2 ** 32) w.attrU64(TCA_HTB_RATE64, rate64, 'htb.rate');
    if (ceil64 >= 2 ** 32) w.attrU64(TCA_HTB_CEIL64, ceil64, 'htb.ceil');
    const at = w.beginAttr(TCA_HTB_PARMS, 'htb class options');
    writeRateSpec(w, rateSpec);
    writeRateSpec(w, ceilSpec);
    w.u32(bufferTicks);
    w.u32(cbufferTicks);
    w.u32(quantum);
    w.u32(0); // level (out only)
    w.u32(prio);
    w.endAttr(at);
    w.attr(TCA_HTB_RTAB, rtab.bytes, 'htb rate table');
    w.attr(TCA_HTB_CTAB, ctab.bytes, 'htb ceil table');
  });
}

function decodeClass(options: Uint8Array | undefined, ctx: CodecContext): HtbClassInfo | undefined {
  if (!options) return undefined;
  const t = new AttrTable(options, 'htb class options');
  // htb_dump_class() always sends struct tc_htb_opt.
  const parms = t.get(TCA_HTB_PARMS);
  if (!parms) throw badMessage('htb class options lack TCA_HTB_PARMS');
  const r = new StructReader(parms, HTB_OPT_LEN, 'tc_htb_opt');
  const rate = readRateSpec(r, 0);
  const ceil = readRateSpec(r, 12);
  const rate64 = Number(t.u64(TCA_HTB_RATE64, 'TCA_HTB_RATE64') ?? rate.rate);
  const ceil64 = Number(t.u64(TCA_HTB_CEIL64, 'TCA_HTB_CEIL64') ?? ceil.rate);
  return {
    rate: rate64 * 8,
    ceil: ceil64 * 8,
    burst: ctx.psched.xmitsize(rate64, r.u32(24)),
    cburst: ctx.psched.xmitsize(ceil64, r.u32(28)),
    quantum: r.u32(32),
    level: r.u32(36),
    prio: r.u32(40),
    mpu: rate.mpu,
    overhead: rate.overhead,
    linklayer: linkLayerName(rate.linklayer),
  };
}

function decodeClassXstats(data: Uint8Array): HtbClassXstats {
  const r = new StructReader(data, 20, 'tc_htb_xstats');
  return { lends: r.u32(0), borrows: r.u32(4), giants: r.u32(8), tokens: r.s32(12), ctokens: r.s32(16) };
}

/** htb: hierarchical token bucket qdisc and classes. */
export const htb: QdiscCodec = {
  kind: 'htb',
  encode: encodeQdisc,
  decode: decodeQdisc,
  classes: { encode: encodeClass, decode: decodeClass, decodeXstats: decodeClassXstats },
};
