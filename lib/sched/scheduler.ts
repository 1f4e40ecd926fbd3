/**
 * Scheduler: runs application work in the order, and at the pace, a
 * {@link FairQueue} or {@link Htb} lets it go. `add()` queues a job and
 * returns a promise of its result; the scheduler dequeues while fewer than
 * `concurrency` jobs run, and when the queue holds work it will not release
 * yet (pacing, rates), it sleeps on one timer until the queue's `nextTime()`.
 * Never a busy loop: each wake-up either runs a job or re-arms the single
 * timer. What a p-queue or bottleneck user switches to for fairness between
 * tenants. A `budget` ({@link ResourceCounter}) bounds what all jobs waiting
 * and running may cost together, across schedulers and threads that share it.
 * @module
 */
import { KernkitError } from '../errors';
import type { ResourceCounter } from '../rescounter';
import { resourceCounterOption } from '../rescounter/option';
import { func, integerIn, invalid, options as checkOptions } from '../validate';
import { readClock, type Clock } from './clock';
import { FairQueue, type FqItem } from './fair-queue';
import { Htb, type HtbItem } from './htb';
import type { Handle } from '../tc/handle';

/** A job as it travels through the queue. */
interface Job<P, R> {
  payload: P;
  resolve(value: R): void;
  reject(reason: unknown): void;
  aborted: boolean;
  cleanup?: () => void;
  /** What the job holds of the budget: its length until it leaves, then 0. */
  charged: number;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions<P, R> {
  /** Runs one job; may be async. Its result (or error) settles the promise `add()` returned. */
  run(payload: P): R | Promise<R>;
  /** Jobs running at once: an integer >= 1 or Infinity (default 1). */
  concurrency?: number;
  /**
   * Charged with each job's `length` while it waits and runs (`tryCharge` at
   * `add()`, uncharged when the job finishes, fails, is aborted or dropped, or
   * the scheduler closes). A refused charge rejects the job with `ENOBUFS`.
   * Keep it open while the scheduler uses it.
   */
  budget?: ResourceCounter;
}

/** The `ENOBUFS` of a job the budget refused: `reason` is `'budget'`, `refuser` the level whose max refused. */
export interface BudgetRefusal extends KernkitError {
  readonly reason: 'budget';
  readonly refuser: ResourceCounter;
}

/** How {@link Scheduler.add} places a job. */
export interface SchedulerAddOptions {
  /** FairQueue: the flow (tenant) it belongs to. */
  flow?: unknown;
  /** FairQueue: orphan hash (for jobs without a flow). */
  hash?: number;
  /** FairQueue: priority (band through priomap). */
  priority?: number;
  /** FairQueue: not before this time (ns on the queue's clock). */
  time?: number;
  /** FairQueue: the flow's pacing rate in bytes (cost units) per second. */
  rate?: number;
  /** Htb: the leaf class. */
  classid?: Handle;
  /** Cost of the job in bytes or any unit (default 1). */
  length?: number;
  /** Abort: the promise rejects with the signal's reason and the job does not run. */
  signal?: AbortSignal;
}

const FQ_KEYS = ['flow', 'hash', 'priority', 'time', 'rate', 'length', 'signal'] as const;
const HTB_KEYS = ['classid', 'length', 'signal'] as const;
/** The queues' own bound on an item's length. */
const U32_MAX = 0xffffffff;

function budgetRefusal(budget: ResourceCounter, refuser: ResourceCounter, length: number): BudgetRefusal {
  let depth = 0;
  for (let c: ResourceCounter | undefined = budget; c && c !== refuser; c = c.parent) depth++;
  const level = refuser.name !== '' ? `"${refuser.name}"` : depth === 0 ? 'the budget' : `the budget's ancestor ${depth} level${depth === 1 ? '' : 's'} up`;
  const err = new KernkitError(`add: the budget refused ${length} at ${level} (usage ${refuser.usage} of max ${refuser.max})`, { code: 'ENOBUFS' });
  return Object.assign(err, { reason: 'budget' as const, refuser });
}

/** The queues a Scheduler drives: one scheduler per queue, for the queue's lifetime. */
const drivenQueues = new WeakSet<FairQueue | Htb>();

/**
 * Drives a queue: see the module comment. The scheduler owns its queue: it
 * must be empty when the scheduler is made, and no other scheduler may drive
 * it (`EBUSY`), also after this one closes.
 */
export class Scheduler<P = unknown, R = unknown> {
  /** The queue jobs wait in. */
  readonly queue: FairQueue<Job<P, R>> | Htb<Job<P, R>>;
  private readonly run: (payload: P) => R | Promise<R>;
  private readonly concurrency: number;
  private readonly clock: Clock;
  private running = 0;
  private queued = 0;
  private paused = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private idleWaiters: Array<() => void> = [];
  /** Jobs waiting in the queue and not aborted, so close() can settle them. */
  private readonly waiting = new Set<Job<P, R>>();
  private isClosed = false;
  private readonly budget: ResourceCounter | undefined;

  /** A scheduler over `queue` (a FairQueue or an Htb with its classes). */
  constructor(queue: FairQueue | Htb, options: SchedulerOptions<P, R>) {
    if (!(queue instanceof FairQueue) && !(queue instanceof Htb)) throw invalid('queue', queue, 'a FairQueue or an Htb');
    // The scheduler's counts and its jobs' promises assume every item in the queue is one of its own jobs.
    if (drivenQueues.has(queue)) throw invalid('queue', queue, 'a queue no other Scheduler drives', 'EBUSY');
    if (queue.size !== 0) throw invalid('queue', queue, `an empty queue (it holds ${queue.size} items)`, 'EBUSY');
    const o = checkOptions<SchedulerOptions<P, R>>('scheduler', options, ['run', 'concurrency', 'budget']);
    const run = func<(payload: P) => R | Promise<R>>('scheduler.run', o.run, 'a function (payload) => result');
    this.concurrency = o.concurrency === undefined || o.concurrency === Infinity ? (o.concurrency ?? 1) : integerIn('scheduler.concurrency', o.concurrency, 1, Number.MAX_SAFE_INTEGER);
    this.budget = o.budget === undefined ? undefined : resourceCounterOption('scheduler.budget', o.budget);
    this.queue = queue as FairQueue<Job<P, R>> | Htb<Job<P, R>>;
    this.run = run;
    this.clock = queue.clock;
    drivenQueues.add(queue);
  }

  /** Jobs waiting (not aborted). */
  get size(): number {
    return this.queued;
  }

  /** Jobs running. */
  get pending(): number {
    return this.running;
  }

  /** True between pause() and resume(). */
  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Queues `payload` and resolves with what `run(payload)` returns. Rejects
   * with `ENOBUFS` (and `.reason`, the queue's drop reason) when the queue
   * drops it or (`.reason` `'budget'`, `.refuser` the refusing level, see
   * {@link BudgetRefusal}) when the budget cannot take its length, leaving
   * the queue unchanged; with the signal's reason when aborted; bad options throw.
   */
  add(payload: P, options?: SchedulerAddOptions): Promise<R> {
    const isFq = this.queue instanceof FairQueue;
    const o = checkOptions<SchedulerAddOptions>('add', options, isFq ? FQ_KEYS : HTB_KEYS);
    const signal = o.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('add.signal', signal, 'an AbortSignal');
    const length = o.length === undefined ? 1 : integerIn('add.length', o.length, 1, U32_MAX);
    if (this.isClosed) return Promise.reject(new KernkitError('add: the scheduler is closed', { code: 'ECANCELED' }));
    if (signal?.aborted) return Promise.reject(signal.reason);
    let job!: Job<P, R>;
    const promise = new Promise<R>((resolve, reject) => (job = { payload, resolve, reject, aborted: false, charged: 0 }));
    if (this.budget) {
      const refuser = this.budget.tryChargeOrRefuser(length);
      if (refuser) return Promise.reject(budgetRefusal(this.budget, refuser, length));
      job.charged = length;
    }
    let result: string;
    try {
      const now = readClock(this.clock);
      result = isFq
        ? (this.queue as FairQueue<Job<P, R>>).enqueue({ length, flow: o.flow, hash: o.hash, priority: o.priority, time: o.time, rate: o.rate, payload: job } as FqItem<Job<P, R>>, now)
        : (this.queue as Htb<Job<P, R>>).enqueue({ length, classid: o.classid, payload: job } as HtbItem<Job<P, R>>);
    } catch (err) {
      this.release(job);
      throw err;
    }
    if (result !== 'queued') {
      this.release(job);
      const err = new KernkitError(`add: the queue dropped the job (${result})`, { code: 'ENOBUFS' });
      (err as KernkitError & { reason: string }).reason = result;
      return Promise.reject(err);
    }
    this.queued++;
    this.waiting.add(job);
    if (signal) {
      const onAbort = (): void => {
        if (job.aborted) return;
        job.aborted = true;
        this.waiting.delete(job);
        this.queued--;
        this.release(job);
        job.reject(signal.reason);
        this.settleIdle();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      job.cleanup = () => signal.removeEventListener('abort', onAbort);
    }
    this.pump();
    return promise;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Stops for good: the timer is cleared, every waiting job rejects with
   * `ECANCELED` (its item stays in the queue and is skipped) and gives its
   * budget back, later `add()`s reject too; running jobs finish.
   */
  close(): void {
    this.closeWith(new KernkitError('the scheduler was closed before the job ran', { code: 'ECANCELED' }));
  }

  /** close(), rejecting the waiting jobs with `reason`. */
  private closeWith(reason: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.paused = true;
    this.disarm();
    for (const job of this.waiting) {
      job.aborted = true;
      job.cleanup?.();
      this.release(job);
      job.reject(reason);
    }
    this.waiting.clear();
    this.queued = 0;
    this.settleIdle();
  }

  /** `using s = new Scheduler(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Stops starting jobs (running ones finish). */
  pause(): void {
    this.paused = true;
    this.disarm();
  }

  /** Starts jobs again (not after close()). */
  resume(): void {
    if (this.isClosed) return;
    this.paused = false;
    this.pump();
  }

  /** Resolves once no job waits or runs. */
  onIdle(): Promise<void> {
    if (this.queued === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * {@link pump} from a timer or a microtask, where nobody could catch what it throws (a clock
   * that broke): the scheduler closes, and its waiting jobs reject with that error.
   */
  private pumpInBackground(): void {
    try {
      this.pump();
    } catch (err) {
      this.closeWith(err instanceof Error ? err : new KernkitError(String(err), { code: 'EINVAL' }));
    }
  }

  /** Starts what the queue releases now, then sleeps until it releases more. */
  private pump(): void {
    if (this.paused) return;
    while (this.running < this.concurrency) {
      const item = this.queue.dequeue(readClock(this.clock));
      if (!item) break;
      const job = item.payload as Job<P, R>;
      // An aborted job was already settled; it still took its turn in the queue.
      if (job.aborted) continue;
      job.cleanup?.();
      this.waiting.delete(job);
      this.queued--;
      this.running++;
      this.start(job);
    }
    this.armTimer();
  }

  private start(job: Job<P, R>): void {
    let result: R | Promise<R>;
    try {
      result = this.run(job.payload);
    } catch (err) {
      this.finish(job, () => job.reject(err));
      return;
    }
    Promise.resolve(result).then(
      (value) => this.finish(job, () => job.resolve(value)),
      (err: unknown) => this.finish(job, () => job.reject(err)),
    );
  }

  private finish(job: Job<P, R>, settle: () => void): void {
    this.running--;
    // Given back before the promise settles, so a caller that awaited the job can add another.
    this.release(job);
    settle();
    // Start the next job on a fresh tick, so a long chain of sync jobs does not grow the stack.
    queueMicrotask(() => {
      this.pumpInBackground();
      this.settleIdle();
    });
  }

  /** Gives the job's charge back to the budget, once (a budget closed meanwhile keeps it). */
  private release(job: Job<P, R>): void {
    if (job.charged === 0) return;
    const n = job.charged;
    job.charged = 0;
    if (this.budget && !this.budget.closed) this.budget.uncharge(n);
  }

  /** One timer at a time, at the queue's next release (rounded up to whole milliseconds). */
  private armTimer(): void {
    const next = this.paused || this.running >= this.concurrency || this.queue.size === 0 ? null : this.queue.nextTime();
    if (next === null) {
      this.disarm();
      return;
    }
    if (this.timer && this.timerAt === next) return;
    this.disarm();
    const delayMs = Math.max(1, Math.ceil((next - readClock(this.clock)) / 1e6));
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pumpInBackground();
    }, delayMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private settleIdle(): void {
    if (this.queued === 0 && this.running === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
