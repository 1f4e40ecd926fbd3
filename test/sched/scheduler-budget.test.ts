/**
 * Scheduler with a ResourceCounter budget: add() charges each job's length and
 * refuses with ENOBUFS naming the level that refused, leaving the queue as it
 * was; every way a job leaves (finished, failed, aborted, dropped, closed)
 * gives its charge back exactly once.
 */
import { FairQueue, Htb, Scheduler, SimulatedClock, type BudgetRefusal } from '../../lib/sched';
import { ResourceCounter } from '../../lib/rescounter';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const counters: ResourceCounter[] = [];
function counter(opts: ConstructorParameters<typeof ResourceCounter>[0]): ResourceCounter {
  const c = new ResourceCounter(opts);
  counters.push(c);
  return c;
}
afterEach(() => {
  for (const c of counters.splice(0).reverse()) c.close();
});

const fairQueue = (opts: ConstructorParameters<typeof FairQueue>[0] = {}) => new FairQueue({ pacing: false, maxrate: '1gbit', clock: new SimulatedClock(), ...opts });

describe('Scheduler budget', () => {
  test('a refused charge rejects with ENOBUFS naming the refusing level; the queue is unchanged', async () => {
    const service = counter({ name: 'service', max: 500 });
    const tenantA = counter({ name: 'tenant-a', parent: service, max: 300 });
    const tenantB = counter({ parent: service });
    const qa = fairQueue();
    const a = new Scheduler<string, string>(qa, { run: (p) => p, budget: tenantA });
    const b = new Scheduler<string, string>(fairQueue(), { run: (p) => p, budget: tenantB });
    a.pause();
    b.pause();
    const queued = ['a1', 'a2', 'a3'].map((p) => a.add(p, { flow: 'a', length: 100 }));
    expect([tenantA.usage, service.usage]).toEqual([300, 300]);
    const before = qa.stats();
    const refused = a.add('a4', { flow: 'a', length: 1 });
    await expect(refused).rejects.toMatchObject({ code: 'ENOBUFS', reason: 'budget', message: expect.stringMatching(/"tenant-a".*usage 300 of max 300/) });
    expect(((await refused.catch((e: unknown) => e)) as BudgetRefusal).refuser).toBe(tenantA);
    expect([qa.stats(), a.size, tenantA.usage, tenantA.failcnt]).toEqual([before, 3, 300, 1]);
    // The shared parent refuses the other tenant's scheduler: its name is in the message.
    const overParent = b.add('b1', { flow: 'b', length: 250 });
    await expect(overParent).rejects.toMatchObject({ code: 'ENOBUFS', reason: 'budget', message: expect.stringMatching(/"service"/) });
    expect(((await overParent.catch((e: unknown) => e)) as BudgetRefusal).refuser).toBe(service);
    expect([b.size, tenantB.usage, service.usage, service.failcnt]).toEqual([0, 0, 300, 1]);
    a.resume();
    await expect(Promise.all(queued)).resolves.toEqual(['a1', 'a2', 'a3']);
    expect([tenantA.usage, service.usage]).toEqual([0, 0]);
  });

  test('an unnamed refusing level is named by where it is', async () => {
    const root = counter({ max: 10 });
    const leaf = counter({ parent: root });
    const s = new Scheduler(fairQueue(), { run: () => 1, budget: leaf });
    await expect(s.add(1, { length: 11 })).rejects.toMatchObject({ message: expect.stringMatching(/the budget's ancestor 1 level up/) });
    const own = new Scheduler(fairQueue(), { run: () => 1, budget: root });
    await expect(own.add(1, { length: 11 })).rejects.toMatchObject({ message: expect.stringMatching(/at the budget \(usage 0 of max 10\)/) });
  });

  test('the charge is given back when a job finishes or fails', async () => {
    const budget = counter({ name: 'jobs', max: 1000 });
    const seen: number[] = [];
    const s = new Scheduler<string, string>(fairQueue(), {
      concurrency: 2,
      run: (p) => {
        seen.push(budget.usage);
        if (p === 'bad') throw new Error('boom');
        return p;
      },
      budget,
    });
    s.pause();
    const ok = s.add('ok', { flow: 1, length: 100 });
    const bad = s.add('bad', { flow: 2, length: 200 });
    expect(budget.usage).toBe(300);
    s.resume();
    const usageAt = (p: Promise<unknown>) => p.then(() => budget.usage, () => budget.usage);
    const [afterOk, afterBad] = await Promise.all([usageAt(ok), usageAt(bad)]);
    await expect(bad).rejects.toThrow('boom');
    expect(seen).toEqual([300, 300]); // charged while running
    expect(afterOk).toBeLessThanOrEqual(200);
    expect(afterBad).toBeLessThanOrEqual(100);
    expect(budget.usage).toBe(0);
  });

  test('aborted, dropped and closed jobs give their charge back, once', async () => {
    const budget = counter({ name: 'jobs', max: 1000 });
    const s = new Scheduler<string, string>(fairQueue({ flowLimit: 2 }), { run: (p) => p, budget });
    s.pause();
    const ac = new AbortController();
    const aborted = s.add('x', { flow: 'a', length: 10, signal: ac.signal });
    const waiting = s.add('y', { flow: 'a', length: 20 });
    expect(budget.usage).toBe(30);
    await expect(s.add('dropped', { flow: 'a', length: 40 })).rejects.toMatchObject({ code: 'ENOBUFS', reason: 'flow_limit' });
    expect(budget.usage).toBe(30);
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(budget.usage).toBe(20);
    s.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(budget.usage).toBe(0);
    expect(budget.underflows).toBe(0); // nothing given back twice
  });

  test('a job still running at close() gives its charge back when it finishes', async () => {
    const budget = counter({ max: 100 });
    let finish!: (v: number) => void;
    const s = new Scheduler<number, number>(fairQueue(), { run: () => new Promise<number>((r) => (finish = r)), budget });
    const running = s.add(1, { length: 60 });
    await flush();
    expect([s.pending, budget.usage]).toEqual([1, 60]);
    s.close();
    expect(budget.usage).toBe(60);
    finish(7);
    await expect(running).resolves.toBe(7);
    expect(budget.usage).toBe(0);
  });

  test('bad input: the budget must be an open ResourceCounter; a bad job leaves the budget as it was', () => {
    const fq = fairQueue();
    expect(() => new Scheduler(fq, { run: () => 1, budget: { tryCharge: () => true } as never })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^scheduler\.budget: .*\(expected a ResourceCounter\)$/) }),
    );
    const closed = new ResourceCounter({ name: 'gone' });
    closed.close();
    expect(() => new Scheduler(fq, { run: () => 1, budget: closed })).toThrow(
      expect.objectContaining({ code: 'EBADF', message: expect.stringMatching(/^scheduler\.budget: \{"name":"gone"\} \(expected an open ResourceCounter, not a closed one\)$/) }),
    );
    const budget = counter({ max: 100 });
    const s = new Scheduler(fq, { run: () => 1, budget });
    expect(() => s.add(1, { length: 1.5 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^add\.length: 1\.5/) }));
    expect(() => s.add(1, { length: 0 })).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^add\.length: 0/) }));
    expect(() => s.add(1, { priority: -1 })).toThrow(expect.objectContaining({ code: expect.stringMatching(/^E/) }));
    const htb = new Scheduler(new Htb({ clock: new SimulatedClock() }), { run: () => 1, budget });
    expect(() => htb.add(1, { classid: '1:5', length: 10 })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect([budget.usage, budget.failcnt, s.size, htb.size]).toEqual([0, 0, 0, 0]);
  });
});
