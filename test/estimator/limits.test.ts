/**
 * The kernel's limits on kthreads: a kthread takes 50 rows x 48 chains x
 * chain_max estimators; past that, more kthreads start, up to 4 per CPU of the
 * cpulist (est_max_threads); the rest wait in the temp list and are placed as
 * estimators stop. chain_max is forced to 1 by a test hook (a kthread then
 * takes 2400), in a fresh child process. And the calibration that sizes
 * chain_max follows the number of writer shards a sum reads.
 */
import * as path from 'node:path';
import { kernelTest } from '../helpers/kernel';
import { cpusMissing, printed, procMissing, runChild } from '../helpers/estimator';

const cpu0Test = kernelTest(cpusMissing(0));
const procTest = kernelTest(procMissing());
const adder = JSON.stringify(path.join(__dirname, 'fixtures', 'adder.js'));

cpu0Test('4 kthreads per CPU at most; the rest wait in the temp list and fill the room estimators leave', () => {
  const r = runChild(`
    native.testHooks({ chainMax: 1 });
    await k.estimation.configure({ cpus: [0] });
    const stats = new k.CounterSet(fields);
    const ests = Array.from({ length: 4 * 2400 + 100 }, () => new k.RateEstimator(stats));
    const view = () => {
      const s = k.estimation.stats();
      return { maxThreads: s.maxThreads, pending: s.pending, perKthread: s.kthreads.map((t) => t.estimators), running: s.kthreads.every((t) => t.running), calcPhase: s.calcPhase };
    };
    const settled = (pending) => () => { const v = view(); return !v.calcPhase && v.running && v.pending === pending; };
    if (!await waitFor(settled(100), 20000)) fail('not settled: ' + JSON.stringify(view()));
    print(view());
    // Room in the kthreads: the temp list drains into it. The estimators in
    // chains are those estimated once their row came (the waiting ones never are).
    if (!await waitFor(() => ests.filter((e) => e.estimations > 0).length === 4 * 2400, 10000)) fail('not estimated');
    const placed = ests.filter((e) => e.estimations > 0);
    for (const e of placed.slice(0, 150)) e.stop();
    if (k.estimation.stats().pending !== 100) fail('stopped a waiting estimator');
    if (!await waitFor(settled(0), 10000)) fail('not refilled: ' + JSON.stringify(view()));
    const after = view();
    print({ pending: after.pending, kthreads: after.perKthread.length, total: after.perKthread.reduce((a, b) => a + b, 0) });
    // Empty kthreads go (kthread 0 last): one estimator left keeps one or two.
    for (const e of ests.slice(0, ests.length - 1)) e.stop();
    print(k.estimation.stats().kthreads.map((t) => ({ id: t.id, estimators: t.estimators })));
    for (const e of ests) e.stop();
    print({ kthreads: k.estimation.stats().kthreads.length });
  `);
  expect(r.stderr).toBe('');
  const lines = printed(r);
  expect(lines[0]).toEqual({ maxThreads: 4, pending: 100, perKthread: [2400, 2400, 2400, 2400], running: true, calcPhase: false });
  expect(lines[1]).toEqual({ pending: 0, kthreads: 4, total: 4 * 2400 + 100 - 150 });
  // Only kthreads that still hold estimators remain (and kthread 0, as the kernel's).
  const remaining = lines[2] as { id: number; estimators: number }[];
  expect(remaining.length).toBeLessThanOrEqual(2);
  expect(remaining[0].id).toBe(0);
  expect(remaining.reduce((n, t) => n + t.estimators, 0)).toBe(1);
  for (const t of remaining) if (t.id > 0) expect(t.estimators).toBeGreaterThan(0);
  expect(lines[3]).toEqual({ kthreads: 0 });
  expect(r.status).toBe(0);
}, 60_000);

procTest('the calibration runs again when twice as many writer shards appear: chain_max shrinks', () => {
  // A fresh process: this thread's shard only; then 16 worker threads write too.
  const r = runChild(`
    const { Worker } = require('node:worker_threads');
    const stats = new k.CounterSet(fields);
    stats.add(1, 1);
    const est = new k.RateEstimator(stats);
    const calibrated = () => { const s = k.estimation.stats(); return s.chainMax > 0 && !s.calcPhase; };
    if (!await waitFor(calibrated, 10000)) fail('no calibration');
    const before = k.estimation.stats();
    const workers = [];
    for (let i = 0; i < 16; i++) {
      const w = new Worker(${adder}, { workerData: { handle: stats.handle } });
      await new Promise((resolve) => w.once('message', resolve));
      w.postMessage({ adds: [[1, 1]] }); // claims the worker's shard
      await new Promise((resolve) => w.once('message', resolve));
      workers.push(w);
    }
    // 17 shards: settled once the calibration saw more than half of them.
    const settled = () => calibrated() && k.estimation.stats().calibratedShards > 17 / 2;
    if (!await waitFor(settled, 20000)) fail('no new calibration: ' + JSON.stringify(k.estimation.stats()));
    const after = k.estimation.stats();
    // The estimator is still estimated after the redistribution.
    const n = est.estimations;
    if (!await waitFor(() => est.estimations > n, 5000)) fail('not estimated any more');
    print({ before: { chainMax: before.chainMax, shards: before.calibratedShards }, after: { chainMax: after.chainMax, shards: after.calibratedShards } });
    for (const w of workers) w.postMessage('exit');
    est.stop();
  `);
  expect(r.stderr).toBe('');
  const [{ before, after }] = printed(r) as { before: { chainMax: number; shards: number }; after: { chainMax: number; shards: number } }[];
  expect(before.shards).toBe(1);
  expect(after.shards).toBeGreaterThanOrEqual(9);
  expect(after.chainMax).toBeLessThan(before.chainMax);
  expect(r.status).toBe(0);
}, 60_000);

procTest('a calc phase waits for the other kthreads to exit without holding the lock JavaScript calls take', () => {
  // Two kthreads (chain_max 1, 2500 estimators); a new writer shard starts a
  // calc phase, which stops kthread 1; a test hook holds kthread 1 at its exit,
  // as a busy CPU would keep it from running. Meanwhile stats(), create and
  // stop must return, with kthread 1 still held.
  const r = runChild(`
    const { Worker } = require('node:worker_threads');
    native.testHooks({ chainMax: 1 });
    const stats = new k.CounterSet(fields);
    stats.add(1, 1);
    const ests = Array.from({ length: 2500 }, () => new k.RateEstimator(stats));
    const two = () => { const s = k.estimation.stats(); return !s.calcPhase && s.pending === 0 && s.kthreads.length === 2 && s.kthreads.every((t) => t.running); };
    if (!await waitFor(two, 20000)) fail('not two kthreads: ' + JSON.stringify(k.estimation.stats()));
    native.testHooks({ holdExits: true });
    const w = new Worker(${adder}, { workerData: { handle: stats.handle } });
    await new Promise((resolve) => w.once('message', resolve));
    w.postMessage({ adds: [[1, 1]] }); // a second shard: twice what the calibration saw
    if (!await waitFor(() => native.testHooks({}).heldExits === 1, 10000)) fail('kthread 1 was not stopped');
    const s = k.estimation.stats();
    const extra = new k.RateEstimator(stats);
    extra.stop();
    print({ heldAfterCalls: native.testHooks({}).heldExits, calcPhase: s.calcPhase });
    native.testHooks({ holdExits: false });
    if (!await waitFor(() => { const s = k.estimation.stats(); return !s.calcPhase && s.pending === 0 && s.calibratedShards === 2; }, 20000)) fail('calc phase did not end');
    print({ estimators: k.estimation.stats().kthreads.reduce((n, t) => n + t.estimators, 0) });
    w.postMessage('exit');
    for (const e of ests) e.stop();
  `);
  expect(r.stderr).toBe('');
  expect(printed(r)).toEqual([{ heldAfterCalls: 1, calcPhase: true }, { estimators: 2500 }]);
  expect(r.status).toBe(0);
}, 60_000);
