import fc from 'fast-check';
import { FairQueue, SimulatedClock, type FqItem } from '../../lib/sched';
import { bucketOf, keyHash } from '../../lib/sched/flow-hash';

const MS = 1_000_000;
const SEC = 1_000_000_000;

/** A queue without the fast path and without pacing: a maxrate turns the fast path off, pacing off ignores it. */
function drrQueue(options: Record<string, unknown> = {}): FairQueue<string> {
  return new FairQueue<string>({ pacing: false, maxrate: '1gbit', clock: new SimulatedClock(), ...options });
}

function item(flow: unknown, payload: string, length = 1000, extra: Partial<FqItem<string>> = {}): FqItem<string> {
  return { flow, payload, length, priority: 6, ...extra }; // priority 6: band 0
}

function drain(q: FairQueue<string>, now = 0): string[] {
  const out: string[] = [];
  for (let it = q.dequeue(now); it; it = q.dequeue(now)) out.push(it.payload as string);
  return out;
}

describe('FairQueue: options are fq options, checked by the tc code', () => {
  test('unknown keys, bad buckets, quantum, weights and priomap are refused', () => {
    expect(() => new FairQueue({ nope: 1 } as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fq\.nope: /) }));
    expect(() => new FairQueue({ buckets: 3 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fq\.buckets: 3/) }));
    expect(() => new FairQueue({ buckets: 2 ** 19 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new FairQueue({ quantum: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fq\.quantum: 0/) }));
    expect(() => new FairQueue({ quantum: 2 ** 20 + 1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new FairQueue({ weights: [16383, 20000, 20000] })).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^fq\.weights\[0\]: 16383/) }));
    expect(() => new FairQueue({ priomap: [3, ...new Array(15).fill(0)] })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new FairQueue('fast' as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new FairQueue({ clock: {} as never })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fq\.clock/) }));
  });

  test('defaults are sch_fq.s', () => {
    const p = new FairQueue().params;
    expect(p).toMatchObject({ limit: 10000, flowLimit: 100, quantum: 3028, initialQuantum: 15140, bucketsLog: 10, orphanMask: 1023, lowRateThreshold: 68750 });
    expect(p).toMatchObject({ refillDelay: 40 * MS, horizon: 10 * SEC, horizonDrop: true, maxrate: Infinity, weights: [589824, 196608, 65536] });
    expect(new FairQueue({ maxrate: '8mbit', refillDelay: '10ms' }).params).toMatchObject({ maxrate: 1e6, refillDelay: 10 * MS });
  });

  test('a bad item throws and leaves the queue unchanged', () => {
    const q = drrQueue();
    q.enqueue(item('a', 'a1'), 0);
    const before = q.stats(0);
    expect(() => q.enqueue(item('a', 'x', 0), 0)).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^item\.length: 0/) }));
    expect(() => q.enqueue(item('a', 'x', 1.5), 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => q.enqueue(item('a', 'x', 2 ** 32), 0)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => q.enqueue(item('a', 'x', 10, { priority: -1 }), 0)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => q.enqueue(item('a', 'x', 10, { rate: -5 }), 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(q.stats(0)).toEqual(before);
  });
});

describe('FairQueue: the rules of sch_fq', () => {
  test('credit: a new flow sends initial_quantum, then each round adds quantum; new flows go before old', () => {
    const q = drrQueue({ quantum: 1000, initialQuantum: 2000 });
    for (let i = 1; i <= 5; i++) q.enqueue(item('A', `A${i}`), 0);
    for (let i = 1; i <= 5; i++) q.enqueue(item('B', `B${i}`), 0);
    expect(drain(q)).toEqual(['A1', 'A2', 'B1', 'B2', 'A3', 'B3', 'A4', 'B4', 'A5', 'B5']);
  });

  test('quantum: a flow sends while its credit is positive, so a round may overshoot by one item', () => {
    const q = drrQueue({ quantum: 1500, initialQuantum: 1500 });
    for (let i = 1; i <= 4; i++) q.enqueue(item('A', `A${i}`), 0);
    for (let i = 1; i <= 4; i++) q.enqueue(item('B', `B${i}`), 0);
    // A: 1500 -> 500 -> -500 (2 items); then +1500 = 1000 -> 0 (1 item); then 1500 ...
    expect(drain(q)).toEqual(['A1', 'A2', 'B1', 'B2', 'A3', 'B3', 'A4', 'B4']);
  });

  test('a flow that arrives while others are old is served first', () => {
    const q = drrQueue({ quantum: 1000, initialQuantum: 1000 });
    for (let i = 1; i <= 3; i++) q.enqueue(item('A', `A${i}`), 0);
    expect(q.dequeue(0)?.payload).toBe('A1'); // A's credit is spent: A goes to old_flows
    q.enqueue(item('C', 'C1'), 0);
    expect(drain(q)).toEqual(['C1', 'A2', 'A3']);
  });

  test('an emptied new flow passes through old_flows, and is detached there: it comes back as a new flow', () => {
    const q = drrQueue({ quantum: 1000, initialQuantum: 2000 });
    q.enqueue(item('A', 'A1'), 0);
    for (let i = 1; i <= 5; i++) q.enqueue(item('B', `B${i}`), 0);
    expect(q.dequeue(0)?.payload).toBe('A1');
    expect(q.stats(0)).toMatchObject({ flows: 2, inactiveFlows: 1 });
    // A (empty, credit 1000) moves from new_flows to old_flows; B sends; then A is detached from old_flows.
    expect([q.dequeue(0), q.dequeue(0), q.dequeue(0)].map((i) => i?.payload)).toEqual(['B1', 'B2', 'B3']);
    // Detached, A re-enters as a new flow (ahead of B, which waits in old_flows) with the credit it kept.
    q.enqueue(item('A', 'A2'), 0);
    expect(drain(q)).toEqual(['A2', 'B4', 'B5']);
  });

  test('an empty queue returns at once: nothing is detached while it is empty', () => {
    const q = drrQueue({ quantum: 1000, initialQuantum: 1000 });
    q.enqueue(item('A', 'A1'), 0);
    q.enqueue(item('B', 'B1'), 0);
    q.enqueue(item('B', 'B2'), 0);
    expect(drain(q)).toEqual(['A1', 'B1', 'B2']);
    // A still sits in old_flows (never passed while the queue held items): it does not jump ahead of B.
    q.enqueue(item('B', 'B3'), 0);
    q.enqueue(item('A', 'A2'), 0);
    expect(drain(q)).toEqual(['A2', 'B3']);
  });

  test('refill_delay: a flow detached longer than refill_delay gets at least quantum back', () => {
    const run = (idle: number): string[] => {
      const clock = new SimulatedClock();
      const q = drrQueue({ quantum: 3000, initialQuantum: 1000, refillDelay: '40ms', clock });
      q.enqueue(item('A', 'A1', 2500));
      q.enqueue(item('B', 'B1', 1000));
      q.enqueue(item('B', 'B2', 1000));
      // A1 leaves A at -1500, +3000 = 1500; B1, B2 pass A in old_flows: A is detached with 1500.
      expect(drain(q, clock.now())).toEqual(['A1', 'B1', 'B2']);
      clock.advance(idle);
      for (let i = 3; i <= 5; i++) q.enqueue(item('A', `A${i}`, 1000));
      q.enqueue(item('B', 'B3', 1000));
      return drain(q, clock.now());
    };
    expect(run(0)).toEqual(['A3', 'A4', 'B3', 'A5']); // 1500: two items
    expect(run(41 * MS)).toEqual(['A3', 'A4', 'A5', 'B3']); // max(1500, 3000): three items
  });

  test('flow_limit and the per-band limit drop with reasons and counters', () => {
    const q = drrQueue({ flowLimit: 2, limit: 3 });
    expect(q.enqueue(item('A', 'A1'), 0)).toBe('queued');
    expect(q.enqueue(item('A', 'A2'), 0)).toBe('queued');
    expect(q.enqueue(item('A', 'A3'), 0)).toBe('flow_limit');
    expect(q.enqueue(item('B', 'B1'), 0)).toBe('queued');
    expect(q.enqueue(item('C', 'C1'), 0)).toBe('band_limit');
    expect(q.enqueue(item('C', 'C1', 1000, { priority: 0 }), 0)).toBe('queued'); // band 1 has room
    expect(q.stats(0)).toMatchObject({ flowsPlimit: 1, bandDrops: [1, 0, 0], bandPktCount: [3, 1, 0], drops: 2, qlen: 4, backlog: 4000 });
  });

  test('bands share by weight (9:3:1 by default)', () => {
    const q = drrQueue({ flowLimit: 10000 });
    const sent = [0, 0, 0];
    const prio = [6, 0, 2]; // bands 0, 1, 2
    for (let i = 0; i < 8000; i++) for (let b = 0; b < 3; b++) q.enqueue(item(`f${b}`, String(b), 1000, { priority: prio[b] }), 0);
    // The first round differs (new flows start in band 0's list): skip it, then count ten rounds of 9 + 3 + 1 times 64 KiB.
    for (let i = 0; i < 853; i++) q.dequeue(0);
    for (let i = 0; i < 10 * 853; i++) sent[Number(q.dequeue(0)?.payload)] += 1000;
    expect(sent[0] / sent[2]).toBeCloseTo(9, 0);
    expect(sent[1] / sent[2]).toBeCloseTo(3, 0);
  });

  test('the fast path: an idle queue lets an item through at once, ahead of the flows', () => {
    const q = new FairQueue<string>({ clock: new SimulatedClock() });
    expect(q.enqueue(item('A', 'A1'), 0)).toBe('queued');
    expect(q.stats(0)).toMatchObject({ fastpathPackets: 1, flows: 0 });
    expect(q.dequeue(0)?.payload).toBe('A1');
    // A maxrate turns it off.
    const paced = new FairQueue<string>({ maxrate: '1gbit', clock: new SimulatedClock() });
    paced.enqueue(item('A', 'A1'), 0);
    expect(paced.stats(0)).toMatchObject({ fastpathPackets: 0, flows: 1 });
  });

  test('EDT: an item with a future time waits for it; the flow is throttled until then', () => {
    const clock = new SimulatedClock(10 * MS);
    const q = new FairQueue<string>({ clock });
    q.enqueue(item('A', 'late', 100, { time: 15 * MS }));
    expect(q.dequeue()).toBeNull();
    expect(q.nextTime()).toBe(15 * MS);
    expect(q.stats()).toMatchObject({ throttled: 1, throttledFlows: 1, timeNextDelayedFlow: 5 * MS + 10_000 });
    clock.set(15 * MS);
    expect(q.dequeue()?.payload).toBe('late');
    expect(q.stats()).toMatchObject({ throttledFlows: 0, qlen: 0 });
    expect(q.nextTime()).toBeNull();
  });

  test('horizon: beyond it an item is dropped, or capped with horizon_cap', () => {
    const clock = new SimulatedClock(0);
    const drop = new FairQueue<string>({ horizon: '1s', clock });
    expect(drop.enqueue(item('A', 'x', 100, { time: 2 * SEC }))).toBe('horizon_limit');
    expect(drop.stats()).toMatchObject({ horizonDrops: 1, drops: 1 });
    const cap = new FairQueue<string>({ horizon: '1s', horizonDrop: false, clock });
    expect(cap.enqueue(item('A', 'x', 100, { time: 2 * SEC }))).toBe('queued');
    expect(cap.stats()).toMatchObject({ horizonCaps: 1 });
    expect(cap.dequeue()).toBeNull();
    expect(cap.nextTime()).toBe(SEC);
  });

  test('ce_threshold: an item later than the threshold is marked', () => {
    const clock = new SimulatedClock(0);
    const q = new FairQueue<string>({ ceThreshold: '1ms', clock });
    q.enqueue(item('A', 'a', 100, { time: 5 * MS }));
    q.enqueue(item('B', 'b', 100, { time: 5 * MS }));
    clock.set(5 * MS + 500_000);
    expect(q.dequeue()?.ce).toBeUndefined();
    clock.set(6 * MS + 1);
    expect(q.dequeue()?.ce).toBe(true);
    expect(q.stats().ceMark).toBe(1);
  });

  test('maxrate: after the credit, each item is paced at max(length, quantum) / rate', () => {
    const clock = new SimulatedClock(0);
    const q = new FairQueue<string>({ maxrate: '8mbit', quantum: 1000, initialQuantum: 2000, clock }); // 1e6 bytes/s
    for (let i = 1; i <= 4; i++) q.enqueue(item('A', `A${i}`, 500));
    expect(q.dequeue()?.payload).toBe('A1');
    expect(q.dequeue()?.payload).toBe('A2');
    expect(q.dequeue()?.payload).toBe('A3');
    // Credit 2000 - 1500 = 500 > 0: not paced yet. A4 takes it to 0: paced 1000 bytes = 1 ms.
    expect(q.dequeue()?.payload).toBe('A4');
    q.enqueue(item('A', 'A5', 500));
    expect(q.dequeue()).toBeNull();
    expect(q.nextTime()).toBe(1 * MS);
  });

  test('low_rate_threshold: a flow at or below it is paced item by item, with no credit', () => {
    const clock = new SimulatedClock(0);
    const q = new FairQueue<string>({ quantum: 1000, initialQuantum: 10000, clock });
    q.enqueue(item('A', 'A1', 100, { rate: 10000 })); // 10 kB/s <= 68750
    q.enqueue(item('A', 'A2', 100, { rate: 10000 }));
    expect(q.dequeue()?.payload).toBe('A1');
    expect(q.dequeue()).toBeNull();
    expect(q.nextTime()).toBe(10 * MS); // 100 bytes at 10 kB/s
  });

  test('a pacing delay is capped at 1 s and counted', () => {
    const clock = new SimulatedClock(0);
    const q = new FairQueue<string>({ clock });
    q.enqueue(item('A', 'A1', 5000, { rate: 1000 }));
    q.enqueue(item('A', 'A2', 10, { rate: 1000 }));
    expect(q.dequeue()?.payload).toBe('A1');
    expect(q.dequeue()).toBeNull();
    expect(q.nextTime()).toBe(SEC);
    expect(q.stats().pktsTooLong).toBe(1);
  });

  test('orphans: items without a flow share a flow per hash & orphan_mask', () => {
    const q = drrQueue({ orphanMask: 1, quantum: 1000, initialQuantum: 1000 });
    q.enqueue({ length: 1000, payload: 'h0', hash: 0, priority: 6 }, 0);
    q.enqueue({ length: 1000, payload: 'h2', hash: 2, priority: 6 }, 0); // 2 & 1 = 0: same flow
    q.enqueue({ length: 1000, payload: 'h1', hash: 1, priority: 6 }, 0);
    expect(q.stats(0).flows).toBe(2);
    expect(drain(q)).toEqual(['h0', 'h1', 'h2']);
  });

  test('flow GC: detached flows idle more than 3 s are freed when their bucket is searched', () => {
    const clock = new SimulatedClock(0);
    const q = drrQueue({ buckets: 2, quantum: 1000, initialQuantum: 1000, clock });
    const inBucket = (b: number) => Array.from({ length: 100 }, (_, i) => `k${i}`).filter((k) => bucketOf(keyHash(k), 1) === b);
    const [a, b] = inBucket(0);
    const [c] = inBucket(1);
    for (const k of [a, b, c]) q.enqueue(item(k, k));
    for (let i = 0; i < 5; i++) q.enqueue(item('z', `z${i}`));
    // a, b, c send one item each; z's backlog makes the queue pass them in old_flows and detach them.
    expect(drain(q, 0)).toEqual([a, b, c, 'z0', 'z1', 'z2', 'z3', 'z4']);
    expect(q.stats(0)).toMatchObject({ flows: 4, inactiveFlows: 4 });
    clock.set(3 * SEC);
    q.enqueue(item(b, 'b')); // not older than 3 s yet
    expect(q.stats().gcFlows).toBe(0);
    q.dequeue();
    clock.set(3 * SEC + 1);
    q.enqueue(item(b, 'b2')); // a is freed; b is the key's own flow; c is in the other bucket
    expect(q.stats()).toMatchObject({ gcFlows: 1, flows: 3 });
  });

  test('the band of a newly active flow is the one it had before (as the kernel links it)', () => {
    const q = drrQueue({ quantum: 1000, initialQuantum: 1000 });
    // A band-2 flow and a band-0 flow, each with 2 items; a new flow starts in band 0's list.
    q.enqueue(item('low', 'L1', 1000, { priority: 2 }), 0);
    q.enqueue(item('low', 'L2', 1000, { priority: 2 }), 0);
    q.enqueue(item('hi', 'H1', 1000, { priority: 6 }), 0);
    q.enqueue(item('hi', 'H2', 1000, { priority: 6 }), 0);
    // band 0 starts with credit 0: rotation begins at band 1 (empty), then band 2 ... only band 0 has lists.
    expect(drain(q)).toEqual(['L1', 'H1', 'H2', 'L2']);
  });
});

/** An independent model of one band without pacing: DRR with new and old lists. */
class DrrModel {
  private flows = new Map<string, { items: Array<[string, number]>; credit: number; where: 'new' | 'old' | 'off' }>();
  private newList: string[] = [];
  private oldList: string[] = [];
  constructor(
    private quantum: number,
    private initial: number,
    private flowLimit: number,
  ) {}
  enqueue(flow: string, id: string, len: number): string {
    let f = this.flows.get(flow);
    if (!f) this.flows.set(flow, (f = { items: [], credit: this.initial, where: 'off' }));
    if (f.items.length >= this.flowLimit) return 'flow_limit';
    if (f.where === 'off') {
      f.where = 'new';
      this.newList.push(flow);
    }
    f.items.push([id, len]);
    return 'queued';
  }
  dequeue(): string | null {
    // An empty queue returns at once: its lists are left as they are.
    if (![...this.flows.values()].some((f) => f.items.length)) return null;
    for (;;) {
      const list = this.newList.length ? this.newList : this.oldList.length ? this.oldList : null;
      if (!list) return null;
      const f = this.flows.get(list[0])!;
      if (f.credit <= 0) {
        f.credit += this.quantum;
        this.oldList.push(list.shift()!);
        f.where = 'old';
        continue;
      }
      if (!f.items.length) {
        const key = list.shift()!;
        if (list === this.newList) {
          this.oldList.push(key);
          f.where = 'old';
        } else f.where = 'off';
        continue;
      }
      const [id, len] = f.items.shift()!;
      f.credit -= len;
      return id;
    }
  }
}

describe('FairQueue: properties against a model', () => {
  test('one band without pacing serves exactly as DRR with new/old lists', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('enq' as const), flow: fc.integer({ min: 0, max: 5 }), len: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ kind: fc.constant('deq' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 4000 }), fc.integer({ min: 0, max: 8000 }), fc.integer({ min: 1, max: 6 }), (ops, quantum, initial, flowLimit) => {
        const q = drrQueue({ quantum, initialQuantum: initial, flowLimit });
        const m = new DrrModel(quantum, initial, flowLimit);
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'enq') {
            const id = `i${n++}`;
            expect(q.enqueue(item(`f${o.flow}`, id, o.len), 0)).toBe(m.enqueue(`f${o.flow}`, id, o.len));
          } else {
            expect(q.dequeue(0)?.payload ?? null).toBe(m.dequeue());
          }
        }
        // Conservation: whatever is left comes out, in the model's order.
        for (let id = m.dequeue(); id; id = m.dequeue()) expect(q.dequeue(0)?.payload).toBe(id);
        expect(q.dequeue(0)).toBeNull();
        expect(q.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  test('maxrate is never exceeded over a window longer than the burst', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 150 }), fc.integer({ min: 100_000, max: 10_000_000 }), (lens, rate) => {
        const clock = new SimulatedClock(0);
        const quantum = 1514;
        const q = new FairQueue<string>({ maxrate: rate * 8, quantum, initialQuantum: 3000, clock });
        lens.forEach((len, i) => q.enqueue(item('A', String(i), len)));
        const sent: Array<[number, number]> = [];
        while (q.size) {
          const it = q.dequeue();
          if (it) sent.push([clock.now(), it.length]);
          else clock.set(q.nextTime() as number);
        }
        expect(sent.length).toBe(lens.length);
        const burst = 3000 + 2 * quantum;
        let worst = -Infinity;
        for (let i = 0; i < sent.length; i++) {
          let bytes = 0;
          for (let j = i; j < sent.length; j++) {
            bytes += sent[j][1];
            worst = Math.max(worst, bytes - (rate * (sent[j][0] - sent[i][0])) / SEC);
          }
        }
        expect(worst).toBeLessThanOrEqual(burst);
      }),
      { numRuns: 100 },
    );
  });
});
