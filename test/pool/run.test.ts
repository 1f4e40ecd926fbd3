import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KernkitError, getAffinity } from '../../lib';
import { fixture, Gate, PoolTracker, untilAsleepInEventLoop } from '../helpers/pool';

const pools = new PoolTracker();
afterEach(() => pools.destroyAll());

const cpus = getAffinity();

describe('run()', () => {
  test('results of sync and async tasks, in order of their promises', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const values = Array.from({ length: 200 }, (_, i) => ({ i, text: `task ${i}` }));
    expect(await Promise.all(values.map((v) => pool.run(v)))).toEqual(values);
    expect(await Promise.all(values.map((v) => pool.run(v, { name: 'later' })))).toEqual(values);
    await pool.close();
  });

  test('the pool export name and a per-task name', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), name: 'spin', cpus });
    expect(typeof (await pool.run(1))).toBe('number');
    expect(await pool.run('x', { name: 'default' })).toBe('x');
    await expect(pool.run(1, { name: 'missing' })).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('"missing"') });
    expect(await pool.run(2, { name: 'default' })).toBe(2); // the worker survived
    await pool.close();
  });

  test('an ES module, by file URL', async () => {
    const pool = pools.create({ filename: pathToFileURL(fixture('esm.mjs')), cpus });
    expect(await pool.run(21)).toBe(42);
    expect(await pool.run(5, { name: 'triple' })).toBe(15);
    await pool.close();
  });

  test('an ES module as a .js file of a "type": "module" package (loaded by import(), not require())', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kernkit-esm-'));
    try {
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
      writeFileSync(path.join(dir, 'task.js'), 'export default (x) => x * 2;\nexport const meta = import.meta.url;\n');
      const pool = pools.create({ filename: path.join(dir, 'task.js'), cpus });
      expect(await pool.run(21)).toBe(42);
      await pool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('transferList moves the input; move() moves the result', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const input = new Uint8Array([1, 2, 3, 4]).buffer;
    expect(await pool.run(input, { name: 'sum', transferList: [input] })).toBe(10);
    expect(input.byteLength).toBe(0); // detached here: it was transferred
    const out = (await pool.run(1000, { name: 'moved' })) as Uint8Array;
    expect(out).toBeInstanceOf(Uint8Array);
    expect(out.length).toBe(1000);
    expect(out.every((b) => b === 7)).toBe(true);
    await pool.close();
  });

  test('a task that awaits what holds no event-loop handle (Atomics.waitAsync) completes', async () => {
    const pool = pools.create<SharedArrayBuffer, { tid: number }>({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    const tids = pool.stats().workers.map((w) => w.tid!);
    const gate = new Gate();
    const held = cpus.map(() => pool.run(gate.buffer, { name: 'holdAsync' }));
    await gate.whenStarted(cpus.length);
    // Each worker's event loop now has nothing of its own to wait for: it must stay, with its task.
    for (const tid of tids) await untilAsleepInEventLoop(tid);
    expect(pool.stats()).toMatchObject({ running: cpus.length, crashed: 0 });
    gate.open();
    const results = await Promise.all(held);
    expect(results.map((r) => r.tid).sort()).toEqual([...tids].sort());
    expect(await pool.run('after' as unknown as SharedArrayBuffer)).toBe('after');
    expect(pool.stats()).toMatchObject({ completed: cpus.length + 1, crashed: 0, threads: cpus.length });
    await pool.close();
  });

  test('workerData reaches every worker', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, workerData: { region: 'eu', n: 3 } });
    expect(await pool.run(null, { name: 'workerData' })).toEqual({ region: 'eu', n: 3 });
    await pool.close();
  });
});

describe('task errors reject with the error, and the worker goes on', () => {
  test('class, message, code and own properties survive the trip', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const err: any = await pool.run('too big', { name: 'throws' }).catch((e) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ message: 'too big', code: 'EFOO', detail: { limit: 3 } });
    expect(err.stack).toContain('tasks.js');

    const rejected: any = await pool.run('async failure', { name: 'rejects' }).catch((e) => e);
    expect(rejected).toBeInstanceOf(Error);
    expect(rejected.message).toBe('async failure');
    expect(rejected.cause).toBeInstanceOf(TypeError);
    expect(rejected.cause.message).toBe('inner');

    expect(await pool.run(null, { name: 'throwsString' }).catch((e) => e)).toBe('plain string');

    const kerr = await pool.run(null, { name: 'kernkitError' }).catch((e) => e);
    expect(kerr).toBeInstanceOf(KernkitError);
    expect(kerr).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('at position 2') });

    const stats = pool.stats();
    expect(stats).toMatchObject({ completed: 4, failed: 4, crashed: 0, threads: cpus.length });
    expect(await pool.run('still fine')).toBe('still fine');
    await pool.close();
  });

  test('a result or a task that cannot be cloned rejects with DataCloneError', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await expect(pool.run(null, { name: 'uncloneable' })).rejects.toMatchObject({ name: 'DataCloneError' });
    await expect(pool.run((() => 1) as unknown)).rejects.toMatchObject({ name: 'DataCloneError' });
    expect(await pool.run(5)).toBe(5);
    expect(pool.stats()).toMatchObject({ crashed: 0, failed: 2, completed: 2, queued: 0, running: 0 });
    await pool.close();
  });
});

describe('stats() from kernkit counters', () => {
  test('pool totals, per-worker counts, busy time and utilization add up', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, threadsPerCpu: 2 });
    await pool.ready();
    await Promise.all(Array.from({ length: 30 }, () => pool.run(2, { name: 'spin' })));
    await Promise.all(Array.from({ length: 10 }, () => pool.run('x', { name: 'throws' }).catch(() => undefined)));
    const s = pool.stats();
    expect(s).toMatchObject({ submitted: 40, completed: 40, failed: 10, aborted: 0, rejected: 0, crashed: 0, queued: 0, running: 0 });
    expect(s.workers.reduce((n, w) => n + w.completed, 0)).toBe(40);
    expect(s.workers.reduce((n, w) => n + w.failed, 0)).toBe(10);
    const busy = s.workers.reduce((n, w) => n + w.busyMs, 0);
    expect(busy).toBeCloseTo(s.busyMs, 6);
    expect(s.busyMs).toBeGreaterThanOrEqual(30 * 2 - 0.01); // each spin task loops until 2 ms have passed
    for (const w of s.workers) {
      expect(w.utilization).toBeGreaterThanOrEqual(0);
      expect(w.utilization).toBeLessThanOrEqual(1);
      expect(w.utilization).toBeCloseTo(w.busyMs / w.aliveMs, 6);
    }
    expect(s.utilization).toBeGreaterThan(0);
    expect(s.utilization).toBeLessThanOrEqual(1);
    expect(pool.completed).toBe(40);
    await pool.close();
  });
});
