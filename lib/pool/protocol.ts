/**
 * What the pool and its workers say to each other: the startup message, the
 * task and reply tuples, and the shared control block that lets an idle
 * worker sleep in Atomics.wait instead of its event loop.
 * Internal to kernkit, not part of its API.
 * @module
 */
import type { MessagePort } from 'node:worker_threads';
import type { CounterSetHandle } from '../percpu';
import type { SerializedError } from './errors';

/** Int32 index in the control block: tasks the pool has posted (the worker waits on it). */
export const REQUESTS = 0;
/** Int32 index in the control block: replies the worker has posted (the pool drains by it). */
export const RESPONSES = 1;
/** Int32 fields in a worker's control block. */
export const CONTROL_FIELDS = 2;

/** Counters each worker keeps about itself (a CounterSet written by the worker only). */
export const WORKER_FIELDS = ['completed', 'failed', 'busyNs'] as const;
/** One of {@link WORKER_FIELDS}. */
export type WorkerField = (typeof WORKER_FIELDS)[number];

/**
 * Pool-wide counters (one CounterSet, each thread writing its own shard):
 * workers add completed/failed/busyNs, the pool's thread the rest.
 */
export const POOL_FIELDS = ['submitted', 'completed', 'failed', 'aborted', 'rejected', 'crashed', 'busyNs', 'exitedNs'] as const;
/** One of {@link POOL_FIELDS}. */
export type PoolField = (typeof POOL_FIELDS)[number];

/** The first message a worker gets, with its port (transferred) and its orders. */
export interface WorkerInit {
  readonly kind: 'kernkit.pool.init';
  readonly port: MessagePort;
  readonly control: Int32Array;
  readonly filename: string;
  readonly name: string;
  /** The CPU to pin to, or null to stay unpinned. */
  readonly cpu: number | null;
  readonly nice: number | undefined;
  readonly workerStats: CounterSetHandle;
  readonly poolStats: CounterSetHandle;
}

/** Pool to worker: run `task` with the export `name` (undefined: the pool's). */
export const TASK = 0;
/** Worker to pool: pinned and loaded: `[READY, tid, cpuNow]`. */
export const READY = 1;
/** Worker to pool: could not start: `[STARTUP_FAILED, error]`. */
export const STARTUP_FAILED = 2;
/** Worker to pool: the task returned: `[RESULT, value]`. */
export const RESULT = 3;
/** Worker to pool: the task threw: `[FAILED, error]`. */
export const FAILED = 4;

/** A message on a task port. */
export type TaskMessage = [typeof TASK, unknown, string | undefined];
/** A message from a worker. */
export type WorkerMessage =
  | [typeof READY, number, number]
  | [typeof STARTUP_FAILED, SerializedError]
  | [typeof RESULT, unknown]
  | [typeof FAILED, SerializedError];
