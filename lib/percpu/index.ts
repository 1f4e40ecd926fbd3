/**
 * Per-thread sharded counters: {@link Counter} and {@link CounterSet}.
 * @module
 */
export { Counter, type CounterHandle } from './counter';
export { CounterSet, type CounterSetHandle } from './counter-set';
export { MAX_SHARDS } from './arena';
