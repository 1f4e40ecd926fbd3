/**
 * What the estimators do when the system says no: a kthread that cannot be
 * created (pthread_create's EAGAIN, forced by a test hook of the addon), and
 * kthreads that cannot be niced (no CAP_SYS_NICE) or pinned (cpuset) as
 * configured. Each case runs in a fresh child process: the hooks and the
 * estimation configuration are process-wide.
 */
import { kernelTest, rootMissing } from '../helpers/kernel';
import { cpusetMissing, makeCpuset } from '../helpers/cpu';
import { cpusMissing, printed, procMissing, runChild } from '../helpers/estimator';

const procTest = kernelTest(procMissing());

describe('a kthread that cannot be created', () => {
  procTest('kthread 0: the first estimator is not created (EAGAIN), and the caller keeps its signal mask', () => {
    const r = runChild(`
      const sigblk = () => /^SigBlk:\\s*(\\S+)$/m.exec(require('node:fs').readFileSync('/proc/thread-self/status', 'utf8'))[1];
      const before = sigblk();
      const stats = new k.CounterSet(fields);
      native.testHooks({ failStarts: 1 });
      let error;
      try {
        new k.RateEstimator(stats);
      } catch (e) {
        error = { code: e.code, syscall: e.syscall, kernkit: e instanceof k.KernkitError, message: e.message };
      }
      const s = k.estimation.stats();
      print({ error, sigblk: sigblk() === before, estimators: s.estimators, kthreads: s.kthreads.length, startErrors: s.startErrors, startError: s.startError });
      // The next attempt creates it, and its kthread runs.
      const est = new k.RateEstimator(stats);
      await waitFor(() => k.estimation.stats().kthreads.some((t) => t.running), 5000);
      print({ estimators: k.estimation.stats().estimators, running: k.estimation.stats().kthreads.map((t) => t.running) });
      est.stop();
    `);
    expect(r.stderr).toBe('');
    const [failed, then] = printed(r);
    expect(failed).toEqual({
      error: { code: 'EAGAIN', syscall: 'pthread_create', kernkit: true, message: expect.stringMatching(/kk-est\/0/) },
      sigblk: true,
      estimators: 0,
      kthreads: 0,
      startErrors: 1,
      startError: 'EAGAIN',
    });
    expect(then).toEqual({ estimators: 1, running: [true] });
    expect(r.status).toBe(0);
  }, 30_000);

  procTest('a further kthread: its estimators wait in the temp list and kthread 0 tries again, as the kernel', () => {
    // chain_max forced to 1: a kthread takes 50 rows x 48 chains x 1 = 2400 estimators.
    const r = runChild(`
      native.testHooks({ chainMax: 1 });
      const stats = new k.CounterSet(fields);
      const ests = [new k.RateEstimator(stats)];
      if (!await waitFor(() => k.estimation.stats().kthreads[0]?.running, 5000)) fail('kthread 0 did not start');
      native.testHooks({ failStarts: 1e9 });
      for (let i = 0; i < 2499; i++) ests.push(new k.RateEstimator(stats));
      const full = () => { const s = k.estimation.stats(); return !s.calcPhase && s.kthreads[0].estimators === 2400 && s.startErrors >= 3; };
      if (!await waitFor(full, 20000)) fail('kthread 0 did not fill: ' + JSON.stringify(k.estimation.stats()));
      let s = k.estimation.stats();
      print({ pending: s.pending, kthreads: s.kthreads.length, startError: s.startError, chainMax: s.chainMax });
      native.testHooks({ failStarts: 0 });
      const drained = () => { const s = k.estimation.stats(); return s.pending === 0 && s.kthreads.length === 2 && s.kthreads.every((t) => t.running); };
      if (!await waitFor(drained, 10000)) fail('not drained: ' + JSON.stringify(k.estimation.stats()));
      s = k.estimation.stats();
      print({ pending: s.pending, perKthread: s.kthreads.map((t) => t.estimators) });
      for (const e of ests) e.stop();
    `);
    expect(r.stderr).toBe('');
    expect(printed(r)).toEqual([
      { pending: 100, kthreads: 1, startError: 'EAGAIN', chainMax: 1 },
      { pending: 0, perKthread: [2400, 100] },
    ]);
    expect(r.status).toBe(0);
  }, 60_000);
});

describe('kthreads that cannot be placed as configured', () => {
  const nobodyTest = kernelTest(rootMissing() ?? procMissing());

  nobodyTest('a nice below 0 without CAP_SYS_NICE rejects with EACCES naming it, and the previous nice stays', () => {
    // As nobody, with and without a running kthread (then a probe thread tries it).
    const r = runChild(
      `
      for (const withEstimator of [false, true]) {
        const stats = new k.CounterSet(fields);
        const est = withEstimator ? new k.RateEstimator(stats) : undefined;
        await k.estimation.configure({ nice: 5 }); // raising it is allowed
        let error;
        try {
          await k.estimation.configure({ nice: -5 });
        } catch (e) {
          error = { code: e.code, errno: e.errno, syscall: e.syscall, kernkit: e instanceof k.KernkitError, message: e.message };
        }
        const s = k.estimation.stats();
        const tids = s.kthreads.filter((t) => t.running).map((t) => t.tid);
        const nices = tids.map((tid) => Number(require('node:fs').readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
        print({ withEstimator, error, nice: s.nice, running: tids.length, nices, niceErrors: s.kthreads.filter((t) => t.niceError).length });
        est?.stop();
      }
    `,
      { uid: 65534, gid: 65534 },
    );
    expect(r.stderr).toBe('');
    const error = {
      code: 'EACCES',
      errno: -13,
      syscall: 'setpriority',
      kernkit: true,
      message: expect.stringMatching(/^nice -5: the estimation kthreads cannot take it .*CAP_SYS_NICE.*the configuration is unchanged \(cpus \[[\d,]*\], nice 5\)$/),
    };
    expect(printed(r)).toEqual([
      { withEstimator: false, error, nice: 5, running: 0, nices: [], niceErrors: 0 },
      { withEstimator: true, error, nice: 5, running: 1, nices: [5], niceErrors: 0 },
    ]);
    expect(r.status).toBe(0);
  }, 30_000);

  const cpusetTest = kernelTest(cpusetMissing() ?? cpusMissing(0, 1));

  cpusetTest('CPUs outside the kthreads\' cpuset reject with EINVAL from sched_setaffinity, and the previous CPUs stay', () => {
    // The kthreads are restarted by a libuv thread-pool thread; in cgroup v1 a
    // new thread joins its creator's cpuset. With the pool's threads in a cpuset
    // of CPU 0, kthreads cannot be pinned to CPU 1, which the caller may use.
    const cg = makeCpuset('0');
    try {
      const r = runChild(`
        const fs = require('node:fs');
        const stats = new k.CounterSet(fields);
        const est = new k.RateEstimator(stats);
        await k.estimation.configure({ nice: 0 }); // the thread pool exists now
        for (const tid of fs.readdirSync('/proc/self/task').map(Number)) {
          if (tid !== process.pid && !fs.readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').startsWith('kk-est')) {
            fs.writeFileSync(${JSON.stringify(cg.dir)} + '/tasks', String(tid));
          }
        }
        const before = k.estimation.stats().cpus.join();
        let error;
        try {
          await k.estimation.configure({ cpus: [1] });
        } catch (e) {
          error = { code: e.code, syscall: e.syscall, message: e.message };
        }
        const s = k.estimation.stats();
        print({ error, unchanged: s.cpus.join() === before, running: s.kthreads.map((t) => t.running) });
        est.stop();
      `);
      expect(r.stderr).toBe('');
      expect(printed(r)).toEqual([
        {
          error: {
            code: 'EINVAL',
            syscall: 'sched_setaffinity',
            message: expect.stringMatching(/^cpus \[1\]: the estimation kthreads cannot be pinned to them .*the configuration is unchanged/),
          },
          unchanged: true,
          running: [true],
        },
      ]);
      expect(r.status).toBe(0);
    } finally {
      cg.remove();
    }
  }, 30_000);
});

describe('a slot that stays mid-write', () => {
  test('read() stops spinning and reads it under the writer\'s lock (RateEstimator and GenEstimator)', () => {
    // A kthread preempted while it writes leaves the slot's sequence odd. Here
    // the kthreads are parked (manual mode) and the test makes the sequence odd
    // itself, through the estimator's private view of its slot. read() used to
    // spin on it forever; the child's timeout would end it.
    const r = runChild(
      `
      const { isDeepStrictEqual } = require('node:util');
      const clock = k.estimation.manual();
      const stats = new k.CounterSet(fields);
      const gstats = new k.CounterSet(['bytes', 'packets']);
      const est = new k.RateEstimator(stats);
      const gen = new k.GenEstimator(gstats, { interval: 1, ewmaLog: 1 });
      stats.add(1, 5000);
      stats.add(3, 7000000);
      gstats.add(0, 123456);
      gstats.add(1, 789);
      clock.step();
      const expected = [est.read(), gen.read()];
      for (const e of [est, gen]) Atomics.add(e.u32, e.word, 1); // odd: "mid-write"
      const got = [est.read(), gen.read()];
      const odd = [est, gen].map((e) => Atomics.load(e.u32, e.word) % 2);
      for (const e of [est, gen]) Atomics.sub(e.u32, e.word, 1);
      print({ same: isDeepStrictEqual(got, expected), odd, inpps: got[0].inpps, bps: got[1].bps });
      est.stop();
      gen.stop();
      k.estimation.automatic();
    `,
      { timeoutMs: 10_000 },
    );
    expect(r).toMatchObject({ status: 0, stderr: '' });
    const [line] = printed(r) as { same: boolean; odd: number[]; inpps: number; bps: number }[];
    expect(line.same).toBe(true);
    expect(line.odd).toEqual([1, 1]);
    expect(line.inpps).toBeGreaterThan(0);
    expect(line.bps).toBeGreaterThan(0);
  }, 30_000);
});
