/**
 * `GenEstimator`: the kernel's generic rate estimator (net/core/gen_estimator.c)
 * over a {@link CounterSet}.
 * @module
 */
import type { CounterSet } from '../percpu';
import { invalidArgument, outOfRange } from '../errors';
import { resolveFields } from './fields';
import { estimationsOf, type GenReading, readGen, slotView } from './memory';
import { estimatorNative } from './native';

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

/** A reading of a {@link GenEstimator}, as gen_estimator_read gives it. */
export interface GenEstimate {
  /** Bytes per second (`avbps >> 8`). */
  bps: number;
  /** Packets per second (`avpps >> 8`). */
  pps: number;
}

const stopper = new FinalizationRegistry<number>((id) => {
  try {
    estimatorNative.remove(id);
  } catch {
    // the environment is going away: its estimators are stopped natively
  }
});

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidArgument(`options.${name}`, value, `expected an integer from ${min} to ${max}`);
  }
  if (value < min || value > max) throw outOfRange(`options.${name}`, value, `${min} to ${max}`);
  return value;
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
export class GenEstimator {
  /** The period, 2^interval seconds. */
  readonly interval: number;
  /** The EWMA weight's log: weight 2^-ewmaLog. */
  readonly ewmaLog: number;
  private readonly id: number;
  private readonly u32: Uint32Array;
  private readonly word: number;
  private final: GenEstimate | undefined;
  private finalEstimations = 0;

  /**
   * Starts estimating the `bytes` and `packets` fields of `stats` (or those
   * `options.fields` names). `ERANGE` for an interval outside -2..3 or an
   * ewmaLog outside 1..30; `EINVAL` for a missing field.
   */
  constructor(stats: CounterSet, options: GenEstimatorOptions) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', options, 'expected { interval, ewmaLog }');
    }
    this.interval = checkInteger('interval', options.interval, -2, 3);
    this.ewmaLog = checkInteger('ewmaLog', options.ewmaLog, 1, 30);
    const indices = resolveFields('GenEstimator', stats, GEN_FIELDS, options.fields);
    const h = stats.handle;
    this.id = estimatorNative.create(2, h.chunk, h.offset, h.fields.length, h.token, indices, this.interval + 2, this.ewmaLog);
    const slot = slotView(this.id);
    this.u32 = slot.u32;
    this.word = slot.word;
    stopper.register(this, this.id, this);
  }

  /** The current rates, read from shared memory (no native call). After {@link stop}: the last reading. */
  read(): GenEstimate {
    if (this.final) return { ...this.final };
    return readGen(this.u32, this.word, this.id) as GenReading as GenEstimate;
  }

  /** How many periods have been estimated since creation. */
  get estimations(): number {
    return this.final ? this.finalEstimations : estimationsOf(this.u32, this.word);
  }

  /** True once {@link stop} has run. */
  get stopped(): boolean {
    return this.final !== undefined;
  }

  /** Stops estimating and releases the estimator (idempotent), as gen_kill_estimator. */
  stop(): void {
    if (this.final) return;
    this.final = readGen(this.u32, this.word, this.id);
    this.finalEstimations = estimationsOf(this.u32, this.word);
    stopper.unregister(this);
    estimatorNative.remove(this.id);
  }
}
