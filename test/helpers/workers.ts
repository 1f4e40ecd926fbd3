/** Small helpers for tests that run worker threads. */
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';

/** Path of a fixture script next to a test. */
export function fixture(dir: string, name: string): string {
  return path.join(dir, 'fixtures', name);
}

/** A worker's messages, in order, and its exit, listened to from the start. */
export interface Watched {
  /** The next message not yet taken (rejects if the worker fails or exits first). */
  next<T>(): Promise<T>;
  /** The exit code (rejects on an uncaught error in the worker). */
  readonly exit: Promise<number>;
}

/**
 * Listens to a worker right after it is created. Node may deliver a worker's
 * last messages and its 'exit' in one go, so listeners attached later miss it.
 */
export function watch(worker: Worker): Watched {
  const queue: unknown[] = [];
  const waiting: Array<{ resolve(v: unknown): void; reject(e: unknown): void }> = [];
  let ended: Error | undefined;
  const exit = new Promise<number>((resolve, reject) => {
    worker.on('error', (err) => {
      ended = err;
      waiting.splice(0).forEach((w) => w.reject(err));
      reject(err);
    });
    worker.on('exit', (code) => {
      ended ??= new Error(`worker exited (${code}) before sending the awaited message`);
      waiting.splice(0).forEach((w) => w.reject(ended));
      resolve(code);
    });
  });
  exit.catch(() => undefined); // observed through next() or exit by the caller
  worker.on('message', (m) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  });
  return {
    next<T>(): Promise<T> {
      if (queue.length) return Promise.resolve(queue.shift() as T);
      if (ended) return Promise.reject(ended);
      return new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
    },
    exit,
  };
}
