// stats() rates: a GenEstimator per worker and one for the pool, over the
// counters they already keep, checked to the unit against the BigInt model of
// gen_estimator (test/helpers/estimator.ts) with the estimation clock in manual
// mode: each step() is 2 s of estimation.
import { estimation, getAffinity, type ManualClock, type PoolStats } from '../../lib';
import { GenModel } from '../helpers/estimator';
import { fixture, PoolTracker, waitFor } from '../helpers/pool';

const pools = new PoolTracker();
afterEach(() => pools.destroyAll());

const cpus = getAffinity();
const N = cpus.length;

/** What the model says for a pool or worker with these totals (busy ns from busyMs, exact here). */
function expected(model: GenModel, k: number, completed: number, busyMs: number): { pps: number; bps: number } {
  model.advance(2000 * k, BigInt(Math.round(busyMs * 1e6)), BigInt(completed));
  return model.read();
}

describe('stats() rates', () => {
  let clock: ManualClock;
  beforeAll(() => {
    clock = estimation.manual();
  });
  afterAll(() => {
    estimation.automatic();
  });

  test('without the option there are none, and no estimator is started', async () => {
    const before = estimation.stats().genEstimators;
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    await pool.ready();
    expect(estimation.stats().genEstimators).toBe(before);
    const s = pool.stats();
    expect(s.rates).toBeNull();
    expect(s.workers.map((w) => w.rates)).toEqual(s.workers.map(() => null));
    await pool.close();
  });

  test.each([
    [0, 2], // the period is 1 s: two estimations per step
    [1, 3], // 2 s: one per step
  ])('interval %i, ewmaLog %i: tasks per second and utilization of each worker and of the pool, to the unit', async (interval, ewmaLog) => {
    const base = estimation.stats();
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, rates: { interval, ewmaLog } });
    await pool.ready();
    expect(estimation.stats().genEstimators).toBe(base.genEstimators + N + 1); // one per worker, one for the pool
    const poolModel = new GenModel(interval, ewmaLog, 0n, 0n);
    const workerModels = new Map(pool.stats().workers.map((w) => [w.threadId, new GenModel(interval, ewmaLog, 0n, 0n)]));
    let sawRates = false;
    for (let k = 1; k <= 8; k++) {
      if (k <= 5) {
        // Many tiny tasks and a few that spin, so that both rates are well above their resolution.
        await Promise.all([
          ...Array.from({ length: 400 * k }, (_, i) => pool.run(i)),
          ...Array.from({ length: 2 * N }, () => pool.run(5, { name: 'spin' })),
        ]);
      } // then idle: the rates decay
      clock.step();
      const s: PoolStats = pool.stats();
      const p = expected(poolModel, k, s.completed, s.busyMs);
      expect({ k, rates: s.rates }).toEqual({
        k,
        rates: { tasksPerSec: p.pps, busyThreads: p.bps / 1e9, utilization: p.bps / 1e9 / N },
      });
      for (const w of s.workers) {
        const e = expected(workerModels.get(w.threadId)!, k, w.completed, w.busyMs);
        expect({ k, worker: w.threadId, rates: w.rates }).toEqual({
          k,
          worker: w.threadId,
          rates: { tasksPerSec: e.pps, utilization: e.bps / 1e9 },
        });
      }
      if (s.rates!.tasksPerSec > 0 && s.rates!.busyThreads > 0 && s.workers.every((w) => w.rates!.tasksPerSec > 0)) sawRates = true;
    }
    expect(sawRates).toBe(true);
    await pool.close();
    // Every estimator stopped, and the kthreads are as many as before.
    expect(estimation.stats().genEstimators).toBe(base.genEstimators);
    expect(estimation.stats().kthreads.length).toBe(base.kthreads.length);
    // After close(), the last reading stays.
    const last = expected(poolModel, 8, pool.stats().completed, pool.stats().busyMs);
    expect(pool.stats().rates).toEqual({ tasksPerSec: last.pps, busyThreads: last.bps / 1e9, utilization: last.bps / 1e9 / N });
  });

  test("a replaced worker's estimator stops with its thread; destroy() stops the rest", async () => {
    const base = estimation.stats();
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, rates: true });
    await pool.ready();
    expect(estimation.stats().genEstimators).toBe(base.genEstimators + N + 1);
    await expect(pool.run(3, { name: 'exit' })).rejects.toMatchObject({ code: 'EOWNERDEAD' });
    await waitFor(() => pool.stats().threads === N && pool.stats().workers.every((w) => w.state === 'idle'), 'the replacement');
    expect(pool.stats().crashed).toBe(1);
    expect(estimation.stats().genEstimators).toBe(base.genEstimators + N + 1); // the dead one's stopped, its replacement's started
    await pool.destroy();
    expect(estimation.stats().genEstimators).toBe(base.genEstimators);
    expect(estimation.stats().kthreads.length).toBe(base.kthreads.length);
  });

  test('bad rate settings are EINVAL or ERANGE, naming the field', () => {
    const filename = fixture('tasks.js');
    expect(() => pools.create({ filename, cpus, rates: { interval: 4 } })).toThrow(
      expect.objectContaining({ code: 'ERANGE', message: expect.stringContaining('rates.interval') }),
    );
    expect(() => pools.create({ filename, cpus, rates: { ewmaLog: 0 } })).toThrow(
      expect.objectContaining({ code: 'ERANGE', message: expect.stringContaining('rates.ewmaLog') }),
    );
    expect(() => pools.create({ filename, cpus, rates: { interval: 0.5 } })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('rates.interval') }),
    );
    expect(() => pools.create({ filename, cpus, rates: { period: 1 } as never })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('rates.period') }),
    );
    expect(() => pools.create({ filename, cpus, rates: 'yes' as never })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
