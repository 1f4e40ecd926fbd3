// IpStatsTable: entries by address pair, cookies, levels grown on use, flush pollution.
import fc from 'fast-check';
import { IpStatsTable, MibMap, NO_COOKIE, jhash2, jhash2words, type IpStatsCookie } from '../../lib';

function makeMap(): MibMap {
  const map = new MibMap(['AttemptFails', 'EstabResets', 'RetransSegs', 'InSegs', 'OutSegs', 'RtoMin']);
  map.addMapping(0, ['RetransSegs', 'EstabResets']);
  map.addMapping(1, null, ['RtoMin']);
  return map;
}

function started(map = makeMap(), opts = {}): IpStatsTable {
  const t = new IpStatsTable(map, opts);
  t.start();
  return t;
}

describe('jhash', () => {
  test('equals the kernel macros (include/linux/jhash.h compiled with gcc) on fixed vectors', () => {
    const k = [0xc0000201, 0xc6336407, 0x20010db8, 0, 0, 1, 0xfe800000, 0xffffffff];
    expect(jhash2words(0xc0000201, 0xc6336407, 12345)).toBe(3557383386);
    expect(jhash2(k, 8, 0xdeadbeef | 0)).toBe(3854093501);
    expect(jhash2(k, 7, 7)).toBe(2482368209);
    expect(jhash2words(0xffffffff, 1, 0x80000000 | 0)).toBe(1810956417);
  });

  test('jhash2 checks its arguments: a length past the words (Infinity looped forever) is ERANGE', () => {
    const k = [1, 2, 3, 4];
    expect(() => jhash2(k, Infinity, 0)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'length: Infinity (expected an integer from 0 to 4)' }));
    expect(() => jhash2(k, 5, 0)).toThrow(expect.objectContaining({ code: 'ERANGE', message: 'length: 5 (expected an integer from 0 to 4)' }));
    expect(() => jhash2(k, 2, 0, 3)).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^length: 2 /) }));
    expect(() => jhash2(k, 1, NaN)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^initval: NaN /) }));
    expect(() => jhash2(null as never, 1, 0)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^k: null /) }));
    expect(jhash2(Uint32Array.from(k), 4, 0)).toBe(jhash2(k, 4, 0));
  });
});

describe('IpStatsTable', () => {
  test('insert gives one cookie per pair; count by cookie and by address reach the same entry', () => {
    const t = started();
    const c = t.insert('192.0.2.1', '198.51.100.7');
    expect(t.insert('192.0.2.1', '198.51.100.7')).toBe(c);
    expect(t.insert('198.51.100.7', '192.0.2.1')).not.toBe(c); // ordered pairs
    t.count(c, 'RetransSegs');
    t.count(c, t.map.index('RetransSegs'), 4);
    t.countByAddress('192.0.2.1', '198.51.100.7', 'EstabResets', 2);
    expect(t.get(c)!.counters).toEqual({ EstabResets: 2n, RetransSegs: 5n });
    expect(t.lookup('192.0.2.1', '198.51.100.7')).toBe(c);
    expect(t.lookup('192.0.2.9', '198.51.100.7')).toBe(NO_COOKIE);
    expect(t.stats()).toMatchObject({ inserts: 2, misses: 1 });
  });

  test('the cookie carries family, bucket and sequence', () => {
    const t = started(makeMap(), { family: 6, buckets: 7 });
    const a = t.insert('2001:db8::1', '2001:db8::2');
    const b = t.insert('2001:db8::1', '2001:db8::3');
    expect(a.family).toBe(6);
    expect(a.bucket).toBeLessThan(7);
    expect(b.seq).toBe(a.seq + 1);
    expect(Object.isFrozen(a)).toBe(true);
  });

  test('a field above the current level is not counted and allocates nothing; a raise grows the entry on first use', () => {
    const t = started();
    const c = t.insert('10.0.0.1', '10.0.0.2');
    t.count(c, 'InSegs', 10);
    expect(t.get(c)!.levels).toEqual([0]);
    expect(t.get(c)!.counters).toEqual({ EstabResets: 0n, RetransSegs: 0n });
    t.map.level = 1;
    t.count(c, 'InSegs', 3);
    expect(t.get(c)!.levels).toEqual([0, 1]);
    expect(t.get(c)!.counters).toMatchObject({ InSegs: 3n, AttemptFails: 0n, OutSegs: 0n });
    expect(t.stats().grown).toBe(1);
    t.count(c, 'RtoMin', 1); // unmapped: never counted
    expect(t.get(c)!.counters.RtoMin).toBeUndefined();
    // A new entry at level 1 gets both levels at once.
    const d = t.insert('10.0.0.1', '10.0.0.3');
    expect(t.get(d)!.levels).toEqual([0, 1]);
    // lookup with alloc: false does not grow an entry inserted at level 0.
    t.map.level = 0;
    const e = t.insert('10.0.0.1', '10.0.0.4');
    t.map.level = 1;
    t.lookup('10.0.0.1', '10.0.0.4', { alloc: false });
    expect(t.get(e)!.levels).toEqual([0]);
    t.lookup('10.0.0.1', '10.0.0.4');
    expect(t.get(e)!.levels).toEqual([0, 1]);
  });

  test('flush pollutes every older cookie: writes are counted no-ops, never into a new entry', () => {
    const t = started();
    const old = t.insert('10.0.0.1', '10.0.0.2');
    t.count(old, 'RetransSegs');
    t.flush();
    expect(t.size).toBe(0);
    expect(t.valid(old)).toBe(false);
    const fresh = t.insert('10.0.0.1', '10.0.0.2'); // same pair, same bucket
    expect(fresh).not.toBe(old);
    t.count(old, 'RetransSegs', 7);
    expect(t.get(fresh)!.counters.RetransSegs).toBe(0n);
    expect(t.get(old)).toBeUndefined();
    expect(t.stats().polluted).toBe(1);
    t.count(NO_COOKIE, 'RetransSegs'); // names nothing: not pollution
    t.count({ ...fresh }, 'RetransSegs'); // a copy: not a cookie the table handed out
    t.count({ family: 4, bucket: 0, seq: 123456789 }, 'RetransSegs'); // never handed out
    expect(t.stats().polluted).toBe(3);
    expect(t.get(fresh)!.counters.RetransSegs).toBe(0n);
  });

  test('a cookie counts only in its own table: one of another table, or a clone of one, is a polluted no-op', () => {
    const a = started();
    const b = started();
    const ca = a.insert('10.0.0.1', '10.0.0.2');
    const cb = b.insert('10.0.0.1', '10.0.0.2'); // same pair, same sequence number
    expect(cb.seq).toBe(ca.seq);
    b.count(ca, 'RetransSegs', 5);
    b.count(structuredClone(cb), 'RetransSegs', 5); // what a worker would send back
    expect(b.get(cb)!.counters.RetransSegs).toBe(0n);
    expect(a.get(ca)!.counters.RetransSegs).toBe(0n);
    expect(b.stats().polluted).toBe(2);
    expect(a.stats().polluted).toBe(0);
  });

  test('count by cookie adds any safe integer exactly, past the per-thread fold too, and refuses other amounts', () => {
    const t = started();
    const c = t.insert('10.0.0.1', '10.0.0.2');
    t.count(c, 'RetransSegs', 2 ** 50); // past the fold threshold (2^40): the slow path
    t.count(c, 'RetransSegs');
    t.count(c, 'RetransSegs', -3);
    t.count(c, 'EstabResets', Number.MAX_SAFE_INTEGER);
    expect(t.get(c)!.counters).toEqual({ EstabResets: BigInt(Number.MAX_SAFE_INTEGER), RetransSegs: 2n ** 50n - 2n });
    for (const bad of [1n, '1', Number.NaN, 2 ** 53, 1.5]) {
      expect(() => t.count(c, 'RetransSegs', bad as number)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(t.get(c)!.counters.RetransSegs).toBe(2n ** 50n - 2n);
  });

  test('zero(level) zeroes that level in every entry only', () => {
    const t = started();
    t.map.level = 1;
    const a = t.insert('10.0.0.1', '10.0.0.2');
    const b = t.insert('10.0.0.1', '10.0.0.3');
    for (const c of [a, b]) {
      t.count(c, 'RetransSegs', 2);
      t.count(c, 'InSegs', 5);
    }
    t.zero(1);
    expect(t.get(a)!.counters).toMatchObject({ RetransSegs: 2n, InSegs: 0n });
    expect(t.get(b)!.counters).toMatchObject({ RetransSegs: 2n, InSegs: 0n });
    expect(() => t.zero(2)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('maxEntries: an insert past it is ENOSPC and counted; an existing pair still inserts', () => {
    const t = started(makeMap(), { maxEntries: 2 });
    const a = t.insert('10.0.0.1', '10.0.0.2');
    t.insert('10.0.0.1', '10.0.0.3');
    expect(() => t.insert('10.0.0.1', '10.0.0.4')).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(t.insert('10.0.0.1', '10.0.0.2')).toBe(a);
    expect(t.stats().full).toBe(1);
  });

  test('loopback destinations are skipped unless includeLoopback', () => {
    const t = started();
    expect(t.insert('10.0.0.1', '127.0.0.1')).toBe(NO_COOKIE);
    expect(t.size).toBe(0);
    expect(t.stats().loopback).toBe(1);
    const t6 = started(makeMap(), { family: 6 });
    expect(t6.insert('::1', '::1')).toBe(NO_COOKIE);
    expect(t6.insert('::1', '::ffff:127.0.0.5')).toBe(NO_COOKIE);
    const all = started(makeMap(), { includeLoopback: true });
    expect(all.insert('127.0.0.1', '127.0.0.1')).not.toBe(NO_COOKIE);
  });

  test('stopped: inserts return NO_COOKIE and counts are ignored; start/stop/dispose', () => {
    const t = new IpStatsTable(makeMap());
    expect(t.stopped).toBe(true);
    expect(t.insert('10.0.0.1', '10.0.0.2')).toBe(NO_COOKIE);
    t.start();
    const c = t.insert('10.0.0.1', '10.0.0.2');
    t.stop();
    t.count(c, 'RetransSegs');
    t.start();
    t.count(c, 'RetransSegs');
    expect(t.get(c)!.counters.RetransSegs).toBe(1n);
    {
      using scoped = t;
      expect(scoped.stopped).toBe(false);
    }
    expect(t.stopped).toBe(true);
  });

  test('setGauge checks the name (an identifier, not a counter) and the value (finite)', () => {
    const t = started(makeMap());
    const c = t.insert('192.0.2.1', '192.0.2.2');
    expect(() => t.setGauge(c, '__proto__', 1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^name: "__proto__" \(expected an identifier/) }));
    expect(() => t.setGauge(c, 'RetransSegs', 1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'name: "RetransSegs" (expected a gauge name that is not a counter of the MIB)' }));
    expect(() => t.setGauge(c, 7 as never, 1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^name: 7 /) }));
    expect(() => t.setGauge(c, 'rttUs', NaN)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'value: NaN (expected a finite number)' }));
    expect(() => t.setGauge(c, 'rttUs', '5' as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    t.setGauge(c, 'rttUs', 800);
    expect(t.entries().next().value).toMatchObject({ gauges: { rttUs: 800 } });
    t.stop();
  });

  test('dump as /proc/net/perip text and as JSON; entries() iterates', () => {
    const t = started(makeMap(), { family: 6 });
    const c = t.insert('2001:db8:0:0:0:0:0:1', '2001:0db8::ff00:42:8329');
    t.count(c, 'RetransSegs', 3);
    t.setGauge(c, 'rttUs', 1200);
    expect(t.dump()).toBe('# perip6 level=0 entries=1\n2001:db8::1 2001:db8::ff00:42:8329 L0 EstabResets=0 RetransSegs=3 rttUs=1200\n');
    expect(JSON.parse(t.dump('json'))).toEqual({
      family: 6,
      level: 0,
      entries: [{ cookie: c, src: '2001:db8::1', dst: '2001:db8::ff00:42:8329', levels: [0], counters: { EstabResets: 0, RetransSegs: 3 }, gauges: { rttUs: 1200 } }],
    });
    expect([...t.entries()].map((e) => e.cookie)).toEqual([c]);
  });

  test('bad arguments: EINVAL/ERANGE naming the field', () => {
    const map = makeMap();
    expect(() => new IpStatsTable(map, { family: 5 as 4 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.family: 5/) }));
    expect(() => new IpStatsTable(map, { buckets: 0 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new IpStatsTable(map, { buckets: 2 ** 21 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new IpStatsTable(map, { bogus: 1 } as object)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new IpStatsTable(map, 3 as unknown as object)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const t = started(map);
    expect(() => t.insert('10.0.0.256', '10.0.0.1')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^src: "10\.0\.0\.256"/) }));
    expect(() => t.insert('10.0.0.1', '2001:db8::1')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^dst: /) }));
    const c = t.insert('10.0.0.1', '10.0.0.2');
    expect(() => t.count(c, 'Nope')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => t.count(c, 99)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => t.count(c, 'RetransSegs', 0.5)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => t.handleOf({ ...c, seq: c.seq + 1 })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => t.dump('xml' as 'text')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('IpStatsTable properties', () => {
  const v4 = fc.tuple(fc.integer({ min: 1, max: 126 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
  const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));

  test('counts by cookie and by address equal a model keyed by the pair, for any pairs and bucket counts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 17 }),
        fc.array(fc.tuple(fc.nat(5), fc.nat(5), fc.boolean(), fc.integer({ min: 1, max: 100 })), { maxLength: 60 }),
        fc.array(v4, { minLength: 6, maxLength: 6 }),
        (buckets, ops, addrs) => {
          const t = started(makeMap(), { buckets });
          const model = new Map<string, number>();
          for (const [s, d, byCookie, n] of ops) {
            const key = `${addrs[s]} ${addrs[d]}`;
            const cookie = t.insert(addrs[s], addrs[d]);
            if (byCookie) t.count(cookie, 'RetransSegs', n);
            else t.countByAddress(addrs[s], addrs[d], 'RetransSegs', n);
            model.set(key, (model.get(key) ?? 0) + n);
          }
          const got = new Map([...t.entries()].map((e) => [`${e.src} ${e.dst}`, Number(e.counters.RetransSegs)]));
          expect(got).toEqual(model);
          expect(t.size).toBe(model.size);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('IPv6 text round-trips to its canonical form, and equal addresses meet in one entry', () => {
    fc.assert(
      fc.property(v6, v6, (a, b) => {
        const t = started(makeMap(), { family: 6, includeLoopback: true });
        const c = t.insert(a, b);
        const e = t.get(c)!;
        expect(t.insert(e.src, e.dst)).toBe(c); // the canonical text names the same pair
        const { isIPv6 } = require('node:net') as typeof import('node:net');
        expect(isIPv6(e.src)).toBe(true);
        expect(e.src.toLowerCase()).toBe(e.src);
      }),
      { numRuns: 200 },
    );
  });

  test('after any sequence of flushes, only cookies of the current generation count', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('flush' as const), fc.nat(3)), { maxLength: 40 }), (ops) => {
        const t = started();
        const cookies: IpStatsCookie[] = [];
        let liveFrom = 0;
        for (const op of ops) {
          if (op === 'flush') {
            t.flush();
            liveFrom = cookies.length;
          } else cookies.push(t.insert('10.0.0.1', `10.0.1.${op}`));
        }
        const before = t.stats().polluted;
        cookies.forEach((c) => t.count(c, 'EstabResets'));
        expect(t.stats().polluted - before).toBe(liveFrom);
        const live = cookies.slice(liveFrom);
        let total = 0n;
        for (const e of t.entries()) total += e.counters.EstabResets;
        expect(total).toBe(BigInt(live.length));
      }),
      { numRuns: 100 },
    );
  });
});
