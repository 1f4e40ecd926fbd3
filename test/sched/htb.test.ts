import fc from 'fast-check';
import { Htb, SimulatedClock, lengthToTime, rateCfg, type HtbClassSpec, type HtbItem } from '../../lib/sched';

const MS = 1_000_000;
const SEC = 1_000_000_000;

function item(classid: string, payload: string, length = 1000): HtbItem<string> {
  return { classid, payload, length };
}

/** Runs the queue on its manual clock until `until`, keeping every class in `backlogged` full; returns what was sent when. */
function simulate(q: Htb<string>, clock: SimulatedClock, until: number, backlogged: string[], length = 1000): Array<{ t: number; classid: string; length: number }> {
  for (const c of backlogged) for (let i = 0; i < 20; i++) q.enqueue(item(c, c, length));
  const sent: Array<{ t: number; classid: string; length: number }> = [];
  for (;;) {
    const it = q.dequeue();
    if (it) {
      sent.push({ t: clock.now(), classid: it.classid as string, length: it.length });
      if (backlogged.includes(it.classid as string)) q.enqueue(item(it.classid as string, it.classid as string, length));
      continue;
    }
    const next = q.nextTime();
    if (next === null || next > until) break;
    clock.set(next);
  }
  return sent;
}

function bytesBy(sent: Array<{ classid: string; length: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sent) out[s.classid] = (out[s.classid] ?? 0) + s.length;
  return out;
}

describe('Htb: the kernel token arithmetic', () => {
  test('psched_ratecfg_precompute: 1 Mbit/s is mult 4194304000, shift 19; 1500 bytes take 12 ms', () => {
    const r = rateCfg(125000);
    expect([r.mult, r.shift]).toEqual([4194304000, 19]);
    expect(lengthToTime(r, 1500)).toBe(12 * MS);
  });

  test('overhead, mpu and ATM cells are applied before the multiplication', () => {
    expect(lengthToTime(rateCfg(1e6, 100), 900)).toBe(lengthToTime(rateCfg(1e6), 1000));
    expect(lengthToTime(rateCfg(1e6, 0, 64), 10)).toBe(lengthToTime(rateCfg(1e6), 64));
    expect(lengthToTime(rateCfg(1e6, 0, 0, true), 49)).toBe(lengthToTime(rateCfg(1e6), 106)); // two cells
    expect(lengthToTime(rateCfg(1), 2 ** 32 - 1)).toBeGreaterThan(0); // past 2^53: exact in BigInt
  });
});

describe('Htb: options and classes', () => {
  test('class options are checked by the tc code; a refused call changes nothing', () => {
    const q = new Htb({ clock: new SimulatedClock() });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    const before = q.classStats();
    expect(() => q.addClass({ classid: '1:10', parent: '1:1', rate: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^htb\.rate: 0/) }));
    expect(() => q.addClass({ classid: '1:10', parent: '1:1', rate: '1mbit', prio: 8 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => q.addClass({ classid: '1:10', parent: '1:1', rate: '1mbit', colour: 'red' } as HtbClassSpec)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^class\.colour/) }));
    expect(() => q.addClass({ classid: '1:10', parent: '1:9', rate: '1mbit' })).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringMatching(/^class\.parent: /) }));
    expect(() => q.addClass({ classid: '1:1', rate: '1mbit' })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => q.addClass({ classid: '2:10', rate: '1mbit' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^class\.classid: /) }));
    expect(() => q.changeClass({ classid: '1:1', parent: '1:5', rate: '1mbit' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => q.deleteClass('1:77')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(q.classStats()).toEqual(before);
    expect(() => new Htb({ offload: true })).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    expect(() => new Htb({ r2q: -1 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new Htb({ psched: {} as never })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^htb\.psched/) }));
    expect(() => new Htb({ handle: '1:5' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('depth is limited to 8 levels ("tree is too deep")', () => {
    const q = new Htb({ clock: new SimulatedClock() });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    for (let i = 2; i <= 7; i++) q.addClass({ classid: `1:${i}`, parent: `1:${i - 1}`, rate: '10mbit' });
    q.addClass({ classid: '1:8', parent: '1:7', rate: '10mbit' }); // levels 7..1 inner, 1:8 the leaf
    expect(() => q.addClass({ classid: '1:9', parent: '1:8', rate: '10mbit' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/too deep/) }));
    expect(q.classStats().map((c) => c.level)).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
  });

  test('quantum is rate / r2q within 1000..200000 unless given', () => {
    const q = new Htb({ r2q: 10, clock: new SimulatedClock() });
    q.addClass({ classid: '1:1', rate: '1mbit' });
    q.addClass({ classid: '1:2', rate: '8kbit' });
    q.addClass({ classid: '1:3', rate: '100mbit' });
    q.addClass({ classid: '1:4', rate: '100mbit', quantum: 1514 });
    expect(q.classStats().map((c) => c.quantum)).toEqual([12500, 1000, 200000, 1514]);
  });

  test('deleteClass: EBUSY with children or items; the last child gone, the parent is a leaf again', () => {
    const q = new Htb({ clock: new SimulatedClock() });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    q.addClass({ classid: '1:10', parent: '1:1', rate: '1mbit' });
    expect(() => q.deleteClass('1:1')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    q.enqueue(item('1:10', 'x'));
    expect(() => q.deleteClass('1:10')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(() => q.addClass({ classid: '1:11', parent: '1:10', rate: '1mbit' })).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(q.dequeue()?.payload).toBe('x');
    q.deleteClass('1:10');
    expect(q.classStats('1:1')).toMatchObject({ level: 0, mode: 'can_send' });
    q.enqueue(item('1:1', 'y'));
    expect(q.dequeue()?.payload).toBe('y');
  });

  test('items: bad length or unknown class throws; the direct queue and the default class', () => {
    const q = new Htb<string>({ default: '20', directQlen: 1, clock: new SimulatedClock() });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    q.addClass({ classid: '1:20', parent: '1:1', rate: '1mbit' });
    expect(() => q.enqueue(item('1:20', 'x', 0))).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^item\.length: 0/) }));
    expect(() => q.enqueue(item('1:99', 'x'))).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringMatching(/^item\.classid: /) }));
    expect(q.size).toBe(0);
    expect(q.enqueue({ length: 100, payload: 'default' })).toBe('queued');
    expect(q.enqueue(item('1:1', 'inner-goes-to-default'))).toBe('queued');
    expect(q.enqueue(item('1:', 'direct'))).toBe('queued');
    expect(q.enqueue(item('1:', 'direct2'))).toBe('direct_limit');
    expect(q.classStats('1:20').qlen).toBe(2);
    expect(q.dequeue()?.payload).toBe('direct'); // the direct queue goes first
    expect(q.stats()).toMatchObject({ directPackets: 1, drops: 1, qlen: 2 });
    const none = new Htb<string>({ clock: new SimulatedClock() }); // no default class: the direct queue
    expect(none.enqueue({ length: 10, payload: 'd' })).toBe('queued');
    expect(none.stats().directPackets).toBe(1);
  });

  test('a classify function picks the class, as filters would', () => {
    const q = new Htb<string>({ clock: new SimulatedClock(), classify: (it) => (it.payload === 'vip' ? '1:10' : '1:20') });
    q.addClass({ classid: '1:10', rate: '1mbit' });
    q.addClass({ classid: '1:20', rate: '1mbit' });
    q.enqueue({ length: 10, payload: 'vip' });
    q.enqueue({ length: 10, payload: 'other' });
    expect(q.classStats().map((c) => c.qlen)).toEqual([1, 1]);
  });

  test('the leaf FIFO limit drops with class_limit', () => {
    const q = new Htb<string>({ clock: new SimulatedClock() });
    q.addClass({ classid: '1:10', rate: '1mbit', limit: 1 });
    expect(q.enqueue(item('1:10', 'a'))).toBe('queued');
    expect(q.enqueue(item('1:10', 'b'))).toBe('class_limit');
    expect(q.classStats('1:10').drops).toBe(1);
  });
});

describe('Htb: the rules of sch_htb', () => {
  test('a leaf sends its burst, then turns red, then yellow, then green at its rate', () => {
    const clock = new SimulatedClock();
    const q = new Htb<string>({ clock });
    // 1e6 bytes/s; burst 1500 bytes = 23437 ticks = 1499968 ns; cburst 1600 bytes = 1.6 ms.
    q.addClass({ classid: '1:10', rate: '8mbit', burst: 1500 });
    for (let i = 0; i < 5; i++) q.enqueue(item('1:10', `x${i}`));
    expect(q.dequeue()?.payload).toBe('x0');
    expect(q.classStats('1:10')).toMatchObject({ mode: 'can_send', tokens: Math.floor((1499968 - MS) / 64), ctokens: Math.floor((1.6 * MS - MS) / 64) });
    expect(q.dequeue()?.payload).toBe('x1');
    expect(q.classStats('1:10')).toMatchObject({ mode: 'cant_send', overlimits: 1 });
    expect(q.dequeue()).toBeNull();
    expect(q.nextTime()).toBe(400_000); // until ctokens are back to 0
    clock.set(400_000);
    expect(q.dequeue()).toBeNull(); // yellow now: tokens still -100032 ns, and no parent to borrow from
    expect(q.classStats('1:10').mode).toBe('may_borrow');
    expect(q.nextTime()).toBe(500_032);
    clock.set(500_032);
    expect(q.dequeue()?.payload).toBe('x2');
    expect(q.dequeue()).toBeNull();
    expect(q.nextTime()).toBe(1_500_032 - 100_032); // red until ctokens refill (0.899968 ms)
    clock.set(1_500_032);
    expect(q.dequeue()?.payload).toBe('x3');
    expect(q.classStats('1:10')).toMatchObject({ lends: 4, borrows: 0, packets: 4, bytes: 4000 });
  });

  test('DRR: deficits start at 0, so a leaf moves on after its first item, then sends quantum per turn', () => {
    const q = new Htb<string>({ clock: new SimulatedClock() });
    for (const c of ['1:10', '1:20', '1:30']) q.addClass({ classid: c, rate: '1gbit', burst: '1mb', cburst: '1mb', quantum: 2000 });
    for (let i = 0; i < 4; i++) for (const c of ['1:30', '1:10', '1:20']) q.enqueue(item(c, c.slice(2)));
    const order: string[] = [];
    for (let it = q.dequeue(); it; it = q.dequeue()) order.push(it.payload as string);
    expect(order.join(' ')).toBe('10 20 30 10 10 20 20 30 30 10 20 30');
  });

  test('prio: the lower prio takes the spare rate first; the other keeps its guaranteed rate', () => {
    const clock = new SimulatedClock();
    const q = new Htb<string>({ clock });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    q.addClass({ classid: '1:10', parent: '1:1', rate: '2mbit', ceil: '10mbit', prio: 0 });
    q.addClass({ classid: '1:20', parent: '1:1', rate: '2mbit', ceil: '10mbit', prio: 1 });
    const bytes = bytesBy(simulate(q, clock, 2 * SEC, ['1:10', '1:20']));
    const total = bytes['1:10'] + bytes['1:20'];
    expect(bytes['1:20'] / total).toBeCloseTo(0.2, 1);
    expect(bytes['1:10'] / total).toBeCloseTo(0.8, 1);
  });

  test('borrowing: spare rate is shared by quantum (rate / r2q); lends and borrows are counted', () => {
    const clock = new SimulatedClock();
    const q = new Htb<string>({ clock });
    q.addClass({ classid: '1:1', rate: '10mbit' });
    q.addClass({ classid: '1:10', parent: '1:1', rate: '2mbit', ceil: '10mbit' });
    q.addClass({ classid: '1:20', parent: '1:1', rate: '3mbit', ceil: '10mbit' });
    const sent = simulate(q, clock, 4 * SEC, ['1:10', '1:20']);
    const bytes = bytesBy(sent);
    const total = bytes['1:10'] + bytes['1:20'];
    // 2 + 5 * 25000/62500 = 4 and 3 + 5 * 37500/62500 = 6 Mbit/s.
    expect(bytes['1:10'] / total).toBeCloseTo(0.4, 1);
    expect(total / 4).toBeGreaterThan(0.97 * 1.25e6);
    expect(total / 4).toBeLessThan(1.03 * 1.25e6);
    const [root, a, b] = q.classStats();
    expect(a.borrows).toBeGreaterThan(0);
    expect(a.lends + a.borrows).toBe(a.packets);
    expect(b.lends + b.borrows).toBe(b.packets);
    expect(root.lends).toBe(a.borrows + b.borrows); // every borrowed item was sent at the root's level
    expect(root.packets).toBe(a.packets + b.packets);
  });

  test('changeClass: a new rate and quantum apply from then on; the limit too', () => {
    const clock = new SimulatedClock();
    const q = new Htb<string>({ clock });
    q.addClass({ classid: '1:10', rate: '1mbit' });
    const before = bytesBy(simulate(q, clock, 1 * SEC, ['1:10']))['1:10'];
    q.changeClass({ classid: '1:10', rate: '4mbit', quantum: 3000, limit: 5 });
    const after = bytesBy(simulate(q, clock, 2 * SEC, ['1:10']))['1:10'];
    expect(before / 125000).toBeCloseTo(1, 1);
    expect(after / 500000).toBeCloseTo(1, 1);
    expect(q.classStats('1:10')).toMatchObject({ rate: 4e6, quantum: 3000 });
    expect(q.enqueue(item('1:10', 'over'))).toBe('class_limit'); // the FIFO holds 20 already, more than 5
  });

  test('ceil: a leaf never exceeds its ceil even when its parent has spare rate', () => {
    const clock = new SimulatedClock();
    const q = new Htb<string>({ clock });
    q.addClass({ classid: '1:1', rate: '100mbit' });
    q.addClass({ classid: '1:10', parent: '1:1', rate: '1mbit', ceil: '2mbit' });
    const bytes = bytesBy(simulate(q, clock, 4 * SEC, ['1:10']));
    expect(bytes['1:10'] / 4).toBeGreaterThan(0.97 * 250000);
    expect(bytes['1:10'] / 4).toBeLessThan(1.03 * 250000);
  });
});

describe('Htb: properties', () => {
  const tree = fc.record({
    parentRate: fc.integer({ min: 200, max: 5000 }), // kbit
    leaves: fc.array(fc.record({ rate: fc.integer({ min: 50, max: 2000 }), ceilExtra: fc.integer({ min: 0, max: 3000 }), prio: fc.integer({ min: 0, max: 2 }), len: fc.integer({ min: 100, max: 1500 }) }), { minLength: 1, maxLength: 4 }),
  });

  test('conservation, FIFO per class, and no class above its ceil over any window longer than its burst', () => {
    fc.assert(
      fc.property(tree, ({ parentRate, leaves }) => {
        const clock = new SimulatedClock();
        const q = new Htb<string>({ clock });
        q.addClass({ classid: '1:1', rate: `${parentRate}kbit` });
        const ceil: Record<string, number> = { '1:1': (parentRate * 1000) / 8 };
        leaves.forEach((l, i) => {
          const id = `1:${i + 10}`;
          // Guaranteed rates within the parent's (htb does not check that: a green leaf sends on its own rate).
          const rate = Math.max(1, Math.min(l.rate, Math.floor(parentRate / leaves.length)));
          const c = Math.min(rate + l.ceilExtra, parentRate * 4);
          q.addClass({ classid: id, parent: '1:1', rate: `${rate}kbit`, ceil: `${c}kbit`, prio: l.prio });
          ceil[id] = (c * 1000) / 8;
        });
        const ids = leaves.map((_, i) => `1:${i + 10}`);
        let n = 0;
        ids.forEach((id, i) => {
          for (let k = 0; k < 40; k++) q.enqueue({ classid: id, payload: `${id}#${n++}`, length: leaves[i].len });
        });
        const out: Array<{ t: number; id: string; len: number; payload: string }> = [];
        for (;;) {
          const it = q.dequeue();
          if (it) {
            out.push({ t: clock.now(), id: it.classid as string, len: it.length, payload: it.payload as string });
            continue;
          }
          const next = q.nextTime();
          if (next === null) break;
          clock.set(next);
        }
        expect(out.length).toBe(n);
        expect(new Set(out.map((o) => o.payload)).size).toBe(n);
        for (const id of ids) {
          const mine = out.filter((o) => o.id === id).map((o) => Number(o.payload.split('#')[1]));
          expect(mine).toEqual([...mine].sort((a, b) => a - b));
        }
        // The cburst tc computes by default: ceil/hz + 1600 bytes; one item more may go on the last token.
        // A green leaf sends on its own rate without asking its parent: the parent's bound adds the leaves' bursts.
        for (const id of ['1:1', ...ids]) {
          const mine = out.filter((o) => id === '1:1' || o.id === id);
          // Each leaf may also go one item past its last token.
          const burst = (1601 + 1500) * (id === '1:1' ? ids.length + 1 : 1);
          let worst = -Infinity;
          for (let i = 0; i < mine.length; i++) {
            let bytes = 0;
            for (let j = i; j < mine.length; j++) {
              bytes += mine[j].len;
              worst = Math.max(worst, bytes - (ceil[id] * (mine[j].t - mine[i].t)) / SEC);
            }
          }
          expect(worst).toBeLessThanOrEqual(burst);
        }
      }),
      { numRuns: 40 },
    );
  });

  test('no starvation: every backlogged leaf gets at least its rate', () => {
    fc.assert(
      fc.property(tree, ({ parentRate, leaves }) => {
        const clock = new SimulatedClock();
        const q = new Htb<string>({ clock });
        const total = leaves.reduce((s, l) => s + l.rate, 0);
        q.addClass({ classid: '1:1', rate: `${Math.max(parentRate, total)}kbit` });
        const ids = leaves.map((l, i) => {
          q.addClass({ classid: `1:${i + 10}`, parent: '1:1', rate: `${l.rate}kbit`, ceil: `${Math.max(parentRate, total)}kbit`, prio: l.prio });
          return `1:${i + 10}`;
        });
        const bytes = bytesBy(simulate(q, clock, 3 * SEC, ids, 500));
        leaves.forEach((l, i) => expect(bytes[ids[i]] ?? 0).toBeGreaterThanOrEqual(0.95 * ((l.rate * 1000) / 8) * 3));
      }),
      { numRuns: 25 },
    );
  });
});
