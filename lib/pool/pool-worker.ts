/**
 * The pool's side of one worker thread: the Worker, its task port and
 * control block, its counters, the task it runs, and its life as one state
 * machine (phases and the transitions between them).
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
import { AbortError, withCause } from './errors';
import { invalid } from '../validate';
import type { CounterSetHandle } from '../percpu';

/**
 * The compiled bootstrap. The pool always starts workers from dist/, also when
 * its own code runs from lib/ (ts-jest, tsx): both sit two levels below the
 * package root.
 */
export const BOOTSTRAP = path.join(__dirname, '..', '..', 'dist', 'pool', 'worker.js');

/**
 * What {@link WorkerPool.stats} reports as a worker's state:
 * - `starting`: pinning itself and loading the task module, or the pool runs its startup steps;
 * - `standby`: started by setCpus(), waiting for the whole new set before it serves;
 * - `idle` / `busy`: serving (a retiring worker is `busy` with its last task);
 * - `exiting`: terminated or told to go; gone once `exited` resolves.
 */
export type WorkerState = 'starting' | 'standby' | 'idle' | 'busy' | 'exiting';

/**
 * Where a worker is in its life, as the pool tracks it: one state, changed
 * only by the transitions of {@link PHASE_TRANSITIONS}.
 * - `starting`: a member of the pool's shape (built or repaired) that has not
 *   started; if it cannot start, the pool fails.
 * - `joining`: started by setCpus() and not started yet; if it cannot start,
 *   setCpus() rolls back and the pool goes on.
 * - `standby`: a joining worker that has started; it serves once setCpus() commits.
 * - `idle`: serving, no task.
 * - `busy`: serving, running a task.
 * - `retiring`: running its last task; it stops after it and is not replaced
 *   (setCpus() dropped its CPU, close(), a failed pool).
 * - `stopping`: terminated on purpose (abort, rollback, retirement, destroy):
 *   its exit is no crash.
 * - `exited`: the thread is gone.
 */
export type WorkerPhase = 'starting' | 'joining' | 'standby' | 'idle' | 'busy' | 'retiring' | 'stopping' | 'exited';

/**
 * The legal transitions, from each phase (anything else is a kernkit bug and throws):
 * - a worker that has not started either starts (`starting` → `idle`,
 *   `joining` → `standby`), is stopped, or dies;
 * - `standby` → `idle` when setCpus() commits;
 * - `idle` ⇄ `busy` as tasks come and go; `busy` → `retiring` when the pool
 *   lets it go with a task on it (an idle one is stopped at once);
 * - every live phase can be stopped (`stopping`) or end unexpectedly (`exited`:
 *   a crash, process.exit() in the task module); `stopping` only ends.
 */
export const PHASE_TRANSITIONS: Readonly<Record<WorkerPhase, readonly WorkerPhase[]>> = {
  starting: ['idle', 'stopping', 'exited'],
  joining: ['standby', 'stopping', 'exited'],
  standby: ['idle', 'stopping', 'exited'],
  idle: ['busy', 'stopping', 'exited'],
  busy: ['idle', 'retiring', 'stopping', 'exited'],
  retiring: ['stopping', 'exited'],
  stopping: ['exited'],
  exited: [],
};

/** Throws unless `from` → `to` is in {@link PHASE_TRANSITIONS}: a refused transition is a bug in the pool. */
export function checkTransition(from: WorkerPhase, to: WorkerPhase): void {
  if (!PHASE_TRANSITIONS[from].includes(to)) {
    throw new Error(`kernkit bug: a pool worker cannot go from ${from} to ${to}`);
  }
}

/** The state stats report for a phase (see {@link WorkerState}). */
const REPORTED_STATE: Readonly<Record<WorkerPhase, WorkerState>> = {
  starting: 'starting',
  joining: 'starting',
  standby: 'standby',
  idle: 'idle',
  busy: 'busy',
  retiring: 'busy',
  stopping: 'exiting',
  exited: 'exiting',
};

/** What startup steps and stats know about a worker. */
export interface WorkerIdentity {
  /** Node's `threadId` of the worker. */
  readonly threadId: number;
  /** The kernel's thread id (what /proc/self/task/<tid> and cgroup `tasks` files use). */
  readonly tid: number;
  /** The CPU the worker pinned itself to, or null when the pool does not pin. */
  readonly cpu: number | null;
}

/**
 * Creates the Worker. Node checks the `execArgv` flags only here: a flag a
 * worker does not accept is the caller's `EINVAL`, with Node's error as `cause`.
 */
function startThread(options: ResolvedOptions): Worker {
  try {
    return new Worker(BOOTSTRAP, {
      workerData: options.workerData,
      resourceLimits: options.resourceLimits,
      env: options.env,
      execArgv: options.execArgv,
      argv: options.argv,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    throw withCause(invalid('execArgv', options.execArgv, 'Node flags a worker thread accepts'), err);
  }
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
  /** Where it is in its life; changed only through the transition methods below. */
  private current: WorkerPhase;
  /** The kernel's thread id, once the worker reported it. */
  tid: number | null = null;
  /** The task it runs now (set by post(), taken off by taskDone()). */
  private running: Task | undefined;
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
    /** Whether setCpus() starts it (`joining`) rather than the pool's shape (`starting`). */
    joining: boolean,
  ) {
    this.current = joining ? 'joining' : 'starting';
    this.started = new Promise<void>((resolve, reject) => {
      this.startResolve = resolve;
      this.startReject = reject;
    });
    this.started.catch(() => undefined); // whoever started it handles the failure
    this.pinned = options.pin;
    this.worker = startThread(options);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
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

  /** The task it runs now, if any. */
  get task(): Task | undefined {
    return this.running;
  }

  /** Where it is in its life. */
  get phase(): WorkerPhase {
    return this.current;
  }

  /** What stats report as its state. */
  get state(): WorkerState {
    return REPORTED_STATE[this.current];
  }

  /** Whether it has started yet (`started` is still pending). */
  get startPending(): boolean {
    return this.current === 'starting' || this.current === 'joining';
  }

  /**
   * Whether it belongs to the pool's current shape: it serves (or will), and
   * is replaced if it dies. Joining, standby, retiring and stopping workers do not.
   */
  get member(): boolean {
    return this.current === 'starting' || this.current === 'idle' || this.current === 'busy';
  }

  /**
   * The one place the phase changes. Leaving `starting`/`joining` settles
   * `started`: resolved for a worker that can serve, rejected with `reason`
   * for one stopped or dead first.
   */
  private moveTo(to: WorkerPhase, reason?: unknown): void {
    checkTransition(this.current, to);
    const wasStarting = this.startPending;
    this.current = to;
    if (!wasStarting) return;
    if (to === 'idle' || to === 'standby') this.startResolve();
    else this.startReject(reason ?? new AbortError(undefined, 'The worker was stopped before it started'));
  }

  /**
   * Transition: pinned, loaded and through the startup steps. A member starts
   * serving (`idle`); a worker setCpus() started waits in `standby` for the
   * rest of the new set, so a failed reshape never had it take a task.
   */
  ready(): void {
    this.moveTo(this.current === 'joining' ? 'standby' : 'idle');
  }

  /** Transition `standby` → `idle`: setCpus() has committed, the worker now serves. */
  commit(): void {
    this.moveTo('idle');
  }

  /** Transition `idle` → `busy`: hands the worker a task and wakes it if it sleeps. Throws if the task cannot be cloned. */
  post(task: Task): void {
    checkTransition(this.current, 'busy'); // before the message: a refused task leaves it as it was
    this.port.postMessage([TASK, task.payload, task.name], task.transferList);
    this.running = task;
    this.moveTo('busy');
    this.holdLoop(true);
    Atomics.add(this.control, REQUESTS, 1);
    Atomics.notify(this.control, REQUESTS, 1);
  }

  /**
   * The task it ran has ended (replied, or settled without it): takes the task
   * off. A `busy` worker is `idle` again; a `retiring` one stays retiring, with
   * nothing left to finish, until the pool stops it.
   */
  taskDone(): Task | undefined {
    const task = this.running;
    this.running = undefined;
    if (this.current === 'busy') this.moveTo('idle');
    return task;
  }

  /** Transition `busy` → `retiring`: the pool lets it go once its running task ends. */
  retire(): void {
    this.moveTo('retiring');
  }

  /**
   * Transition to `stopping`: terminates the thread on purpose (a no-op once it
   * is stopping or gone); `exited` settles when it is gone. A worker that had
   * not started rejects `started` with `reason`.
   */
  stop(reason?: unknown): Promise<number> {
    if (this.current !== 'stopping' && this.current !== 'exited') {
      this.moveTo('stopping', reason);
      this.port.close();
      this.holdLoop(true); // whoever awaits the exit must see it
      void this.worker.terminate();
    }
    return this.exited;
  }

  /**
   * Transition to `exited`: the thread is gone (its 'exit' event). A worker
   * that had not started rejects `started` with `reason`.
   */
  exit(reason?: unknown): void {
    this.moveTo('exited', reason);
  }

  /** How long the thread has existed, in ms. */
  aliveMs(now = performance.now()): number {
    return now - this.createdAt;
  }
}
