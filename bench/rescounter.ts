/**
 * Resource counters: tryCharge + uncharge on a 3-level tree (root > service >
 * tenant), kernkit's ResourceCounter against the same page_counter walk written
 * with Atomics on a SharedArrayBuffer (the best a user can do without kernkit:
 * Atomics for every access, four packed fields per counter), the same with plain
 * loads of max and the watermark (kernkit's own choice, to show what the layout
 * alone is worth), and a plain single-thread JS object tree.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ResourceCounter } from '../dist';
import { bestNsPerOp, printTable, type Row, writeResults } from './lib/report';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AtomicsTree } = require('./workers/rescounter-atomics') as {
  AtomicsTree: {
    create(parents: number[], max: number, plainReads?: boolean): { a: BigInt64Array; tryCharge(leaf: number, n: number): boolean; uncharge(leaf: number, n: number): void; usage(c: number): bigint };
  };
};

const ITERATIONS = 5_000_000;
const LIMIT = 1 << 30; // never reached: the success path is what is measured
// root 0, service 1, tenants 2 and 3
const PARENTS = [-1, 0, 1, 1];

/** A plain object per counter: what one thread needs, no sharing. */
class PlainCounter {
  usage = 0;
  watermark = 0;
  failcnt = 0;
  constructor(
    readonly max: number,
    readonly parent: PlainCounter | null,
  ) {}
  tryCharge(n: number): boolean {
    for (let c: PlainCounter | null = this; c; c = c.parent) {
      const now = (c.usage += n);
      if (now > c.max) {
        c.usage -= n;
        c.failcnt++;
        for (let d: PlainCounter | null = this; d !== c; d = d!.parent) d!.usage -= n;
        return false;
      }
      if (now > c.watermark) c.watermark = now;
    }
    return true;
  }
  uncharge(n: number): void {
    for (let c: PlainCounter | null = this; c; c = c.parent) c.usage = Math.max(0, c.usage - n);
  }
}

function kernkitTree(): ResourceCounter[] {
  const root = new ResourceCounter({ name: 'root', max: LIMIT });
  const service = new ResourceCounter({ name: 'service', parent: root, max: LIMIT });
  return [root, service, new ResourceCounter({ name: 'a', parent: service, max: LIMIT }), new ResourceCounter({ name: 'b', parent: service, max: LIMIT })];
}

function oneThread(): Row[] {
  const k = kernkitTree();
  const atomics = AtomicsTree.create(PARENTS, LIMIT);
  const atomicsPlain = AtomicsTree.create(PARENTS, LIMIT, true);
  const root = new PlainCounter(LIMIT, null);
  const plain = new PlainCounter(LIMIT, new PlainCounter(LIMIT, root));
  const leaf = k[2];
  const variants: Array<[string, (n: number) => void]> = [
    ['kernkit ResourceCounter', (n) => { for (let i = 0; i < n; i++) { const a = (i & 15) + 1; if (leaf.tryCharge(a)) leaf.uncharge(a); } }],
    ['Atomics on a SharedArrayBuffer', (n) => { for (let i = 0; i < n; i++) { const a = (i & 15) + 1; if (atomics.tryCharge(2, a)) atomics.uncharge(2, a); } }],
    ['Atomics on a SharedArrayBuffer, plain reads of max', (n) => { for (let i = 0; i < n; i++) { const a = (i & 15) + 1; if (atomicsPlain.tryCharge(2, a)) atomicsPlain.uncharge(2, a); } }],
    ['plain JS objects (one thread only)', (n) => { for (let i = 0; i < n; i++) { const a = (i & 15) + 1; if (plain.tryCharge(a)) plain.uncharge(a); } }],
  ];
  const ns = variants.map(([name, fn]) => [name, bestNsPerOp(fn, ITERATIONS)] as const);
  if (k[0].usage !== 0 || atomics.usage(0) !== 0n || root.usage !== 0) throw new Error('a one-thread variant left usage behind');
  for (const c of k) c.close();
  const kernkitNs = ns[0][1];
  return ns.map(([name, v]) => ({ name, 'ns per tryCharge+uncharge': v, 'Mpairs/s': 1000 / v, 'time vs kernkit': v / kernkitNs }));
}

type Variant = 'kernkit' | 'atomics' | 'atomics-plain-reads';
const VARIANT_NAMES: Record<Variant, string> = {
  kernkit: 'kernkit ResourceCounter',
  atomics: 'Atomics on a SharedArrayBuffer',
  'atomics-plain-reads': 'Atomics on a SAB, plain reads of max',
};

async function threaded(variant: Variant, threads: number, iterations: number): Promise<number> {
  const gate = new SharedArrayBuffer(4);
  const k = kernkitTree();
  const atomics = AtomicsTree.create(PARENTS, LIMIT);
  const workers = Array.from(
    { length: threads },
    (_, t) =>
      new Worker(path.join(__dirname, 'workers', 'rescounter-worker.js'), {
        workerData: { variant, iterations, gate, handle: k[2 + t].handle, sab: atomics.a.buffer, parents: PARENTS, leaf: 2 + t },
      }),
  );
  const ready = workers.map((w) => new Promise<void>((resolve) => w.on('message', (m) => m.ready && resolve())));
  const spans = workers.map((w) => new Promise<{ start: bigint; end: bigint; refused: number }>((resolve) => w.on('message', (m) => m.start !== undefined && resolve(m))));
  const exits = workers.map((w) => new Promise<void>((resolve, reject) => { w.on('exit', () => resolve()); w.on('error', reject); }));
  await Promise.all(ready);
  Atomics.store(new Int32Array(gate), 0, 1);
  Atomics.notify(new Int32Array(gate), 0);
  const s = await Promise.all(spans);
  await Promise.all(exits);
  const usage = variant === 'kernkit' ? k[0].usage : Number(atomics.usage(0));
  if (usage !== 0 || s.some((x) => x.refused !== 0)) throw new Error(`${variant}: ${threads} threads left usage ${usage} or were refused`);
  for (const c of k) c.close();
  const start = s.reduce((a, x) => (x.start < a ? x.start : a), s[0].start);
  const end = s.reduce((a, x) => (x.end > a ? x.end : a), s[0].end);
  return (threads * iterations) / (Number(end - start) / 1000); // million pairs per second, all threads
}

/** Runs the resource counter benchmarks and writes bench/results/rescounter.json. */
export async function run(): Promise<void> {
  const single = oneThread();
  printTable(`One thread, ${ITERATIONS.toLocaleString()} tryCharge+uncharge pairs on a 3-level tree (best of 5)`, single);

  const perThread = 2_000_000;
  const multi: Row[] = [];
  const mops: Record<string, number> = {};
  for (const threads of [1, 2]) {
    const variants: Variant[] = ['kernkit', 'atomics', 'atomics-plain-reads'];
    for (const v of variants) mops[`${threads}:${v}`] = await threaded(v, threads, perThread);
    for (const v of variants) {
      multi.push({ name: `${threads} thread${threads > 1 ? 's' : ''}: ${VARIANT_NAMES[v]}`, 'Mpairs/s (all threads)': mops[`${threads}:${v}`], 'kernkit speedup': mops[`${threads}:kernkit`] / mops[`${threads}:${v}`] });
    }
  }
  printTable(`Worker threads, each on its own tenant under one service and root, ${perThread.toLocaleString()} pairs each`, multi);

  const oneRatio = (single[1]['ns per tryCharge+uncharge'] as number) / (single[0]['ns per tryCharge+uncharge'] as number);
  const twoRatio = mops['2:kernkit'] / mops['2:atomics'];
  const targets: Row[] = [
    { name: '1 thread: Atomics time / kernkit time', value: oneRatio, target: '>= 1', met: oneRatio >= 1 },
    { name: '2 threads: kernkit / Atomics throughput', value: twoRatio, target: '> 1', met: twoRatio > 1 },
  ];
  printTable('Targets (ratios from this run)', targets);
  writeResults('rescounter', { oneThread: single, threads: multi, targets });
}
