// ResourceCounter in one thread: the page_counter walk, limits, peaks, underflow,
// the res_counter view, validation and the closed state.
import { ResourceCounter } from '../../lib';

function tree(): { root: ResourceCounter; mid: ResourceCounter; leaf: ResourceCounter } {
  const root = new ResourceCounter({ name: 'root', max: 100 });
  const mid = new ResourceCounter({ name: 'mid', parent: root, max: 50 });
  const leaf = new ResourceCounter({ name: 'leaf', parent: mid, max: 40 });
  return { root, mid, leaf };
}

describe('charging', () => {
  test('a charge lands at every level up to the root', () => {
    const { root, mid, leaf } = tree();
    expect(leaf.tryCharge(30)).toBe(true);
    expect([leaf.usage, mid.usage, root.usage]).toEqual([30, 30, 30]);
    expect(mid.tryCharge(15)).toBe(true);
    expect([leaf.usage, mid.usage, root.usage]).toEqual([30, 45, 45]);
  });

  test('a refused charge names the refusing level, counts failcnt there only, and undoes the levels below', () => {
    const { root, mid, leaf } = tree();
    const other = new ResourceCounter({ name: 'other', parent: mid });
    expect(other.tryCharge(25)).toBe(true);
    expect(leaf.tryChargeOrRefuser(30)).toBe(mid); // 55 > 50 at mid; leaf's own 30 <= 40
    expect([leaf.usage, mid.usage, root.usage]).toEqual([0, 25, 25]);
    expect([leaf.failcnt, mid.failcnt, root.failcnt]).toEqual([0, 1, 0]);
    expect(leaf.tryChargeOrRefuser(41)).toBe(leaf);
    expect(leaf.failcnt).toBe(1);
    expect(leaf.tryChargeOrRefuser(20)).toBeNull();
    expect(leaf.tryCharge(10)).toBe(false); // 55 at mid again
    expect(mid.failcnt).toBe(2);
  });

  test('the root refuses when the middle level has room', () => {
    const root = new ResourceCounter({ name: 'root', max: 10 });
    const mid = new ResourceCounter({ name: 'mid', parent: root });
    const leaf = new ResourceCounter({ name: 'leaf', parent: mid });
    expect(leaf.tryChargeOrRefuser(11)).toBe(root);
    expect([leaf.usage, mid.usage, root.usage, root.failcnt]).toEqual([0, 0, 0, 1]);
  });

  test('trackFailcnt: false on the charging counter leaves every failcnt alone (the kernel decides by the charging counter)', () => {
    const root = new ResourceCounter({ name: 'root', max: 10 });
    const quiet = new ResourceCounter({ name: 'quiet', parent: root, trackFailcnt: false });
    const loud = new ResourceCounter({ name: 'loud', parent: root });
    expect(quiet.tryCharge(11)).toBe(false);
    expect(root.failcnt).toBe(0);
    expect(loud.tryCharge(11)).toBe(false);
    expect(root.failcnt).toBe(1);
  });

  test('charge() ignores every limit; tryCharge then refuses until usage is back under max', () => {
    const { root, mid, leaf } = tree();
    leaf.charge(70);
    expect([leaf.usage, mid.usage, root.usage]).toEqual([70, 70, 70]);
    expect(leaf.tryCharge(0)).toBe(false); // 70 > 40 already: even nothing is refused, as in the kernel
    leaf.uncharge(40);
    expect(leaf.tryCharge(0)).toBe(true);
  });

  test('amounts up to 2^53 - 1 and an unlimited max', () => {
    const big = new ResourceCounter();
    expect(big.max).toBe(Infinity);
    expect(big.tryCharge(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(big.usage).toBe(Number.MAX_SAFE_INTEGER);
    big.setMax(Number.MAX_SAFE_INTEGER);
    expect(big.tryCharge(1)).toBe(false);
  });
});

describe('uncharging', () => {
  test('an uncharge below zero is clamped at 0 and counted at each level it hit, with one warning', () => {
    const { root, mid, leaf } = tree();
    const onWarning = (): void => undefined; // the warning itself is checked in the next test
    process.on('warning', onWarning);
    try {
      mid.charge(10);
      leaf.charge(5);
      leaf.uncharge(8); // leaf 5 - 8 < 0; mid 15 - 8 = 7; root 7
      expect([leaf.usage, mid.usage, root.usage]).toEqual([0, 7, 7]);
      expect([leaf.underflows, mid.underflows, root.underflows]).toEqual([1, 0, 0]);
      leaf.uncharge(10);
      expect([leaf.usage, mid.usage, root.usage]).toEqual([0, 0, 0]);
      expect([leaf.underflows, mid.underflows, root.underflows]).toEqual([2, 1, 1]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('peaks', () => {
  test('watermark is the peak; a charge refused higher up still raises the lower levels, as in the kernel', () => {
    const { mid, leaf } = tree();
    leaf.charge(30);
    leaf.uncharge(20);
    expect(leaf.watermark).toBe(30);
    expect(leaf.usage).toBe(10);
    mid.charge(35);
    expect(leaf.tryCharge(10)).toBe(false); // leaf reaches 20 before mid (55) refuses
    expect(leaf.watermark).toBe(30);
    expect(mid.watermark).toBe(45);
  });

  test('resetWatermark sets both peaks to usage; resetLocalWatermark only the local one', () => {
    const c = new ResourceCounter();
    c.charge(50);
    c.uncharge(30);
    c.resetLocalWatermark();
    expect([c.watermark, c.localWatermark]).toEqual([50, 20]);
    c.charge(10);
    expect([c.watermark, c.localWatermark]).toEqual([50, 30]);
    c.resetWatermark();
    expect([c.watermark, c.localWatermark]).toEqual([30, 30]);
  });
});

describe('setMax', () => {
  test('EBUSY when usage is above the new max; equal is allowed; the old max stays on refusal', () => {
    const c = new ResourceCounter({ max: 100 });
    c.charge(60);
    expect(() => c.setMax(59)).toThrow(expect.objectContaining({ code: 'EBUSY', message: 'max: 59 (expected a limit >= the usage 60)' }));
    expect(c.max).toBe(100);
    c.setMax(60);
    expect(c.max).toBe(60);
    expect(c.tryCharge(1)).toBe(false);
    c.setMax(Infinity);
    expect(c.max).toBe(Infinity);
  });

  test('ERANGE outside 0..2^53-1, EINVAL for a non-integer', () => {
    const c = new ResourceCounter();
    expect(() => c.setMax(-1)).toThrow(expect.objectContaining({ code: 'ERANGE', message: 'max: -1 (expected an integer >= 0)' }));
    expect(() => c.setMax(2 ** 53)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => c.setMax(1.5)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => c.setMax(NaN)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => c.setMax('10' as unknown as number)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new ResourceCounter({ max: -5 })).toThrow(expect.objectContaining({ code: 'ERANGE', message: 'options.max: -5 (expected an integer >= 0)' }));
    expect(() => c.setMin(-1)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => c.setLow(0.5)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => c.setSoftLimit(-1)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });
});

describe('res_counter view', () => {
  test('limit, usage, max_usage, failcnt and the soft limit excess', () => {
    const c = new ResourceCounter({ max: 100 });
    expect(c.resCounter()).toEqual({ usage: 0, max_usage: 0, limit: 100, failcnt: 0, soft_limit: Infinity, soft_limit_excess: 0 });
    c.charge(80);
    c.uncharge(10);
    expect(c.tryCharge(31)).toBe(false);
    c.setSoftLimit(50);
    expect(c.resCounter()).toEqual({ usage: 70, max_usage: 80, limit: 100, failcnt: 1, soft_limit: 50, soft_limit_excess: 20 });
    c.uncharge(30);
    expect(c.resCounter().soft_limit_excess).toBe(0);
    expect(c.stats()).toEqual({ name: '', usage: 40, max: 100, watermark: 80, localWatermark: 80, failcnt: 1, underflows: 0, min: 0, low: 0, softLimit: 50 });
  });
});

describe('bad input', () => {
  test('amounts: EINVAL for negative, fractional, NaN, non-number, beyond 2^53 - 1', () => {
    const c = new ResourceCounter();
    for (const bad of [-1, 1.5, NaN, Infinity, '1', 1n, 2 ** 53, undefined]) {
      expect(() => c.tryCharge(bad as number)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => c.charge(bad as number)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => c.uncharge(bad as number)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => c.tryCharge(-1)).toThrow('n: -1 (expected an integer >= 0)');
    expect(c.usage).toBe(0);
  });

  test('options: not an object, unknown keys and wrong types are EINVAL', () => {
    expect(() => new ResourceCounter(5 as unknown as object)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new ResourceCounter({ limit: 5 } as unknown as object)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('options.limit: unknown option') }));
    expect(() => new ResourceCounter({ name: 5 as unknown as string })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new ResourceCounter({ trackFailcnt: 1 as unknown as boolean })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new ResourceCounter().effectiveMin({ recursive: true } as unknown as object)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('a parent that is not a ResourceCounter of this thread (a copy, a handle, a closed one) is EINVAL', () => {
    const real = new ResourceCounter({ name: 'real' });
    const copy = structuredClone({ name: 'real' });
    expect(() => new ResourceCounter({ parent: copy as unknown as ResourceCounter })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.parent: /) }));
    expect(() => new ResourceCounter({ parent: real.handle as unknown as ResourceCounter })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new ResourceCounter({ parent: Object.create(ResourceCounter.prototype) })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    real.close();
    expect(() => new ResourceCounter({ parent: real })).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  test('a protection root that is not this counter or an ancestor is EINVAL (no walk across trees)', () => {
    const a = new ResourceCounter({ name: 'a' });
    const b = new ResourceCounter({ name: 'b' });
    const leaf = new ResourceCounter({ name: 'leaf', parent: a });
    expect(() => leaf.effectiveMin({ root: b })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.root: /) }));
    expect(() => a.effectiveLow({ root: leaf })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('handles and the closed state', () => {
  test('attach in the same thread returns the open counters themselves', () => {
    const { root, mid, leaf } = tree();
    const again = ResourceCounter.attach(leaf.handle);
    expect(again).toBe(leaf);
    expect(again.parent).toBe(mid);
    expect(again.parent!.parent).toBe(root);
    expect(leaf.handle.names).toEqual(['leaf', 'mid', 'root']);
  });

  test('after close() every operation is EBADF; closed is true; close is idempotent; using closes', () => {
    const c = new ResourceCounter({ name: 'gone' });
    c.close();
    c.close();
    expect(c.closed).toBe(true);
    for (const f of [() => c.tryCharge(1), () => c.charge(1), () => c.uncharge(1), () => c.usage, () => c.setMax(1), () => c.handle, () => c.effectiveMin()]) {
      expect(f).toThrow(expect.objectContaining({ code: 'EBADF', message: expect.stringContaining('"gone" is closed') }));
    }
    // What `using` calls (Symbol.dispose is Symbol.for('nodejs.dispose') in Node; jest's context lacks the name).
    const d = new ResourceCounter();
    expect(d.closed).toBe(false);
    (d as unknown as Record<symbol, () => void>)[Symbol.for('nodejs.dispose')]();
    expect(d.closed).toBe(true);
  });

  test('a released handle and a forged one are refused with EINVAL', () => {
    const c = new ResourceCounter();
    const h = c.handle;
    c.close(); // the last reference: the slot is freed
    expect(() => ResourceCounter.attach(h)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^handle: /) }));
    const live = new ResourceCounter();
    expect(() => ResourceCounter.attach({ ...live.handle, token: (live.handle.token % 0xfffffffe) + 1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => ResourceCounter.attach({ ...live.handle, kind: 'kernkit.counter' } as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => ResourceCounter.attach({ ...live.handle, slot: -1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => ResourceCounter.attach(null as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('a child keeps its closed parent\'s memory: charges still reach it, and a new attach gives a fresh parent object', () => {
    const root = new ResourceCounter({ name: 'root', max: 10 });
    const leaf = new ResourceCounter({ name: 'leaf', parent: root });
    root.close();
    expect(leaf.tryCharge(8)).toBe(true);
    expect(leaf.tryCharge(8)).toBe(false);
    const again = ResourceCounter.attach(leaf.handle);
    expect(again).not.toBe(leaf); // leaf's own parent object is closed: a fresh chain
    const fresh = again.parent!;
    expect(fresh).not.toBe(root);
    expect(fresh.closed).toBe(false);
    expect(fresh.usage).toBe(8);
    expect(fresh.failcnt).toBe(1);
  });

  test('a freed slot is reused zeroed, and the old handle does not name it', () => {
    const first = new ResourceCounter({ max: 5 });
    first.charge(3);
    const old = first.handle;
    first.close();
    const second = new ResourceCounter();
    expect(second.usage).toBe(0);
    expect(second.max).toBe(Infinity);
    expect(() => ResourceCounter.attach(old)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
