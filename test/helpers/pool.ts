/**
 * Helpers for the pool tests: fixture paths, a gate that holds tasks inside
 * their workers until the test lets them go, and waiting for a condition.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerPool, type WorkerPoolOptions } from '../../lib';

/** Path of a file in test/pool/fixtures. */
export function fixture(name: string): string {
  return path.join(__dirname, '..', 'pool', 'fixtures', name);
}

/** Waits until `cond()` holds; fails the test after `timeoutMs` instead of hanging. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Waits until worker thread `tid` is asleep in its event loop (epoll_wait, as
 * /proc/self/task/<tid>/wchan names it) or has exited. A worker whose task
 * awaits something that holds no event-loop handle must be found asleep there
 * with the task still pending. Where the kernel hides wait channels, waits
 * 300 ms instead.
 */
export async function untilAsleepInEventLoop(tid: number): Promise<void> {
  const wchan = (): string | undefined => {
    try {
      return readFileSync(`/proc/self/task/${tid}/wchan`, 'utf8');
    } catch {
      return undefined; // the thread is gone
    }
  };
  const first = wchan();
  if (first === '0' || first === '') return void (await sleep(300));
  await waitFor(() => {
    const now = wchan();
    return now === undefined || now.includes('epoll');
  }, `thread ${tid} to sleep in its event loop or exit`);
}

/** Shared flags for the fixtures' `hold` and `holdAsync` tasks: [0] opens the gate, [1] counts tasks that started. */
export class Gate {
  readonly buffer = new SharedArrayBuffer(8);
  private readonly flags = new Int32Array(this.buffer);

  get started(): number {
    return Atomics.load(this.flags, 1);
  }

  /** Waits until `n` held tasks are running in workers. */
  whenStarted(n: number): Promise<void> {
    return waitFor(() => this.started >= n, `${n} held tasks to start`);
  }

  open(): void {
    Atomics.store(this.flags, 0, 1);
    Atomics.notify(this.flags, 0);
  }
}

/** Pools a test made; `destroyAll()` in afterEach ends any a failed test left behind. */
export class PoolTracker {
  private readonly pools: WorkerPool[] = [];

  create<T = unknown, R = unknown>(options: WorkerPoolOptions): WorkerPool<T, R> {
    const pool = new WorkerPool<T, R>(options);
    this.pools.push(pool as WorkerPool);
    return pool;
  }

  async destroyAll(): Promise<void> {
    await Promise.all(this.pools.splice(0).map((p) => p.destroy()));
  }
}
