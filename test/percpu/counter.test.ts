// One-thread behaviour of Counter and CounterSet: arithmetic, folding, zero,
// many counters at once, slot reuse and bad input.
import { execFileSync } from 'node:child_process';
import { Counter, CounterSet, KernkitError } from '../../lib';
import { percpuNative } from '../../lib/percpu/native';
import { fixture } from '../helpers/workers';

describe('Counter', () => {
  test('inc, add (negative too) and the three reads agree', () => {
    const c = new Counter('basic');
    c.inc();
    c.add(41);
    c.add(-2);
    expect(c.sum()).toBe(40n);
    expect(c.value()).toBe(40);
    expect(c.approx()).toBe(40);
    c.add(-100);
    expect(c.sum()).toBe(-60n);
  });

  test('past 2^53 the sum stays exact as a bigint; value() is ERANGE there', () => {
    const c = new Counter('big');
    const step = Number.MAX_SAFE_INTEGER; // 2^53 - 1, each add folds straight into the total
    for (let i = 0; i < 1000; i++) c.add(step);
    c.inc();
    expect(c.sum()).toBe(1000n * BigInt(step) + 1n);
    expect(() => c.value()).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => c.value()).toThrow(/counter value/);
  });

  test('the fold path: a slot passing 2^40 moves into the exact total, JS and native readers agree', () => {
    const c = new Counter('fold');
    const near = 2 ** 39 + 12345;
    let expected = 0n;
    for (let i = 0; i < 10; i++) {
      c.add(near); // every second add crosses the threshold
      c.inc();
      expected += BigInt(near) + 1n;
    }
    c.add(-(2 ** 41)); // a large negative amount folds too
    expected -= 2n ** 41n;
    expect(c.sum()).toBe(expected);
    const h = c.handle;
    expect(percpuNative.sumRaw(h.chunk, h.offset, 1)).toEqual([expected]);
    // The slot itself never holds more than the threshold.
    expect(Math.abs(c.approx() - Number(expected))).toBeLessThan(2 ** 20);
  });

  test('zero() gives readers a fresh start; writers go on unaware', () => {
    const c = new Counter('zeroed');
    c.add(100);
    c.zero();
    expect(c.sum()).toBe(0n);
    expect(c.approx()).toBe(0);
    c.add(7);
    expect(c.sum()).toBe(7n);
    c.add(-10);
    expect(c.sum()).toBe(-3n);
    // The raw total kept counting: the base only shifts what readers see.
    const h = c.handle;
    expect(percpuNative.sumRaw(h.chunk, h.offset, 1)).toEqual([97n]);
  });

  test('the handle is plain data and names the counter', () => {
    const c = new Counter('named');
    const h = c.handle;
    expect(structuredClone(h)).toEqual(h);
    expect(h).toMatchObject({ kind: 'kernkit.counter', name: 'named' });
    const again = Counter.attach(h);
    again.add(3);
    expect(c.sum()).toBe(3n);
    expect(again.name).toBe('named');
  });
});

describe('CounterSet', () => {
  const fields = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;

  test('fields by index, one snapshot for all, zero for all', () => {
    const s = new CounterSet(fields);
    expect(s.fields).toEqual(fields);
    s.inc(s.index('conns'));
    s.inc(s.index('inpkts'));
    s.add(s.index('inbytes'), 1500);
    s.add(s.index('outbytes'), 2 ** 45); // folds
    expect(s.sum()).toEqual({ conns: 1n, inpkts: 1n, outpkts: 0n, inbytes: 1500n, outbytes: 2n ** 45n });
    expect(s.approx()).toEqual({ conns: 1, inpkts: 1, outpkts: 0, inbytes: 1500, outbytes: 2 ** 45 });
    s.zero();
    s.inc(s.index('outpkts'));
    expect(s.sum()).toEqual({ conns: 0n, inpkts: 0n, outpkts: 1n, inbytes: 0n, outbytes: 0n });
  });

  test('attach gives the same set; fields travel with the handle', () => {
    const s = new CounterSet(['a', 'b', 'c']);
    const t = CounterSet.attach(structuredClone(s.handle));
    t.add(2, 9);
    s.inc(0);
    expect(t.fields).toEqual(['a', 'b', 'c']);
    expect(s.sum()).toEqual({ a: 1n, b: 0n, c: 9n });
    expect(t.sum()).toEqual(s.sum());
  });

  test('a handle whose field names were changed is refused, even at the same width (issue 15)', () => {
    const s = new CounterSet(['rx', 'tx']);
    const renamed = (fields: string[]) =>
      expect(() => CounterSet.attach({ ...s.handle, fields })).toThrow(
        expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^handle\.fields: \[.*\] \(expected the field names of the set the handle came from\)$/) }),
      );
    renamed(['tx', 'rx']); // the same names in another order would swap the values
    renamed(['in', 'out']);
    // Another set's fields and digest do not fit this set's token either.
    const other = new CounterSet(['in', 'out']);
    expect(() => CounterSet.attach({ ...s.handle, fields: other.fields, digest: other.handle.digest })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => CounterSet.attach({ ...s.handle, digest: undefined as unknown as string })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^handle\.digest: undefined/) }),
    );
    s.inc(0);
    expect(CounterSet.attach(structuredClone(s.handle)).sum()).toEqual({ rx: 1n, tx: 0n });
  });

  test('read() is a deprecated alias of approx()', () => {
    const c = new Counter('alias');
    const s = new CounterSet(['a']);
    c.add(5);
    s.add(0, 6);
    expect(c.read()).toBe(c.approx());
    expect(c.read()).toBe(5);
    expect(s.read()).toEqual(s.approx());
    expect(s.read()).toEqual({ a: 6 });
  });
});

describe('construction', () => {
  test('the constructor ignores a placement passed without the module\'s token: a new counter, not a shared one', () => {
    const c = new Counter('original');
    c.add(3);
    const place = { view: {}, offset: c.handle.offset, width: 1, token: c.handle.token };
    const Ctor = Counter as unknown as new (...args: unknown[]) => Counter;
    const d = new Ctor('copy', Symbol('kernkit.Counter.attached'), place);
    d.inc();
    expect(d.sum()).toBe(1n);
    expect(c.sum()).toBe(3n);
    const SetCtor = CounterSet as unknown as new (...args: unknown[]) => CounterSet;
    const t = new SetCtor(['a'], Symbol('kernkit.CounterSet.attached'), place);
    expect(t.handle.offset === c.handle.offset && t.handle.chunk === c.handle.chunk).toBe(false);
  });
});

describe('many counters at once', () => {
  test('20,000 counters and 2,000 sets each keep their own value', () => {
    const counters = Array.from({ length: 20_000 }, (_, i) => new Counter(`c${i}`));
    const sets = Array.from({ length: 2_000 }, () => new CounterSet(['x', 'y', 'z']));
    counters.forEach((c, i) => c.add(i));
    sets.forEach((s, i) => {
      s.add(0, i);
      s.add(2, 2 * i);
      s.inc(1);
    });
    counters.forEach((c, i) => c.inc());
    // They span several chunks (8,192 columns each).
    expect(new Set(counters.map((c) => c.handle.chunk)).size).toBeGreaterThan(2);
    counters.forEach((c, i) => expect(c.sum()).toBe(BigInt(i + 1)));
    sets.forEach((s, i) => expect(s.sum()).toEqual({ x: BigInt(i), y: 1n, z: BigInt(2 * i) }));
  });

  test('sets share their schema, and a thread maps only the shards it uses (V8 counts mapped memory)', () => {
    const fields = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'];
    const before = process.memoryUsage().external;
    const sets = Array.from({ length: 50_000 }, () => new CounterSet(fields));
    const chunks = new Set(sets.map((s) => s.handle.chunk)).size;
    expect(chunks).toBeGreaterThan(25);
    // Per chunk: its header (totals, bases, sequences) and this thread's shard, not all 256 shards.
    const perChunk = (process.memoryUsage().external - before) / chunks;
    expect(perChunk).toBeLessThan(1 << 20);
    expect(sets[0].fields).toBe(sets[1].fields);
    sets[49_999].inc(4);
    expect(sets[49_999].sum().outbytes).toBe(1n);
  });

  test('slots of a collected counter come back zeroed for the next one', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', fixture(__dirname, 'reuse.js')], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ counterReused: true, counterSum: '0', setReused: true, setSum: { x: '0', y: '0' } });
  });
});

describe('bad input is EINVAL naming the argument, never a crash', () => {
  const c = new Counter('victim');
  const s = new CounterSet(['a', 'b']);

  test.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a fraction', 1.5],
    ['an unsafe integer', 2 ** 53],
    ['a string', '5' as unknown as number],
    ['a bigint', 5n as unknown as number],
  ])('Counter.add(%s)', (_label, n) => {
    expect(() => c.add(n)).toThrow(KernkitError);
    expect(() => c.add(n)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^n: .* \(expected a safe integer/) }));
    expect(c.sum()).toBe(0n);
  });

  test.each([
    ['NaN', Number.NaN],
    ['negative', -1],
    ['past the end', 2],
    ['a fraction', 0.5],
    ['a string', 'a' as unknown as number],
    ['a bigint', 0n as unknown as number],
    ['a tiny fraction', 1e-300],
    ['the smallest number', Number.MIN_VALUE],
  ])('CounterSet index %s', (_label, i) => {
    expect(() => s.inc(i)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^field index: .* \(expected an integer from 0 to 1\)$/) }));
    expect(() => s.add(i, 1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^field index: .* \(expected an integer from 0 to 1\)$/) }));
    expect(s.sum()).toEqual({ a: 0n, b: 0n });
  });

  test('a tiny fractional index is refused, not rounded to a field (a set past column 0)', () => {
    const t = new CounterSet(['a', 'b']);
    expect(t.handle.offset).toBeGreaterThan(0);
    expect(() => t.inc(1e-300)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => t.add(Number.MIN_VALUE, 10)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(t.sum()).toEqual({ a: 0n, b: 0n });
  });

  test('CounterSet.add with a bad amount', () => {
    expect(() => s.add(0, Number.NaN)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^n: NaN \(expected /) }));
    expect(() => s.add(0, 1n as unknown as number)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^n: 1n \(expected /) }));
  });

  test('an unknown field name lists the known ones', () => {
    expect(() => s.index('c' as 'a')).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'field: "c" (expected one of "a", "b")' }));
  });

  test('bad field lists', () => {
    expect(() => new CounterSet([])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fields: \[\] \(expected /) }));
    expect(() => new CounterSet(['a', 'a'])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fields\[1\]: "a" \(expected /) }));
    expect(() => new CounterSet(['a', ''])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fields\[1\]: "" \(expected a non-empty string\)/) }));
    expect(() => new CounterSet('ab' as unknown as string[])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new Counter(5 as unknown as string)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^name: 5 \(expected a string\)/) }));
  });

  test('forged and mismatched handles', () => {
    const h = c.handle;
    const bad = (handle: unknown, re: RegExp) =>
      expect(() => Counter.attach(handle as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(re) }));
    bad(null, /^handle: null \(expected /);
    bad('x', /^handle: "x" \(expected /);
    bad({ ...h, kind: 'other' }, /^handle\.kind: "other" \(expected /);
    bad({ ...h, chunk: -1 }, /^handle\.chunk: -1 \(expected /);
    bad({ ...h, offset: 1.5 }, /^handle\.offset: 1\.5 \(expected /);
    bad({ ...h, token: 'abc' }, /^handle\.token: "abc" \(expected /);
    bad({ ...h, name: 5 }, /^handle\.name: 5 \(expected /);
    bad({ ...h, token: (h.token + 1) >>> 0 }, /does not name a live counter/);
    bad({ ...h, offset: h.offset + 100_000 }, /does not name a live counter/);
    bad({ ...h, chunk: 60_000 }, /does not name a live counter/);
    // A set's handle is not a counter's, and the width must match.
    expect(() => Counter.attach(s.handle as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => CounterSet.attach({ ...s.handle, fields: ['a'] })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/does not name a live counter/) }));
    expect(() => CounterSet.attach({ ...s.handle, fields: 'ab' as never })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^handle\.fields: "ab"/) }));
    expect(() => CounterSet.attach({ ...s.handle, token: (s.handle.token + 1) >>> 0 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/does not name a live counter/) }));
    expect(c.sum()).toBe(0n);
  });
});
