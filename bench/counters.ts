/**
 * Counters: kernkit's per-thread sharded Counter against the ways pure JS can
 * count — a plain field, a Float64Array slot, Atomics on a SharedArrayBuffer,
 * per-thread counts sent by postMessage — and prom-client's Counter.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Counter as PromCounter, Registry } from 'prom-client';
import { Counter } from '../dist';
import { bestNsPerOp, printTable, type Row, writeResults } from './lib/report';

const ITERATIONS = 50_000_000;

function oneThread(): Row[] {
  const counter = new Counter('bench');
  const holder = { n: 0 };
  const f64 = new Float64Array(16);
  const sab = new Int32Array(new SharedArrayBuffer(64));
  const prom = new PromCounter({ name: 'bench_total', help: 'bench', registers: [new Registry()] });

  const variants: Array<[string, (n: number) => void]> = [
    ['kernkit counter.inc()', (n) => { for (let i = 0; i < n; i++) counter.inc(); }],
    ['plain JS field (obj.n++)', (n) => { for (let i = 0; i < n; i++) holder.n++; }],
    ['Float64Array slot (f[i] += 1)', (n) => { for (let i = 0; i < n; i++) f64[3] += 1; }],
    ['Atomics.add on a SharedArrayBuffer', (n) => { for (let i = 0; i < n; i++) Atomics.add(sab, 0, 1); }],
    ['prom-client Counter.inc()', (n) => { for (let i = 0; i < n; i++) prom.inc(); }],
  ];
  const ns = variants.map(([name, fn]) => [name, bestNsPerOp(fn, name.startsWith('prom') ? ITERATIONS / 50 : ITERATIONS)] as const);
  const kernkitNs = ns[0][1];
  if (holder.n < ITERATIONS || counter.sum() < BigInt(ITERATIONS)) throw new Error('a one-thread variant did not count');
  return ns.map(([name, v]) => ({ name, 'ns/op': v, 'Mops/s': 1000 / v, 'time vs kernkit': v / kernkitNs }));
}

type Variant = 'kernkit' | 'atomics-shared' | 'atomics-padded' | 'postmessage';

async function threaded(variant: Variant, threads: number, iterations: number): Promise<{ mops: number; total: bigint; expected: bigint }> {
  const gate = new SharedArrayBuffer(4);
  const shared = new SharedArrayBuffer(64 * 8);
  const counter = new Counter(`threads-${variant}`);
  let delivered = 0; // postmessage variant: what the workers sent
  const workers = Array.from(
    { length: threads },
    (_, index) =>
      new Worker(path.join(__dirname, 'workers', 'counter-worker.js'), {
        workerData: { variant, iterations, index, gate, shared, handle: counter.handle },
      }),
  );
  const ready: Promise<void>[] = [];
  const times: Promise<{ start: bigint; end: bigint }>[] = [];
  const exits: Promise<void>[] = [];
  for (const w of workers) {
    ready.push(new Promise((resolve) => w.on('message', (m) => m.ready && resolve())));
    times.push(new Promise((resolve) => w.on('message', (m) => m.start !== undefined && resolve(m))));
    w.on('message', (m) => {
      if (m.delta) delivered += m.delta;
    });
    exits.push(new Promise((resolve, reject) => { w.on('exit', () => resolve()); w.on('error', reject); }));
  }
  await Promise.all(ready);
  Atomics.store(new Int32Array(gate), 0, 1);
  Atomics.notify(new Int32Array(gate), 0);
  const spans = await Promise.all(times);
  await Promise.all(exits);
  const start = spans.reduce((a, s) => (s.start < a ? s.start : a), spans[0].start);
  const end = spans.reduce((a, s) => (s.end > a ? s.end : a), spans[0].end);
  const slots = new Int32Array(shared);
  const total =
    variant === 'kernkit' ? counter.sum()
    : variant === 'atomics-shared' ? BigInt(slots[0])
    : variant === 'atomics-padded' ? BigInt(Array.from({ length: threads }, (_, t) => slots[t * 16]).reduce((a, b) => a + b, 0))
    : BigInt(delivered);
  const expected = BigInt(2 * threads * iterations); // each worker also ran a warm-up pass
  if (total !== expected) throw new Error(`${variant} with ${threads} threads counted ${total}, expected ${expected}`);
  return { mops: (threads * iterations) / (Number(end - start) / 1000), total, expected };
}

async function holdShards(counter: Counter, holders: number): Promise<() => Promise<void>> {
  const release = new SharedArrayBuffer(4);
  const workers = Array.from({ length: holders }, () => new Worker(path.join(__dirname, 'workers', 'shard-holder.js'), { workerData: { handle: counter.handle, release } }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  return async () => {
    Atomics.store(new Int32Array(release), 0, 1);
    Atomics.notify(new Int32Array(release), 0);
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  };
}

async function sumCost(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const shards of [1, 8, 64]) {
    const counter = new Counter(`sum-${shards}`);
    counter.inc();
    const release = await holdShards(counter, shards - 1);
    let sink = 0n;
    const sumNs = bestNsPerOp((n) => { for (let i = 0; i < n; i++) sink += counter.sum(); }, 200_000);
    const approxNs = bestNsPerOp((n) => { let s = 0; for (let i = 0; i < n; i++) s += counter.approx(); sink += BigInt(s); }, 200_000);
    await release();
    if (counter.sum() !== BigInt(shards)) throw new Error(`sum with ${shards} shards is ${counter.sum()}`);
    rows.push({ name: `${shards} shard${shards > 1 ? 's' : ''}`, 'sum() ns': sumNs, 'approx() ns': approxNs, 'sum() target ns': 2000 });
    void sink;
  }
  return rows;
}

/** Runs the counter benchmarks and writes bench/results/counters.json. */
export async function run(): Promise<void> {
  // sum() cost first: it needs the shard high-water mark low when measuring 1 shard.
  const sums = await sumCost();

  const single = oneThread();
  printTable(`One thread, ${ITERATIONS.toLocaleString()} increments (best of 5)`, single);

  const perThread = 20_000_000;
  const multi: Row[] = [];
  for (const threads of [1, 2, 4]) {
    const results: Record<string, number> = {};
    for (const v of ['kernkit', 'atomics-shared', 'atomics-padded', 'postmessage'] as Variant[]) {
      results[v] = (await threaded(v, threads, perThread)).mops;
    }
    for (const [v, mops] of Object.entries(results)) {
      multi.push({ name: `${threads} thread${threads > 1 ? 's' : ''}: ${v}`, 'Mops/s': mops, 'kernkit speedup': results.kernkit / mops, 'totals checked': true });
    }
  }
  printTable(`Worker threads counting one logical counter, ${perThread.toLocaleString()} increments each`, multi);
  printTable('Reading a counter', sums);

  const f64 = single[2]['ns/op'] as number;
  const atomics = single[3]['ns/op'] as number;
  const inc = single[0]['ns/op'] as number;
  const two = (name: string) => multi.find((r) => r.name === `2 threads: ${name}`)!['Mops/s'] as number;
  const targets: Row[] = [
    { name: 'inc() time / Float64Array slot time', value: inc / f64, target: '<= 1.5', met: inc / f64 <= 1.5 },
    { name: 'Atomics.add time / inc() time', value: atomics / inc, target: '>= 2', met: atomics / inc >= 2 },
    { name: '2 threads: kernkit / shared Atomics.add slot', value: two('kernkit') / two('atomics-shared'), target: '>= 5', met: two('kernkit') / two('atomics-shared') >= 5 },
    { name: 'sum() with 64 shards, ns', value: sums[2]['sum() ns'] as number, target: '< 2000', met: (sums[2]['sum() ns'] as number) < 2000 },
  ];
  printTable('Targets (ratios from this run)', targets);
  writeResults('counters', { oneThread: single, threads: multi, sum: sums, targets });
}
