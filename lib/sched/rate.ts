/**
 * The kernel's rate arithmetic (`psched_ratecfg_precompute()` and
 * `psched_l2t_ns()`, net/sched/sch_generic.c and include/net/sch_generic.h):
 * a rate in bytes per second becomes a multiplier and a shift so that the
 * nanoseconds to send `len` bytes are `(len * mult) >> shift`, after the
 * per-packet overhead, the minimum size (mpu) and ATM cells are applied.
 * The kernel no longer reads tc's rate tables; it uses this.
 * @module
 */
import { boolean, integerIn, plainObject } from '../validate';

/** A precomputed rate (`struct psched_ratecfg`). */
export interface RateCfg {
  /** Bytes per second. */
  readonly rateBytesPs: number;
  /** Nanoseconds per byte, scaled by 2^shift. */
  readonly mult: number;
  /** The scale of `mult`. */
  readonly shift: number;
  /** 2^shift. */
  readonly scale: number;
  /** Bytes added to each length. */
  readonly overhead: number;
  /** The smallest length accounted. */
  readonly mpu: number;
  /** True for ATM: lengths in 48-byte cells of 53 bytes. */
  readonly atm: boolean;
}

const NSEC_PER_SEC = 1_000_000_000n;
const BIT31 = 1n << 31n;
const BIT63 = 1n << 63n;

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/**
 * psched_ratecfg_precompute(): the largest `mult` below 2^32 (or factor below 2^64).
 * `rateBytesPs` is a safe integer >= 0 (the kernel's u64; 0 means no rate),
 * `overhead` and `mpu` are u16 like `struct tc_ratespec`'s; `EINVAL` for a
 * value that is not an integer (or, for `atm`, not a boolean), `ERANGE` outside.
 */
export function rateCfg(rateBytesPs: number, overhead = 0, mpu = 0, atm = false): RateCfg {
  integerIn('rateCfg.rateBytesPs', rateBytesPs, 0, Number.MAX_SAFE_INTEGER);
  integerIn('rateCfg.overhead', overhead, 0, U16_MAX);
  integerIn('rateCfg.mpu', mpu, 0, U16_MAX);
  boolean('rateCfg.atm', atm);
  let mult = 1n;
  let shift = 0;
  if (rateBytesPs > 0) {
    const rate = BigInt(rateBytesPs);
    let factor = NSEC_PER_SEC;
    for (;;) {
      mult = factor / rate;
      if (mult & BIT31 || factor & BIT63) break;
      factor <<= 1n;
      shift++;
    }
  }
  return { rateBytesPs, mult: Number(mult), shift, scale: 2 ** shift, overhead, mpu, atm };
}

/**
 * psched_l2t_ns(): nanoseconds to send `len` bytes at this rate. `r` comes
 * from {@link rateCfg}; `len` is a u32 like the kernel's (`EINVAL` for a
 * non-integer, `ERANGE` outside 0..2^32-1).
 */
export function lengthToTime(r: RateCfg, len: number): number {
  plainObject('lengthToTime.rate', r, 'a RateCfg from rateCfg()');
  integerIn('lengthToTime.len', len, 0, U32_MAX);
  len += r.overhead;
  if (len < r.mpu) len = r.mpu;
  if (r.atm) len = Math.ceil(len / 48) * 53;
  const product = len * r.mult;
  if (product <= Number.MAX_SAFE_INTEGER) return Math.floor(product / r.scale);
  return Number(((BigInt(len) * BigInt(r.mult)) & 0xffffffffffffffffn) >> BigInt(r.shift));
}
