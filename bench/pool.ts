/**
 * Worker pools: kernkit's WorkerPool (workers pinned one per CPU, and the same
 * pool unpinned) against piscina, with the same task files and the same
 * number of threads (one per CPU the bench may use).
 *
 * - echo: throughput of tiny tasks (the payload straight back), 64 in flight.
 * - hash: about 1 ms of SHA-256 per task, one in flight per thread: throughput
 *   and the p50/p99 latency from run() to its result.
 *
 * Variants run interleaved round by round (the order rotating) so that drift
 * on a shared machine hits all of them alike. Each figure is given for the
 * median round (typical) and the best round (least disturbed by other load,
 * as bestNsPerOp does for micro benchmarks); p50/p99 are taken per round.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { getAffinity, WorkerPool } from '../lib';
import { printTable, writeResults } from './lib/report';

const ECHO = path.join(__dirname, 'fixtures', 'pool-echo.js');
const HASH = path.join(__dirname, 'fixtures', 'pool-hash.js');

const ROUNDS = 9;
const ECHO_TASKS = 30_000;
const ECHO_IN_FLIGHT = 64;
const HASH_TASKS_PER_THREAD = 300;

/** What the bench needs from a pool: run a task, and shut down. */
interface Runner {
  run(task: unknown): Promise<unknown>;
  close(): Promise<void>;
}

interface Variant {
  name: string;
  make(filename: string, cpus: number[]): Promise<Runner>;
}

const variants: Variant[] = [
  {
    name: 'kernkit pinned',
    async make(filename, cpus) {
      const pool = new WorkerPool({ filename, cpus });
      await pool.ready();
      return { run: (t) => pool.run(t), close: () => pool.close() };
    },
  },
  {
    name: 'kernkit unpinned',
    async make(filename, cpus) {
      const pool = new WorkerPool({ filename, cpus, pin: false });
      await pool.ready();
      return { run: (t) => pool.run(t), close: () => pool.close() };
    },
  },
  {
    name: 'piscina',
    async make(filename, cpus) {
      const pool = new Piscina({ filename, minThreads: cpus.length, maxThreads: cpus.length, idleTimeout: Infinity });
      // Let its workers start, as kernkit's ready() does.
      await Promise.all(cpus.map(() => pool.run(0)));
      return { run: (t) => pool.run(t), close: () => pool.destroy() };
    },
  },
];

/** Runs `total` tasks keeping `inFlight` pending; returns tasks/s and each task's latency in ms. */
async function drive(runner: Runner, task: unknown, total: number, inFlight: number): Promise<{ perSec: number; latencies: Float64Array }> {
  const latencies = new Float64Array(total);
  let sent = 0;
  let done = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const launch = (): void => {
      while (sent < total && sent - done < inFlight) {
        const i = sent++;
        const start = performance.now();
        runner.run(task).then(() => {
          latencies[i] = performance.now() - start;
          if (++done === total) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  return { perSec: total / ((performance.now() - t0) / 1000), latencies };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** SHA-256 rounds (as pool-hash.js chains them) that take about `ms` on this machine. */
function calibrateHashRounds(ms: number): number {
  const block = Buffer.alloc(4096, 0x5a);
  const work = (rounds: number): number => {
    const t0 = performance.now();
    let digest = Buffer.alloc(32);
    for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(block).update(digest).digest();
    return performance.now() - t0;
  };
  work(2000); // warm-up
  const samples = Array.from({ length: 7 }, () => work(1000));
  return Math.max(1, Math.round((1000 * ms) / median(samples)));
}

export async function run(): Promise<void> {
  const cpus = getAffinity();
  const threads = cpus.length;
  const rounds = calibrateHashRounds(1);
  const hashTasks = HASH_TASKS_PER_THREAD * threads;
  console.log(`${threads} threads (CPUs ${cpus.join(',')}), ${ROUNDS} rounds; hash task = ${rounds} SHA-256 rounds of 4 KiB (~1 ms)\n`);

  interface HashRound {
    perSec: number;
    p50: number;
    p99: number;
  }
  const echo = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const hash = new Map<string, HashRound[]>(variants.map((v) => [v.name, []]));

  for (let r = 0; r < ROUNDS; r++) {
    // Rotate the order each round so no variant always runs first (or last).
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      const pool = await v.make(ECHO, cpus);
      await drive(pool, 1, 2000, ECHO_IN_FLIGHT); // warm-up
      echo.get(v.name)!.push((await drive(pool, r, ECHO_TASKS, ECHO_IN_FLIGHT)).perSec);
      await pool.close();
    }
    for (const v of order) {
      const pool = await v.make(HASH, cpus);
      await drive(pool, rounds, 4 * threads, threads); // warm-up
      const res = await drive(pool, rounds, hashTasks, threads);
      const sorted = res.latencies.sort();
      hash.get(v.name)!.push({ perSec: res.perSec, p50: percentile(sorted, 50), p99: percentile(sorted, 99) });
      await pool.close();
    }
  }

  const base = 'piscina';
  const echoOf = (name: string) => ({ median: median(echo.get(name)!), best: Math.max(...echo.get(name)!) });
  const echoBase = echoOf(base);
  const echoRows = variants.map((v) => {
    const e = echoOf(v.name);
    return {
      name: v.name,
      'tasks/s median': Math.round(e.median),
      'tasks/s best': Math.round(e.best),
      'vs piscina (median)': e.median / echoBase.median,
      'vs piscina (best)': e.best / echoBase.best,
    };
  });
  printTable(`echo: tiny tasks, ${ECHO_IN_FLIGHT} in flight, ${threads} threads, ${ROUNDS} rounds of ${ECHO_TASKS}`, echoRows);

  const hashOf = (name: string) => {
    const rs = hash.get(name)!;
    return {
      perSec: median(rs.map((x) => x.perSec)),
      bestPerSec: Math.max(...rs.map((x) => x.perSec)),
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      bestP99: Math.min(...rs.map((x) => x.p99)),
    };
  };
  const hashBase = hashOf(base);
  const hashRows = variants.map((v) => {
    const h = hashOf(v.name);
    return {
      name: v.name,
      'tasks/s median': Math.round(h.perSec),
      'tasks/s best': Math.round(h.bestPerSec),
      'p50 ms': h.p50,
      'p99 ms median': h.p99,
      'p99 ms best': h.bestP99,
      'tasks/s vs piscina': h.perSec / hashBase.perSec,
      'p99 vs piscina': h.p99 / hashBase.p99,
    };
  });
  printTable(`hash: ~1 ms CPU-bound tasks, ${threads} in flight (one per thread), ${ROUNDS} rounds of ${hashTasks}`, hashRows);

  const pinned = hashOf('kernkit pinned');
  const unpinned = hashOf('kernkit unpinned');
  const summary = {
    echoVsPiscina: echoOf('kernkit pinned').median / echoBase.median,
    echoBestVsPiscinaBest: echoOf('kernkit pinned').best / echoBase.best,
    echoPinnedVsUnpinned: echoOf('kernkit pinned').median / echoOf('kernkit unpinned').median,
    hashThroughputVsPiscina: pinned.perSec / hashBase.perSec,
    hashP99VsPiscina: pinned.p99 / hashBase.p99,
    hashBestP99VsPiscina: pinned.bestP99 / hashBase.bestP99,
    hashP99PinnedVsUnpinned: pinned.p99 / unpinned.p99,
  };
  console.log('summary (kernkit pinned over the other; throughput > 1 is faster, p99 < 1 is better):', summary);

  writeResults('pool', {
    threads,
    cpus,
    rounds: ROUNDS,
    echo: { tasks: ECHO_TASKS, inFlight: ECHO_IN_FLIGHT, rows: echoRows, perRound: Object.fromEntries(echo) },
    hash: { sha256Rounds: rounds, tasksPerRound: hashTasks, inFlight: threads, rows: hashRows, perRound: Object.fromEntries(hash) },
    summary,
  });
}
