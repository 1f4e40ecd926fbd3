/**
 * Flow schedulers (lib/sched):
 *
 * 1. Throughput on the manual clock: FairQueue enqueue+dequeue with 10, 10^3
 *    and 10^5 backlogged flows; Htb with 10 and 1,000 classes in 3 levels
 *    (leaves borrowing from their parents, the clock advanced to each next
 *    event). Targets: FairQueue >= 1M items/s at 10^3 flows, Htb >= 500k
 *    items/s at 1,000 classes.
 * 2. FairQueue's fairness figures: Jain's index over backlogged flows of equal
 *    and unequal item sizes, pacing error against maxrate, and where a new
 *    flow's first item lands behind 100 backlogged flows (initial quantum).
 * 3. Against what users pick, in real time, same run: 100 tenants with
 *    Zipf-skewed demand (three times the capacity of 1000 jobs/s in total,
 *    submitted at the start in the order of their virtual arrival times) through
 *    kernkit (Scheduler over an Htb: a leaf per tenant with 1/100 of the rate
 *    guaranteed and the whole rate as ceil), p-queue (intervalCap 10 per 10 ms)
 *    and bottleneck (a Group of per-tenant limiters at 10 jobs/s chained to a
 *    global one at 1000 jobs/s). Throughput, Jain's index of each tenant's jobs
 *    over its max-min fair share, the max/min of that ratio, and the p99 wait
 *    of the smallest tenant. Writes bench/results/sched.svg (jobs per tenant
 *    over time) and bench/results/sched.json.
 *
 * `KERNKIT_BENCH_SCHED_SECONDS` sets the real-time run length (default 4).
 */
import { setMaxListeners } from 'node:events';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { FairQueue, Htb, SimulatedClock, Scheduler, type FqItem, type HtbItem } from '../lib/sched';
import { printTable, type Row, writeResults } from './lib/report';

const SEC = 1e9;

/** Jain's fairness index of x: (Σx)² / (n Σx²), 1 when all are equal. */
function jain(x: number[]): number {
  const s = x.reduce((a, b) => a + b, 0);
  const s2 = x.reduce((a, b) => a + b * b, 0);
  return s2 === 0 ? 1 : (s * s) / (x.length * s2);
}

function wallItemsPerSec(fn: () => number, minMs = 400): number {
  fn(); // warm-up
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    let items = 0;
    while (Number(process.hrtime.bigint() - t0) / 1e6 < minMs) items += fn();
    best = Math.max(best, items / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  return best;
}

function fqThroughput(flows: number): number {
  const q = new FairQueue({ limit: 4 * flows + 10, clock: new SimulatedClock() });
  const items: FqItem[] = [];
  for (let f = 0; f < flows; f++) for (let k = 0; k < 2; k++) items.push({ flow: f, length: 1000 });
  for (const it of items) q.enqueue(it, 0);
  const batch = 100_000;
  return wallItemsPerSec(() => {
    for (let i = 0; i < batch; i++) {
      const it = q.dequeue(0) as FqItem;
      q.enqueue(it, 0);
    }
    return batch;
  });
}

function htbThroughput(classes: number): number {
  const clock = new SimulatedClock();
  const q = new Htb({ clock });
  // 3 levels: a root, `mids` inner classes, the rest leaves spread over them.
  const mids = classes >= 100 ? 10 : 3;
  const leaves = classes - 1 - mids;
  q.addClass({ classid: '1:1', rate: '1gbit', burst: '100k', cburst: '100k' });
  for (let m = 0; m < mids; m++) q.addClass({ classid: `1:${(m + 2).toString(16)}`, parent: '1:1', rate: `${Math.floor(1000 / mids)}mbit`, ceil: '1gbit', burst: '50k', cburst: '50k' });
  const leafIds: string[] = [];
  for (let l = 0; l < leaves; l++) {
    const id = `1:${(0x100 + l).toString(16)}`;
    q.addClass({ classid: id, parent: `1:${((l % mids) + 2).toString(16)}`, rate: `${Math.max(1, Math.floor(1e6 / leaves))}kbit`, ceil: '1gbit', quantum: 1500, burst: '15k', cburst: '15k' });
    leafIds.push(id);
  }
  for (const id of leafIds) for (let k = 0; k < 2; k++) q.enqueue({ classid: id, length: 1000 });
  const batch = 50_000;
  return wallItemsPerSec(() => {
    let sent = 0;
    while (sent < batch) {
      const it = q.dequeue();
      if (it) {
        q.enqueue(it as HtbItem);
        sent++;
      } else clock.set(q.nextTime() as number);
    }
    return batch;
  });
}

function fqFairness(): Row[] {
  const rows: Row[] = [];
  for (const [name, sizeOf] of [
    ['100 flows, equal items (1000 B)', () => 1000],
    ['100 flows, items 64..1500 B by flow', (f: number) => 64 + Math.floor((f * 1436) / 99)],
  ] as Array<[string, (f: number) => number]>) {
    const q = new FairQueue({ clock: new SimulatedClock(), pacing: false, maxrate: '1gbit' });
    for (let f = 0; f < 100; f++) for (let k = 0; k < 50; k++) q.enqueue({ flow: f, length: sizeOf(f) }, 0);
    const bytes = new Array<number>(100).fill(0);
    for (let i = 0; i < 200_000; i++) {
      const it = q.dequeue(0) as FqItem<number>;
      bytes[it.flow as number] += it.length;
      q.enqueue(it, 0);
    }
    rows.push({ name, jainBytes: Number(jain(bytes).toFixed(5)), maxOverMin: Number((Math.max(...bytes) / Math.min(...bytes)).toFixed(4)) });
  }
  return rows;
}

function fqPacing(): Row[] {
  const rows: Row[] = [];
  for (const [rate, len] of [
    [125_000, 1000],
    [1_000_000, 1500],
    [10_000_000, 300],
  ]) {
    const clock = new SimulatedClock();
    const q = new FairQueue({ clock, maxrate: rate * 8 });
    for (let k = 0; k < 100; k++) q.enqueue({ flow: 'a', length: len });
    let bytes = 0;
    const start = clock.now();
    while (clock.now() - start < 10 * SEC) {
      const it = q.dequeue();
      if (it) {
        bytes += it.length;
        q.enqueue(it);
      } else clock.set(q.nextTime() as number);
    }
    const measured = bytes / ((clock.now() - start) / SEC);
    rows.push({ name: `maxrate ${rate} B/s, ${len} B items`, measuredBps: Math.round(measured), errorPct: Number((((measured - rate) / rate) * 100).toFixed(3)) });
  }
  return rows;
}

function fqNewFlowWait(): Row[] {
  const rows: Row[] = [];
  for (const initialQuantum of [15140, 0]) {
    const q = new FairQueue<string>({ clock: new SimulatedClock(), pacing: false, maxrate: '1gbit', initialQuantum });
    for (let f = 0; f < 100; f++) for (let k = 0; k < 60; k++) q.enqueue({ flow: f, length: 1000 }, 0);
    for (let i = 0; i < 3000; i++) q.dequeue(0); // every flow has spent its initial credit and is old now
    q.enqueue({ flow: 'new', length: 1000, payload: 'first' }, 0);
    let before = 0;
    while ((q.dequeue(0) as FqItem<string>).payload !== 'first') before++;
    rows.push({ name: `initial_quantum ${initialQuantum}`, itemsBeforeFirst: before });
  }
  return rows;
}

interface TenantRun {
  name: string;
  starts: number[][]; // per tenant, start times in ms since t0
  waits: number[][]; // per tenant, ms from add to start
  elapsedMs: number;
}

const TENANTS = 100;
const CAPACITY = 1000; // jobs per second

/** Zipf demand: tenant i submits in proportion to 1/(i+1), `total` jobs in all, in virtual arrival order. */
function workload(total: number, seconds: number): Array<{ tenant: number; at: number }> {
  const h = Array.from({ length: TENANTS }, (_, i) => 1 / (i + 1));
  const hs = h.reduce((a, b) => a + b, 0);
  const jobs: Array<{ tenant: number; at: number }> = [];
  for (let t = 0; t < TENANTS; t++) {
    const n = Math.max(1, Math.round((total * h[t]) / hs));
    for (let k = 0; k < n; k++) jobs.push({ tenant: t, at: ((k + 0.5) / n) * seconds });
  }
  return jobs.sort((a, b) => a.at - b.at || a.tenant - b.tenant);
}

async function runContender(name: string, seconds: number, jobs: Array<{ tenant: number; at: number }>, submit: (tenant: number, job: () => void) => void, stop: () => void): Promise<TenantRun> {
  const starts = Array.from({ length: TENANTS }, () => [] as number[]);
  const waits = Array.from({ length: TENANTS }, () => [] as number[]);
  const t0 = performance.now();
  for (const j of jobs) {
    const added = performance.now();
    submit(j.tenant, () => {
      const now = performance.now();
      if (now - t0 <= seconds * 1000) {
        starts[j.tenant].push(now - t0);
        waits[j.tenant].push(now - added);
      }
    });
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop();
  return { name, starts, waits, elapsedMs: seconds * 1000 };
}

/** Max-min fair shares of `capacity` among demands (water-filling). */
function maxMinShares(demand: number[], capacity: number): number[] {
  const share = new Array<number>(demand.length).fill(0);
  let left = capacity;
  let open = demand.map((_, i) => i);
  while (open.length && left > 1e-9) {
    const each = left / open.length;
    const done = open.filter((i) => demand[i] - share[i] <= each);
    if (!done.length) {
      for (const i of open) share[i] += each;
      break;
    }
    for (const i of done) {
      left -= demand[i] - share[i];
      share[i] = demand[i];
    }
    open = open.filter((i) => !done.includes(i));
  }
  return share;
}

function p99(v: number[]): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.99 * s.length))];
}

function summarize(run: TenantRun, demand: number[]): Row {
  const got = run.starts.map((s) => s.length);
  const total = got.reduce((a, b) => a + b, 0);
  const fair = maxMinShares(demand, total);
  const ratio = got.map((g, i) => g / fair[i]);
  const smallest = TENANTS - 1;
  const unserved = demand[smallest] - got[smallest];
  return {
    name: run.name,
    jobsPerSec: Math.round(total / (run.elapsedMs / 1000)),
    jain: Number(jain(ratio).toFixed(4)),
    maxOverMinShare: Number((Math.max(...ratio) / Math.max(1e-9, Math.min(...ratio))).toFixed(2)),
    smallestTenantP99WaitMs: unserved > 0 ? `>${run.elapsedMs}` : Number(p99(run.waits[smallest]).toFixed(1)),
    smallestTenantServed: `${got[smallest]}/${demand[smallest]}`,
  };
}

/** Jobs per 250 ms of a few tenants over time, one panel per contender. */
function svg(runs: TenantRun[], seconds: number): string {
  const tenants = [0, 1, 9, 49, 99];
  const colors = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'];
  const bin = 250;
  const bins = Math.ceil((seconds * 1000) / bin);
  const W = 320;
  const H = 200;
  const pad = 36;
  const series = runs.map((r) => tenants.map((t) => {
    const c = new Array<number>(bins).fill(0);
    for (const s of r.starts[t]) c[Math.min(bins - 1, Math.floor(s / bin))]++;
    return c.map((n) => n * (1000 / bin));
  }));
  const ymax = Math.max(10, ...series.flat(2));
  const parts: string[] = [];
  runs.forEach((r, p) => {
    const x0 = p * (W + 20);
    parts.push(`<g transform="translate(${x0},0)"><text x="${pad}" y="14" font-size="12">${r.name}</text>`);
    parts.push(`<line x1="${pad}" y1="${H - pad}" x2="${W}" y2="${H - pad}" stroke="#000"/><line x1="${pad}" y1="20" x2="${pad}" y2="${H - pad}" stroke="#000"/>`);
    parts.push(`<text x="2" y="24" font-size="9">${Math.round(ymax)}/s</text><text x="${W - 20}" y="${H - pad + 12}" font-size="9">${seconds}s</text>`);
    series[p].forEach((s, k) => {
      const pts = s.map((v, i) => `${(pad + ((i + 0.5) / bins) * (W - pad)).toFixed(1)},${(H - pad - (v / ymax) * (H - pad - 20)).toFixed(1)}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${colors[k]}" stroke-width="1.5" points="${pts}"/>`);
    });
    parts.push('</g>');
  });
  const legend = tenants.map((t, k) => `<text x="${10 + k * 110}" y="${H + 14}" font-size="11" fill="${colors[k]}">tenant ${t} (${t === 0 ? 'largest' : t === 99 ? 'smallest' : `rank ${t + 1}`})</text>`).join('');
  const width = runs.length * (W + 20);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 24}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}${legend}</svg>\n`;
}

/** Runs the benchmark (see the module comment). */
export async function run(): Promise<void> {
  const seconds = Number(process.env.KERNKIT_BENCH_SCHED_SECONDS ?? 4);
  const throughput: Row[] = [];
  for (const flows of [10, 1000, 100_000]) throughput.push({ name: `FairQueue, ${flows} flows`, itemsPerSec: Math.round(fqThroughput(flows)) });
  for (const classes of [10, 1000]) throughput.push({ name: `Htb, ${classes} classes in 3 levels`, itemsPerSec: Math.round(htbThroughput(classes)) });
  printTable('enqueue+dequeue on the manual clock (best of 3)', throughput);
  const fairness = fqFairness();
  printTable('FairQueue: Jain index over 100 backlogged flows (200k items)', fairness);
  const pacing = fqPacing();
  printTable('FairQueue: pacing against maxrate over 10 s (manual clock)', pacing);
  const newFlow = fqNewFlowWait();
  printTable('FairQueue: items sent before a new flow’s first item, behind 100 backlogged flows', newFlow);

  const jobs = workload(3 * CAPACITY * seconds, seconds);
  const demand = new Array<number>(TENANTS).fill(0);
  for (const j of jobs) demand[j.tenant]++;

  // kernkit: an Htb leaf per tenant, 1/100 of the capacity guaranteed, all of it as ceil. 100 bytes per job.
  const clock = { now: () => Number(process.hrtime.bigint()) };
  const htb = new Htb({ clock });
  const jobBytes = 100;
  const rate = CAPACITY * jobBytes * 8; // bits per second
  htb.addClass({ classid: '1:1', rate, burst: 10 * jobBytes, cburst: 10 * jobBytes });
  for (let t = 0; t < TENANTS; t++) htb.addClass({ classid: `1:${(0x100 + t).toString(16)}`, parent: '1:1', rate: rate / TENANTS, ceil: rate, quantum: jobBytes, burst: 5 * jobBytes, cburst: 5 * jobBytes, limit: 1e6 });
  const ac = new AbortController();
  setMaxListeners(Infinity, ac.signal); // one listener per queued job
  const sched = new Scheduler<() => void, void>(htb, { concurrency: Infinity, run: (job) => job() });
  const kernkit = await runContender('kernkit Htb + Scheduler', seconds, jobs, (t, job) => void sched.add(job, { classid: `1:${(0x100 + t).toString(16)}`, length: jobBytes, signal: ac.signal }).catch(() => undefined), () => {
    sched.pause();
    ac.abort();
  });

  const { default: PQueue } = (await import('p-queue')) as unknown as { default: new (o: object) => { add(fn: () => void): Promise<void>; clear(): void; pause(): void } };
  const pq = new PQueue({ concurrency: Infinity, intervalCap: 10, interval: 10 });
  const pqueue = await runContender('p-queue (intervalCap 10/10ms)', seconds, jobs, (_t, job) => void pq.add(job).catch(() => undefined), () => {
    pq.pause();
    pq.clear();
  });

  const Bottleneck = (await import('bottleneck')).default;
  const global = new Bottleneck({ minTime: 1000 / CAPACITY });
  const group = new Bottleneck.Group({ minTime: (1000 * TENANTS) / CAPACITY });
  group.on('created', (limiter) => limiter.chain(global));
  const bottleneck = await runContender('bottleneck Group + global', seconds, jobs, (t, job) => void group.key(String(t)).schedule(async () => job()).catch(() => undefined), () => {
    for (const k of group.keys()) void group.key(k).stop({ dropWaitingJobs: true }).catch(() => undefined);
    void global.stop({ dropWaitingJobs: true }).catch(() => undefined);
  });

  const runs = [kernkit, pqueue, bottleneck];
  const comparison = runs.map((r) => summarize(r, demand));
  printTable(`100 tenants, Zipf demand ${jobs.length} jobs for ${seconds} s at ${CAPACITY} jobs/s (same run)`, comparison);
  const file = path.join(__dirname, 'results', 'sched.svg');
  writeFileSync(file, svg(runs, seconds));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  writeResults('sched', { throughput, fairness, pacing, newFlow, comparison, seconds, capacity: CAPACITY, tenants: TENANTS, demand });
  // Bottleneck keeps timers for dropped jobs; let the process end.
  setTimeout(() => undefined, 0).unref();
}

if (require.main === module) {
  run().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
