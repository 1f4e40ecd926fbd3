/**
 * tbf, the token bucket filter (net/sched/sch_tbf.c), encoded as tc/q_tbf.c
 * does: `TCA_TBF_PARMS` with the bucket in ticks, the burst in bytes, the rate
 * table, and for a peak rate its own bucket and table. The limit comes from
 * `limit` or is derived from `latency` with tc's formula.
 * @module
 */
import { AttrTable, StructReader, badMessage, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { TIME_UNITS_PER_SEC } from '../psched';
import { integerIn, invalid, options, outOfRange } from '../../validate';
import { parseRate, parseSize, parseSizeAndCell, parseTime, type Rate, type Size, type Time } from '../units';
import type { CodecContext, QdiscCodec } from './codec';
import { linkLayerName, linkLayerNumber, parseLinkLayer, rate32, rateTableBytes, readRateSpec, writeRateSpec, type RateSpec } from './ratespec';

const TCA_TBF_PARMS = 1;
const TCA_TBF_RTAB = 2;
const TCA_TBF_PTAB = 3;
const TCA_TBF_RATE64 = 4;
const TCA_TBF_PRATE64 = 5;
const TCA_TBF_BURST = 6;
const TCA_TBF_PBURST = 7;
const TBF_QOPT_LEN = 36;

/** Options of tbf (tc's keywords in parentheses where they differ). */
export interface TbfOptions {
  /** The token rate. Required. */
  rate: Rate;
  /** The bucket size (`burst`/`buffer`/`maxburst`), optionally with a cell size: `'10kb/8'`. Required. */
  burst: Size;
  /** Bytes that may wait for tokens, non-zero. Give this or `latency`. */
  limit?: Size;
  /** The longest a packet may wait for tokens; tc derives the byte limit from it. Give this or `limit`. */
  latency?: Time;
  /** The peak rate (a second bucket of `mtu` bytes). Needs `mtu`; must exceed `rate`. */
  peakrate?: Rate;
  /** The peak bucket (`mtu`/`minburst`), optionally with a cell size; non-zero with `peakrate`. */
  mtu?: Size;
  /** Minimum packet size accounted (bytes). */
  mpu?: Size;
  /** Bytes added to each packet's size when accounting (0..65535). */
  overhead?: number;
  /** The link layer sizes are adjusted for: `'ethernet'` (default) or `'atm'`/`'adsl'`. */
  linklayer?: 'ethernet' | 'atm' | 'adsl';
}

/** What a tbf qdisc dumps, in the units its options take (rates in bits per second). */
export interface TbfInfo {
  /** Bits per second. */
  rate: number;
  /** The bucket in bytes, as tc shows it (computed back from the kernel's ticks with the `burstRounding` arithmetic). */
  burst: number;
  /** Bytes that may wait. */
  limit: number;
  /** Peak rate in bits per second, when set. */
  peakrate?: number;
  /** The peak bucket in bytes, when a peak rate is set. */
  mtu?: number;
  /** Minimum packet size accounted. */
  mpu: number;
  /** Per-packet overhead. */
  overhead: number;
  /** Link layer. */
  linklayer: string;
}

const KEYS = ['rate', 'burst', 'limit', 'latency', 'peakrate', 'mtu', 'mpu', 'overhead', 'linklayer'] as const;

function encode(w: ByteWriter, value: unknown, ctx: CodecContext): void {
  if (value === undefined) throw invalid('tbf', value, 'options with rate, burst and limit or latency');
  const o = options<TbfOptions>('tbf', value, KEYS);
  if (o.rate === undefined) throw invalid('tbf.rate', undefined, 'a rate (required)');
  if (o.burst === undefined) throw invalid('tbf.burst', undefined, 'a size (required)');
  if (o.limit !== undefined && o.latency !== undefined) throw invalid('tbf.latency', o.latency, 'no latency with a limit: give one of them');
  if (o.limit === undefined && o.latency === undefined) throw invalid('tbf.limit', undefined, 'a limit or a latency (one is required)');
  if (o.peakrate !== undefined && o.mtu === undefined) throw invalid('tbf.mtu', undefined, 'a size (required with peakrate)');

  const rate64 = parseRate(o.rate, 'tbf.rate');
  if (rate64 === 0) throw invalid('tbf.rate', o.rate, 'a rate of at least 8bit');
  const { size: buffer, cellLog: rcellLog } = parseSizeAndCell(o.burst, 'tbf.burst');
  if (buffer === 0) throw invalid('tbf.burst', o.burst, 'a non-zero size');
  const prate64 = o.peakrate === undefined ? 0 : parseRate(o.peakrate, 'tbf.peakrate');
  const peak = o.mtu === undefined ? { size: 0, cellLog: undefined } : parseSizeAndCell(o.mtu, 'tbf.mtu');
  const mtu = peak.size;
  const mpu = o.mpu === undefined ? 0 : parseSize(o.mpu, 'tbf.mpu');
  const overhead = o.overhead === undefined ? 0 : integerIn('tbf.overhead', o.overhead, 0, 0xffff);
  const linklayer = o.linklayer === undefined ? 'ethernet' : parseLinkLayer(o.linklayer, 'tbf.linklayer');
  if (mpu > 0xffff) throw outOfRange('tbf.mpu', o.mpu, 'a size of at most 65535 bytes');
  if (o.peakrate !== undefined && prate64 <= rate64) {
    // sch_tbf refuses this with EINVAL (and only a kernel log line): say why here.
    throw invalid('tbf.peakrate', o.peakrate, `a peak rate above the rate (${rate64 * 8} bits/s)`);
  }

  // sch_tbf takes peakrate with a zero peak bucket and then refuses it with a bare EINVAL.
  if (o.peakrate !== undefined && mtu === 0) throw invalid('tbf.mtu', o.mtu, 'a non-zero peak bucket with peakrate');

  let limit: number;
  if (o.limit !== undefined) {
    limit = parseSize(o.limit, 'tbf.limit');
    // tc reads a zero limit as "not given" and refuses the command; the kernel
    // would keep noop_qdisc as the child and drop every packet.
    if (limit === 0) throw invalid('tbf.limit', o.limit, 'a non-zero limit (a tbf with no queue drops every packet)');
  } else {
    const latency = parseTime(o.latency as Time, 'tbf.latency');
    let lim = (rate64 * latency) / TIME_UNITS_PER_SEC + buffer;
    if (prate64) {
      const lim2 = (prate64 * latency) / TIME_UNITS_PER_SEC + mtu;
      if (lim2 < lim) lim = lim2;
    }
    limit = Math.trunc(lim);
    if (limit > 0xffffffff) throw outOfRange('tbf.latency', o.latency, 'a latency whose byte limit fits 32 bits');
  }

  const ps = ctx.psched;
  const rateSpec: RateSpec = { cellLog: 0, linklayer: 0, overhead, cellAlign: 0, mpu, rate: rate32(rate64) };
  const rtab = rateTableBytes(ps, rateSpec.rate, mpu, rcellLog, mtu, linklayer);
  Object.assign(rateSpec, { cellLog: rtab.cellLog, cellAlign: -1, linklayer: linkLayerNumber(linklayer) });
  // tc computes the bucket from the 32-bit rate field, not the 64-bit rate.
  const bufferTicks = ps.xmittime(rateSpec.rate, buffer, 'tbf.burst');

  const peakSpec: RateSpec = { cellLog: 0, linklayer: 0, overhead: 0, cellAlign: 0, mpu: 0, rate: rate32(prate64) };
  let ptab: Uint8Array | undefined;
  let mtuTicks = 0;
  if (peakSpec.rate) {
    const t = rateTableBytes(ps, peakSpec.rate, mpu, peak.cellLog, mtu, linklayer);
    Object.assign(peakSpec, { mpu, overhead, cellLog: t.cellLog, cellAlign: -1, linklayer: linkLayerNumber(linklayer) });
    ptab = t.bytes;
    mtuTicks = ps.xmittime(peakSpec.rate, mtu, 'tbf.mtu');
  }

  w.nest(TCA_OPTIONS, () => {
    const at = w.beginAttr(TCA_TBF_PARMS, 'tbf options');
    writeRateSpec(w, rateSpec);
    writeRateSpec(w, peakSpec);
    w.u32(limit);
    w.u32(bufferTicks);
    w.u32(mtuTicks);
    w.endAttr(at);
    w.attrU32(TCA_TBF_BURST, buffer, 'tbf.burst');
    if (rate64 >= 2 ** 32) w.attrU64(TCA_TBF_RATE64, rate64, 'tbf.rate');
    w.attr(TCA_TBF_RTAB, rtab.bytes, 'tbf rate table');
    if (peakSpec.rate) {
      if (prate64 >= 2 ** 32) w.attrU64(TCA_TBF_PRATE64, prate64, 'tbf.peakrate');
      w.attrU32(TCA_TBF_PBURST, mtu, 'tbf.mtu');
      w.attr(TCA_TBF_PTAB, ptab as Uint8Array, 'tbf peak rate table');
    }
  });
}

function decode(options: Uint8Array | undefined, ctx: CodecContext): TbfInfo | undefined {
  if (!options) return undefined;
  const t = new AttrTable(options, 'tbf options');
  const parms = t.get(TCA_TBF_PARMS);
  if (!parms) throw badMessage('tbf options lack TCA_TBF_PARMS');
  const r = new StructReader(parms, TBF_QOPT_LEN, 'tc_tbf_qopt');
  const rate = readRateSpec(r, 0);
  const peak = readRateSpec(r, 12);
  const rate64 = Number(t.u64(TCA_TBF_RATE64, 'TCA_TBF_RATE64') ?? rate.rate);
  const prate64 = Number(t.u64(TCA_TBF_PRATE64, 'TCA_TBF_PRATE64') ?? peak.rate);
  const info: TbfInfo = {
    rate: rate64 * 8,
    burst: ctx.psched.xmitsize(rate64, r.u32(28)),
    limit: r.u32(24),
    mpu: rate.mpu,
    overhead: rate.overhead,
    linklayer: linkLayerName(rate.linklayer),
  };
  if (prate64) {
    info.peakrate = prate64 * 8;
    info.mtu = ctx.psched.xmitsize(prate64, r.u32(32));
  }
  return info;
}

/** tbf: a token bucket shaper. */
export const tbf: QdiscCodec = { kind: 'tbf', encode, decode };
