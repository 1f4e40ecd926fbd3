/**
 * What the estimators do when the system says no: a kthread that cannot be
 * created (pthread_create's EAGAIN, forced by a test hook of the addon).
 * Each case runs in a fresh child process, as the hooks are process-wide.
 */
import { kernelTest } from '../helpers/kernel';
import { printed, procMissing, runChild } from '../helpers/estimator';

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
