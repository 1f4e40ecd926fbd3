/**
 * A submitted task as the pool tracks it, and the FIFO of tasks waiting for
 * a worker.
 * Internal to kernkit, not part of its API.
 * @module
 */
import type { Transferable } from 'node:worker_threads';
import type { PoolWorker } from './pool-worker';

/** One `run()` call. */
export interface Task {
  /** What run() was given, posted to the worker. */
  readonly payload: unknown;
  /** run()'s transferList. */
  readonly transferList: readonly Transferable[] | undefined;
  /** The export to call, when not the pool's default. */
  readonly name: string | undefined;
  /** Settles run()'s promise with the result. */
  readonly resolve: (value: unknown) => void;
  /** Settles run()'s promise with an error. */
  readonly reject: (err: unknown) => void;
  /** run()'s signal. */
  readonly signal: AbortSignal | undefined;
  /** The abort listener, to remove once the task settles. */
  onAbort: (() => void) | undefined;
  /** The worker running it, once dispatched. */
  worker: PoolWorker | undefined;
  /** Settled (resolved, rejected or aborted): a queued task in this state is skipped. */
  settled: boolean;
}

/**
 * First in, first out. A task that leaves the queue early (aborted) is only
 * marked settled and skipped when it reaches the front, so removal is O(1);
 * `size` counts the live ones.
 */
export class TaskQueue {
  private items: (Task | undefined)[] = [];
  private head = 0;
  /** Live (unsettled) tasks waiting. */
  size = 0;

  /** Adds a task at the back. */
  push(task: Task): void {
    this.items.push(task);
    this.size++;
  }

  /** The oldest live task, or undefined. */
  shift(): Task | undefined {
    while (this.head < this.items.length) {
      const task = this.items[this.head];
      this.items[this.head++] = undefined;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (task && !task.settled) {
        this.size--;
        return task;
      }
    }
    return undefined;
  }

  /** Call when a queued task settled without leaving the queue (it will be skipped). */
  forget(): void {
    this.size--;
  }

  /** Takes every live task out. */
  drain(): Task[] {
    const out: Task[] = [];
    for (let t = this.shift(); t; t = this.shift()) out.push(t);
    return out;
  }
}
