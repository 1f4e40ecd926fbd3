/**
 * Metrics: the cost of a scrape and of counting while scrapes run, kernkit
 * against prom-client 15 in the same run.
 *
 * Scrape: 10,000 counters + 1,000 counter sets (5 fields) + 1,000 rate
 * estimators (over those sets), written by 2 worker threads and the main
 * thread. kernkit's `registry.metrics()` reads every thread's shard directly;
 * prom-client's registry holds the same numbers (its counters fed the totals,
 * as its cluster or worker bookkeeping would have to deliver them). Both
 * outputs are parsed and compared with the exact sums; one extra counter
 * past 2^53 shows where prom-client's numbers cannot be exact.
 *
 * Write path: ns per increment, counting on the main thread in chunks with a
 * scraper rendering every 100 ms (kernkit inc() vs prom-client inc()), and
 * kernkit counting in 2 worker threads with and without the main thread
 * scraping: wall time per increment, and the writer thread's own CPU time per
 * increment (/proc/thread-self/stat), which is what a scrape could slow down
 * (by locks or cache-line traffic); wall time also counts the time the writers
 * wait for a CPU, which a scrape takes from them when the machine has fewer
 * free cores than threads.
 *
 * The scrape times alternate kernkit and prom-client rounds, so that load from
 * elsewhere on the machine falls on both.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as prom from 'prom-client';
import { Counter, CounterSet, RateEstimator, Registry, RATE_FIELDS } from '../dist';
import { printTable, type Row, writeResults } from './lib/report';

const COUNTERS = 10_000;
const SETS = 1_000;
const WRITERS = 2;
const WINDOW_MS = Number(process.env.KERNKIT_BENCH_METRICS_WINDOW_MS ?? 2000);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function startWorker(workerData: object): { worker: Worker; next<T>(): Promise<T> } {
  const worker = new Worker(path.join(__dirname, 'workers', 'metrics-writer.js'), { workerData });
  const queue: unknown[] = [];
  const waiting: Array<(v: unknown) => void> = [];
  worker.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
  worker.on('error', (err) => {
    throw err;
  });
  return {
    worker,
    next: <T>() => (queue.length ? Promise.resolve(queue.shift() as T) : new Promise<T>((r) => waiting.push(r as (v: unknown) => void))),
  };
}

/** Best ms of each function, their rounds alternating (after one warm-up round each). */
async function bestOfAlternating(a: () => Promise<unknown>, b: () => Promise<unknown>, rounds = 15): Promise<[number, number]> {
  const best = [Infinity, Infinity];
  const fns = [a, b];
  for (let r = -1; r < rounds; r++) {
    for (let i = 0; i < 2; i++) {
      const t0 = process.hrtime.bigint();
      await fns[i]();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r >= 0) best[i] = Math.min(best[i], ms);
    }
  }
  return [best[0], best[1]];
}

/** Sample lines of an exposition as name{labels} → value text. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), line.slice(cut + 1));
  }
  return out;
}

async function scrape(): Promise<{ rows: Row[]; exact: Row[]; ratio: number }> {
  const counters = Array.from({ length: COUNTERS }, (_, i) => new Counter(`c${i}`));
  const sets = Array.from({ length: SETS }, () => new CounterSet([...RATE_FIELDS]));
  const estimators = sets.map((s) => new RateEstimator(s));
  const workers = Array.from({ length: WRITERS }, (_, index) =>
    startWorker({ mode: 'write', index, counters: counters.map((c) => c.handle), sets: sets.map((s) => s.handle) }),
  );
  await Promise.all(workers.map((w) => w.next()));
  counters.forEach((c) => c.inc()); // the main thread's own shard too
  const huge = new Counter('huge');
  huge.add(Number.MAX_SAFE_INTEGER);
  huge.add(2); // 2^53 + 1

  const registry = new Registry();
  counters.forEach((c, i) => registry.register(c, { name: 'bench_requests', help: 'Requests', labels: { id: String(i) } }));
  sets.forEach((s, i) => registry.register(s, { name: 'bench_svc', help: 'Service', labels: { svc: String(i) } }));
  estimators.forEach((e, i) => registry.register(e, { name: 'bench_svc_rate', help: 'Service rates', labels: { svc: String(i) } }));
  registry.register(huge, { name: 'bench_huge', help: 'Past 2^53' });

  // prom-client with the same numbers, fed from kernkit's totals.
  const promRegistry = new prom.Registry();
  const requests = new prom.Counter({ name: 'bench_requests_total', help: 'Requests', labelNames: ['id'], registers: [promRegistry] });
  counters.forEach((c, i) => requests.inc({ id: String(i) }, Number(c.sum())));
  for (const field of RATE_FIELDS) {
    const pc = new prom.Counter({ name: `bench_svc_${field}_total`, help: `Service (${field})`, labelNames: ['svc'], registers: [promRegistry] });
    sets.forEach((s, i) => pc.inc({ svc: String(i) }, Number((s.sum() as Record<string, bigint>)[field])));
  }
  const cps = new prom.Gauge({ name: 'bench_svc_rate_connections_per_second', help: 'cps', labelNames: ['svc'], registers: [promRegistry] });
  const pps = new prom.Gauge({ name: 'bench_svc_rate_packets_per_second', help: 'pps', labelNames: ['svc', 'direction'], registers: [promRegistry] });
  const bps = new prom.Gauge({ name: 'bench_svc_rate_bytes_per_second', help: 'bps', labelNames: ['svc', 'direction'], registers: [promRegistry] });
  estimators.forEach((e, i) => {
    const r = e.read();
    const svc = String(i);
    cps.set({ svc }, r.cps);
    pps.set({ svc, direction: 'in' }, r.inpps);
    pps.set({ svc, direction: 'out' }, r.outpps);
    bps.set({ svc, direction: 'in' }, r.inbps);
    bps.set({ svc, direction: 'out' }, r.outbps);
  });
  const promHuge = new prom.Counter({ name: 'bench_huge_total', help: 'Past 2^53', registers: [promRegistry] });
  promHuge.inc(Number(huge.sum()));

  const [kernkitMs, promMs] = await bestOfAlternating(
    () => registry.metrics(),
    () => promRegistry.metrics(),
  );
  const kText = samples(await registry.metrics());
  const pText = samples(await promRegistry.metrics());

  // Exactness: every counter against what was written (main + 2 writers: 1 + (1 + 2) * (i + 1)).
  let kernkitExact = 0;
  counters.forEach((_, i) => {
    if (kText.get(`bench_requests_total{id="${i}"}`) === String(1 + 3 * (i + 1))) kernkitExact++;
  });
  // Counters only: the rates are live (the kthreads estimate every 2 s between the two reads).
  const samplesCompared = [...pText.keys()].filter((k) => kText.has(k) && !k.includes('_per_second'));
  const equal = samplesCompared.filter((k) => kText.get(k) === pText.get(k)).length;

  for (const e of estimators) e.stop();
  for (const w of workers) w.worker.postMessage('done');
  await Promise.all(workers.map((w) => w.worker.terminate()));

  const seriesCount = kText.size;
  const rows: Row[] = [
    { name: 'kernkit registry.metrics()', 'ms/scrape': kernkitMs, series: seriesCount, 'time vs kernkit': 1 },
    { name: 'prom-client registry.metrics()', 'ms/scrape': promMs, series: pText.size, 'time vs kernkit': promMs / kernkitMs },
  ];
  const exact: Row[] = [
    { name: `counters equal to what 3 threads wrote (kernkit)`, value: `${kernkitExact} / ${COUNTERS}` },
    { name: 'counter samples equal in both outputs', value: `${equal} / ${samplesCompared.length}` },
    { name: 'counter at 2^53 + 1, kernkit prints', value: kText.get('bench_huge_total') ?? 'missing' },
    { name: 'counter at 2^53 + 1, prom-client prints', value: pText.get('bench_huge_total') ?? 'missing' },
  ];
  return { rows, exact, ratio: promMs / kernkitMs };
}

/** ns per increment on the main thread, counting in chunks while `scrape` runs every 100 ms. */
async function mainThreadCounting(inc: () => void, scrapeOnce: (() => Promise<unknown>) | null): Promise<{ nsPerOp: number; scrapes: number }> {
  let scrapes = 0;
  let running = false;
  const timer = scrapeOnce
    ? setInterval(() => {
        if (running) return;
        running = true;
        scrapeOnce().then(() => {
          scrapes++;
          running = false;
        });
      }, 100)
    : undefined;
  const end = Date.now() + WINDOW_MS;
  let ops = 0;
  let countingNs = 0;
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < 100_000; j++) inc();
    countingNs += Number(process.hrtime.bigint() - t0);
    ops += 100_000;
    await new Promise((r) => setImmediate(r)); // let the scraper run between chunks
  }
  clearInterval(timer);
  while (running) await sleep(5);
  return { nsPerOp: countingNs / ops, scrapes };
}

/** ns per increment in 2 worker threads counting kernkit counters, while the main thread scrapes or not. */
async function workerCounting(counters: Counter[], scrapeOnce: (() => Promise<unknown>) | null): Promise<{ nsPerOp: number; cpuNsPerOp: number; scrapes: number }> {
  const stop = new SharedArrayBuffer(4);
  const workers = Array.from({ length: WRITERS }, () => startWorker({ mode: 'count', counters: counters.map((c) => c.handle), sets: [], stop }));
  await Promise.all(workers.map((w) => w.next()));
  let scrapes = 0;
  const end = Date.now() + WINDOW_MS;
  while (Date.now() < end) {
    if (scrapeOnce) {
      await scrapeOnce();
      scrapes++;
    }
    await sleep(100);
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const results = await Promise.all(workers.map((w) => w.next<{ ops: number; ns: number; cpuNs: number }>()));
  await Promise.all(workers.map((w) => w.worker.terminate()));
  const nsPerOp = results.reduce((a, r) => a + r.ns / r.ops, 0) / results.length;
  const cpuNsPerOp = results.reduce((a, r) => a + r.cpuNs / r.ops, 0) / results.length;
  return { nsPerOp, cpuNsPerOp, scrapes };
}

async function writePath(): Promise<Row[]> {
  const counters = Array.from({ length: COUNTERS }, (_, i) => new Counter(`w${i}`));
  const registry = new Registry();
  counters.forEach((c, i) => registry.register(c, { name: 'bench_requests', help: 'Requests', labels: { id: String(i) } }));
  const promRegistry = new prom.Registry();
  const promCounter = new prom.Counter({ name: 'bench_requests_total', help: 'Requests', labelNames: ['id'], registers: [promRegistry] });
  const promChildren = counters.map((_, i) => promCounter.labels({ id: String(i) }));
  let k = 0;
  let p = 0;
  const kernkitInc = (): void => counters[k++ % COUNTERS].inc();
  const promInc = (): void => promChildren[p++ % COUNTERS].inc();
  const kScrape = () => registry.metrics();
  const pScrape = () => promRegistry.metrics();

  const rows: Row[] = [];
  for (const [name, inc, scrapeOnce] of [
    ['main thread: kernkit inc(), no scraper', kernkitInc, null],
    ['main thread: kernkit inc(), scrape every 100 ms', kernkitInc, kScrape],
    ['main thread: prom-client inc(), no scraper', promInc, null],
    ['main thread: prom-client inc(), scrape every 100 ms', promInc, pScrape],
  ] as const) {
    const r = await mainThreadCounting(inc, scrapeOnce);
    rows.push({ name, 'ns/op': r.nsPerOp, 'CPU ns/op': null, scrapes: r.scrapes });
  }
  for (const [name, scrapeOnce] of [
    ['2 workers: kernkit inc(), no scraper', null],
    ['2 workers: kernkit inc(), main thread scrapes every 100 ms', kScrape],
  ] as const) {
    const r = await workerCounting(counters, scrapeOnce);
    rows.push({ name, 'ns/op': r.nsPerOp, 'CPU ns/op': r.cpuNsPerOp, scrapes: r.scrapes });
  }
  return rows;
}

export async function run(): Promise<void> {
  const s = await scrape();
  printTable(`Scrape: ${COUNTERS.toLocaleString()} counters + ${SETS.toLocaleString()} counter sets (5 fields) + ${SETS.toLocaleString()} rate estimators, ${WRITERS} writer threads (best of 15, alternating)`, s.rows);
  printTable('Exactness', s.exact);
  const w = await writePath();
  printTable(`Write path: ns per increment over ${WINDOW_MS} ms windows (${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)})`, w);
  const cpuNs = (name: string) => w.find((r) => r.name === name)!['CPU ns/op'] as number;
  const workerSlowdown = cpuNs('2 workers: kernkit inc(), main thread scrapes every 100 ms') / cpuNs('2 workers: kernkit inc(), no scraper');
  const targets: Row[] = [
    { name: 'prom-client scrape time / kernkit scrape time', value: s.ratio, target: '>= 2', met: s.ratio >= 2 },
    { name: 'kernkit worker inc() CPU time, scraping / not', value: workerSlowdown, target: '<= 1.1', met: workerSlowdown <= 1.1 },
  ];
  printTable('Targets (ratios from this run)', targets);
  writeResults('metrics', { scrape: s.rows, exactness: s.exact, writePath: w, targets });
}
