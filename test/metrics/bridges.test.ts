/**
 * The bridges: kernkit families inside a prom-client Registry next to the
 * app's own metrics (collect() callbacks, one kernkit collection per scrape,
 * AggregatorRegistry sums), and inside OpenTelemetry through one batch
 * observable callback, read with sdk-metrics' in-memory exporter. The optional
 * peers are loaded only when a bridge is used.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
} from '@opentelemetry/sdk-metrics';
import * as promClient from 'prom-client';
import { Counter, CounterSet, Registry, bridgeToOpenTelemetry, bridgeToPromClient, type Collectable, type MeterLike } from '../../lib';
import { loadOptional } from '../../lib/metrics/bridges/common';

function kernkitRegistry(): { registry: Registry; hits: Counter; set: CounterSet; collections: () => number } {
  const registry = new Registry({ labels: { svc: 'api' } });
  const hits = new Counter('hits');
  hits.add(5);
  const set = new CounterSet(['rx_bytes', 'tx_bytes']);
  set.add(0, 100);
  set.add(1, 200);
  let count = 0;
  const counting: Collectable = {
    collectMetrics: ({ name, help }) => {
      count++;
      return [{ name, help, type: 'gauge', samples: [{ labels: { q: 'a' }, value: 1.5 }] }];
    },
  };
  registry.register(hits, { name: 'hits', help: 'Hits' });
  registry.register(set, { name: 'link', help: 'Link' });
  registry.register(counting, { name: 'depth', help: 'Queue depth' });
  return { registry, hits, set, collections: () => count };
}

/** A prom-client metric's samples as [labels, value], as its registry reads them (collect() included). */
async function promValues(prom: promClient.Registry, name: string): Promise<Array<[Record<string, unknown>, number]>> {
  const metric = prom.getSingleMetric(name);
  if (!metric) return [];
  const got = await metric.get();
  return got.values.map((v) => [{ ...v.labels }, v.value]);
}

describe('prom-client', () => {
  test('kernkit families sit next to the app’s metrics, read at scrape time, one collection per scrape', async () => {
    const { registry, hits, collections } = kernkitRegistry();
    const prom = new promClient.Registry();
    const own = new promClient.Counter({ name: 'app_requests_total', help: 'App requests', registers: [prom] });
    own.inc(3);
    const bridge = await bridgeToPromClient(registry, { registry: prom });
    const before = collections();
    const text = await prom.metrics();
    expect(collections()).toBe(before + 1);
    expect(text).toContain('app_requests_total 3\n');
    expect(text).toContain('# TYPE hits_total counter\nhits_total{svc="api"} 5\n');
    expect(text).toContain('link_rx_bytes_total{svc="api"} 100\n');
    expect(text).toContain('depth{q="a",svc="api"} 1.5\n');
    hits.add(10);
    expect(await prom.metrics()).toContain('hits_total{svc="api"} 15\n');
    registry.close(); // the app's scrape goes on without kernkit's samples
    const closedText = await prom.metrics();
    expect(closedText).toContain('app_requests_total 3\n');
    expect(closedText).not.toContain('hits_total{');
    bridge.close();
    expect(bridge.closed).toBe(true);
    const after = await prom.metrics();
    expect(after).toContain('app_requests_total 3\n');
    expect(after).not.toContain('hits_total');
  });

  test('refresh() learns new families and label names', async () => {
    const { registry } = kernkitRegistry();
    const prom = new promClient.Registry();
    using bridge = await bridgeToPromClient(registry, { registry: prom });
    const late = new Counter('late');
    late.add(2);
    registry.register(late, { name: 'late', help: 'Late', labels: { zone: 'b' } });
    registry.register(new Counter('h2'), { name: 'hits', help: 'Hits', labels: { route: '/x' } });
    expect(await prom.metrics()).not.toContain('late_total');
    expect(await prom.metrics()).not.toContain('route="/x"'); // a label name prom-client was not told of yet
    await bridge.refresh();
    expect(await promValues(prom, 'late_total')).toEqual([[{ svc: 'api', zone: 'b' }, 2]]);
    expect(await promValues(prom, 'hits_total')).toEqual([
      [{ svc: 'api' }, 5],
      [{ route: '/x', svc: 'api' }, 0],
    ]);
  });

  test('a name the prom-client registry already has is EEXIST; options are checked', async () => {
    const { registry } = kernkitRegistry();
    const prom = new promClient.Registry();
    new promClient.Gauge({ name: 'depth', help: 'taken', registers: [prom] });
    await expect(bridgeToPromClient(registry, { registry: prom })).rejects.toMatchObject({ code: 'EEXIST', message: expect.stringContaining('depth') });
    expect((await prom.getMetricsAsJSON()).map((m) => m.name)).toEqual(['depth']); // what the failed bridge added is gone
    await expect(bridgeToPromClient(registry, { registry: prom, aggregator: 'sum' as never })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^options\.aggregator: /) });
    await expect(bridgeToPromClient(registry, { colour: 1 } as never)).rejects.toMatchObject({ code: 'EINVAL' });
  });

  test('AggregatorRegistry sums what each cluster worker’s bridge reports; aggregator picks another way', async () => {
    const workers = await Promise.all(
      [0, 1].map(async () => {
        const { registry } = kernkitRegistry();
        const prom = new promClient.Registry();
        await bridgeToPromClient(registry, { registry: prom, aggregator: (f) => (f.type === 'gauge' ? 'average' : 'sum') });
        return prom.getMetricsAsJSON();
      }),
    );
    const merged = await promClient.AggregatorRegistry.aggregate(workers).metrics();
    expect(merged).toContain('hits_total{svc="api"} 10\n');
    expect(merged).toContain('depth{q="a",svc="api"} 1.5\n');
  });
});

describe('OpenTelemetry', () => {
  async function setup() {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const read = async (): Promise<Map<string, { unit: string; points: Array<[Record<string, unknown>, number]> }>> => {
      exporter.reset();
      await reader.forceFlush();
      const out = new Map<string, { unit: string; points: Array<[Record<string, unknown>, number]> }>();
      for (const rm of exporter.getMetrics()) {
        for (const sm of rm.scopeMetrics) {
          for (const m of sm.metrics) {
            out.set(m.descriptor.name, {
              unit: m.descriptor.unit,
              points: (m.dataPoints as Array<DataPoint<number>>).map((d) => [{ ...d.attributes }, d.value]),
            });
          }
        }
      }
      return out;
    };
    return { provider, read };
  }

  test('observable counters and gauges from one batch callback, labels as attributes', async () => {
    const { registry, hits, collections } = kernkitRegistry();
    const { provider, read } = await setup();
    try {
      const meter = provider.getMeter('test');
      const calls: number[] = [];
      const spy = { ...meterMethods(meter), addBatchObservableCallback: (cb: never, obs: never[]) => (calls.push(obs.length), meter.addBatchObservableCallback(cb, obs)) } as unknown as MeterLike;
      const bridge = await bridgeToOpenTelemetry(registry, { meter: spy });
      expect(calls).toEqual([5]); // one batch callback for all five families (hits, link x2, depth, scrape errors)
      hits.add(1);
      const before = collections();
      const m = await read();
      expect(collections()).toBe(before + 1);
      expect(m.get('hits')?.points).toEqual([[{ svc: 'api' }, 6]]);
      expect(m.get('link_rx_bytes')?.points).toEqual([[{ svc: 'api' }, 100]]);
      expect(m.get('depth')?.points).toEqual([[{ q: 'a', svc: 'api' }, 1.5]]);
      registry.close(); // the reader's collection goes on, without kernkit's values
      await expect(read()).resolves.toBeInstanceOf(Map);
      bridge.close();
      expect(bridge.closed).toBe(true);
    } finally {
      await provider.shutdown();
    }
  });

  test('units map to UCUM; refresh() adds instruments for new families', async () => {
    const registry = new Registry();
    registry.register(
      { collectMetrics: ({ name, help }) => [{ name: `${name}_seconds`, help, type: 'counter', unit: 'seconds', samples: [{ value: 2.5 }] }] },
      { name: 'busy', help: 'Busy' },
    );
    const { provider, read } = await setup();
    try {
      using bridge = await bridgeToOpenTelemetry(registry, { meter: provider.getMeter('test') });
      expect((await read()).get('busy_seconds')).toEqual({ unit: 's', points: [[{}, 2.5]] });
      const c = new Counter('new');
      c.add(9);
      registry.register(c, { name: 'fresh', help: 'Fresh' });
      expect((await read()).has('fresh')).toBe(false);
      await bridge.refresh();
      expect((await read()).get('fresh')?.points).toEqual([[{}, 9]]);
    } finally {
      await provider.shutdown();
    }
  });

  test('a registry that is not a kernkit Registry is EINVAL, for both bridges', async () => {
    const message = 'registry: null (expected a kernkit metrics Registry)';
    await expect(bridgeToPromClient(null as unknown as Registry, { registry: new promClient.Registry() })).rejects.toMatchObject({ code: 'EINVAL', message });
    await expect(bridgeToPromClient({} as Registry)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^registry: \{\} /) });
    const meter = new MeterProvider().getMeter('t') as unknown as MeterLike;
    await expect(bridgeToOpenTelemetry(null as unknown as Registry, { meter })).rejects.toMatchObject({ code: 'EINVAL', message });
  });

  test('a meter without the needed methods is EINVAL', async () => {
    await expect(bridgeToOpenTelemetry(new Registry(), { meter: {} as never })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^options\.meter: /) });
  });
});

function meterMethods(meter: object): Record<string, unknown> {
  const m = meter as Record<string, (...a: unknown[]) => unknown>;
  return Object.fromEntries(
    ['createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback', 'removeBatchObservableCallback'].map((k) => [k, m[k].bind(meter)]),
  );
}

describe('optional peers', () => {
  test('a missing optional peer is ENOENT naming it', () => {
    expect(() => loadOptional('kernkit-no-such-peer', 'bridgeToX')).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: 'bridgeToX needs the optional peer dependency kernkit-no-such-peer (npm install kernkit-no-such-peer)' }),
    );
  });

  test('loading kernkit loads neither prom-client nor @opentelemetry/api', () => {
    const root = path.join(__dirname, '..', '..');
    const loaded = execFileSync(
      process.execPath,
      ['-e', "require('./dist'); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules.(prom-client|@opentelemetry)/.test(k))))"],
      { cwd: root, encoding: 'utf8' },
    );
    expect(JSON.parse(loaded)).toEqual([]);
  });
});
