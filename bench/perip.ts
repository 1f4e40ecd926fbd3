/**
 * Per-IP statistics: counting by cookie against a kernkit Counter and against
 * the pure-JS way (a Map keyed by the address pair's text with plain numbers),
 * in one and two threads; counting by address (hashing); memory per entry at
 * level 0 and level 1; and the collector's cost per dump of 10^4 sockets
 * against `ss -tin` run as a process and parsed.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Worker } from 'node:worker_threads';
import {
  Counter,
  IpStatsTable,
  LINUX_MIB_FIELDS,
  MibMap,
  SEED_LINUX_DEFAULT,
  SEED_LINUX_EXCLUDE,
  SEED_TCP_DEFAULT,
  SEED_TCP_EXCLUDE,
  TCP_MIB_FIELDS,
  TcpPeerCollector,
  tcpPeerMap,
} from '../dist';
import { bestNsPerOp, printTable, type Row, writeResults } from './lib/report';

const ITERATIONS = 20_000_000;
const PEERS = 64;

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;

/** The seed's setup: TCP and LINUX MIB in one map, its red flags at level 0, the rest at level 1. */
function seedMap(): MibMap {
  const map = new MibMap([...TCP_MIB_FIELDS, ...LINUX_MIB_FIELDS]);
  map.addMapping(0, [...SEED_TCP_DEFAULT, ...SEED_LINUX_DEFAULT]);
  map.addMapping(1, null, [...SEED_TCP_EXCLUDE, ...SEED_LINUX_EXCLUDE]);
  return map;
}

function peer(i: number): [string, string] {
  return ['192.0.2.1', `198.51.${(i >> 8) & 255}.${i & 255}`];
}

function oneThread(): Row[] {
  const table = new IpStatsTable(seedMap(), { buckets: 256 });
  table.start();
  const cookies = Array.from({ length: PEERS }, (_, i) => table.insert(...peer(i)));
  const id = table.map.index('RetransSegs');
  const counter = new Counter('bench-perip');
  const js = new Map(Array.from({ length: PEERS }, (_, i) => [peer(i).join(' '), { RetransSegs: 0 }]));
  const keys = [...js.keys()];
  const pairs = Array.from({ length: PEERS }, (_, i) => peer(i));
  const variants: Array<[string, (n: number) => void, number]> = [
    ['kernkit counter.inc()', (n) => { for (let i = 0; i < n; i++) counter.inc(); }, ITERATIONS],
    ['table.count(cookie, id)', (n) => { for (let i = 0; i < n; i++) table.count(cookies[i & 63], id); }, ITERATIONS],
    ['JS Map.get(pair text).field++', (n) => { for (let i = 0; i < n; i++) js.get(keys[i & 63])!.RetransSegs++; }, ITERATIONS],
    ['table.countByAddress(src, dst, id)', (n) => { for (let i = 0; i < n; i++) { const p = pairs[i & 63]; table.countByAddress(p[0], p[1], id); } }, ITERATIONS / 20],
  ];
  const rows = variants.map(([name, fn, n]) => ({ name, ns: bestNsPerOp(fn, n) }));
  const base = rows[0].ns;
  return rows.map((r) => ({ name: r.name, 'ns/op': r.ns, 'vs counter.inc()': r.ns / base }));
}

async function threaded(variant: 'kernkit' | 'js', threads: number, iterations: number): Promise<number> {
  const table = new IpStatsTable(seedMap());
  table.start();
  const cookies = Array.from({ length: PEERS }, (_, i) => table.insert(...peer(i)));
  const handles = cookies.map((c) => table.handleOf(c));
  const keys = Array.from({ length: PEERS }, (_, i) => peer(i).join(' '));
  const gate = new SharedArrayBuffer(4);
  const merged = new Map<string, number>();
  const workers = Array.from({ length: threads }, () => new Worker(path.join(__dirname, 'workers', 'perip-writer.js'), { workerData: { variant, handles, keys, iterations, gate } }));
  const ready: Promise<void>[] = [];
  const spans: Promise<{ start: bigint; end: bigint }>[] = [];
  // Listened to from the start: a worker may exit before the spans are all in.
  const exits = workers.map((w) => new Promise((resolve, reject) => { w.on('exit', resolve); w.on('error', reject); }));
  for (const w of workers) {
    let first = true;
    ready.push(new Promise((resolve) => w.on('message', (m) => m.ready && resolve())));
    spans.push(new Promise((resolve) => w.on('message', (m) => m.start !== undefined && resolve(m))));
    w.on('message', (m) => {
      if (!m.counts) return;
      if (first) {
        first = false; // the warm-up pass
        return;
      }
      for (const [k, v] of m.counts as Array<[string, number]>) merged.set(k, (merged.get(k) ?? 0) + v);
    });
  }
  await Promise.all(ready);
  const t0 = process.hrtime.bigint();
  Atomics.store(new Int32Array(gate), 0, 1);
  Atomics.notify(new Int32Array(gate), 0);
  const s = await Promise.all(spans);
  await Promise.all(exits);
  // The JS variant's counts are only usable once merged on the main thread: include that.
  const end = variant === 'js' ? process.hrtime.bigint() : s.reduce((a, x) => (x.end > a ? x.end : a), s[0].end);
  const start = variant === 'js' ? t0 : s.reduce((a, x) => (x.start < a ? x.start : a), s[0].start);
  const total = variant === 'kernkit'
    ? [...table.entries()].reduce((a, e) => a + Number(e.counters.RetransSegs), 0)
    : [...merged.values()].reduce((a, b) => a + b, 0);
  const expected = threads * iterations * 2; // the warm-up pass counts too (the JS Map keeps its counts)
  if (total !== expected) throw new Error(`${variant} x${threads}: counted ${total}, expected ${expected}`);
  return (threads * iterations) / (Number(end - start) / 1000);
}

function memoryPerEntry(level: 0 | 1, entries: number): { heap: number; rss: number } {
  const map = seedMap();
  map.level = level;
  gc();
  const before = process.memoryUsage();
  const table = new IpStatsTable(map, { buckets: 65536, maxEntries: entries });
  table.start();
  for (let i = 0; i < entries; i++) table.insert('192.0.2.1', `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  gc();
  const after = process.memoryUsage();
  if (table.size !== entries) throw new Error('not every entry was inserted');
  return { heap: (after.heapUsed - before.heapUsed) / entries, rss: (after.rss - before.rss) / entries };
}

/** 5,000 connections (10^4 sockets) inside one namespace, or undefined when not root. */
async function collectorCost(): Promise<Row[] | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ns = `kernkit-test-bench${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `ulimit -n 40000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${process.execPath} ${path.join(__dirname, 'workers', 'perip-conns.js')} 5000`], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', '10.77.0.1/8', 'dev', 'lo']);
    child.stdin!.on('error', () => undefined); // reported through the exit below
    child.stdin!.write('go\n');
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`connections helper exited ${code}`)));
    });
    const table = new IpStatsTable(tcpPeerMap(), { family: 4, maxEntries: 20000 });
    table.start();
    const collector = new TcpPeerCollector(table, { netns: ns, interval: 0 });
    await collector.start();
    const rounds = 5;
    let best = Infinity;
    let allocated = Infinity;
    for (let r = 0; r < rounds; r++) {
      gc();
      const alloc0 = process.memoryUsage().heapUsed;
      const t0 = process.hrtime.bigint();
      await collector.collect();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      best = Math.min(best, ms);
      allocated = Math.min(allocated, process.memoryUsage().heapUsed - alloc0);
    }
    const sockets = collector.stats().sockets;
    await collector.stop();
    let ssBest = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      const out = execFileSync('ip', ['netns', 'exec', ns, 'ss', '-tin'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      let parsed = 0;
      for (const line of out.split('\n')) if (line.startsWith('\t') && /segs_in:(\d+)/.test(line)) parsed++;
      ssBest = Math.min(ssBest, Number(process.hrtime.bigint() - t0) / 1e6);
      if (parsed < 10000) throw new Error(`ss listed ${parsed} sockets`);
    }
    return [
      { name: 'collector.collect() (dump v4+v6, decode, count)', sockets, 'ms/dump': best, 'heap growth MB': allocated / 2 ** 20 },
      { name: 'ss -tin as a process, parsed', sockets: 10000, 'ms/dump': ssBest, 'heap growth MB': null },
    ];
  } finally {
    child.kill();
    execFileSync('ip', ['netns', 'del', ns]);
  }
}

export async function run(): Promise<void> {
  const single = oneThread();
  printTable('One thread, 64 peers (ns per count)', single);
  const threadRows: Row[] = [];
  for (const threads of [1, 2]) {
    const kernkit = await threaded('kernkit', threads, ITERATIONS / 4);
    const js = await threaded('js', threads, ITERATIONS / 4);
    threadRows.push({ name: `${threads} thread(s)`, 'kernkit Mops/s': kernkit, 'JS Map + postMessage Mops/s': js, 'kernkit / JS': kernkit / js });
  }
  printTable('Counting from worker threads', threadRows);
  const memory = ([0, 1] as const).map((level) => ({ name: `level ${level}, 10^5 entries`, ...memoryPerEntry(level, 100_000) }));
  const memoryRows = memory.map((m) => ({ name: m.name, 'JS heap B/entry': m.heap, 'RSS B/entry': m.rss }));
  printTable('Memory per entry (seed map: TCP + LINUX MIB)', memoryRows);
  const collector = await collectorCost();
  if (collector) printTable('Collector per dump, 10^4 sockets', collector);
  else console.log('collector cost: skipped (needs root)\n');
  writeResults('perip', { single, threads: threadRows, memory: memoryRows, collector: collector ?? null });
}
