/**
 * The estimation kthreads as the kernel sees them: started with the first
 * estimator and stopped after the last, pinned and niced as configured (read
 * back from /proc), restarted by reconfiguration without losing estimators,
 * stopped by an empty CPU list, and by the exit of the worker that owned them.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CounterSet, estimation, RateEstimator } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import {
  IPVS_FIELDS,
  nextMessage,
  printed,
  procMissing,
  runChild,
  sleep,
  startWorker,
  threadAlive,
  threadCpus,
  threadName,
  threadNice,
  twoCpusMissing,
  waitFor,
} from '../helpers/estimator';

const procTest = kernelTest(procMissing());
const twoCpuTest = kernelTest(twoCpusMissing());

function runningTids(): number[] {
  return estimation
    .stats()
    .kthreads.filter((k) => k.running && k.tid > 0)
    .map((k) => k.tid);
}

beforeAll(() => {
  estimation.automatic();
});

afterEach(() => {
  // Nothing may outlive a test here: the next one counts kthreads from zero.
  expect(estimation.stats().estimators).toBe(0);
});

procTest('kthreads start with the first estimator and stop after the last', async () => {
  expect(estimation.stats().kthreads).toEqual([]);
  const stats = new CounterSet([...IPVS_FIELDS]);
  const a = new RateEstimator(stats);
  const b = new RateEstimator(stats);
  let tid = 0;
  try {
    expect(await waitFor(() => runningTids().length === 1, 2000)).toBe(true);
    tid = runningTids()[0];
    expect(threadName(tid)).toBe('kk-est/0');
    a.stop();
    expect(estimation.stats().kthreads).toHaveLength(1); // b still needs it
  } finally {
    a.stop();
    b.stop();
  }
  expect(estimation.stats().kthreads).toEqual([]);
  expect(await waitFor(() => !threadAlive(tid), 2000)).toBe(true);
});

twoCpuTest('reconfiguration restarts the kthreads pinned and niced as asked, and every estimator still ticks', async () => {
  const original = estimation.stats();
  const stats = new CounterSet([...IPVS_FIELDS]);
  const ests = Array.from({ length: 300 }, () => new RateEstimator(stats));
  try {
    // Calibration, then the first estimation of each about 2 s after it was added.
    expect(await waitFor(() => ests.every((e) => e.estimations >= 1), 10_000)).toBe(true);
    const oldTids = runningTids();

    // CPUs as numbers, then as a cpulist string.
    for (const [cpus, cpu, nice] of [
      [[1], 1, 5],
      ['0', 0, 3],
    ] as const) {
      await estimation.configure({ cpus, nice });
      const s = estimation.stats();
      expect(s.cpus).toEqual([cpu]);
      expect(s.cpulist).toBe(String(cpu)); // the deprecated alias
      expect(s.nice).toBe(nice);
      expect(s.maxThreads).toBe(4); // 4 per CPU of the cpulist
      const tids = runningTids();
      expect(tids.length).toBeGreaterThanOrEqual(1);
      for (const tid of tids) {
        expect({ tid, cpus: threadCpus(tid), nice: threadNice(tid) }).toEqual({ tid, cpus: String(cpu), nice });
        expect(oldTids).not.toContain(tid); // new threads
      }
      for (const k of s.kthreads) expect({ id: k.id, cpus: k.cpus, nice: k.nice }).toEqual({ id: k.id, cpus: [cpu], nice });

      const before = ests.map((e) => e.estimations);
      expect(await waitFor(() => ests.every((e, i) => e.estimations > before[i]), 10_000)).toBe(true);
      // Recalibrated for the new cpulist: chains of 95 us at 4x the measured cost, 48 per tick, 50 ticks.
      const after = estimation.stats();
      expect(after).toMatchObject({ estimators: 300, pending: 0, calcPhase: false });
      expect(after.chainMax).toBeGreaterThan(0);
      expect(after.chainMax * 4 * after.estimationCostNs).toBeLessThanOrEqual(95_000 + 4 * after.chainMax);
      for (const k of after.kthreads) {
        expect(k.tickMax).toBe(48 * k.chainMax);
        expect(k.maxEstimators).toBe(50 * k.tickMax);
      }
      expect(after.kthreads.reduce((n, k) => n + k.estimators, 0)).toBe(300);
    }
  } finally {
    for (const e of ests) e.stop();
    await estimation.configure({ cpus: original.cpus, nice: original.nice });
  }
  expect(estimation.stats()).toMatchObject({ cpus: original.cpus, nice: original.nice });
}, 40_000);

procTest('an empty CPU list stops estimation until CPUs are set again', async () => {
  const original = estimation.stats();
  const stats = new CounterSet([...IPVS_FIELDS]);
  const est = new RateEstimator(stats);
  try {
    expect(await waitFor(() => est.estimations >= 1, 10_000)).toBe(true);
    const tids = runningTids();
    await estimation.configure({ cpus: [] });
    expect(estimation.stats()).toMatchObject({ stopped: true, cpus: [], cpulist: '' });
    expect(runningTids()).toEqual([]);
    expect(await waitFor(() => tids.every((t) => !threadAlive(t)), 2000)).toBe(true);
    const frozen = est.estimations;
    await sleep(2500);
    expect(est.estimations).toBe(frozen);

    await estimation.configure({ cpulist: original.cpulist }); // the deprecated key still works
    expect(runningTids().length).toBeGreaterThanOrEqual(1);
    expect(await waitFor(() => est.estimations > frozen, 10_000)).toBe(true);
  } finally {
    est.stop();
    await estimation.configure({ cpus: original.cpus, nice: original.nice });
  }
}, 30_000);

describe.each(['ends', 'is terminated'])('a worker that owns estimators', (how) => {
  procTest(`stops them, and the kthreads, when it ${how}`, async () => {
    expect(estimation.stats().kthreads).toEqual([]);
    const worker = startWorker('owner', { count: 20 });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const msg = await nextMessage<{ estimators: number }>(worker);
    expect(msg.estimators).toBe(20);
    expect(estimation.stats()).toMatchObject({ estimators: 20, genEstimators: 1 });
    expect(await waitFor(() => runningTids().length === 1, 2000)).toBe(true);
    const tid = runningTids()[0];

    if (how === 'ends') worker.postMessage('end');
    else await worker.terminate();
    await exited;

    expect(estimation.stats()).toMatchObject({ estimators: 0, genEstimators: 0, kthreads: [] });
    expect(await waitFor(() => !threadAlive(tid), 2000)).toBe(true);
  });
});

describe('process exit', () => {
  const dist = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));
  const run = (code: string, args: string[] = []): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [...args, '-e', code], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  procTest('ends cleanly while kthreads estimate, by process.exit() or by the end of the script', () => {
    const setup = `
      const { CounterSet, RateEstimator, GenEstimator, estimation } = require(${dist});
      const stats = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes', 'bytes', 'packets']);
      globalThis.kept = Array.from({ length: 10000 }, () => new RateEstimator(stats));
      globalThis.kept.push(new GenEstimator(stats, { interval: -2, ewmaLog: 1 }));
    `;
    const exit = run(`${setup}
      setTimeout(() => {
        const k = estimation.stats().kthreads;
        console.log(k.length, k[0].running);
        process.exit(3);
      }, 500);`);
    expect(exit).toEqual({ status: 3, stdout: '1 true\n', stderr: '' });
    const end = run(`${setup}
      setTimeout(() => console.log(estimation.stats().estimators), 500);`);
    expect(end).toEqual({ status: 0, stdout: '10000\n', stderr: '' });
  });

  procTest('an estimator that is garbage-collected without stop() is stopped', () => {
    const r = run(
      `const { CounterSet, RateEstimator, estimation } = require(${dist});
      const stats = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
      (() => { new RateEstimator(stats); })();
      console.log(estimation.stats().estimators);
      setTimeout(() => {
        gc();
        setTimeout(() => console.log(estimation.stats().estimators, estimation.stats().kthreads.length), 100);
      }, 10);`,
      ['--expose-gc'],
    );
    expect(r).toEqual({ status: 0, stdout: '1\n0 0\n', stderr: '' });
  });
});

describe('a worker busy creating, reading, zeroing and stopping estimators', () => {
  const busy = JSON.stringify(path.join(__dirname, 'fixtures', 'busy.js'));
  // The parent holds estimators of its own, so the kthreads estimate meanwhile.
  const setup = `
    const { Worker } = require('node:worker_threads');
    const stats = new k.CounterSet([...fields, 'bytes', 'packets']);
    globalThis.kept = Array.from({ length: 5000 }, () => new k.RateEstimator(stats));
    const startBusy = async () => {
      const w = new Worker(${busy}, { workerData: { handle: stats.handle } });
      await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
      return w;
    };
  `;

  procTest('is terminated cleanly, again and again; its estimators stop with it', () => {
    const r = runChild(`${setup}
      for (let i = 0; i < 8; i++) {
        const w = await startBusy();
        await sleep(20 + i * 23);
        await w.terminate();
      }
      const s = k.estimation.stats();
      print({ estimators: s.estimators, genEstimators: s.genEstimators, running: s.kthreads.every((t) => t.running) });
    `);
    expect(r).toMatchObject({ status: 0, signal: null, stderr: '' });
    expect(printed(r)).toEqual([{ estimators: 5000, genEstimators: 0, running: true }]);
  }, 60_000);

  procTest('does not keep the process from exiting cleanly, again and again (also during a reconfiguration)', () => {
    for (let i = 0; i < 6; i++) {
      const r = runChild(`${setup}
        await startBusy();
        await sleep(${10 + i * 37});
        if (${i % 2}) k.estimation.configure({ nice: 1 }); // in flight at exit
        process.exit(5);
      `);
      expect({ run: i, status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ run: i, status: 5, signal: null, stderr: '' });
    }
  }, 120_000);
});
