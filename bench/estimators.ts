/**
 * Estimators: the event loop's delay (monitorEventLoopDelay p50/p99/max) while
 * kernkit's native kthreads estimate (against the same process with the
 * kthreads parked, in alternating 2 s windows; p50/p99 are medians over the
 * windows, max the largest) 10^4, 10^5 and 10^6 RateEstimators over
 * counter sets with two writer shards each, against a pure-JS estimator of the
 * same arithmetic on setInterval (typed arrays: all estimators every 2 s, and
 * spread over 50 ticks of 40 ms as IPVS spreads them; the 2 s ticks fall in
 * the middle of the 2 s histogram windows, so their blocking is recorded).
 * Also: native cost per estimation, memory per estimator, setup time, and the
 * ratios kernkit / baseline and pure JS / kernkit, each from the same run.
 *
 * Each size runs in a child process of its own (bench/workers/estimators-run.js)
 * so that heaps and memory figures do not mix. `KERNKIT_BENCH_EST_SIZES=10000,100000`
 * and `KERNKIT_BENCH_EST_WINDOW_MS` shorten a run; `KERNKIT_BENCH_EST_NICE` runs the
 * kthreads at another nice value (default 0, as IPVS).
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { printTable, type Row, writeResults } from './lib/report';

interface Delay {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

interface SizeResult {
  n: number;
  windowMs: number;
  setup: {
    counterSetsMs: number;
    usPerCounterSet: number;
    counterSetHeapBytes: number;
    counterSetRssBytes: number;
    estimatorsMs: number;
    usPerEstimator: number;
    stopMs: number;
  };
  baseline: Delay;
  kernkit: Delay & {
    estimations: number;
    nsPerEstimation: number;
    maxTickMs: number;
    lateTicks: number;
    timerResets: number;
    kthreads: number;
    chainMax: number;
    calibratedNs: number;
    nativeBytesPerEstimator: number;
    jsHeapBytesPerEstimator: number;
    rssBytesPerEstimator: number;
  };
  pureJs2s: Delay & { ticks: number; maxTickMs: number; meanTickMs: number; blockedShare: number; bytesPerEstimator: number };
  pureJs40ms: Delay & { ticks: number; maxTickMs: number; meanTickMs: number; blockedShare: number; bytesPerEstimator: number };
}

function runSize(n: number, windowMs: number): Promise<SizeResult> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'workers', 'estimators-run.js'), [String(n), String(windowMs)], {
      execArgv: ['--expose-gc', '--max-old-space-size=8192'],
    });
    let result: SizeResult | undefined;
    child.on('message', (m: { progress?: string; result?: SizeResult; error?: string }) => {
      if (m.progress) console.log(`  ${m.progress}`);
      if (m.result) result = m.result;
      if (m.error) reject(new Error(m.error));
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`estimators bench child for ${n} exited with ${code}`))));
  });
}

const ms = (v: number): number => Math.round(v * 1000) / 1000;
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

/** kernkit against pure JS and the baseline, from the same run (same child process) for each size. */
interface Ratios {
  /** Event loop p99 and max delay with the kthreads estimating, over the baseline's (parked). */
  kernkitP99OverBaseline: number;
  kernkitMaxOverBaseline: number;
  /** Pure JS (all every 2 s) over kernkit: event loop p99 and max delay. */
  pureJsP99OverKernkit: number;
  pureJsMaxOverKernkit: number;
  /** Pure JS spread over 40 ms ticks over kernkit: event loop max delay. */
  pureJs40msMaxOverKernkit: number;
  /** Native ns per estimation (off the loop) over pure JS ns per estimation (on the loop). */
  kernkitNsOverPureJsNs: number;
  /** Native bytes per estimator over pure JS's typed-array bytes. */
  kernkitBytesOverPureJsBytes: number;
}

function ratiosOf(r: SizeResult): Ratios {
  const pureNs = (r.pureJs2s.meanTickMs * 1e6) / r.n;
  return {
    kernkitP99OverBaseline: ratio(r.kernkit.p99, r.baseline.p99),
    kernkitMaxOverBaseline: ratio(r.kernkit.max, r.baseline.max),
    pureJsP99OverKernkit: ratio(r.pureJs2s.p99, r.kernkit.p99),
    pureJsMaxOverKernkit: ratio(r.pureJs2s.max, r.kernkit.max),
    pureJs40msMaxOverKernkit: ratio(r.pureJs40ms.max, r.kernkit.max),
    kernkitNsOverPureJsNs: ratio(r.kernkit.nsPerEstimation, pureNs),
    kernkitBytesOverPureJsBytes: ratio(r.kernkit.nativeBytesPerEstimator, r.pureJs2s.bytesPerEstimator),
  };
}

export async function run(): Promise<void> {
  const sizes = (process.env.KERNKIT_BENCH_EST_SIZES ?? '10000,100000,1000000').split(',').map(Number);
  const windowMs = Number(process.env.KERNKIT_BENCH_EST_WINDOW_MS ?? 10000);
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await runSize(n, windowMs));

  const delayRows: Row[] = [];
  for (const r of results) {
    const base = r.baseline;
    const row = (name: string, d: Delay, extra: Record<string, number | string>): Row => ({
      name: `${r.n} ${name}`,
      'p50 ms': ms(d.p50),
      'p99 ms': ms(d.p99),
      'max ms': ms(d.max),
      'p99 added ms': ms(d.p99 - base.p99),
      'p99 / baseline': ratio(d.p99, base.p99),
      'max / baseline': ratio(d.max, base.max),
      ...extra,
    });
    delayRows.push(row('kthreads parked (baseline)', base, { 'blocked per tick ms': 0, 'loop blocked %': 0 }));
    delayRows.push(row('kernkit kthreads', r.kernkit, { 'blocked per tick ms': 0, 'loop blocked %': 0 }));
    delayRows.push(
      row('pure JS, all every 2 s', r.pureJs2s, {
        'blocked per tick ms': ms(r.pureJs2s.meanTickMs),
        'loop blocked %': ms(r.pureJs2s.blockedShare * 100),
      }),
    );
    delayRows.push(
      row('pure JS, 1/50 every 40 ms', r.pureJs40ms, {
        'blocked per tick ms': ms(r.pureJs40ms.meanTickMs),
        'loop blocked %': ms(r.pureJs40ms.blockedShare * 100),
      }),
    );
  }
  printTable(
    `Event loop delay while estimating (monitorEventLoopDelay; medians of ${windowMs / 2000} windows of 2 s, max of all)`,
    delayRows,
  );

  printTable(
    'Cost per estimator',
    results.map((r) => ({
      name: String(r.n),
      'native ns/estimation': ms(r.kernkit.nsPerEstimation),
      'calibrated ns (hot)': r.kernkit.calibratedNs,
      chainMax: r.kernkit.chainMax,
      kthreads: r.kernkit.kthreads,
      'max tick ms': ms(r.kernkit.maxTickMs),
      'late ticks': r.kernkit.lateTicks,
      'kernkit native B': Math.round(r.kernkit.nativeBytesPerEstimator),
      'kernkit JS heap B': Math.round(r.kernkit.jsHeapBytesPerEstimator),
      'kernkit RSS B': Math.round(r.kernkit.rssBytesPerEstimator),
      'pure JS B': r.pureJs2s.bytesPerEstimator,
      'pure JS ns/estimation (on the loop)': ms((r.pureJs2s.meanTickMs * 1e6) / r.n),
      'kernkit ms/pass (off the loop)': ms((r.kernkit.nsPerEstimation * r.n) / 1e6),
      'pure JS ms/pass (on the loop)': ms(r.pureJs2s.meanTickMs),
    })),
  );

  printTable(
    'Setup',
    results.map((r) => ({
      name: String(r.n),
      'CounterSets s': ms(r.setup.counterSetsMs / 1000),
      'us/CounterSet': ms(r.setup.usPerCounterSet),
      'CounterSet heap B': Math.round(r.setup.counterSetHeapBytes),
      'CounterSet RSS B': Math.round(r.setup.counterSetRssBytes),
      'RateEstimators s': ms(r.setup.estimatorsMs / 1000),
      'us/RateEstimator': ms(r.setup.usPerEstimator),
      'stop all ms': ms(r.setup.stopMs),
    })),
  );

  const withRatios = results.map((r) => ({ ...r, ratios: ratiosOf(r) }));
  printTable(
    'Ratios (each from the same run): kernkit against its baseline and against pure JS',
    withRatios.map(({ n, ratios: q }) => ({
      name: String(n),
      'kernkit p99 / parked': q.kernkitP99OverBaseline,
      'kernkit max / parked': q.kernkitMaxOverBaseline,
      'pure JS 2 s p99 / kernkit': q.pureJsP99OverKernkit,
      'pure JS 2 s max / kernkit': q.pureJsMaxOverKernkit,
      'pure JS 40 ms max / kernkit': q.pureJs40msMaxOverKernkit,
      'kernkit ns / pure JS ns': q.kernkitNsOverPureJsNs,
      'kernkit B / pure JS B': q.kernkitBytesOverPureJsBytes,
    })),
  );

  writeResults('estimators', withRatios);
}
