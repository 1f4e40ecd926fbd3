/**
 * The pool's side of one worker thread: the Worker, its task port and
 * control block, its counters, its state and the task it runs.
 * Internal to kernkit, not part of its API.
 * @module
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { CounterSet } from '../percpu/counter-set';
import type { GenEstimator } from '../estimator/gen-estimator';
import type { ResolvedOptions } from './options';
import { startRates } from './rates';
import { CONTROL_FIELDS, REQUESTS, TASK, WORKER_FIELDS, type WorkerField, type WorkerInit } from './protocol';
import type { Task } from './task';
import type { CounterSetHandle } from '../percpu';

/**
 * The compiled bootstrap. The pool always starts workers from dist/, also when
 * its own code runs from lib/ (ts-jest, tsx): both sit two levels below the
 * package root.
 */
export const BOOTSTRAP = path.join(__dirname, '..', '..', 'dist', 'pool', 'worker.js');

/**
 * Where a worker is in its life:
 * - `starting`: pinning itself and loading the task module, or the pool runs its startup steps;
 * - `standby`: started by setCpus(), waiting for the whole new set before it serves;
 * - `idle` / `busy`: serving;
 * - `exiting`: terminated or told to go; gone once `exited` resolves.
 */
export type WorkerState = 'starting' | 'standby' | 'idle' | 'busy' | 'exiting';

/** What startup steps and stats know about a worker. */
export interface WorkerIdentity {
  /** Node's `threadId` of the worker. */
  readonly threadId: number;
  /** The kernel's thread id (what /proc/self/task/<tid> and cgroup `tasks` files use). */
  readonly tid: number;
  /** The CPU the worker pinned itself to, or null when the pool does not pin. */
  readonly cpu: number | null;
}

/** One worker thread as the pool sees it. */
export class PoolWorker {
  /** The Node worker thread. */
  readonly worker: Worker;
  /** Its `threadId`, kept: the Worker's own reads -1 once the thread has exited. */
  readonly threadId: number;
  /** The pool's end of the task channel. */
  readonly port: MessagePort;
  /** Request and reply counts shared with the worker (see protocol.ts). */
  readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_FIELDS * Int32Array.BYTES_PER_ELEMENT));
  /** The worker's own counters; the worker attaches them by handle and writes its shard. */
  readonly counters = new CounterSet<WorkerField>(WORKER_FIELDS);
  /** The estimator of its task rates (the pool's `rates` option); stopped when the thread exits. */
  readonly rates: GenEstimator | undefined;
  /** When the thread was created (performance.now()). */
  readonly createdAt = performance.now();
  /** See {@link WorkerState}. */
  state: WorkerState = 'starting';
  /** Started by setCpus(): serves only once setCpus commits. */
  standby = false;
  /** Leaves the pool after its current task (setCpus, close). */
  retiring = false;
  /** Terminated on purpose by the pool (abort, retirement): its exit is no crash. */
  stopping = false;
  /** The thread has exited. */
  dead = false;
  /** Whether `started` has resolved, rejected, or not yet. */
  startOutcome: 'pending' | 'started' | 'failed' = 'pending';
  /** The kernel's thread id, once the worker reported it. */
  tid: number | null = null;
  /** The task it runs now. */
  task: Task | undefined;
  /** Replies handled, to tell from the control block whether more are waiting. */
  seenResponses = 0;
  /** The uncaught error the thread died of, if it did. */
  crashError: unknown;
  /** Settles when the thread has exited (its OS thread joined). */
  readonly exited: Promise<number>;
  private startResolve!: () => void;
  private startReject!: (err: unknown) => void;
  /** Settles when the worker is ready to serve, or could not start. */
  readonly started: Promise<void>;

  /** Whether the worker pins itself to `cpu`. */
  readonly pinned: boolean;
  /** Whether the Worker handle is ref'd now (a new Worker is). */
  private holding = true;

  constructor(
    /** The CPU this worker belongs to in the pool's cpulist. */
    readonly cpu: number,
    options: ResolvedOptions,
    poolStats: CounterSetHandle,
  ) {
    this.started = new Promise<void>((resolve, reject) => {
      this.startResolve = resolve;
      this.startReject = reject;
    });
    this.started.catch(() => undefined); // whoever started it handles the failure
    this.pinned = options.pin;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(BOOTSTRAP, {
      workerData: options.workerData,
      resourceLimits: options.resourceLimits,
      env: options.env,
      execArgv: options.execArgv,
      argv: options.argv,
    });
    this.threadId = this.worker.threadId;
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
    const init: WorkerInit = {
      kind: 'kernkit.pool.init',
      port: port2,
      control: this.control,
      filename: options.filename,
      name: options.name,
      cpu: this.pinned ? cpu : null,
      nice: options.nice,
      workerStats: this.counters.handle,
      poolStats,
    };
    this.worker.postMessage(init, [port2]);
    this.rates = options.rates ? startRates(this.counters, options.rates) : undefined;
    // The Worker handle, not the task port, holds the event loop open: it stays until 'exit' is
    // delivered, where the port closes as soon as the thread dies. Ref'd now (it starts); see holdLoop().
    this.port.unref();
  }

  /**
   * Whether this worker holds the event loop open: while it starts, runs a
   * task or is being stopped (its 'exit' must reach the pool, or a task's
   * promise would never settle), and not while it idles (an idle pool does
   * not keep a program running). Piscina refs per task as well.
   */
  holdLoop(hold: boolean): void {
    if (hold === this.holding) return;
    this.holding = hold;
    if (hold) this.worker.ref();
    else this.worker.unref();
  }

  /** The identity once the worker has said who it is. */
  identity(): WorkerIdentity {
    return { threadId: this.threadId, tid: this.tid ?? -1, cpu: this.pinned ? this.cpu : null };
  }

  /** The worker is ready to serve: settles `started`. */
  markStarted(): void {
    if (this.startOutcome !== 'pending') return;
    this.startOutcome = 'started';
    this.startResolve();
  }

  /** The worker could not start (or was stopped first): settles `started` with `err`. */
  markFailed(err: unknown): void {
    if (this.startOutcome !== 'pending') return;
    this.startOutcome = 'failed';
    this.startReject(err);
  }

  /** Hands the worker a task and wakes it if it sleeps. Throws if the task cannot be cloned. */
  post(task: Task): void {
    this.port.postMessage([TASK, task.payload, task.name], task.transferList);
    this.task = task;
    this.state = 'busy';
    this.holdLoop(true);
    Atomics.add(this.control, REQUESTS, 1);
    Atomics.notify(this.control, REQUESTS, 1);
  }

  /** Terminates the thread on purpose; `exited` settles when it is gone. */
  stop(): Promise<number> {
    if (!this.stopping) {
      this.stopping = true;
      this.state = 'exiting';
      this.port.close();
      this.holdLoop(true); // whoever awaits the exit must see it
      void this.worker.terminate();
    }
    return this.exited;
  }

  /** How long the thread has existed, in ms. */
  aliveMs(now = performance.now()): number {
    return now - this.createdAt;
  }
}
