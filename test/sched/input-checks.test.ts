import { FairQueue, Htb, Scheduler, SimulatedClock, lengthToTime, rateCfg, type Clock } from '../../lib/sched';

const BAD_TIMES: unknown[] = [NaN, Infinity, -Infinity, -1, 1.5, 'x', Symbol('t'), null, 10n];

function coded(code: string, field: string): ReturnType<typeof expect.objectContaining> {
  return expect.objectContaining({ code, message: expect.stringMatching(new RegExp(`^${field.replace(/[.()]/g, '\\$&')}: .* \\(expected `)) });
}

/** A clock that tells `value` as the time. */
function brokenClock(value: number): Clock {
  return { now: () => value };
}

describe('a queue refuses a time that is not integer nanoseconds >= 0', () => {
  test('Htb.dequeue(now) refuses it and keeps working afterwards', () => {
    const q = new Htb<string>({ clock: new SimulatedClock() });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    q.enqueue({ classid: '1:1', payload: 'a', length: 1000 });
    for (const t of BAD_TIMES) expect(() => q.dequeue(t as number)).toThrow(coded('EINVAL', 'htb.dequeue.now'));
    expect(q.dequeue()?.payload).toBe('a');
  });

  test('FairQueue.enqueue/dequeue/stats(now) refuse it and leave the queue as it was', () => {
    const q = new FairQueue<string>({ clock: new SimulatedClock() });
    for (const t of BAD_TIMES) {
      expect(() => q.enqueue({ flow: 1, payload: 'a', length: 100 }, t as number)).toThrow(coded('EINVAL', 'fq.enqueue.now'));
      expect(() => q.dequeue(t as number)).toThrow(coded('EINVAL', 'fq.dequeue.now'));
      expect(() => q.stats(t as number)).toThrow(coded('EINVAL', 'fq.stats.now'));
    }
    expect(q.size).toBe(0);
    expect(q.enqueue({ flow: 1, payload: 'a', length: 100 }, 0)).toBe('queued');
    expect(q.dequeue(0)?.payload).toBe('a');
  });

  test('a clock whose now() is not a time is a coded error where it is read', () => {
    for (const t of [NaN, Infinity, -5, 0.5]) {
      const htb = new Htb<string>({ clock: brokenClock(t) });
      expect(() => htb.addClass({ classid: '1:1', rate: '10mbit' })).toThrow(coded('EINVAL', 'clock.now()'));
      expect(() => htb.dequeue()).toThrow(coded('EINVAL', 'clock.now()'));
      const fq = new FairQueue<string>({ clock: brokenClock(t) });
      expect(() => fq.stats()).toThrow(coded('EINVAL', 'clock.now()'));
      expect(() => fq.enqueue({ flow: 1, payload: 'a', length: 100 })).toThrow(coded('EINVAL', 'clock.now()'));
      expect(() => fq.dequeue()).toThrow(coded('EINVAL', 'clock.now()'));
      expect(fq.size).toBe(0);
    }
  });
});

describe('a Scheduler owns its queue', () => {
  const run = (p: unknown): unknown => p;

  test('a queue that already holds items is EBUSY', () => {
    const q = new FairQueue({ clock: new SimulatedClock() });
    q.enqueue({ flow: 1, payload: 'foreign', length: 1 }, 0);
    expect(() => new Scheduler(q, { run })).toThrow(coded('EBUSY', 'queue'));
    const htb = new Htb({ clock: new SimulatedClock() });
    htb.addClass({ classid: '1:1', rate: '10mbit' });
    htb.enqueue({ classid: '1:1', payload: 'foreign', length: 1 });
    expect(() => new Scheduler(htb, { run })).toThrow(coded('EBUSY', 'queue'));
  });

  test('a queue another Scheduler drives is EBUSY, also after that one closed', () => {
    const q = new FairQueue({ clock: new SimulatedClock() });
    const first = new Scheduler(q, { run });
    expect(() => new Scheduler(q, { run })).toThrow(coded('EBUSY', 'queue'));
    first.close();
    expect(() => new Scheduler(q, { run })).toThrow(coded('EBUSY', 'queue'));
    // A refused queue does not count as driven: an empty new one is fine.
    expect(new Scheduler(new FairQueue({ clock: new SimulatedClock() }), { run })).toBeInstanceOf(Scheduler);
  });
});

describe('rateCfg() and lengthToTime() check their arguments', () => {
  test('rateCfg: a rate that is not an integer is EINVAL, one below 0 ERANGE', () => {
    for (const r of [1.5, Infinity, NaN, 'x', null]) expect(() => rateCfg(r as number)).toThrow(coded('EINVAL', 'rateCfg.rateBytesPs'));
    expect(() => rateCfg(-1)).toThrow(coded('ERANGE', 'rateCfg.rateBytesPs'));
    expect(() => rateCfg(1000, 65536)).toThrow(coded('ERANGE', 'rateCfg.overhead'));
    expect(() => rateCfg(1000, 0, -1)).toThrow(coded('ERANGE', 'rateCfg.mpu'));
    expect(() => rateCfg(1000, 0, 0, 'yes' as unknown as boolean)).toThrow(coded('EINVAL', 'rateCfg.atm'));
    expect(rateCfg(0).mult).toBe(1);
  });

  test('lengthToTime: a length that is not a u32 is refused', () => {
    const r = rateCfg(125000);
    expect(() => lengthToTime(r, 'x' as unknown as number)).toThrow(coded('EINVAL', 'lengthToTime.len'));
    expect(() => lengthToTime(r, 1.5)).toThrow(coded('EINVAL', 'lengthToTime.len'));
    expect(() => lengthToTime(r, -1)).toThrow(coded('ERANGE', 'lengthToTime.len'));
    expect(() => lengthToTime(r, 2 ** 32)).toThrow(coded('ERANGE', 'lengthToTime.len'));
    expect(() => lengthToTime(null as unknown as typeof r, 1)).toThrow(coded('EINVAL', 'lengthToTime.rate'));
  });
});

describe('a clock that breaks while a Scheduler runs', () => {
  test('closes the scheduler: the waiting jobs reject with the clock error, no exception escapes a microtask', async () => {
    let broken = false;
    const sim = new SimulatedClock();
    const clock: Clock = { now: () => (broken ? NaN : sim.now()) };
    let release: () => void = () => undefined;
    const s = new Scheduler<string, string>(new FairQueue({ clock }), {
      concurrency: 1,
      run: (p) => (p === 'first' ? new Promise<string>((r) => (release = () => r(p))) : p),
    });
    const first = s.add('first', { flow: 1 });
    const second = s.add('second', { flow: 2 });
    broken = true;
    release(); // the first job ends; the next pump reads the broken clock in a microtask
    await expect(first).resolves.toBe('first');
    await expect(second).rejects.toEqual(coded('EINVAL', 'clock.now()'));
    expect(s.closed).toBe(true);
  });
});
