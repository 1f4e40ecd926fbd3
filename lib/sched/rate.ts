/**
 * The kernel's rate arithmetic (`psched_ratecfg_precompute()` and
 * `psched_l2t_ns()`, net/sched/sch_generic.c and include/net/sch_generic.h):
 * a rate in bytes per second becomes a multiplier and a shift so that the
 * nanoseconds to send `len` bytes are `(len * mult) >> shift`, after the
 * per-packet overhead, the minimum size (mpu) and ATM cells are applied.
 * The kernel no longer reads tc's rate tables; it uses this.
 * @module
 */

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

/** psched_ratecfg_precompute(): the largest `mult` below 2^32 (or factor below 2^64). */
export function rateCfg(rateBytesPs: number, overhead = 0, mpu = 0, atm = false): RateCfg {
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

/** psched_l2t_ns(): nanoseconds to send `len` bytes at this rate. */
export function lengthToTime(r: RateCfg, len: number): number {
  len += r.overhead;
  if (len < r.mpu) len = r.mpu;
  if (r.atm) len = Math.ceil(len / 48) * 53;
  const product = len * r.mult;
  if (product <= Number.MAX_SAFE_INTEGER) return Math.floor(product / r.scale);
  return Number(((BigInt(len) * BigInt(r.mult)) & 0xffffffffffffffffn) >> BigInt(r.shift));
}
