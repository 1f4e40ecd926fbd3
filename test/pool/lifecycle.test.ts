import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AbortError, KernkitError, getAffinity, type WorkerIdentity, type WorkerPool } from '../../lib';
import { processTids, taskStatus } from '../helpers/cpu';
import { fixture, Gate, PoolTracker, untilAsleepInEventLoop, waitFor } from '../helpers/pool';

const pools = new PoolTracker();
afterEach(() => pools.destroyAll());

const cpus = getAffinity();
const N = cpus.length;

function workerTids(pool: WorkerPool): number[] {
  return pool.stats().workers.map((w) => w.tid!);
}

/** Every tid is gone from /proc/self/task: the threads exited and were joined. */
function expectGone(tids: number[]): void {
  const alive = new Set(processTids());
  expect(tids.filter((t) => alive.has(t))).toEqual([]);
}

describe('cancellation', () => {
  test('a queued task leaves the queue and never runs', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const gate = new Gate();
    const held = cpus.map(() => pool.run(gate.buffer, { name: 'hold' }));
    await gate.whenStarted(N);
    const ac = new AbortController();
    const queued = pool.run('queued', { signal: ac.signal });
    const after = pool.run('after');
    expect(pool.queueSize).toBe(2);
    ac.abort(new Error('changed my mind'));
    const err: any = await queued.catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toBeInstanceOf(KernkitError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ECANCELED' });
    expect(err.cause).toEqual(new Error('changed my mind'));
    expect(pool.queueSize).toBe(1);
    gate.open();
    await Promise.all(held);
    expect(await after).toBe('after');
    expect(pool.stats()).toMatchObject({ submitted: N + 2, completed: N + 1, aborted: 1, crashed: 0 });
    await pool.close();
  });

  test('a running task rejects at once and its worker is replaced on the same CPU', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    const before = pool.stats().workers;
    const ac = new AbortController();
    const gate = new Gate(); // never opened: the task awaits Atomics.waitAsync until its worker goes
    const running = pool.run(gate.buffer, { name: 'holdAsync', signal: ac.signal });
    await gate.whenStarted(1);
    const victim = pool.stats().workers.find((w) => w.state === 'busy')!;
    await untilAsleepInEventLoop(victim.tid!); // the task is really pending, its worker waiting in its loop
    expect(pool.stats()).toMatchObject({ running: 1, crashed: 0 });
    ac.abort();
    await expect(running).rejects.toBeInstanceOf(AbortError);
    await waitFor(() => pool.stats().workers.filter((w) => w.state === 'idle').length === N, 'the replacement');
    const after = pool.stats().workers;
    expect(after.map((w) => w.cpu).sort()).toEqual(before.map((w) => w.cpu).sort());
    expect(after.map((w) => w.tid)).not.toContain(victim.tid);
    const replacement = after.find((w) => !before.some((b) => b.tid === w.tid))!;
    expect(replacement.cpu).toBe(victim.cpu);
    expect(taskStatus(replacement.tid!, 'Cpus_allowed_list')).toBe(String(victim.cpu));
    expectGone([victim.tid!]);
    expect(await pool.run('next')).toBe('next');
    expect(pool.stats()).toMatchObject({ aborted: 1, crashed: 0, running: 0, queued: 0 });
    await pool.close();
  });

  test('an already aborted signal rejects without running', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const err: any = await pool.run('x', { signal: AbortSignal.abort('nope') }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.cause).toBe('nope');
    expect(pool.stats()).toMatchObject({ submitted: 0, aborted: 1 });
    await pool.close();
  });

  test('aborting after the task finished changes nothing', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    const ac = new AbortController();
    expect(await pool.run(1, { signal: ac.signal })).toBe(1);
    ac.abort();
    expect(pool.stats()).toMatchObject({ aborted: 0, completed: 1 });
    expect(pool.stats().workers.every((w) => w.state === 'idle')).toBe(true);
    await pool.close();
  });
});

describe('queue limits', () => {
  test('maxQueue: the queue takes that many, then run() rejects at once with EAGAIN', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, maxQueue: 2 });
    await pool.ready();
    const gate = new Gate();
    const held = cpus.map(() => pool.run(gate.buffer, { name: 'hold' }));
    await gate.whenStarted(N);
    const queued = [pool.run('q1'), pool.run('q2')];
    const full = await pool.run('q3').catch((e) => e);
    expect(full).toBeInstanceOf(KernkitError);
    expect(full).toMatchObject({ code: 'EAGAIN', message: expect.stringContaining('maxQueue 2') });
    expect(pool.stats()).toMatchObject({ queued: 2, running: N, rejected: 1 });
    gate.open();
    await Promise.all(held);
    expect(await Promise.all(queued)).toEqual(['q1', 'q2']);
    expect(await pool.run('room again')).toBe('room again');
    await pool.close();
  });

  test('maxQueue 0: a task runs only on an idle worker', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, maxQueue: 0 });
    await pool.ready();
    const gate = new Gate();
    const held = cpus.map(() => pool.run(gate.buffer, { name: 'hold' }));
    await expect(pool.run('no room')).rejects.toMatchObject({ code: 'EAGAIN' });
    gate.open();
    await Promise.all(held);
    await pool.close();
  });

  test("maxQueue 'auto' is the number of workers squared", async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, maxQueue: 'auto' });
    await pool.ready();
    const gate = new Gate();
    const held = cpus.map(() => pool.run(gate.buffer, { name: 'hold' }));
    await gate.whenStarted(N);
    const queued = Array.from({ length: N * N }, (_, i) => pool.run(i));
    await expect(pool.run('one too many')).rejects.toMatchObject({ code: 'EAGAIN' });
    gate.open();
    await Promise.all([...held, ...queued]);
    await pool.close();
  });

  test("needsDrain and 'needsDrain' once every worker is busy, 'drain' once one is free (as piscina)", async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, threadsPerCpu: 2 });
    await pool.ready();
    const events: string[] = [];
    pool.on('needsDrain', () => events.push(`needsDrain ${pool.queueSize}`));
    pool.on('drain', () => events.push('drain'));
    const gate = new Gate();
    const held = Array.from({ length: 2 * N - 1 }, () => pool.run(gate.buffer, { name: 'hold' }));
    await gate.whenStarted(2 * N - 1);
    expect(pool.needsDrain).toBe(false); // one worker is still free
    held.push(pool.run(gate.buffer, { name: 'hold' }));
    expect(pool.needsDrain).toBe(true); // every worker busy, nothing queued yet (piscina: usage === capacity)
    held.push(pool.run(gate.buffer, { name: 'hold' })); // queued
    await gate.whenStarted(2 * N);
    expect(events).toEqual(['needsDrain 1']); // once per change, from a microtask
    gate.open();
    await Promise.all(held);
    await waitFor(() => events.length === 2, "'drain'");
    expect(events).toEqual(['needsDrain 1', 'drain']);
    expect(pool.needsDrain).toBe(false);
    await pool.close();
  });

  test("'drain' follows needsDrain when the queue empties", async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    const drained = new Promise<void>((resolve) => pool.once('drain', resolve));
    const tasks = Array.from({ length: N * 4 }, (_, i) => pool.run(i));
    expect(pool.needsDrain).toBe(true);
    await Promise.all(tasks);
    await drained;
    expect(pool.needsDrain).toBe(false);
    await pool.close();
  });
});

describe('workers that die', () => {
  test('process.exit() in a task: the task rejects with EOWNERDEAD, the worker is replaced', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    const before = workerTids(pool);
    const beforeWorkers = pool.stats().workers;
    const errors: unknown[] = [];
    const identities: WorkerIdentity[] = [];
    pool.on('workerError', (err, who: WorkerIdentity) => {
      errors.push(err);
      identities.push(who);
    });
    const others = Array.from({ length: 20 }, (_, i) => pool.run(i, { name: 'later' }));
    const err = await pool.run(3, { name: 'exit' }).catch((e) => e);
    expect(err).toBeInstanceOf(KernkitError);
    expect(err).toMatchObject({ code: 'EOWNERDEAD', message: expect.stringMatching(/exited with code 3/) });
    expect(await Promise.all(others)).toEqual(Array.from({ length: 20 }, (_, i) => i)); // nothing else lost
    await waitFor(() => pool.stats().workers.filter((w) => w.state === 'idle').length === N, 'the replacement');
    expect(pool.stats()).toMatchObject({ crashed: 1, threads: N, running: 0, queued: 0 });
    expect(errors).toEqual([err]);
    const after = workerTids(pool);
    const dead = before.filter((t) => !after.includes(t));
    expect(dead).toHaveLength(1);
    expectGone(dead);
    // The dead worker is named as it was while alive (a Worker's own threadId reads -1 after its exit).
    const victim = beforeWorkers.find((w) => w.tid === dead[0])!;
    expect(identities).toEqual([{ threadId: victim.threadId, tid: victim.tid, cpu: victim.cpu }]);
    expect((err as Error).message).toContain(`worker ${victim.threadId} (tid ${victim.tid}, CPU ${victim.cpu})`);
    expect(await pool.run('alive')).toBe('alive');
    await pool.close();
  });

  test('an uncaught exception in a worker rejects its task with that error', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const err: any = await pool.run(null, { name: 'crashLater' }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('boom from a timer');
    await waitFor(() => pool.stats().threads === N && pool.stats().workers.every((w) => w.state === 'idle'), 'the replacement');
    expect(pool.stats().crashed).toBe(1);
    expect(await Promise.all([1, 2, 3].map((x) => pool.run(x)))).toEqual([1, 2, 3]);
    await pool.close();
  });
});

describe('setCpus() reshapes the pool', () => {
  const twoCpus = N >= 2 ? test : test.skip;

  twoCpus('moving to another CPU while tasks run: running finish where they are, queued run on the new CPU', async () => {
    const [from, to] = cpus;
    const pool = pools.create({ filename: fixture('tasks.js'), cpus: String(from), threadsPerCpu: 2 });
    await pool.ready();
    const oldTids = workerTids(pool);
    const gate = new Gate();
    const running = [pool.run(gate.buffer, { name: 'hold' }), pool.run(gate.buffer, { name: 'hold' })];
    await gate.whenStarted(2);
    const queued = Array.from({ length: 10 }, () => pool.run('', { name: 'whoami' }));
    const reshaped = pool.setCpus(String(to));
    // The new workers start and take the queue while the old ones still hold their tasks.
    const moved = (await Promise.all(queued)) as Array<{ cpu: number; affinity: number[]; tid: number }>;
    for (const r of moved) {
      expect(r.affinity).toEqual([to]);
      expect(r.cpu).toBe(to);
      expect(oldTids).not.toContain(r.tid);
    }
    const during = pool.stats();
    expect(during.running).toBe(2);
    expect(during.workers.filter((w) => w.retiring).map((w) => w.tid).sort()).toEqual([...oldTids].sort());
    gate.open();
    await reshaped;
    const ran = (await Promise.all(running)) as Array<{ cpu: number; tid: number }>;
    expect(ran.map((r) => r.cpu)).toEqual([from, from]);
    expect(ran.map((r) => r.tid).sort()).toEqual([...oldTids].sort());
    expect(pool.cpus).toEqual([to]);
    const s = pool.stats();
    expect(s).toMatchObject({ cpus: [to], threads: 2, submitted: 12, completed: 12, queued: 0, running: 0 });
    for (const w of s.workers) expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(to));
    expectGone(oldTids);
    await pool.close();
  });

  twoCpus('workers on CPUs that stay are kept; only the missing ones start', async () => {
    const [a, b] = cpus;
    const pool = pools.create({ filename: fixture('tasks.js'), cpus: String(a) });
    await pool.ready();
    const [keptTid] = workerTids(pool);
    await pool.setCpus([b, a]); // CPU numbers in any order, as a cpulist
    expect(pool.stats().cpus).toEqual([a, b].sort((x, y) => x - y));
    const grown = pool.stats().workers;
    expect(grown.map((w) => w.cpu).sort()).toEqual([a, b].sort());
    expect(grown.find((w) => w.cpu === a)!.tid).toBe(keptTid);
    await pool.setCpus(String(a));
    expect(workerTids(pool)).toEqual([keptTid]);
    expect(pool.stats().cpus).toEqual([a]);
    await pool.close();
  });

  twoCpus('a new worker that dies after it started, before the change commits, is replaced', async () => {
    const [from, to] = cpus;
    const loads = new Int32Array(new SharedArrayBuffer(8)); // [0] module loads, [1] the gate of load 3
    const pool = pools.create<SharedArrayBuffer, { tid: number; cpu: number }>({
      filename: fixture('standby-dies.js'),
      cpus: String(from),
      threadsPerCpu: 2,
      workerData: { sab: loads.buffer },
    });
    await pool.ready();
    const oldTids = workerTids(pool);
    const crashes: WorkerIdentity[] = [];
    pool.on('workerError', (_err, who: WorkerIdentity) => crashes.push(who));
    const reshaped = pool.setCpus(String(to));
    // Load 2 starts and dies while load 3 is still loading: setCpus has not committed yet.
    await waitFor(() => crashes.length === 1, 'the first new worker to die');
    expect(crashes[0].cpu).toBe(to);
    expect(pool.cpus).toEqual([from]);
    Atomics.store(loads, 1, 1);
    Atomics.notify(loads, 1);
    await reshaped;
    expect(pool.cpus).toEqual([to]);
    expect(pool.stats()).toMatchObject({ threads: 2, crashed: 1 });
    expectGone(oldTids);
    // Two workers serve on the new CPU: two held tasks run at once, on two threads there.
    const gate = new Gate();
    const held = [pool.run(gate.buffer), pool.run(gate.buffer)];
    await gate.whenStarted(2);
    gate.open();
    const ran = await Promise.all(held);
    expect(ran.map((r) => r.cpu)).toEqual([to, to]);
    expect(new Set(ran.map((r) => r.tid)).size).toBe(2);
    for (const w of pool.stats().workers) expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(to));
    await pool.close();
  });

  test('a new worker that cannot start rolls the change back; the old workers keep serving', async () => {
    const marker = path.join(os.tmpdir(), `kernkit-test-${randomBytes(6).toString('hex')}`);
    writeFileSync(marker, '');
    try {
      const pool = pools.create({ filename: fixture('needs-marker.js'), cpus: String(cpus[0]), workerData: { marker } });
      await pool.ready();
      const oldTids = workerTids(pool);
      rmSync(marker); // workers started from now on fail to load the module
      const err = await pool.setCpus(cpus).catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/marker .* is gone/);
      expect(pool.cpus).toEqual([cpus[0]]);
      expect(workerTids(pool)).toEqual(oldTids);
      const r = (await pool.run(5)) as { x: number; tid: number };
      expect(r).toEqual({ x: 5, tid: oldTids[0] });
      await pool.close();
    } finally {
      rmSync(marker, { force: true });
    }
  });

  test('bad cpulists reject and change nothing', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await expect(pool.setCpus('0-')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('position 2') });
    await expect(pool.setCpus('99999')).rejects.toMatchObject({ code: 'ERANGE' });
    await expect(pool.setCpus([])).rejects.toMatchObject({ code: 'EINVAL' });
    expect(pool.cpus).toEqual(cpus);
    await pool.close();
  });
});

describe('close() and destroy() leave no thread behind', () => {
  test('close() runs what was queued, then every thread exits', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, threadsPerCpu: 2 });
    await pool.ready();
    const tids = workerTids(pool);
    const gate = new Gate();
    const held = Array.from({ length: 2 * N }, () => pool.run(gate.buffer, { name: 'hold' }));
    await gate.whenStarted(2 * N);
    const queued = Array.from({ length: 25 }, (_, i) => pool.run(i));
    expect(pool.closed).toBe(false);
    const closed = pool.close();
    expect(pool.closed).toBe(true); // from the call on: no more tasks
    await expect(pool.run('late')).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    await expect(pool.setCpus(cpus)).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    gate.open();
    await closed;
    expect(await Promise.all(queued)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect((await Promise.all(held)).length).toBe(2 * N);
    expect(pool.stats()).toMatchObject({ threads: 0, completed: 2 * N + 25, queued: 0, running: 0 });
    expectGone(tids);
    await pool.close(); // again: a no-op
  });

  test('destroy() aborts queued and running tasks and ends every thread', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    const tids = workerTids(pool);
    const gate = new Gate(); // never opened: the tasks await Atomics.waitAsync until destroy()
    const running = cpus.map(() => pool.run(gate.buffer, { name: 'holdAsync' }));
    await gate.whenStarted(N);
    for (const tid of tids) await untilAsleepInEventLoop(tid); // really pending, not just posted
    expect(pool.stats()).toMatchObject({ running: N, crashed: 0 });
    const queued = [pool.run(1), pool.run(2)];
    const outcomes = Promise.allSettled([...running, ...queued]);
    expect(pool.closed).toBe(false);
    const destroyed = pool.destroy();
    expect(pool.closed).toBe(true);
    await destroyed;
    for (const o of await outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(AbortError);
    }
    expect(pool.stats()).toMatchObject({ threads: 0, aborted: N + 2, queued: 0, running: 0 });
    expectGone(tids);
    await expect(pool.run(3)).rejects.toMatchObject({ code: 'ESHUTDOWN', message: expect.stringContaining('destroyed') });
  });

  test('destroy() during a setCpus(): the reshape rejects, nothing is left', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus: String(cpus[0]) });
    await pool.ready();
    const reshaped = pool.setCpus(cpus).catch((e) => e);
    await pool.destroy();
    expect(await reshaped).toBeInstanceOf(Error);
    expect(pool.stats().threads).toBe(0);
  });
});

describe('a pool whose workers cannot start', () => {
  test('a module that throws while loading: ready() and run() reject with ENOEXEC, no thread stays', async () => {
    const pool = pools.create({ filename: fixture('throws-on-load.js'), cpus });
    const pending = pool.run('queued before the failure');
    const err = await pool.ready().catch((e) => e);
    expect(err).toBeInstanceOf(KernkitError);
    expect(err.code).toBe('ENOEXEC');
    expect(err.message).toBe(`task module ${JSON.stringify(fixture('throws-on-load.js'))} failed to load: SyntaxError: cannot load this task module`);
    expect(err.cause).toBeInstanceOf(SyntaxError); // the module's own error
    expect(err.cause.message).toBe('cannot load this task module');
    await expect(pending).rejects.toBe(err);
    await expect(pool.run('later')).rejects.toMatchObject({ code: 'ESHUTDOWN', cause: err });
    expect(pool.closed).toBe(false); // failed, not closed: close() still ends it
    await pool.close();
    expect(pool.stats().threads).toBe(0);
  });

  describe('modules that do not parse or load', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'kernkit-test-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    test.each([
      ['a CommonJS syntax error', 'bad.js', 'module.exports = (x) => {', SyntaxError],
      ['an ES module syntax error', 'bad.mjs', 'export default (x) => {', SyntaxError],
      ['a module it requires is missing', 'needs.js', "require('./kernkit-no-such-module');", Error],
    ])('%s: ENOEXEC, with the error as cause', async (_what, name, source, causeClass) => {
      const file = path.join(dir, name);
      writeFileSync(file, source);
      const pool = pools.create({ filename: file, cpus: [cpus[0]] });
      const err = await pool.ready().catch((e) => e);
      expect(err).toBeInstanceOf(KernkitError);
      expect(err.code).toBe('ENOEXEC');
      expect(err.message).toContain(`task module ${JSON.stringify(file)} failed to load: `);
      expect(err.cause).toBeInstanceOf(causeClass);
      await pool.close();
    });

    test('a task module removed before a new worker loads it: ENOENT', async () => {
      const file = path.join(dir, 'task.js');
      writeFileSync(file, 'module.exports = { default: (x) => x, exit: (code) => process.exit(code) };');
      const pool = pools.create({ filename: file, cpus: [cpus[0]] });
      await pool.ready();
      rmSync(file);
      const errors: unknown[] = [];
      pool.on('workerError', (err) => errors.push(err));
      // The worker dies; its replacement cannot load the module any more, and the pool fails with that.
      await expect(pool.run(3, { name: 'exit' })).rejects.toMatchObject({ code: 'EOWNERDEAD' });
      await waitFor(() => errors.length === 2, 'the replacement to fail');
      const err = errors[1] as KernkitError;
      expect(err).toBeInstanceOf(KernkitError);
      expect(err).toMatchObject({ code: 'ENOENT', message: `task module ${JSON.stringify(file)}: no such file` });
      expect(err.cause).toBeInstanceOf(Error);
      await expect(pool.run(1)).rejects.toMatchObject({ code: 'ESHUTDOWN', cause: err });
      await pool.close();
    });
  });

  test('a module without the named function is ENOENT', async () => {
    const pool = pools.create({ filename: fixture('no-function.js'), cpus });
    await expect(pool.ready()).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('"default"') });
    await pool.close();
  });
});
