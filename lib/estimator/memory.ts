/**
 * This thread's window on the estimators' shared memory (csrc/estimator.h,
 * `SharedEst`): typed-array views of the slabs, and seqlock readers that decode
 * an estimator without a native call.
 *
 * A slot is 128 bytes = 32 uint32 words:
 *
 * | words  | field                                                         |
 * |--------|---------------------------------------------------------------|
 * | 0      | seq: odd while a kthread writes the slot                       |
 * | 1      | estimations applied                                            |
 * | 2-11   | avg[5]: uint64 (lo, hi) pairs, the scaled EWMAs                |
 * | 12-21  | sample[5]: int64, the counters at the last estimation          |
 * | 22-31  | base[5]: int64, what zero() recorded                           |
 * @internal
 * @module
 */
import { estimatorNative } from './native';
import type { GenEstimate, RateEstimate } from './types';

const constants = estimatorNative.constants();

/** Slots per slab (one ArrayBuffer each). */
export const SLAB_SLOTS: number = constants.slabSlots;
const SLOT_WORDS = constants.slotBytes / 4;
if (SLOT_WORDS !== 32) throw new Error('kernkit: addon and JavaScript disagree on the estimator slot layout');

const AVG = 2; // uint32 word of avg[0]
const SAMPLE = 6; // int64 index (within the slot) of sample[0]
const BASE = 11; // int64 index (within the slot) of base[0]

/** Where one estimator lives, as this thread sees it. */
export interface SlotView {
  readonly u32: Uint32Array;
  readonly i64: BigInt64Array;
  /** The slot's first uint32 word in `u32`. */
  readonly word: number;
}

const slabs = new Map<number, { u32: Uint32Array; i64: BigInt64Array }>();

/** The views of slot `id`, with the slab's views created once per thread. */
export function slotView(id: number): SlotView {
  const slab = Math.floor(id / SLAB_SLOTS);
  let v = slabs.get(slab);
  if (!v) {
    const buffer = estimatorNative.view(slab);
    v = { u32: new Uint32Array(buffer), i64: new BigInt64Array(buffer) };
    slabs.set(slab, v);
  }
  return { u32: v.u32, i64: v.i64, word: (id % SLAB_SLOTS) * SLOT_WORDS };
}

/** Estimations applied to the slot at word `w` so far. */
export function estimationsOf(u32: Uint32Array, w: number): number {
  return Atomics.load(u32, w + 1);
}

const TWO_32 = 4294967296;

// (avg + round) >> shift in u64 arithmetic, for avg = hi * 2^32 + lo, as
// ip_vs_read_estimator computes it: the carry of the addition into the high
// word wraps mod 2^64 (an average just below 2^64, left by a negative delta,
// decodes to a small number). Exact while the result is below 2^53, rounded
// to the nearest double above, as Number(bigint) rounds.
function decodeU64(hi: number, lo: number, round: number, shift: 10 | 5): number {
  let sum = lo + round;
  let high = hi;
  if (sum >= TWO_32) {
    sum -= TWO_32;
    high = (high + 1) >>> 0;
  }
  return shift === 10 ? high * 4194304 + Math.floor(sum / 1024) : high * 134217728 + Math.floor(sum / 32);
}

// (avg + 0x1FF) >> 10: cps, inpps, outpps.
function decode10(hi: number, lo: number): number {
  return decodeU64(hi, lo, 0x1ff, 10);
}

// (avg + 0xF) >> 5: inbps, outbps.
function decode5(hi: number, lo: number): number {
  return decodeU64(hi, lo, 0xf, 5);
}

// A slot is written in some tens of ns; a reader that found it mid-write this
// many times in a row is not racing a write but waiting for a writer that is
// not running (a kthread preempted while it writes, at nice 19 on a busy CPU).
// It then copies the slot natively under the lock that writer holds: it sleeps
// on that lock instead of spinning the event loop against the writer.
const READ_ATTEMPTS = 128;

// Where the native fallback copies a slot.
const scratch = new ArrayBuffer(SLOT_WORDS * 4);
const scratchU32 = new Uint32Array(scratch);
const scratchI64 = new BigInt64Array(scratch);

function decodeIpvs(u32: Uint32Array, i64: BigInt64Array, w: number): RateEstimate {
  const q = w / 2;
  const a = w + AVG;
  return {
    cps: decode10(u32[a + 1], u32[a]),
    inpps: decode10(u32[a + 3], u32[a + 2]),
    outpps: decode10(u32[a + 5], u32[a + 4]),
    inbps: decode5(u32[a + 7], u32[a + 6]),
    outbps: decode5(u32[a + 9], u32[a + 8]),
    conns: BigInt.asIntN(64, i64[q + SAMPLE] - i64[q + BASE]),
    inpkts: BigInt.asIntN(64, i64[q + SAMPLE + 1] - i64[q + BASE + 1]),
    outpkts: BigInt.asIntN(64, i64[q + SAMPLE + 2] - i64[q + BASE + 2]),
    inbytes: BigInt.asIntN(64, i64[q + SAMPLE + 3] - i64[q + BASE + 3]),
    outbytes: BigInt.asIntN(64, i64[q + SAMPLE + 4] - i64[q + BASE + 4]),
  };
}

/**
 * ip_vs_read_estimator plus ip_vs_copy_stats for estimator `id`, whose slot is
 * at word `w`: the decoded rates and the totals (last sample minus base), from
 * one estimation. Retries while the estimating kthread is in the middle of
 * writing the slot, a bounded number of times, then reads it natively (see
 * READ_ATTEMPTS).
 */
export function readIpvs(u32: Uint32Array, i64: BigInt64Array, w: number, id: number): RateEstimate {
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const seq = Atomics.load(u32, w);
    if (seq & 1) continue;
    const r = decodeIpvs(u32, i64, w);
    if (Atomics.load(u32, w) === seq) return r;
  }
  estimatorNative.snapshot(id, scratchU32);
  return decodeIpvs(scratchU32, scratchI64, 0);
}

function decodeGen(u32: Uint32Array, w: number): GenEstimate {
  const a = w + AVG;
  return {
    bps: u32[a + 1] * 16777216 + (u32[a] >>> 8),
    pps: u32[a + 3] * 16777216 + (u32[a + 2] >>> 8),
  };
}

/** gen_estimator_read for estimator `id` at word `w`: avbps >> 8 and avpps >> 8, from one estimation (as readIpvs). */
export function readGen(u32: Uint32Array, w: number, id: number): GenEstimate {
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const seq = Atomics.load(u32, w);
    if (seq & 1) continue;
    const r = decodeGen(u32, w);
    if (Atomics.load(u32, w) === seq) return r;
  }
  estimatorNative.snapshot(id, scratchU32);
  return decodeGen(scratchU32, 0);
}
