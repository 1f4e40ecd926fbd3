import { Counter, CounterSet, KernkitError } from '../../lib';

describe('Counter basics', () => {
  test('inc, add and sum on one thread', () => {
    const c = new Counter('basic');
    c.inc();
    c.add(41);
    c.add(-2);
    expect(c.sum()).toBe(40n);
    expect(c.value()).toBe(40);
    expect(c.read()).toBe(40);
  });

  test('a set sums each field', () => {
    const s = new CounterSet(['a', 'b']);
    s.inc(s.index('b'));
    s.add(s.index('a'), 7);
    expect(s.sum()).toEqual({ a: 7n, b: 1n });
  });

  test('bad input is EINVAL', () => {
    const c = new Counter();
    expect(() => c.add(1.5)).toThrow(KernkitError);
    expect(() => c.add(Number.NaN)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
