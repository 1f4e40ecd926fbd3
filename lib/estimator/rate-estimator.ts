/**
 * `RateEstimator`: IPVS's rate estimator (net/netfilter/ipvs/ip_vs_est.c) over a
 * {@link CounterSet}.
 * @module
 */
import type { CounterSet } from '../percpu';
import { KernkitError, invalidArgument } from '../errors';
import { resolveFields } from './fields';
import { estimationsOf, readIpvs, slotView } from './memory';
import { estimatorNative } from './native';

/** The counters an IPVS estimator reads, in the kernel's order (struct ip_vs_counters). */
export const RATE_FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;

/** One of {@link RATE_FIELDS}. */
export type RateField = (typeof RATE_FIELDS)[number];

/** Options of {@link RateEstimator}. */
export interface RateEstimatorOptions {
  /**
   * Which field of the set to read for each estimator field, when the set names
   * them differently, e.g. `{ conns: 'accepted', inbytes: 'rx_bytes', ... }`.
   * Unmapped fields are read under their own name.
   */
  fields?: Partial<Record<RateField, string>>;
}

/**
 * A reading of a {@link RateEstimator}, as `ipvsadm --stats --rate` shows it:
 * rates decoded as `ip_vs_read_estimator` does, totals since the last zero.
 */
export interface RateEstimate {
  /** Connections per second: `(avg + 0x1FF) >> 10`. */
  cps: number;
  /** Incoming packets per second. */
  inpps: number;
  /** Outgoing packets per second. */
  outpps: number;
  /** Incoming bytes per second: `(avg + 0xF) >> 5`. */
  inbps: number;
  /** Outgoing bytes per second. */
  outbps: number;
  /** Connections counted up to the last estimation, since the last zero. */
  conns: bigint;
  /** Incoming packets, likewise. */
  inpkts: bigint;
  /** Outgoing packets, likewise. */
  outpkts: bigint;
  /** Incoming bytes, likewise. */
  inbytes: bigint;
  /** Outgoing bytes, likewise. */
  outbytes: bigint;
}

const stopper = new FinalizationRegistry<number>((id) => {
  try {
    estimatorNative.remove(id);
  } catch {
    // the environment is going away: its estimators are stopped natively
  }
});

/**
 * The kernel's IPVS rate estimator over five counters of a {@link CounterSet}:
 * every 2 s a native kthread sums each counter over all threads' shards, takes
 * the delta from its last sample and updates a fixed-point EWMA exactly as
 * `ip_vs_chain_estimation` does (`rate = delta << 9` for cps/pps, `<< 4` for
 * bps; `avg += (rate - avg) >> 2` in signed 64-bit arithmetic). The event loop
 * does none of this work, and {@link read} is a read of shared memory, not a
 * native call.
 *
 * Like IPVS, a new estimator is first estimated within 2 s of its creation:
 * about 2 s after it when its kthread holds many estimators (it joins the row
 * estimated last), anywhere from 0 to 2 s while it holds few (they share a few
 * rows); that first estimation counts what came since creation as 2 s worth.
 * Its average then converges on the true rate with weight 1/4 per 2 s.
 *
 * ```ts
 * const stats = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
 * const est = new RateEstimator(stats);
 * // ... count into `stats` from any thread ...
 * est.read(); // { cps, inpps, outpps, inbps, outbps, conns, inpkts, ... }
 * est.stop();
 * ```
 *
 * Differences from the kernel: totals are signed (kernkit counters accept
 * negative adds; the kernel's never decrease), and start from the counter set's
 * own zero point when the estimator is created. Rates are exact up to 2^53.
 */
export class RateEstimator {
  private readonly id: number;
  // The slot in shared memory (kept as fields, not an object: 10^6 estimators are common).
  private readonly u32: Uint32Array;
  private readonly i64: BigInt64Array;
  private readonly word: number;
  private final: RateEstimate | undefined;
  private finalEstimations = 0;

  /**
   * Starts estimating `stats`, which must have the fields `conns, inpkts,
   * outpkts, inbytes, outbytes` (or those `options.fields` maps them to);
   * `EINVAL` naming the missing field otherwise. The set's counters stay
   * allocated until the estimator stops.
   */
  constructor(stats: CounterSet, options: RateEstimatorOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgument('options', options, 'expected an object');
    const indices = resolveFields('RateEstimator', stats, RATE_FIELDS, options.fields);
    const h = stats.handle;
    this.id = estimatorNative.create(1, h.chunk, h.offset, h.fields.length, h.token, indices, 0, 0);
    const slot = slotView(this.id);
    this.u32 = slot.u32;
    this.i64 = slot.i64;
    this.word = slot.word;
    stopper.register(this, this.id, this);
  }

  /** The current rates and totals, read from shared memory (no native call). After {@link stop}: the last reading. */
  read(): RateEstimate {
    if (this.final) return { ...this.final };
    return readIpvs(this.u32, this.i64, this.word, this.id);
  }

  /** How many 2-second estimations have been applied since creation. */
  get estimations(): number {
    return this.final ? this.finalEstimations : estimationsOf(this.u32, this.word);
  }

  /** True once {@link stop} has run. */
  get stopped(): boolean {
    return this.final !== undefined;
  }

  /**
   * Zeroes the totals and the rates, as `ip_vs_zero_stats`: the last sample
   * becomes the base of the totals and the start of the next delta, the
   * averages restart from 0. The counter set itself is untouched.
   */
  zero(): void {
    if (this.final) throw new KernkitError('RateEstimator.zero: the estimator is stopped', { code: 'EINVAL' });
    estimatorNative.zero(this.id);
  }

  /** Stops estimating and releases the estimator (idempotent). {@link read} keeps returning the last reading. */
  stop(): void {
    if (this.final) return;
    this.final = readIpvs(this.u32, this.i64, this.word, this.id);
    this.finalEstimations = estimationsOf(this.u32, this.word);
    stopper.unregister(this);
    estimatorNative.remove(this.id);
  }
}
