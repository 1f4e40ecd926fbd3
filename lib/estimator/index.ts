/**
 * Rate estimators on native kthreads: IPVS's {@link RateEstimator} and the
 * kernel's generic {@link GenEstimator}, both over {@link CounterSet}s, and the
 * process-wide {@link estimation} control.
 * @module
 */
export { RateEstimator, RATE_FIELDS, type RateField, type RateEstimatorOptions } from './rate-estimator';
export { GenEstimator, GEN_FIELDS, type GenField, type GenEstimatorOptions } from './gen-estimator';
export { estimation, type EstimationConfig, type ManualClock } from './estimation';
export type { RateEstimate, GenEstimate, EstimationStats, KthreadStats } from './types';
