/**
 * The packet scheduler's clock, as tc sees it through `/proc/net/psched`, and
 * iproute2's burst and rate-table arithmetic on top of it (tc/tc_core.c):
 * sizes become transmission times in "ticks". Two generations of that
 * arithmetic exist, and kernkit does both, step for step:
 *
 * - `'truncate'` (the default): iproute2 up to 6.14, such as Debian 12's 6.1,
 *   which this project's tests compare with: the time is truncated to whole
 *   microseconds before it is scaled to ticks, and truncated again. A bucket
 *   can come out smaller than asked (at 1gbit a 1600-byte burst is 187 ticks,
 *   which tc then shows as 1375 bytes).
 * - `'round-up'`: iproute2 6.15 and later ("Fix rounding in
 *   tc_calc_xmittime"): computed in floating point and rounded up, so the
 *   bucket holds at least what was asked (1600 bytes at 1gbit: 200 ticks,
 *   shown as 1600). iproute2 6.18 also caps a time at 2^32-1 ticks; kernkit
 *   refuses such a burst instead (ERANGE), in both modes.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { cString, integerIn, invalid, oneOf, outOfRange } from '../validate';
import { TC_LINKLAYER_ATM, TC_LINKLAYER_ETHERNET, TC_LINKLAYER_MASK } from './constants';

/** Microseconds per second: tc's time unit. */
export const TIME_UNITS_PER_SEC = 1000000;
const ATM_CELL_PAYLOAD = 48;
const ATM_CELL_SIZE = 53;
const TWO_32 = 4294967296;
const TWO_63 = 9223372036854775808;
/** `HZ` from linux/param.h, iproute2's fallback when psched gives no clock rate. */
const DEFAULT_HZ = 100;

/**
 * Which iproute2's burst arithmetic to follow: `'truncate'` for iproute2 up to
 * 6.14 (Debian 12 ships 6.1), `'round-up'` for 6.15 and later.
 */
export type BurstRounding = 'truncate' | 'round-up';

/** The link layer a rate table accounts for. */
export type LinkLayer = 'ethernet' | 'atm';

/** The link layer's number in `tc_ratespec.linklayer`. */
export function linkLayerNumber(l: LinkLayer): number {
  return l === 'atm' ? TC_LINKLAYER_ATM : TC_LINKLAYER_ETHERNET;
}

/** The name of a `tc_ratespec.linklayer` value. */
export function linkLayerName(n: number): LinkLayer | 'unaware' {
  switch (n & TC_LINKLAYER_MASK) {
    case TC_LINKLAYER_ATM:
      return 'atm';
    case TC_LINKLAYER_ETHERNET:
      return 'ethernet';
    default:
      return 'unaware';
  }
}

/**
 * A double converted to a C `unsigned int` the way gcc does on x86-64
 * (truncate to 64 bits, keep the low 32): only for the rate table, which the
 * kernel ignores, where tc's overflow must be reproduced byte for byte.
 */
function wrapU32(d: number): number {
  if (d < TWO_32 && d >= 0) return Math.trunc(d);
  if (!(d >= 0) || d >= TWO_63) return 0;
  return Math.trunc(d) % TWO_32;
}

/** A rate table for `TCA_*_RTAB`: the ticks to send `(i + 1) << cellLog` bytes. */
export interface RateTable {
  /** 256 entries. */
  readonly table: Uint32Array;
  /** log2 of the size step between entries. */
  readonly cellLog: number;
}

/** The scheduler clock's parameters and tc's arithmetic over them. */
export class Psched {
  /** Ticks per microsecond (`tick_in_usec`): 15.625 on a nanosecond-clock kernel. */
  readonly tickInUsec: number;
  /** Kernel clock units per microsecond (`clock_factor`). */
  readonly clockFactor: number;
  /** The clock rate iproute2's `get_hz()` reports, used for htb's default bursts. */
  readonly hz: number;

  /**
   * From the four hex fields of `/proc/net/psched` (each a whole number
   * from 1 to 2^32-1: `EINVAL` otherwise, `ERANGE` outside), and the
   * iproute2 arithmetic to follow (default `'truncate'`: iproute2 up to 6.14).
   */
  constructor(
    readonly t2us: number,
    readonly us2t: number,
    readonly clockRes: number,
    hz: number,
    readonly rounding: BurstRounding = 'truncate',
  ) {
    for (const [field, v] of [['t2us', t2us], ['us2t', us2t], ['clockRes', clockRes], ['hz', hz]] as const) integerIn(field, v, 1, 0xffffffff);
    oneOf('burstRounding', rounding, ['truncate', 'round-up']);
    // tc_core_init(): a nanosecond clock advertises a multiplier of 1000 for old binaries; it means 1.
    const t2 = clockRes === 1000000000 ? us2t : t2us;
    this.clockFactor = clockRes / TIME_UNITS_PER_SEC;
    this.tickInUsec = (t2 / us2t) * this.clockFactor;
    this.hz = hz;
  }

  /** The same clock with another iproute2's arithmetic. */
  withRounding(rounding: BurstRounding): Psched {
    return rounding === this.rounding ? this : new Psched(this.t2us, this.us2t, this.clockRes, this.hz, rounding);
  }

  /** Parses the text of `/proc/net/psched`. */
  static parse(text: string): Psched {
    const fields = text.trim().split(/\s+/).map((f) => parseInt(f, 16));
    if (fields.length < 3 || fields.slice(0, 3).some((f) => !(f >= 1 && f <= 0xffffffff))) {
      throw invalid('psched', text, 'the text of /proc/net/psched: four hex numbers, the first three non-zero');
    }
    // __get_hz(): the clock rate is the fourth field when the third is 1000000.
    const hz = fields[2] === 1000000 && Number.isFinite(fields[3]) && fields[3] > 0 ? fields[3] : DEFAULT_HZ;
    return new Psched(fields[0], fields[1], fields[2], hz);
  }

  /** Reads `/proc/net/psched` (or `file`). */
  static async read(file = '/proc/net/psched'): Promise<Psched> {
    return Psched.parse(await readFile(cString('file', file, { nonEmpty: true, expected: 'a path' }), 'utf8'));
  }

  /** `tc_core_time2big`: would `us` microseconds overflow 32-bit ticks? */
  time2big(us: number): boolean {
    return us * this.tickInUsec >= TWO_32;
  }

  /** `tc_core_time2tick`: microseconds (an unsigned int) to ticks, truncated. */
  time2tick(us: number): number {
    return Math.trunc(Math.trunc(us) * this.tickInUsec);
  }

  /** `tc_core_tick2time`: ticks to whole microseconds. */
  tick2time(ticks: number): number {
    return Math.trunc(ticks / this.tickInUsec);
  }

  /**
   * `tc_calc_xmittime`: the ticks to send `size` bytes at `rate` bytes per
   * second, truncated (iproute2 up to 6.14) or rounded up (6.15 and later).
   * Beyond 32 bits of ticks (about 274 s), `ERANGE` naming `field`.
   */
  xmittime(rate: number, size: number, field: string): number {
    const us = TIME_UNITS_PER_SEC * (size / rate);
    const ticks = this.rounding === 'round-up' ? Math.ceil(us * this.tickInUsec) : this.time2tick(us);
    if (!(us < TWO_32) || !(ticks < TWO_32)) {
      throw outOfRange(field, size, `a size sent within the kernel's 32-bit tick count (about 274s); at ${rate} bytes/s it takes ${Math.round(us)}us`);
    }
    return ticks;
  }

  /**
   * `tc_calc_xmitsize`: the bytes sent in `ticks` at `rate` bytes per second
   * (what tc shows as a burst); iproute2 up to 6.14 truncates the time to
   * whole microseconds first.
   */
  xmitsize(rate: number, ticks: number): number {
    const us = this.rounding === 'round-up' ? ticks / this.tickInUsec : this.tick2time(ticks);
    return Math.trunc((rate * us) / TIME_UNITS_PER_SEC);
  }

  /**
   * `tc_calc_rtable`: the rate table for `rate` (the 32-bit `tc_ratespec.rate`),
   * `mpu`, `mtu` (0: 2047) and link layer; `cellLog` undefined picks the
   * smallest step that covers `mtu` in 256 entries.
   */
  rateTable(rate: number, mpu: number, cellLog: number | undefined, mtu: number, linklayer: LinkLayer): RateTable {
    if (mtu === 0) mtu = 2047;
    let log = cellLog ?? 0;
    if (cellLog === undefined) while (Math.floor(mtu / 2 ** log) > 255) log++;
    const table = new Uint32Array(256);
    const step = 2 ** log;
    for (let i = 0; i < 256; i++) {
      let sz = (i + 1) * step;
      if (sz < mpu) sz = mpu;
      if (linklayer === 'atm') sz = Math.ceil(sz / ATM_CELL_PAYLOAD) * ATM_CELL_SIZE;
      if (this.rounding === 'round-up') {
        // iproute2 6.18: rounded up, capped at UINT_MAX
        table[i] = Math.min(Math.ceil(TIME_UNITS_PER_SEC * (sz / rate) * this.tickInUsec), TWO_32 - 1);
      } else {
        const us = wrapU32(TIME_UNITS_PER_SEC * (sz / rate));
        table[i] = wrapU32(us * this.tickInUsec);
      }
    }
    return { table, cellLog: log };
  }
}
