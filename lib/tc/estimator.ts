/**
 * Rate estimators (`TCA_RATE`, `struct tc_estimator`): the sampling interval
 * and averaging constant tc's `estimator INTERVAL TIME_CONSTANT` turns into
 * `interval` (log2 of quarter-seconds) and `ewma_log`, as tc_setup_estimator does.
 * @module
 */
import { outOfRange } from '../errors';
import { parseTime, type Time } from './units';

/** An estimator as tc takes it: `{ interval: '1s', timeConstant: '8s' }`. */
export interface EstimatorOptions {
  /** How often the rate is sampled: 250ms, 500ms, 1s, 2s, 4s or 8s (rounded up to one of those). */
  interval: Time;
  /** The averaging time constant. */
  timeConstant: Time;
}

/** The two bytes the kernel gets. */
export interface TcEstimator {
  /** log2(interval / 1s), from -2 (250ms) to 3 (8s). */
  interval: number;
  /** The EWMA weight's log2. */
  ewmaLog: number;
}

/** tc_setup_estimator(): refuses what tc refuses, with `ERANGE`. */
export function setupEstimator(opts: EstimatorOptions, field = 'estimator'): TcEstimator {
  const a = parseTime(opts.interval, `${field}.interval`);
  const timeConst = parseTime(opts.timeConstant, `${field}.timeConstant`);
  let interval = 0;
  for (; interval <= 5; interval++) if (a <= 2 ** interval * (1000000 / 4)) break;
  if (interval > 5) throw outOfRange(`${field}.interval`, opts.interval, 'at most 8s');
  interval -= 2;
  let ewmaLog = 1;
  for (; ewmaLog < 32; ewmaLog++) {
    const w = 1.0 - 1.0 / 2 ** ewmaLog;
    if (a / -Math.log(w) > timeConst) break;
  }
  ewmaLog--;
  if (ewmaLog === 0 || ewmaLog >= 31) throw outOfRange(`${field}.timeConstant`, opts.timeConstant, 'between about 1.5 and 2^30 times the interval');
  return { interval, ewmaLog };
}

/** The `struct tc_estimator` payload. */
export function estimatorBytes(e: TcEstimator): Uint8Array {
  return Uint8Array.from([e.interval & 0xff, e.ewmaLog]);
}
