/**
 * The bootstrap every pool worker runs (compiled to dist/pool/worker.js, which
 * the pool starts whether it was loaded from dist/ or from sources).
 *
 * Startup, in this order: pin this thread to its CPU (sched_setaffinity on
 * itself), set its nice value, attach the pool's counters, load the task
 * module, then tell the pool its tid. Only then can a task arrive: the pool
 * runs its startup steps for the worker (they know the tid) before it sends one.
 *
 * Between tasks the worker sleeps in Atomics.wait on its control block rather
 * than in its event loop: a wake-up costs a futex, not a trip through libuv.
 * As with piscina's default, a task must therefore await what it starts. The
 * event loop runs only while a task is pending, held open by a ref'd timer of
 * the worker's own (see {@link holdEventLoop}).
 * Internal to kernkit, not part of its API.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { types } from 'node:util';
import { type MessagePort, parentPort, receiveMessageOnPort } from 'node:worker_threads';
import { currentCpu, gettid, setAffinity, setNice } from '../cpu/affinity';
import { describeValue, KernkitError } from '../errors';
import { CounterSet } from '../percpu/counter-set';
import { serializeError, withCause } from './errors';
import { unwrapResult } from './move';
import {
  FAILED,
  POOL_FIELDS,
  type PoolField,
  READY,
  REQUESTS,
  RESPONSES,
  RESULT,
  STARTUP_FAILED,
  type TaskMessage,
  WORKER_FIELDS,
  type WorkerField,
  type WorkerInit,
} from './protocol';

type Handler = (task: unknown) => unknown;

// `import()` that TypeScript leaves alone when it compiles to CommonJS, for ESM task modules.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/**
 * True when Node loads `filename` as an ES module: `.mjs`, or `.js` under a package.json with
 * `"type": "module"` (the nearest one decides, as in Node's resolver).
 */
function isEsModule(filename: string): boolean {
  if (filename.endsWith('.mjs')) return true;
  if (!filename.endsWith('.js')) return false;
  for (let dir = path.dirname(filename); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type === 'module';
      } catch {
        return false; // Node itself would refuse the package; require() says why
      }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

// ES modules go through import(), never require(): Node 20's require(esm) can abort the whole
// process with an internal assertion (ModuleWrap::CreateRequiredModuleFacade) in a worker.
async function importTaskModule(filename: string): Promise<unknown> {
  if (isEsModule(filename)) return importModule(pathToFileURL(filename).href);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(filename);
}

/**
 * Loads the task module. A failure is a KernkitError with the module's own
 * error as `cause`: `ENOENT` when the file is gone (the pool checked that it
 * existed, but a worker may start much later, in setCpus() or as a
 * replacement), `ENOEXEC` when it exists but does not load (a syntax error,
 * its top level throws, a module it requires is missing), as the kernel says
 * of a file it cannot execute.
 */
async function loadModule(filename: string): Promise<unknown> {
  try {
    return await importTaskModule(filename);
  } catch (err) {
    const file = JSON.stringify(filename);
    if (!existsSync(filename)) throw withCause(new KernkitError(`task module ${file}: no such file`, { code: 'ENOENT' }), err);
    const why = types.isNativeError(err) || err instanceof Error ? `${err.name}: ${err.message}` : describeValue(err);
    throw withCause(new KernkitError(`task module ${file} failed to load: ${why}`, { code: 'ENOEXEC' }), err);
  }
}

function pickExport(mod: unknown, name: string, filename: string): Handler {
  if (typeof mod === 'function' && name === 'default') return mod as Handler;
  const exported = (mod as Record<string, unknown> | null)?.[name];
  if (typeof exported === 'function') return exported as Handler;
  // An ESM namespace of a CommonJS module keeps module.exports under `default`.
  const inner = (mod as Record<string, unknown> | null)?.default as Record<string, unknown> | Handler | undefined;
  if (name === 'default' && typeof inner === 'function') return inner;
  if (typeof inner === 'object' && inner !== null && typeof inner[name] === 'function') return inner[name] as Handler;
  throw new KernkitError(`task module ${JSON.stringify(filename)} has no function export named ${JSON.stringify(name)}`, { code: 'ENOENT' });
}

class TaskRunner {
  private seenRequests = 0;
  private readonly handlers = new Map<string, Handler>();
  private readonly mine: CounterSet<WorkerField>;
  private readonly pool: CounterSet<PoolField>;
  // Field indexes, looked up once.
  private readonly W_COMPLETED: number;
  private readonly W_FAILED: number;
  private readonly W_BUSY: number;
  private readonly P_COMPLETED: number;
  private readonly P_FAILED: number;
  private readonly P_BUSY: number;

  constructor(
    private readonly init: WorkerInit,
    private readonly module: unknown,
    defaultHandler: Handler,
  ) {
    this.handlers.set(init.name, defaultHandler);
    this.mine = CounterSet.attach<WorkerField>(init.workerStats);
    this.pool = CounterSet.attach<PoolField>(init.poolStats);
    if (this.mine.fields.join() !== WORKER_FIELDS.join() || this.pool.fields.join() !== POOL_FIELDS.join()) {
      throw new KernkitError('pool counters do not match this worker build', { code: 'EINVAL' });
    }
    this.W_COMPLETED = this.mine.index('completed');
    this.W_FAILED = this.mine.index('failed');
    this.W_BUSY = this.mine.index('busyNs');
    this.P_COMPLETED = this.pool.index('completed');
    this.P_FAILED = this.pool.index('failed');
    this.P_BUSY = this.pool.index('busyNs');
  }

  private get port(): MessagePort {
    return this.init.port;
  }

  /** Runs every task that is waiting, then sleeps until the pool posts more. Returns while a task is async. */
  loop = (): void => {
    const { control } = this.init;
    for (;;) {
      // Read the request count before draining: a task posted after this read
      // changes it, so the wait below returns at once instead of missing it.
      this.seenRequests = Atomics.load(control, REQUESTS);
      let entry: { message: unknown } | undefined;
      while ((entry = receiveMessageOnPort(this.port)) !== undefined) {
        const pending = this.run(entry.message as TaskMessage);
        if (pending) {
          pending.then(this.loop);
          return;
        }
      }
      // Output a task wrote must reach the main thread before this thread blocks.
      if (process.stdout.writableLength > 0 || process.stderr.writableLength > 0) {
        this.flushOutput().then(this.loop);
        return;
      }
      Atomics.wait(control, REQUESTS, this.seenRequests);
    }
  };

  private async flushOutput(): Promise<void> {
    for (const stream of [process.stdout, process.stderr]) {
      if (stream.writableLength > 0) await new Promise((resolve) => stream.write('', resolve));
    }
  }

  private handler(name: string | undefined): Handler {
    if (name === undefined) return this.handlers.get(this.init.name)!;
    let h = this.handlers.get(name);
    if (!h) {
      h = pickExport(this.module, name, this.init.filename);
      this.handlers.set(name, h);
    }
    return h;
  }

  /** Runs one task; returns a promise only when the task is asynchronous. */
  private run(message: TaskMessage): Promise<void> | undefined {
    const start = performance.now();
    let result: unknown;
    try {
      result = this.handler(message[2])(message[1]);
    } catch (err) {
      this.finish(start, false, err);
      return undefined;
    }
    if (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function') {
      return Promise.resolve(result).then(
        (value) => this.finish(start, true, value),
        (err) => this.finish(start, false, err),
      );
    }
    this.finish(start, true, result);
    return undefined;
  }

  private finish(start: number, ok: boolean, value: unknown): void {
    // Counted before the reply is posted, so a caller that awaits the task sees the counts.
    const busyNs = Math.round((performance.now() - start) * 1e6);
    const { mine, pool } = this;
    mine.inc(this.W_COMPLETED);
    mine.add(this.W_BUSY, busyNs);
    pool.inc(this.P_COMPLETED);
    pool.add(this.P_BUSY, busyNs);
    if (ok) {
      const [result, transferList] = unwrapResult(value);
      try {
        this.port.postMessage([RESULT, result], transferList);
      } catch (err) {
        // The result cannot be cloned (a function, a socket, ...): the task fails with that error.
        this.countFailure();
        this.port.postMessage([FAILED, serializeError(err)]);
      }
    } else {
      this.countFailure();
      this.port.postMessage([FAILED, serializeError(value)]);
    }
    Atomics.add(this.init.control, RESPONSES, 1);
  }

  private countFailure(): void {
    this.mine.inc(this.W_FAILED);
    this.pool.inc(this.P_FAILED);
  }
}

/**
 * Holds this thread's event loop open for good. Nothing else may: the worker
 * reads its task port only with receiveMessageOnPort, and a pending task may
 * await what holds no libuv handle (Atomics.waitAsync, an unref'd timer, a
 * promise another thread settles) — with an empty loop the thread would exit
 * under the task. The loop only runs while a task (or the module's load) is
 * pending: an idle worker blocks in Atomics.wait, where a ref'd timer costs
 * nothing. The worker ends when the pool terminates it.
 */
function holdEventLoop(): void {
  setInterval(() => undefined, 2 ** 31 - 1); // the longest delay a Node timer takes
}

async function start(init: WorkerInit): Promise<void> {
  holdEventLoop();
  let runner: TaskRunner;
  try {
    const tid = gettid();
    if (init.cpu !== null) setAffinity([init.cpu]); // no tid: this thread pins itself
    if (init.nice !== undefined) setNice(init.nice);
    const mod = await loadModule(init.filename);
    runner = new TaskRunner(init, mod, pickExport(mod, init.name, init.filename));
    init.port.postMessage([READY, tid, currentCpu()]);
  } catch (err) {
    init.port.postMessage([STARTUP_FAILED, serializeError(err)]);
    return; // the pool terminates this worker
  }
  runner.loop();
}

parentPort!.once('message', (init: WorkerInit) => {
  void start(init);
});
