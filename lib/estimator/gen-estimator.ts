/**
 * `GenEstimator`: the kernel's generic rate estimator (net/core/gen_estimator.c)
 * over a {@link CounterSet}.
 * @module
 */
import type { CounterSet } from '../percpu';
import { integerIn, options as checkOptions } from '../validate';
import { resolveFields } from './fields';
import { readGen } from './memory';
import { estimatorNative } from './native';
import { SlotEstimator } from './slot-estimator';
import type { GenEstimate } from './types';

/** The counters a gen estimator reads (struct gnet_stats_basic). */
export const GEN_FIELDS = ['bytes', 'packets'] as const;

/** One of {@link GEN_FIELDS}. */
export type GenField = (typeof GEN_FIELDS)[number];

/** Options of {@link GenEstimator}: struct tc_estimator, plus a field map. */
export interface GenEstimatorOptions {
  /** The period is 2^interval seconds: -2 (250 ms), -1, 0 (1 s), 1, 2 or 3 (8 s). */
  interval: number;
  /** The EWMA weight is 2^-ewmaLog, from 1 to 30. */
  ewmaLog: number;
  /** Which field of the set to read for `bytes` and `packets`, when named differently. */
  fields?: Partial<Record<GenField, string>>;
}

/**
 * The estimator tc attaches to qdiscs and classes (`tc ... estimator 1sec 8sec`):
 * every 2^interval seconds, `rate = delta << (10 - intvl_log)` (bytes or packets
 * per second scaled by 2^8, with `intvl_log = interval + 2`) and
 * `avg += (rate >> ewmaLog) - (avg >> ewmaLog)` in unsigned 64-bit arithmetic,
 * exactly as `est_timer`. Run by the same native kthreads as
 * {@link RateEstimator} (kthread 0 keeps their timers); read from shared memory.
 *
 * ```ts
 * const stats = new CounterSet(['bytes', 'packets']);
 * const est = new GenEstimator(stats, { interval: 0, ewmaLog: 3 }); // 1 s period, weight 1/8
 * est.read(); // { bps, pps }
 * ```
 *
 * Differences from the kernel: out-of-range `interval` or `ewmaLog` give
 * `ERANGE` naming the option (gen_new_estimator returns EINVAL); the first
 * estimation is one period after creation, later ones are re-armed from their
 * deadline (a late one 1 ms after it ran, as the kernel re-arms a jiffy later).
 */
export class GenEstimator extends SlotEstimator<GenEstimate> {
  /** The period, 2^interval seconds. */
  readonly interval: number;
  /** The EWMA weight's log: weight 2^-ewmaLog. */
  readonly ewmaLog: number;

  /**
   * Starts estimating the `bytes` and `packets` fields of `stats` (or those
   * `options.fields` names). `ERANGE` for an interval outside -2..3 or an
   * ewmaLog outside 1..30; `EINVAL` for a non-integer, a missing field or an
   * unknown option.
   */
  constructor(stats: CounterSet, options: GenEstimatorOptions) {
    const o = checkOptions<GenEstimatorOptions>('options', options, ['interval', 'ewmaLog', 'fields']);
    const interval = integerIn('options.interval', o.interval, -2, 3);
    const ewmaLog = integerIn('options.ewmaLog', o.ewmaLog, 1, 30);
    const indices = resolveFields('GenEstimator', stats, GEN_FIELDS, o.fields);
    const h = stats.handle;
    super(estimatorNative.create(2, h.chunk, h.offset, h.fields.length, h.token, indices, interval + 2, ewmaLog));
    this.interval = interval;
    this.ewmaLog = ewmaLog;
  }

  /** avbps >> 8 and avpps >> 8 of the last estimation, read from shared memory. */
  protected override readSlot(): GenEstimate {
    return readGen(this.u32, this.word, this.id);
  }
}
