/**
 * `WorkerPool`: worker threads pinned one per CPU of a cpulist (or several),
 * with a piscina-like API, counters in kernkit's per-thread shards, and
 * IPVS-style reshaping when the cpulist changes.
 * @module
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { receiveMessageOnPort, type Transferable, type Worker } from 'node:worker_threads';
import { checkOnline, type CpuSpec, resolveCpus } from '../cpu/affinity';
import { KernkitError, describeValue } from '../errors';
import { arrayOf, invalid, options, string } from '../validate';
import type { GenEstimator } from '../estimator/gen-estimator';
import { CounterSet } from '../percpu/counter-set';
import { AbortError, deserializeError, serializeError, withCause } from './errors';
import { type ResolvedOptions, resolveOptions, type WorkerPoolOptions } from './options';
import { PoolWorker, type WorkerIdentity, type WorkerState } from './pool-worker';
import { FAILED, POOL_FIELDS, type PoolField, READY, RESPONSES, RESULT, STARTUP_FAILED, type WorkerMessage } from './protocol';
import { type StartupStep, startupSteps } from './startup';
import { type PoolRates, poolRates, startRates, type WorkerRates, workerRates } from './rates';
import { type Task, TaskQueue } from './task';

/** Options of one {@link WorkerPool.run} call. */
export interface RunOptions {
  /** Cancels the task: a queued task leaves the queue, a running one has its worker replaced. */
  signal?: AbortSignal | null;
  /** Objects to transfer (not copy) to the worker with the task, as for postMessage. */
  transferList?: readonly Transferable[];
  /** The export of the task module to call instead of the pool's `name`. */
  name?: string;
}

/** One worker, as {@link WorkerPool.stats} reports it. */
export interface WorkerStats {
  /** Node's `threadId`. */
  threadId: number;
  /** The kernel's thread id, once the worker has started (null before). */
  tid: number | null;
  /** The CPU the worker is pinned to (null when the pool does not pin). */
  cpu: number | null;
  /** `starting`, `standby` (started by setCpus, not serving yet), `idle`, `busy` or `exiting`. */
  state: WorkerState;
  /** True while it runs its last task: it leaves after it and is not replaced (setCpus, close). */
  retiring: boolean;
  /** Tasks it finished, with a result or an error. */
  completed: number;
  /** Of those, the ones that threw (or whose result could not be sent). */
  failed: number;
  /** Time spent in finished tasks, in ms. */
  busyMs: number;
  /** Time since the thread was created, in ms. */
  aliveMs: number;
  /** busyMs / aliveMs: the share of its life the thread spent running tasks. */
  utilization: number;
  /** Its estimated rates now, with the `rates` option; null without. */
  rates: WorkerRates | null;
}

/** The whole pool, as {@link WorkerPool.stats} reports it. Counts are since the pool was created. */
export interface PoolStats {
  /** The CPUs the pool runs on, ascending (as {@link WorkerPool.cpus}). */
  cpus: number[];
  /** Worker threads that exist now, in any state. */
  threads: number;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks on a worker now. */
  running: number;
  /** Tasks accepted by run(). */
  submitted: number;
  /** Tasks finished by a worker, with a result or an error. */
  completed: number;
  /** Tasks that threw, whose result could not be sent back, or whose input could not be sent to a worker. */
  failed: number;
  /** Tasks cancelled (signal or destroy()). */
  aborted: number;
  /** run() calls refused because the queue was full (EAGAIN). */
  rejected: number;
  /** Workers that died (crash, process.exit) and were replaced. */
  crashed: number;
  /** Time all workers spent in finished tasks, in ms. */
  busyMs: number;
  /** busyMs over the summed lifetime of every worker thread the pool has had. */
  utilization: number;
  /** The pool's estimated rates now, with the `rates` option; null without. */
  rates: PoolRates | null;
  /** Each worker thread that exists now. */
  workers: WorkerStats[];
}

type PoolState = 'running' | 'closing' | 'closed' | 'failed' | 'destroyed';

/** run()'s options, checked: undefined means none; an object with unknown keys or wrong types is EINVAL. */
function checkRunOptions(value: unknown): RunOptions {
  const o = options<RunOptions>('run options', value, ['signal', 'transferList', 'name']);
  const { signal } = o;
  if (signal != null && (typeof signal !== 'object' || typeof signal.addEventListener !== 'function' || typeof signal.aborted !== 'boolean')) {
    throw invalid('signal', signal, 'an AbortSignal');
  }
  if (o.transferList !== undefined) arrayOf('transferList', o.transferList, (_field, item) => item);
  if (o.name !== undefined) string('name', o.name, { nonEmpty: true, expected: 'the name of an export' });
  return o;
}

/**
 * A pool of worker threads, each pinned to one CPU of a cpulist before it
 * takes a task — as the kernel pins its per-CPU kthreads.
 *
 * ```ts
 * const pool = new WorkerPool({ filename: __dirname + '/hash.js', cpus: '2-3', threadsPerCpu: 1 });
 * const digest = await pool.run(buffer, { transferList: [buffer.buffer] });
 * await pool.setCpus('2-5'); // reshape: running tasks finish, new workers pin to 2-5
 * console.log(pool.stats().workers.map((w) => [w.cpu, w.tid, w.completed]));
 * await pool.close();
 * ```
 *
 * Events: `'workerError'` `(err, worker: WorkerIdentity)` when a worker dies
 * or cannot start (the pool replaces it or fails; see docs/pools.md);
 * `'needsDrain'` when every worker has become busy and `'drain'` when one is
 * free again (see {@link WorkerPool.needsDrain}).
 */
export class WorkerPool<TaskT = unknown, ResultT = unknown> extends EventEmitter {
  private readonly opts: ResolvedOptions;
  private readonly steps: StartupStep[];
  private readonly counters = new CounterSet<PoolField>(POOL_FIELDS);
  /** The pool's rate estimator (`rates` option); stopped once close() or destroy() has ended every thread. */
  private readonly rateEstimator: GenEstimator | undefined;
  private readonly IX_SUBMITTED = this.counters.index('submitted');
  private readonly IX_FAILED = this.counters.index('failed');
  private readonly IX_ABORTED = this.counters.index('aborted');
  private readonly IX_REJECTED = this.counters.index('rejected');
  private readonly IX_CRASHED = this.counters.index('crashed');
  private readonly IX_EXITED_NS = this.counters.index('exitedNs');
  private cpuList: number[];
  /** Every thread that has not exited yet, in any state. */
  private readonly workers = new Set<PoolWorker>();
  /** Serving workers with nothing to do (the most recently freed last). */
  private readonly idle: PoolWorker[] = [];
  private readonly queue = new TaskQueue();
  private running = 0;
  private state: PoolState = 'running';
  private failure: unknown;
  private reshaping: Promise<void> = Promise.resolve();
  private readonly initialStart: Promise<void>;
  private closing: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];
  private inDrain = false;
  private needsDrainFlag = false;

  /** Starts `threadsPerCpu` workers on each CPU of `cpus`; see {@link WorkerPoolOptions}. Throws on bad options. */
  constructor(options: WorkerPoolOptions) {
    super();
    this.opts = resolveOptions(options);
    this.steps = startupSteps(this.opts);
    this.cpuList = [...this.opts.cpus];
    const first: PoolWorker[] = [];
    for (const cpu of this.cpuList) {
      for (let i = 0; i < this.opts.threadsPerCpu; i++) first.push(this.spawn(cpu, false));
    }
    this.initialStart = Promise.all(first.map((w) => w.started)).then(() => undefined);
    this.initialStart.catch(() => undefined); // reported through ready(), run() and 'workerError'
    this.rateEstimator = this.opts.rates ? startRates(this.counters, this.opts.rates) : undefined;
  }

  // ---- public API -------------------------------------------------------

  /**
   * Runs `task` on a worker: resolves with what the task module's function
   * returned, rejects with what it threw. With every worker busy the task
   * waits in a FIFO queue; when the queue holds `maxQueue` tasks it rejects at
   * once with `EAGAIN`. An aborted task rejects with {@link AbortError}; a
   * worker that dies rejects its task with its error (or `EOWNERDEAD` for an
   * exit) and is replaced. After close()/destroy(): `ESHUTDOWN`.
   */
  run(task: TaskT, options?: RunOptions): Promise<ResultT> {
    if (this.state !== 'running') return Promise.reject(this.closedError());
    try {
      checkRunOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = options?.signal ?? undefined;
    if (signal?.aborted) {
      this.counters.inc(this.IX_ABORTED);
      return Promise.reject(new AbortError(signal.reason));
    }
    const worker = this.idle.pop();
    if (worker === undefined && this.queueFull()) {
      this.counters.inc(this.IX_REJECTED);
      return Promise.reject(
        new KernkitError(`task queue is full (maxQueue ${describeValue(this.queueLimit())}, every worker busy)`, { code: 'EAGAIN' }),
      );
    }
    let resolve!: (value: unknown) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<ResultT>((res, rej) => {
      resolve = res as (value: unknown) => void;
      reject = rej;
    });
    const t: Task = {
      payload: task,
      transferList: options?.transferList,
      name: options?.name,
      resolve,
      reject,
      signal,
      onAbort: undefined,
      worker: undefined,
      settled: false,
    };
    this.counters.inc(this.IX_SUBMITTED);
    if (signal) {
      t.onAbort = () => this.abort(t);
      signal.addEventListener('abort', t.onAbort, { once: true });
    }
    this.queue.push(t);
    if (worker) this.serve(worker);
    return promise;
  }

  /**
   * Resolves once every first worker has pinned itself, loaded the task module
   * and passed the startup steps; rejects with the error of the first that
   * could not. Calling it is optional: tasks wait for workers anyway.
   */
  ready(): Promise<void> {
    return this.initialStart;
  }

  /**
   * Moves the pool to another cpulist, as IPVS restarts its estimation kthreads
   * when their cpulist changes: workers for the new CPUs start (and pin
   * themselves) first; once all have started they take over, workers on CPUs
   * no longer listed finish their running task and exit, and queued tasks run
   * on the new workers. Workers already on a CPU that stays are kept.
   *
   * If a new worker cannot start (a CPU outside the cpuset, a startup step
   * failing), the new workers are stopped and the pool keeps its old CPUs;
   * the promise rejects with that error. Calls are applied one after another.
   */
  setCpus(cpus: CpuSpec): Promise<void> {
    if (this.state !== 'running') return Promise.reject(this.closedError());
    let list: number[];
    try {
      list = resolveCpus(cpus, 'cpus');
      checkOnline(list);
    } catch (err) {
      return Promise.reject(err);
    }
    const job = this.reshaping.then(() => this.reshape(list));
    this.reshaping = job.catch(() => undefined);
    return job;
  }

  /** A snapshot of the pool and each worker, read from the kernkit counters the workers write. */
  stats(): PoolStats {
    const now = performance.now();
    let aliveNs = 0;
    const workers: WorkerStats[] = [];
    for (const w of this.workers) {
      const c = w.counters.sum();
      const busyMs = Number(c.busyNs) / 1e6;
      const aliveMs = w.aliveMs(now);
      aliveNs += aliveMs * 1e6;
      workers.push({
        threadId: w.threadId,
        tid: w.tid,
        cpu: w.pinned ? w.cpu : null,
        state: w.state,
        retiring: w.phase === 'retiring',
        completed: Number(c.completed),
        failed: Number(c.failed),
        busyMs,
        aliveMs,
        utilization: aliveMs > 0 ? Math.min(1, busyMs / aliveMs) : 0,
        rates: w.rates ? workerRates(w.rates) : null,
      });
    }
    const p = this.counters.sum();
    const threadNs = Number(p.exitedNs) + aliveNs;
    return {
      cpus: [...this.cpuList],
      threads: this.workers.size,
      queued: this.queue.size,
      running: this.running,
      submitted: Number(p.submitted),
      completed: Number(p.completed),
      failed: Number(p.failed),
      aborted: Number(p.aborted),
      rejected: Number(p.rejected),
      crashed: Number(p.crashed),
      busyMs: Number(p.busyNs) / 1e6,
      utilization: threadNs > 0 ? Math.min(1, Number(p.busyNs) / threadNs) : 0,
      rates: this.rateEstimator ? poolRates(this.rateEstimator, this.cpuList.length * this.opts.threadsPerCpu) : null,
      workers,
    };
  }

  /**
   * Stops taking tasks (run() then rejects with `ESHUTDOWN`), lets queued and
   * running tasks finish, then ends every worker thread. Resolves when no
   * thread of the pool is left.
   */
  close(): Promise<void> {
    if (this.destroying) return this.destroying;
    if (!this.closing) {
      if (this.state === 'running') this.state = 'closing';
      this.closing = (async () => {
        await this.reshaping;
        await this.drained();
        if (this.state === 'closing') this.state = 'closed';
        await this.stopAll();
        this.rateEstimator?.stop();
      })();
    }
    return this.closing;
  }

  /**
   * Ends the pool now: queued and running tasks reject with {@link AbortError},
   * every worker thread is terminated. Resolves when no thread is left.
   */
  destroy(): Promise<void> {
    if (!this.destroying) {
      this.state = 'destroyed';
      const aborted = (t: Task) => {
        this.settle(t);
        this.counters.inc(this.IX_ABORTED);
        t.reject(new AbortError(undefined, 'The task has been aborted: the pool was destroyed'));
      };
      for (const t of this.queue.drain()) aborted(t);
      for (const w of this.workers) {
        const t = w.taskDone();
        if (t && !t.settled) aborted(t);
      }
      this.running = 0;
      this.needsDrainFlag = false; // no 'drain': nothing can run any more
      this.wakeDrainWaiters();
      this.destroying = this.stopAll().then(() => this.rateEstimator?.stop());
    }
    return this.destroying;
  }

  /**
   * True once close() or destroy() has been called: the pool takes no more
   * tasks (run() rejects with `ESHUTDOWN`). Its threads may still be
   * finishing; the promise close() or destroy() returned says when they are gone.
   */
  get closed(): boolean {
    return this.closing !== undefined || this.destroying !== undefined;
  }

  /**
   * `await using pool = new WorkerPool(...)` closes it at the end of the
   * scope. Only the async form: both close() and destroy() wait for threads
   * to exit, so there is no `[Symbol.dispose]()` that could finish the job.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The CPUs the pool runs on now, ascending (a copy). */
  get cpus(): number[] {
    return [...this.cpuList];
  }

  /** The serving worker threads (piscina's `threads`). */
  get threads(): Worker[] {
    return [...this.workers].filter((w) => w.state === 'idle' || w.state === 'busy').map((w) => w.worker);
  }

  /** Tasks waiting for a worker (piscina's `queueSize`). */
  get queueSize(): number {
    return this.queue.size;
  }

  /** Tasks finished so far (piscina's `completed`). */
  get completed(): number {
    return Number(this.counters.sum().completed);
  }

  /**
   * True while every worker of the pool's shape (`threadsPerCpu` per CPU)
   * runs a task, so that a new task would wait in the queue — piscina's
   * "every worker at capacity" with one task per worker. When it turns true the
   * pool emits `'needsDrain'`, when it turns false `'drain'` (both from a
   * microtask, as piscina). Unlike piscina, which emits `'needsDrain'` again
   * after each run() and each finished task while it stays at capacity,
   * kernkit emits each event once per change. Workers still starting do not
   * count as busy (nor do they in piscina).
   */
  get needsDrain(): boolean {
    return this.needsDrainFlag;
  }

  // ---- workers ----------------------------------------------------------

  /** Starts a worker for `cpu`. A joining worker (setCpus) waits in standby for the commit before it serves. */
  private spawn(cpu: number, joining: boolean): PoolWorker {
    const w = new PoolWorker(cpu, this.opts, this.counters.handle, joining);
    this.workers.add(w);
    w.port.on('message', (msg: WorkerMessage) => this.onMessage(w, msg));
    w.worker.on('error', (err) => {
      w.crashError ??= err;
    });
    w.worker.once('exit', (code) => this.onExit(w, code));
    // Listening refs a port; the Worker handle holds the event loop instead (PoolWorker.holdLoop).
    w.port.unref();
    return w;
  }

  private onMessage(w: PoolWorker, msg: WorkerMessage): void {
    switch (msg[0]) {
      case RESULT:
      case FAILED:
        this.onReply(w, msg);
        this.drainReplies();
        break;
      case READY:
        void this.onReady(w, msg[1]);
        break;
      case STARTUP_FAILED:
        this.onStartupFailure(w, deserializeError(msg[1]));
        break;
    }
  }

  private onReply(w: PoolWorker, msg: WorkerMessage): void {
    w.seenResponses++;
    const t = w.taskDone();
    if (t && !t.settled) {
      this.running--;
      this.settle(t);
      if (msg[0] === RESULT) t.resolve(msg[1]);
      else t.reject(deserializeError(msg[1] as Parameters<typeof deserializeError>[0]));
    }
    this.serve(w);
  }

  /**
   * Takes the replies other workers have already posted without waiting for
   * their 'message' events: the control block counts replies, so a glance
   * tells which ports hold one (piscina does the same).
   */
  private drainReplies(): void {
    if (this.inDrain) return;
    this.inDrain = true;
    try {
      for (const w of this.workers) {
        if (w.state !== 'busy' || Atomics.load(w.control, RESPONSES) === w.seenResponses) continue;
        let entry: { message: unknown } | undefined;
        while (w.state === 'busy' && (entry = receiveMessageOnPort(w.port)) !== undefined) {
          this.onMessage(w, entry.message as WorkerMessage);
        }
      }
    } finally {
      this.inDrain = false;
    }
  }

  private async onReady(w: PoolWorker, tid: number): Promise<void> {
    w.tid = tid;
    try {
      for (const step of this.steps) await step(w.identity());
    } catch (err) {
      this.onStartupFailure(w, err);
      return;
    }
    if (!w.startPending) return; // stopped (or dead) while the steps ran
    w.ready();
    if (w.phase === 'standby') {
      w.holdLoop(false); // setCpus puts it to work once every new worker is up
      return;
    }
    this.serve(w);
  }

  /** A worker could not start: a pool being built or repaired fails; setCpus handles its own. */
  private onStartupFailure(w: PoolWorker, err: unknown): void {
    if (!w.startPending) return; // stopped (or dead) meanwhile: nothing waits for its start
    const member = w.phase === 'starting';
    void w.stop(err);
    if (!member) return;
    this.emit('workerError', err, w.identity());
    this.fail(err);
  }

  /** Gives a free worker the next queued task, or parks it idle (or lets it go if it is retiring). */
  private serve(w: PoolWorker): void {
    if (w.phase === 'exited') return; // its exit handler decides what comes next
    if (w.phase === 'retiring' || this.state === 'failed') {
      this.release(w);
      this.updateNeedsDrain();
      return;
    }
    for (let t = this.queue.shift(); t; t = this.queue.shift()) {
      try {
        w.post(t);
      } catch (err) {
        // The task cannot be cloned or transferred: it fails, the worker stays free.
        this.counters.inc(this.IX_FAILED);
        this.settle(t);
        t.reject(err);
        continue;
      }
      t.worker = w;
      this.running++;
      this.updateNeedsDrain();
      return;
    }
    w.holdLoop(false);
    this.idle.push(w);
    this.updateNeedsDrain();
    this.checkDrained();
  }

  /**
   * needsDrain: tasks on as many workers as the pool's shape has, and none
   * idle (retiring workers still busy after a setCpus() do not hide idle new ones).
   */
  private updateNeedsDrain(): void {
    const atCapacity = this.idle.length === 0 && this.running >= this.cpuList.length * this.opts.threadsPerCpu;
    if (atCapacity === this.needsDrainFlag) return;
    this.needsDrainFlag = atCapacity;
    queueMicrotask(() => this.emit(atCapacity ? 'needsDrain' : 'drain'));
  }

  /** Stops a worker that is not busy now; a busy one retires: it stops after its task. */
  private release(w: PoolWorker): void {
    if (w.task) {
      if (w.phase === 'busy') w.retire();
      return;
    }
    this.removeIdle(w);
    void w.stop();
    this.checkDrained();
  }

  private removeIdle(w: PoolWorker): void {
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private onExit(w: PoolWorker, code: number): void {
    const diedIn = w.phase;
    this.workers.delete(w);
    this.removeIdle(w);
    w.rates?.stop();
    this.counters.add(this.IX_EXITED_NS, Math.round(w.aliveMs() * 1e6));
    if (diedIn === 'stopping') {
      w.exit(); // stopped on purpose: no crash, nothing to replace
      this.checkDrained();
      return;
    }
    // What it posted just before it ended (its tid, a reply, its startup failure) comes first:
    // the port's messages and the exit event travel separately.
    const posted: WorkerMessage[] = [];
    for (let entry; (entry = receiveMessageOnPort(w.port)) !== undefined; ) posted.push(entry.message as WorkerMessage);
    let startupError: { error: unknown } | undefined;
    for (const msg of posted) {
      if (msg[0] === STARTUP_FAILED) startupError = { error: deserializeError(msg[1]) };
      else if (msg[0] === READY) {
        w.tid = msg[1];
        // Without startup steps nothing stood between its READY and serving: it had started, as
        // if the message had come before the exit. With steps it had not (they need a live thread).
        if (w.startPending && this.steps.length === 0) w.ready();
      }
    }
    // Rebuilt on this side, so that it is an Error of the caller's realm like every task error.
    if (w.crashError !== undefined) w.crashError = deserializeError(serializeError(w.crashError));
    const where = `worker ${w.threadId} (tid ${w.tid ?? '?'}, CPU ${w.pinned ? w.cpu : 'any'})`;
    if (w.startPending) {
      // It never started: its own startup failure, else what it died of, is the pool's (or setCpus') error.
      const startErr =
        startupError?.error ?? w.crashError ?? new KernkitError(`${where} exited with code ${code} before it started`, { code: 'EOWNERDEAD' });
      w.exit(startErr);
      if (diedIn === 'starting') {
        this.emit('workerError', startErr, w.identity());
        this.fail(startErr);
      }
      return;
    }
    w.exit();
    for (const msg of posted) if (msg[0] === RESULT || msg[0] === FAILED) this.onReply(w, msg); // serve() leaves it alone now
    const err = w.crashError ?? new KernkitError(`${where} exited with code ${code}`, { code: 'EOWNERDEAD' });
    this.counters.inc(this.IX_CRASHED);
    const t = w.taskDone();
    if (t && !t.settled) {
      this.running--;
      this.settle(t);
      t.reject(err);
    }
    this.emit('workerError', err, w.identity());
    // A serving member is replaced on its CPU; a retiring or standby one is not (setCpus replaces a standby one at commit).
    if ((this.state === 'running' || this.state === 'closing') && (diedIn === 'idle' || diedIn === 'busy')) this.spawn(w.cpu, false);
    this.updateNeedsDrain();
    this.checkDrained();
  }

  /** A worker cannot be started as configured: reject what waits and wind down. */
  private fail(err: unknown): void {
    if (this.state !== 'running' && this.state !== 'closing') return;
    this.state = 'failed';
    this.failure = err;
    for (const t of this.queue.drain()) {
      this.settle(t);
      t.reject(err);
    }
    for (const w of [...this.workers]) this.release(w); // running tasks finish first
    this.checkDrained();
  }

  private async reshape(list: number[]): Promise<void> {
    if (this.state !== 'running') throw this.closedError();
    const perCpu = this.opts.threadsPerCpu;
    // Serving workers on a CPU that stays are kept (up to threadsPerCpu); the rest are missing.
    const missing = new Map<number, number>(list.map((cpu) => [cpu, perCpu]));
    for (const w of this.workers) {
      const n = missing.get(w.cpu);
      if (n && w.member) missing.set(w.cpu, n - 1);
    }
    const fresh: PoolWorker[] = [];
    for (const [cpu, n] of missing) for (let i = 0; i < n; i++) fresh.push(this.spawn(cpu, true));
    try {
      await Promise.all(fresh.map((w) => w.started));
      if (this.state !== 'running' && this.state !== 'closing') throw this.closedError();
    } catch (err) {
      // Undo: the new workers go, the pool keeps its CPUs and workers.
      await Promise.all(fresh.map((w) => w.stop()));
      throw err;
    }
    // Commit. Which old workers leave is decided now, as workers may have been replaced meanwhile.
    // A new worker that died after it started (counted as a crash when it exited) is replaced as
    // a serving worker that dies would be; the replacement counts as a worker its CPU keeps.
    const live = fresh.filter((w) => w.phase !== 'exited');
    for (const w of fresh) if (w.phase === 'exited') this.spawn(w.cpu, false);
    const quota = new Map<number, number>(list.map((cpu) => [cpu, perCpu]));
    for (const w of live) quota.set(w.cpu, quota.get(w.cpu)! - 1);
    const leaving: PoolWorker[] = [];
    for (const w of this.workers) {
      if (!w.member) continue;
      const q = quota.get(w.cpu);
      if (q) quota.set(w.cpu, q - 1);
      else leaving.push(w);
    }
    this.cpuList = list;
    for (const w of live) {
      w.commit();
      this.serve(w);
    }
    for (const w of leaving) this.release(w);
    await Promise.all(leaving.map((w) => w.exited));
  }

  // ---- tasks ------------------------------------------------------------

  private abort(t: Task): void {
    if (t.settled) return;
    this.settle(t);
    this.counters.inc(this.IX_ABORTED);
    t.reject(new AbortError(t.signal?.reason));
    const w = t.worker;
    if (w && w.task === t) {
      // Running: the only way to stop it is to end its thread; a new worker takes the CPU.
      const member = w.phase === 'busy'; // a retiring one was leaving anyway
      w.taskDone();
      this.running--;
      void w.stop();
      if ((this.state === 'running' || this.state === 'closing') && member) this.spawn(w.cpu, false);
      this.updateNeedsDrain();
    } else if (!w) {
      this.queue.forget();
    }
    this.checkDrained();
  }

  private settle(t: Task): void {
    t.settled = true;
    if (t.onAbort) t.signal!.removeEventListener('abort', t.onAbort);
  }

  private queueLimit(): number {
    return this.opts.maxQueue === 'auto' ? (this.cpuList.length * this.opts.threadsPerCpu) ** 2 : this.opts.maxQueue;
  }

  /** The queue is full when it holds maxQueue tasks beyond what starting workers will take. */
  private queueFull(): boolean {
    const limit = this.queueLimit();
    if (this.queue.size < limit) return false;
    let starting = 0;
    for (const w of this.workers) if (w.phase === 'starting') starting++;
    return this.queue.size >= limit + starting;
  }

  private drained(): Promise<void> {
    if (this.queue.size === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private checkDrained(): void {
    if (this.drainWaiters.length && this.queue.size === 0 && this.running === 0) this.wakeDrainWaiters();
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private async stopAll(): Promise<void> {
    while (this.workers.size > 0) await Promise.all([...this.workers].map((w) => w.stop()));
  }

  private closedError(): Error {
    if (this.state === 'failed') {
      const reason = this.failure instanceof Error ? this.failure.message : describeValue(this.failure);
      return withCause(new KernkitError(`the pool failed: a worker could not start (${reason})`, { code: 'ESHUTDOWN' }), this.failure);
    }
    return new KernkitError(`the pool is ${this.state === 'destroyed' ? 'destroyed' : 'closed'}`, { code: 'ESHUTDOWN' });
  }
}

export type { WorkerIdentity };
