/**
 * The shared-memory kinds as metrics: Counter, CounterSet (both forms),
 * RateEstimator and GenEstimator (driven by the manual clock), estimation and
 * WorkerPool; values equal what the objects report, and promtool accepts the
 * exposition of every kind.
 */
import {
  Counter,
  CounterSet,
  estimation,
  GenEstimator,
  getAffinity,
  RateEstimator,
  Registry,
  type ManualClock,
  type MetricFamily,
} from '../../lib';
import * as path from 'node:path';
import { PoolTracker } from '../helpers/pool';
import { expectPromtoolClean, promtoolTest } from './promtool';

const ECHO = path.join(__dirname, 'fixtures', 'echo.js');
const pools = new PoolTracker();
afterEach(() => pools.destroyAll());

function family(families: MetricFamily[], name: string): MetricFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name} in ${families.map((x) => x.name).join(', ')}`);
  return f;
}

const values = (f: MetricFamily): Array<[Record<string, string>, number | bigint]> => f.samples.map((s) => [{ ...s.labels }, s.value]);

describe('Counter and CounterSet', () => {
  test('a counter is its exact sum(); as a gauge it may go down', async () => {
    const r = new Registry();
    const up = new Counter('up');
    const down = new Counter('down');
    up.add(41);
    up.inc();
    down.add(-5);
    r.register(up, { name: 'up', help: 'Up' });
    r.register(down, { name: 'level', help: 'Level', type: 'gauge' });
    const fams = await r.collect();
    expect(family(fams, 'up')).toMatchObject({ type: 'counter', samples: [{ value: 42n }] });
    expect(family(fams, 'level')).toMatchObject({ type: 'gauge', samples: [{ value: -5n }] });
  });

  test('a counter set: one counter per field, or one counter with a field label', async () => {
    const r = new Registry();
    const set = new CounterSet(['get', 'put']);
    set.add(set.index('get'), 3);
    set.add(set.index('put'), 4);
    r.register(set, { name: 'ops', help: 'Operations' });
    r.register(set, { name: 'requests', help: 'Requests', fieldLabel: 'method' });
    const fams = await r.collect();
    expect(values(family(fams, 'ops_get'))).toEqual([[{}, 3n]]);
    expect(values(family(fams, 'ops_put'))).toEqual([[{}, 4n]]);
    expect(values(family(fams, 'requests'))).toEqual([
      [{ method: 'get' }, 3n],
      [{ method: 'put' }, 4n],
    ]);
  });
});

describe('estimators', () => {
  let clock: ManualClock | undefined;
  afterEach(() => {
    if (clock) estimation.automatic();
    clock = undefined;
  });

  test('RateEstimator and GenEstimator rates are gauges equal to read()', async () => {
    clock = estimation.manual();
    const ipvs = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
    const tcStats = new CounterSet(['bytes', 'packets']);
    const rate = new RateEstimator(ipvs);
    const gen = new GenEstimator(tcStats, { interval: 0, ewmaLog: 1 });
    try {
      for (let step = 0; step < 4; step++) {
        ipvs.fields.forEach((_, i) => ipvs.add(i, 1000 * (i + 1)));
        tcStats.add(0, 50_000);
        tcStats.add(1, 500);
        clock.step();
      }
      const r = new Registry();
      r.register(rate, { name: 'svc', help: 'Service' });
      r.register(gen, { name: 'link', help: 'Link' });
      const fams = await r.collect();
      const est = rate.read();
      const g = gen.read();
      expect(est.cps).toBeGreaterThan(0);
      expect(g.bps).toBeGreaterThan(0);
      expect(values(family(fams, 'svc_connections_per_second'))).toEqual([[{}, est.cps]]);
      expect(values(family(fams, 'svc_packets_per_second'))).toEqual([
        [{ direction: 'in' }, est.inpps],
        [{ direction: 'out' }, est.outpps],
      ]);
      expect(values(family(fams, 'svc_bytes_per_second'))).toEqual([
        [{ direction: 'in' }, est.inbps],
        [{ direction: 'out' }, est.outbps],
      ]);
      expect(values(family(fams, 'link_bytes_per_second'))).toEqual([[{}, g.bps]]);
      expect(values(family(fams, 'link_packets_per_second'))).toEqual([[{}, g.pps]]);
    } finally {
      rate.stop();
      gen.stop();
    }
  });

  test('estimation: live estimators and the kthreads’ counts', async () => {
    const sets = [new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']), new CounterSet(['bytes', 'packets'])];
    const rate = new RateEstimator(sets[0]);
    const gen = new GenEstimator(sets[1], { interval: 0, ewmaLog: 1 });
    try {
      const r = new Registry();
      r.register(estimation, { name: 'kernkit_estimation', help: 'Estimation' });
      const fams = await r.collect();
      const stats = estimation.stats();
      expect(values(family(fams, 'kernkit_estimation_estimators'))).toEqual([
        [{ kind: 'rate' }, stats.estimators],
        [{ kind: 'gen' }, stats.genEstimators],
      ]);
      expect(stats.estimators).toBeGreaterThanOrEqual(1);
      expect(family(fams, 'kernkit_estimation_kthreads').samples[0].value).toBe(stats.kthreads.length);
      expect(family(fams, 'kernkit_estimation_kthread_estimations').samples.map((s) => s.labels?.kthread)).toEqual(stats.kthreads.map((k) => String(k.id)));
    } finally {
      rate.stop();
      gen.stop();
    }
  });
});

describe('WorkerPool', () => {
  test('task outcomes, queue, threads and per-worker counters', async () => {
    const cpus = getAffinity().slice(0, 1);
    const pool = pools.create({ filename: ECHO, cpus, threadsPerCpu: 2 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run(i)));
    await expect(pool.run(null, { name: 'throws' })).rejects.toThrow();
    const r = new Registry();
    r.register(pool, { name: 'pool', help: 'Pool' });
    const fams = await r.collect();
    const stats = pool.stats();
    expect(family(fams, 'pool_tasks_submitted').samples[0].value).toBe(21);
    expect(family(fams, 'pool_tasks_completed').samples[0].value).toBe(21);
    expect(family(fams, 'pool_tasks_failed').samples[0].value).toBe(1);
    expect(family(fams, 'pool_queue_depth').samples[0].value).toBe(0);
    expect(family(fams, 'pool_threads').samples[0].value).toBe(stats.threads);
    expect(family(fams, 'pool_busy_seconds')).toMatchObject({ type: 'counter', unit: 'seconds', samples: [{ value: stats.busyMs / 1000 }] });
    const perWorker = family(fams, 'pool_worker_tasks_completed');
    expect(perWorker.samples.map((s) => s.labels)).toEqual(stats.workers.map((w) => ({ worker: String(w.threadId), cpu: String(w.cpu) })));
    expect(perWorker.samples.reduce((a, s) => a + Number(s.value), 0)).toBe(21);
    await pool.close();
  });
});

promtoolTest('promtool accepts the exposition of every shared-memory kind', async () => {
  const r = new Registry({ prefix: 'app_', labels: { instance_name: 'test' } });
  const c = new Counter('c');
  c.add(5);
  const set = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
  const gset = new CounterSet(['bytes', 'packets']);
  const rate = new RateEstimator(set);
  const gen = new GenEstimator(gset, { interval: 0, ewmaLog: 1 });
  const pool = pools.create({ filename: ECHO, cpus: getAffinity().slice(0, 1) });
  try {
    await pool.run(1);
    r.register(c, { name: 'requests', help: 'Requests' });
    r.register(c, { name: 'level', help: 'Level', type: 'gauge' });
    r.register(set, { name: 'svc', help: 'Service counters' });
    r.register(gset, { name: 'ops', help: 'Operations', fieldLabel: 'kind' });
    r.register(rate, { name: 'svc_rate', help: 'Service rates' });
    r.register(gen, { name: 'link_rate', help: 'Link rates' });
    r.register(estimation, { name: 'estimation', help: 'Estimation kthreads' });
    r.register(pool, { name: 'pool', help: 'Worker pool' });
    const text = await r.metrics();
    expect(text).toContain('app_pool_tasks_completed_total{instance_name="test"} 1\n');
    expectPromtoolClean(text);
  } finally {
    rate.stop();
    gen.stop();
    await pool.close();
  }
});
