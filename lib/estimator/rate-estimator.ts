/**
 * `RateEstimator`: IPVS's rate estimator (net/netfilter/ipvs/ip_vs_est.c) over a
 * {@link CounterSet}.
 * @module
 */
import type { CounterSet } from '../percpu';
import { KernkitError } from '../errors';
import { options as checkOptions } from '../validate';
import { resolveFields } from './fields';
import { readIpvs, slotView } from './memory';
import { estimatorNative } from './native';
import { SlotEstimator } from './slot-estimator';
import type { RateEstimate } from './types';

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

// Checks the arguments and creates the native estimator: its slot id.
function createIpvs(stats: CounterSet, opts: unknown): number {
  const o = checkOptions<RateEstimatorOptions>('options', opts, ['fields']);
  const indices = resolveFields('RateEstimator', stats, RATE_FIELDS, o.fields);
  const h = stats.handle;
  return estimatorNative.create(1, h.chunk, h.offset, h.fields.length, h.token, indices, 0, 0);
}

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
 * est.stop(); // or: using est = new RateEstimator(stats);
 * ```
 *
 * Differences from the kernel: totals are signed (kernkit counters accept
 * negative adds; the kernel's never decrease), and start from the counter set's
 * own zero point when the estimator is created. Rates are exact up to 2^53.
 */
export class RateEstimator extends SlotEstimator<RateEstimate> {
  private readonly i64: BigInt64Array;

  /**
   * Starts estimating `stats`, which must have the fields `conns, inpkts,
   * outpkts, inbytes, outbytes` (or those `options.fields` maps them to);
   * `EINVAL` naming the missing field otherwise, or an unknown option. The
   * set's counters stay allocated until the estimator stops.
   */
  constructor(stats: CounterSet, options: RateEstimatorOptions = {}) {
    super(createIpvs(stats, options));
    this.i64 = slotView(this.id).i64;
  }

  /** The rates and totals of the last estimation, read from shared memory. */
  protected override readSlot(): RateEstimate {
    return readIpvs(this.u32, this.i64, this.word, this.id);
  }

  /**
   * Zeroes the totals and the rates, as `ip_vs_zero_stats`: the last sample
   * becomes the base of the totals and the start of the next delta, the
   * averages restart from 0. The counter set itself is untouched. `EINVAL`
   * once stopped.
   */
  zero(): void {
    if (this.stopped) throw new KernkitError('RateEstimator.zero: the estimator is stopped', { code: 'EINVAL' });
    estimatorNative.zero(this.id);
  }
}
