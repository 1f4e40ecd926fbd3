import { Readable } from 'node:stream';
import { FairQueue, Htb, SimulatedClock, Scheduler, StreamShaper } from '../../lib/sched';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] }));
afterEach(() => jest.useRealTimers());

/** Moves the manual clock to the queue's next release and fires the scheduler's one timer. */
async function wake(clock: SimulatedClock, q: { nextTime(): number | null }): Promise<void> {
  const next = q.nextTime();
  if (next === null) throw new Error('nothing to wait for');
  expect(jest.getTimerCount()).toBe(1); // one timer at a time
  const ms = Math.max(1, Math.ceil((next - clock.now()) / 1e6));
  clock.set(next);
  jest.advanceTimersByTime(ms);
  await flush();
}

function deferred<T>(): { promise: Promise<T>; resolve(v: T): void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Scheduler', () => {
  test('concurrency bounds the jobs in flight; size and pending count them', async () => {
    const gates: Array<{ resolve(v: string): void }> = [];
    const s = new Scheduler<string, string>(new FairQueue({ clock: new SimulatedClock() }), {
      concurrency: 2,
      run: () => {
        const d = deferred<string>();
        gates.push(d);
        return d.promise;
      },
    });
    const results = ['a', 'b', 'c', 'd'].map((p) => s.add(p, { flow: p }));
    expect([s.pending, s.size]).toEqual([2, 2]);
    gates[0].resolve('A');
    await flush();
    expect([s.pending, s.size]).toEqual([2, 1]);
    gates.slice(1).forEach((g) => g.resolve('x'));
    await flush();
    gates.slice(3).forEach((g) => g.resolve('x'));
    await expect(results[0]).resolves.toBe('A');
    await s.onIdle();
    expect([s.pending, s.size]).toEqual([0, 0]);
  });

  test('jobs run in the order the fair queue releases them: tenants take turns', async () => {
    const order: string[] = [];
    const q = new FairQueue({ pacing: false, maxrate: '1gbit', quantum: 100, initialQuantum: 100, clock: new SimulatedClock() });
    const s = new Scheduler<string, void>(q, { run: (p) => void order.push(p) });
    s.pause();
    const all = [...['a1', 'a2', 'a3'].map((p) => s.add(p, { flow: 'a', length: 100 })), ...['b1', 'b2', 'b3'].map((p) => s.add(p, { flow: 'b', length: 100 }))];
    expect(order).toEqual([]);
    s.resume();
    await Promise.all(all);
    expect(order).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  test('rates are kept with one timer: jobs beyond the burst wait for the class to refill', async () => {
    const clock = new SimulatedClock();
    const q = new Htb({ clock });
    q.addClass({ classid: '1:10', rate: '8mbit', burst: 1500 });
    const ran: number[] = [];
    const s = new Scheduler<number, number>(q, { run: (n) => (ran.push(n), n) });
    const done = [1, 2, 3, 4].map((n) => s.add(n, { classid: '1:10', length: 1000 }));
    await flush();
    expect(ran).toEqual([1, 2]);
    while (ran.length < 4) await wake(clock, q);
    await expect(Promise.all(done)).resolves.toEqual([1, 2, 3, 4]);
    expect(clock.now()).toBe(1_500_032); // x3 at 0.5 ms, x4 at 1.5 ms (see the Htb trace)
    expect(jest.getTimerCount()).toBe(0);
  });

  test('AbortSignal: an aborted job rejects with the reason and never runs', async () => {
    const ran: string[] = [];
    const s = new Scheduler<string, void>(new FairQueue({ clock: new SimulatedClock() }), { run: (p) => void ran.push(p) });
    s.pause();
    const ac = new AbortController();
    const p = s.add('x', { flow: 1, signal: ac.signal });
    const q = s.add('y', { flow: 2 });
    expect(s.size).toBe(2);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(s.size).toBe(1);
    s.resume();
    await q;
    expect(ran).toEqual(['y']);
    await expect(s.add('z', { signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
  });

  test('a drop rejects with ENOBUFS and the reason; a failing job rejects and the rest go on', async () => {
    const q = new FairQueue({ flowLimit: 1, pacing: false, maxrate: '1gbit', clock: new SimulatedClock() });
    const s = new Scheduler<string, string>(q, {
      run: (p) => {
        if (p === 'bad') throw new Error('boom');
        return p;
      },
    });
    s.pause();
    const first = s.add('bad', { flow: 'a' });
    await expect(s.add('dropped', { flow: 'a' })).rejects.toMatchObject({ code: 'ENOBUFS', reason: 'flow_limit' });
    const ok = s.add('ok', { flow: 'b' });
    s.resume();
    await expect(first).rejects.toThrow('boom');
    await expect(ok).resolves.toBe('ok');
  });

  test('close: waiting jobs reject with ECANCELED, the timer is cleared, later adds reject', async () => {
    const clock = new SimulatedClock();
    const q = new Htb({ clock });
    q.addClass({ classid: '1:10', rate: '8mbit', burst: 1500 });
    const s = new Scheduler<number, number>(q, { run: (n) => n });
    const jobs = [1, 2, 3, 4].map((n) => s.add(n, { classid: '1:10', length: 1000 }));
    await flush();
    expect(jest.getTimerCount()).toBe(1);
    s[Symbol.dispose]();
    expect(s.closed).toBe(true);
    expect(jest.getTimerCount()).toBe(0);
    await expect(Promise.all(jobs.slice(0, 2))).resolves.toEqual([1, 2]);
    await expect(jobs[2]).rejects.toMatchObject({ code: 'ECANCELED' });
    await expect(jobs[3]).rejects.toMatchObject({ code: 'ECANCELED' });
    await expect(s.add(5, { classid: '1:10' })).rejects.toMatchObject({ code: 'ECANCELED' });
    await s.onIdle();
    expect(s.size).toBe(0);
  });

  test('bad options are refused', () => {
    const fq = new FairQueue({ clock: new SimulatedClock() });
    expect(() => new Scheduler(fq, { run: () => 1, concurrency: 0 })).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^scheduler\.concurrency: 0/) }));
    expect(() => new Scheduler(fq, { run: 1 } as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new Scheduler({} as never, { run: () => 1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const s = new Scheduler(new Htb({ clock: new SimulatedClock() }), { run: () => 1 });
    expect(() => s.add(1, { flow: 'a' } as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^add\.flow/) }));
    expect(() => s.add(1, { classid: '1:5' })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(s.size).toBe(0);
  });
});

describe('StreamShaper', () => {
  test('a stream through an Htb class passes its burst, then the rest as the class refills, intact', async () => {
    const clock = new SimulatedClock();
    const q = new Htb({ clock });
    q.addClass({ classid: '1:10', rate: '8mbit', burst: 1500 });
    const shaper = new StreamShaper(q);
    const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const out: Buffer[] = [];
    const paced = Readable.from([input]).pipe(shaper.stream({ classid: '1:10', chunkSize: 1000 }));
    paced.on('data', (b: Buffer) => out.push(b));
    const ended = new Promise((resolve) => paced.on('end', resolve));
    await flush();
    expect(Buffer.concat(out).length).toBe(2000); // the burst: two pieces
    while (Buffer.concat(out).length < 5000) await wake(clock, q);
    await ended;
    expect(Buffer.concat(out).equals(input)).toBe(true);
    expect(clock.now()).toBeGreaterThanOrEqual(2_500_000); // 3 more pieces at 1 ms each, after the burst
  });
});
