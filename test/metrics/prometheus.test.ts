/**
 * A real Prometheus server (Debian's `prometheus`) scrapes a kernkit endpoint
 * every second while two worker threads count into shared counters: the
 * values it stores equal kernkit's sum(), rate() over the counter matches
 * the known increment rate within 10%, and the target is healthy with every
 * sample taken (Prometheus asks for OpenMetrics first, so its own parser reads
 * every shared-memory kind's families in that format). The
 * server runs with a temporary config and data directory on a free
 * 127.0.0.1 port, and is stopped and its directory removed in every case.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  Counter,
  CounterSet,
  estimation,
  GenEstimator,
  getAffinity,
  RATE_FIELDS,
  RateEstimator,
  Registry,
  serveMetrics,
  WorkerPool,
  type Collectable,
  type MetricsServer,
} from '../../lib';
import { commandMissing, kernelTest } from '../helpers/kernel';
import { watch, type Watched } from '../helpers/workers';

const promTest = kernelTest(commandMissing('prometheus', ['--version']));

const PER_SECOND = 1000; // per worker
const WORKERS = 2;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 250 ms until it returns a value, or fails after `ms` with `what`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(250);
  }
}

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

class PrometheusServer {
  private log = '';
  private constructor(
    private readonly child: ChildProcess,
    readonly base: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  static async start(dir: string, target: MetricsServer): Promise<PrometheusServer> {
    const port = await freePort();
    const config = path.join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: kernkit',
        `    metrics_path: ${new URL(target.url).pathname}`,
        '    static_configs:',
        `      - targets: ['127.0.0.1:${target.port}']`,
        '',
      ].join('\n'),
    );
    const child = spawn(
      'prometheus',
      [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`);
    try {
      await until('prometheus to be ready', 30000, async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${server.log}`);
        return (await fetch(`${server.base}/-/ready`)).ok ? true : undefined;
      });
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  async query(expr: string): Promise<PromVector[]> {
    const res = await fetch(`${this.base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data: { result: PromVector[] }; error?: string };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    return body.data.result;
  }

  async targets(): Promise<Array<{ health: string; lastError: string }>> {
    const body = (await (await fetch(`${this.base}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ health: string; lastError: string }> } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(killer);
  }
}

promTest(
  'Prometheus stores kernkit’s exact sums and rate() matches the increment rate',
  async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kernkit-test-prometheus-'));
    const requests = new Counter('requests');
    const traffic = new CounterSet(['packets', 'bytes']);
    const registry = new Registry({ labels: { node: 'n"1\\' } });
    registry.register(requests, { name: 'kk_requests_total', help: 'Requests counted by two worker threads' });
    registry.register(traffic, { name: 'kk_traffic', help: 'Traffic "counted" by the workers\nper field' });
    const odd: Collectable = {
      collectMetrics: ({ name, help }) => [
        { name, help, type: 'gauge', samples: [{ labels: { v: 'nan' }, value: NaN }, { labels: { v: 'inf\n"x"' }, value: Infinity }] },
      ],
    };
    registry.register(odd, { name: 'kk_edges', help: 'NaN and Inf' });
    // Every shared-memory kind, so that Prometheus' OpenMetrics parser reads each one's families.
    const ipvs = new CounterSet([...RATE_FIELDS]);
    const rate = new RateEstimator(ipvs);
    const gen = new GenEstimator(traffic, { interval: 0, ewmaLog: 1, fields: { packets: 'packets', bytes: 'bytes' } });
    const pool = new WorkerPool({ filename: path.join(__dirname, 'fixtures', 'echo.js'), cpus: getAffinity().slice(0, 1) });
    registry.register(ipvs, { name: 'kk_svc', help: 'Service counters', fieldLabel: 'field' });
    registry.register(rate, { name: 'kk_svc_rate', help: 'Service rates' });
    registry.register(gen, { name: 'kk_traffic_rate', help: 'Traffic rates' });
    registry.register(estimation, { name: 'kk_estimation', help: 'Estimation kthreads' });
    registry.register(pool, { name: 'kk_pool', help: 'Worker pool' });
    const stop = new SharedArrayBuffer(4);
    let server: MetricsServer | undefined;
    let prometheus: PrometheusServer | undefined;
    const workers: Worker[] = [];
    try {
      server = await serveMetrics(registry, { port: 0 });
      prometheus = await PrometheusServer.start(dir, server);
      // Prometheus starts scraping a few seconds after it is ready: start counting once it does.
      const p = prometheus;
      await until('the first scrape', 30000, async () => ((await p.query('up')).length === 1 ? true : undefined));
      const watched: Watched[] = [];
      for (let i = 0; i < WORKERS; i++) {
        const w = new Worker(path.join(__dirname, 'fixtures', 'writer.js'), {
          workerData: { counter: requests.handle, set: traffic.handle, perSecond: PER_SECOND, stop },
        });
        workers.push(w);
        watched.push(watch(w));
      }
      await Promise.all(watched.map((w) => w.next()));
      await pool.run(1);

      // rate() over a window that starts after the writers did, once it holds at least 9 scrapes.
      const started = Date.now();
      await until('9 scrapes of the counter being written', 60000, async () => {
        if (Date.now() - started < 11000) return undefined;
        const r = await p.query('count_over_time(kk_requests_total[10s])');
        return r.length === 1 && Number(r[0].value[1]) >= 9 ? true : undefined;
      });
      const rate = Number((await p.query('rate(kk_requests_total[10s])'))[0].value[1]);
      expect(rate).toBeGreaterThan(0.9 * WORKERS * PER_SECOND);
      expect(rate).toBeLessThan(1.1 * WORKERS * PER_SECOND);

      // Stop the writers: the next scrapes must store exactly what kernkit sums.
      Atomics.store(new Int32Array(stop), 0, 1);
      const added = await Promise.all(watched.map((w) => w.next<{ added: number }>()));
      const total = added.reduce((a, m) => a + m.added, 0);
      expect(requests.sum()).toBe(BigInt(total));
      const sums = traffic.sum();
      const stored = await until('Prometheus to store the final sums', 20000, async () => {
        const [req, pk, by] = await Promise.all(['kk_requests_total', 'kk_traffic_packets_total', 'kk_traffic_bytes_total'].map((q) => p.query(q)));
        const values = [req, pk, by].map((r) => r[0]?.value[1]);
        return values[0] === requests.sum().toString() ? values : undefined;
      });
      expect(stored).toEqual([requests.sum().toString(), sums.packets.toString(), sums.bytes.toString()]);

      const edges = await p.query('kk_edges');
      expect(edges.map((e) => [e.metric.v, e.metric.node, e.value[1]]).sort()).toEqual([
        ['inf\n"x"', 'n"1\\', '+Inf'],
        ['nan', 'n"1\\', 'NaN'],
      ]);
      expect(await p.targets()).toEqual([expect.objectContaining({ health: 'up', lastError: '' })]);
      const seriesServed = (await registry.metrics({ format: 'openmetrics' })).split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      expect((await p.query('scrape_samples_scraped'))[0].value[1]).toBe(String(seriesServed));
      expect((await p.query('kk_pool_tasks_completed_total'))[0].value[1]).toBe('1');
    } finally {
      rate.stop();
      gen.stop();
      await pool.destroy();
      Atomics.store(new Int32Array(stop), 0, 1);
      await Promise.all(workers.map((w) => w.terminate()));
      await prometheus?.stop();
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  120000,
);
