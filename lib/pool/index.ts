/**
 * CPU-pinned worker pools: {@link WorkerPool}, its errors and `move()`.
 * @module
 */
export { WorkerPool, type RunOptions, type PoolStats, type WorkerStats, type WorkerIdentity } from './pool';
export { type WorkerPoolOptions, MAX_THREADS_PER_CPU } from './options';
export { AbortError } from './errors';
export { move, type Movable } from './move';
export { type PoolRates, type WorkerRates } from './rates';
