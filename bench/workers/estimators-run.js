// Benchmark child process (one per size, for a fresh heap): N counter sets of
// five fields with two writer shards, then the event loop's delay with no
// estimation, with N kernkit RateEstimators, and with a pure-JS estimator of
// the same arithmetic on setInterval. Sends its figures to the parent.
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { Worker } = require('node:worker_threads');
const { CounterSet, RateEstimator, estimation } = require('../../dist');

const N = Number(process.argv[2]);
const WINDOW_MS = Number(process.argv[3]);
const FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const progress = (msg) => process.send({ progress: `[${N}] ${msg}` });

function heap() {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

// A fresh histogram per window: re-enabling one would count the pause as a delay.
async function loopDelay(ms) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await sleep(ms);
  h.disable();
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6, samples: h.count };
}

const SLICE_MS = 2000; // one estimation period per window
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

// Several windows of SLICE_MS: p50 and p99 are the medians over the windows
// (the machine is shared: a burst of someone else's load spoils one window,
// not the figure), max is the largest.
function summarize(windows) {
  return {
    p50: median(windows.map((w) => w.p50)),
    p99: median(windows.map((w) => w.p99)),
    max: Math.max(...windows.map((w) => w.max)),
    samples: windows.reduce((a, w) => a + w.samples, 0),
    windows: windows.length,
  };
}

function kthreadTotals() {
  const s = estimation.stats();
  const sum = (f) => s.kthreads.reduce((a, k) => a + k[f], 0);
  return {
    busyNs: sum('busyNs'),
    estimations: sum('estimations'),
    ticks: sum('ticks'),
    lateTicks: sum('lateTicks'),
    timerResets: sum('timerResets'),
    maxTickNs: Math.max(0, ...s.kthreads.map((k) => k.maxTickNs)),
    kthreads: s.kthreads.length,
    chainMax: s.chainMax,
    estimationCostNs: s.estimationCostNs,
    pending: s.pending,
    calcPhase: s.calcPhase,
    slabBytes: s.slabBytes,
  };
}

// The same arithmetic in doubles over typed arrays (exact while values stay
// below 2^53): two shards per counter, summed; delta from the last sample;
// rate = delta * 2^9 (cps, pps) or 2^4 (bps); avg += floor((rate - avg) / 4).
function pureJs(n) {
  const a = new Float64Array(n * 5);
  const b = new Float64Array(n * 5);
  const last = new Float64Array(n * 5);
  const avg = new Float64Array(n * 5);
  for (let i = 0; i < n * 5; i++) {
    a[i] = 1 + (i % 5);
    b[i] = 1 + (i % 5);
  }
  function estimate(from, to) {
    for (let j = from; j < to; j++) {
      const base = j * 5;
      for (let f = 0; f < 5; f++) {
        const i = base + f;
        const cur = a[i] + b[i];
        const rate = (cur - last[i]) * (f < 3 ? 512 : 16);
        last[i] = cur;
        avg[i] += Math.floor((rate - avg[i]) / 4);
      }
    }
  }
  return { estimate, bytes: 4 * n * 5 * 8, check: () => avg[1] };
}

async function measurePureJs(n, mode) {
  const js = pureJs(n);
  // Warm up (JIT), as a long-running process would be: the figures are for the steady state.
  for (let i = 0; i < 3; i++) js.estimate(0, n);
  const blocks = [];
  let row = 0;
  const windows = [];
  const tick =
    mode === '2s'
      ? () => {
          const t0 = nowMs();
          js.estimate(0, n);
          blocks.push(nowMs() - t0);
        }
      : () => {
          const t0 = nowMs();
          const per = Math.ceil(n / 50);
          js.estimate(row * per, Math.min(n, (row + 1) * per));
          row = (row + 1) % 50;
          blocks.push(nowMs() - t0);
        };
  // The 2 s ticks start half a window in, so that each falls in the middle of
  // a 2 s histogram window: in phase with the windows, a tick's blocking fell
  // between one histogram and the next and was not recorded.
  let timer;
  const first = setTimeout(
    () => {
      tick();
      timer = setInterval(tick, mode === '2s' ? 2000 : 40);
    },
    mode === '2s' ? SLICE_MS / 2 : 40,
  );
  for (let i = 0; i < WINDOW_MS / SLICE_MS; i++) windows.push(await loopDelay(SLICE_MS));
  const delay = summarize(windows);
  clearTimeout(first);
  clearInterval(timer);
  if (!(js.check() > 0)) throw new Error('pure JS estimator did not run');
  const blocked = blocks.reduce((x, y) => x + y, 0);
  return {
    ...delay,
    ticks: blocks.length,
    maxTickMs: Math.max(...blocks),
    meanTickMs: blocked / blocks.length,
    blockedShare: blocked / WINDOW_MS,
    bytesPerEstimator: js.bytes / n,
  };
}

async function main() {
  estimation.automatic();
  if (process.env.KERNKIT_BENCH_EST_NICE) await estimation.configure({ nice: Number(process.env.KERNKIT_BENCH_EST_NICE) });
  // 1. The counter sets: one native allocation (N-API call) each, plus one add
  //    per field from this thread's shard.
  const m0 = heap();
  let t0 = nowMs();
  const sets = new Array(N);
  for (let i = 0; i < N; i++) {
    const s = new CounterSet(FIELDS);
    for (let f = 0; f < 5; f++) s.add(f, 1 + f);
    sets[i] = s;
    if ((i + 1) % 200000 === 0) progress(`${i + 1} counter sets, ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  }
  const setupSetsMs = nowMs() - t0;
  const m1 = heap();

  // 2. The second writer shard.
  const writer = new Worker(path.join(__dirname, 'estimators-writer.js'), { workerData: { handles: sets.map((s) => s.handle) } });
  await new Promise((resolve, reject) => {
    writer.once('message', resolve);
    writer.once('error', reject);
  });

  // 4. The estimators: one N-API call each.
  t0 = nowMs();
  const ests = sets.map((s) => new RateEstimator(s));
  const setupEstMs = nowMs() - t0;
  const m2 = heap();
  progress(`${N} estimators in ${(setupEstMs / 1000).toFixed(1)} s; waiting for one full pass`);
  const first = kthreadTotals();
  const start = nowMs();
  for (;;) {
    const t = kthreadTotals();
    if (!t.calcPhase && t.pending === 0 && t.estimations - first.estimations >= N) break;
    if (nowMs() - start > 60000) throw new Error(`estimators not all estimated after 60 s: ${JSON.stringify(t)}`);
    await sleep(100);
  }
  if (ests.some((e) => e.estimations < 1)) throw new Error('an estimator was not estimated');

  // 5. The event loop with the kthreads parked (the baseline: same process, same
  //    memory, nothing estimated) and while they estimate, in alternating 2 s
  //    windows, so that the load of the rest of the machine hits both alike.
  progress('baseline and kernkit windows');
  const parked = [];
  const running = [];
  let busyNs = 0;
  let estimations = 0;
  for (let i = 0; i < WINDOW_MS / SLICE_MS; i++) {
    estimation.manual();
    parked.push(await loopDelay(SLICE_MS));
    estimation.automatic();
    const k0 = kthreadTotals();
    running.push(await loopDelay(SLICE_MS));
    const k1 = kthreadTotals();
    busyNs += k1.busyNs - k0.busyNs;
    estimations += k1.estimations - k0.estimations;
  }
  const baseline = summarize(parked);
  const k1 = kthreadTotals();
  const kernkitFigures = {
    ...summarize(running),
    estimations,
    nsPerEstimation: busyNs / estimations,
    maxTickMs: k1.maxTickNs / 1e6,
    lateTicks: k1.lateTicks - first.lateTicks,
    timerResets: k1.timerResets - first.timerResets,
    kthreads: k1.kthreads,
    chainMax: k1.chainMax,
    calibratedNs: k1.estimationCostNs,
    nativeBytesPerEstimator: k1.slabBytes / N + 4, // slots + one chain entry
    jsHeapBytesPerEstimator: (m2.heap - m1.heap) / N,
    rssBytesPerEstimator: (m2.rss - m1.rss) / N,
  };
  t0 = nowMs();
  for (const e of ests) e.stop();
  const stopMs = nowMs() - t0;

  // 6. Pure JS, same arithmetic: all N every 2 s, and 1/50 every 40 ms.
  progress('pure JS windows');
  const js2s = await measurePureJs(N, '2s');
  const js40 = await measurePureJs(N, '40ms');

  writer.postMessage('done');
  process.send({
    result: {
      n: N,
      windowMs: WINDOW_MS,
      setup: {
        counterSetsMs: setupSetsMs,
        usPerCounterSet: (setupSetsMs * 1000) / N,
        counterSetHeapBytes: (m1.heap - m0.heap) / N,
        counterSetRssBytes: (m1.rss - m0.rss) / N,
        estimatorsMs: setupEstMs,
        usPerEstimator: (setupEstMs * 1000) / N,
        stopMs,
      },
      baseline,
      kernkit: kernkitFigures,
      pureJs2s: js2s,
      pureJs40ms: js40,
    },
  });
  process.exit(0);
}

main().catch((err) => {
  process.send({ error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
