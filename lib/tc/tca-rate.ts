/**
 * tc's rate estimators (`TCA_RATE`, `struct tc_estimator`): the sampling
 * interval and averaging constant tc's `estimator INTERVAL TIME_CONSTANT`
 * turns into `interval` (log2 of quarter-seconds) and `ewma_log`, as
 * tc_setup_estimator does. (Not to be confused with `lib/estimator/`, kernkit's
 * own estimators over per-CPU counters.)
 * @module
 */
import { invalid, options, outOfRange } from '../validate';
import { parseTime, type Time } from './units';

/** A qdisc's, class's or filter's rate estimator as tc takes it: `{ interval: '1s', timeConstant: '8s' }`. */
export interface TcEstimatorOptions {
  /** How often the rate is sampled: 250ms, 500ms, 1s, 2s, 4s or 8s (rounded up to one of those). */
  interval: Time;
  /** The averaging time constant. */
  timeConstant: Time;
}

/** @deprecated Use {@link TcEstimatorOptions}. */
export type EstimatorOptions = TcEstimatorOptions;

/** The two bytes the kernel gets. */
export interface TcEstimator {
  /** log2(interval / 1s), from -2 (250ms) to 3 (8s). */
  interval: number;
  /** The EWMA weight's log2. */
  ewmaLog: number;
}

const KEYS = ['interval', 'timeConstant'] as const;

/**
 * tc_setup_estimator(): refuses what tc refuses, with `ERANGE`; a missing
 * field, an unknown key or a value that is not an object is `EINVAL`.
 */
export function setupEstimator(value: TcEstimatorOptions, field = 'estimator'): TcEstimator {
  const opts = options<TcEstimatorOptions>(field, value, KEYS);
  if (value === undefined) throw invalid(field, value, '{ interval, timeConstant }');
  for (const key of KEYS) if (opts[key] === undefined) throw invalid(`${field}.${key}`, undefined, 'a time such as "1s" (required)');
  const a = parseTime(opts.interval as Time, `${field}.interval`);
  const timeConst = parseTime(opts.timeConstant as Time, `${field}.timeConstant`);
  let interval = 0;
  for (; interval <= 5; interval++) if (a <= 2 ** interval * (1000000 / 4)) break;
  if (interval > 5) throw outOfRange(`${field}.interval`, opts.interval, 'an interval of at most 8s');
  interval -= 2;
  let ewmaLog = 1;
  for (; ewmaLog < 32; ewmaLog++) {
    const w = 1.0 - 1.0 / 2 ** ewmaLog;
    if (a / -Math.log(w) > timeConst) break;
  }
  ewmaLog--;
  if (ewmaLog === 0 || ewmaLog >= 31) throw outOfRange(`${field}.timeConstant`, opts.timeConstant, 'a time constant between about 1.5 and 2^30 times the interval');
  return { interval, ewmaLog };
}

/** The `struct tc_estimator` payload. */
export function estimatorBytes(e: TcEstimator): Uint8Array {
  return Uint8Array.from([e.interval & 0xff, e.ewmaLog]);
}
