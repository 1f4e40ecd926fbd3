/**
 * Pick sequences of the 14 schedulers from states the kernel's rules
 * determine, each derived by hand from the rule cited (ip_vs_<name>.c).
 * Servers are listed head first, as the kernel's list holds them.
 */
import { Bench, replay } from './helpers';
import { hash32, hsiphashU32, sipKey } from '../../lib/ipvs/hash';
import { SCHED_FLAG_1, SCHED_FLAG_2 } from '../../lib/ipvs/schedulers';

describe('rr', () => {
  test('scans circularly from the server after the last pick', () => {
    const b = new Bench('rr', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }, { name: 'A', weight: 1 }]);
    expect(b.picks(6)).toEqual(['C', 'B', 'A', 'C', 'B', 'A']);
  });
  test('skips weight 0 and OVERLOAD; the last pick is checked last, so it repeats when alone', () => {
    const b = new Bench('rr', [{ name: 'C', weight: 1 }, { name: 'B', weight: 0 }, { name: 'A', weight: 1, overloaded: true }]);
    expect(b.picks(3)).toEqual(['C', 'C', 'C']);
    b.get('C').overloaded = true;
    expect(b.pick()).toBeNull();
  });
  test('deleting the pointed-to server moves the pointer to its predecessor; a new head leaves it', () => {
    const b = new Bench('rr', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }, { name: 'A', weight: 1 }]);
    expect(b.picks(2)).toEqual(['C', 'B']);
    b.remove('B'); // pointer -> C, so A comes next
    expect(b.picks(2)).toEqual(['A', 'C']);
    b.add({ name: 'D', weight: 1 }); // list D C A, pointer still on C
    expect(b.picks(3)).toEqual(['A', 'D', 'C']);
  });
});

describe('wrr', () => {
  test('a fresh service starts at cw = mw and steps down by the gcd', () => {
    // weights C2 B3 A4: gcd 1, mw 4; passes cw=4: A; 3: B A; 2: C B A; 1: C B A
    const b = new Bench('wrr', [{ name: 'C', weight: 2 }, { name: 'B', weight: 3 }, { name: 'A', weight: 4 }]);
    expect(b.picks(12)).toEqual(['A', 'B', 'A', 'C', 'B', 'A', 'C', 'B', 'A', 'A', 'B', 'A']);
  });
  test('servers added one by one keep cw from the first add (mw then was 1): the first pass is cw = 1', () => {
    // add A4: di 4, mw 1, cw 0 -> 1; add B3 and C2: di 1, mw 4, cw stays 1
    const b = new Bench('wrr', []);
    b.add({ name: 'A', weight: 4 });
    b.add({ name: 'B', weight: 3 });
    b.add({ name: 'C', weight: 2 });
    expect(b.picks(12)).toEqual(['C', 'B', 'A', 'A', 'B', 'A', 'C', 'B', 'A', 'C', 'B', 'A']);
  });
  test('with gcd 2, mw = max - (gcd - 1) = 3 and the passes are cw 3, 1', () => {
    const b = new Bench('wrr', [{ name: 'X', weight: 2 }, { name: 'Y', weight: 4 }]);
    expect(b.picks(6)).toEqual(['Y', 'X', 'Y', 'Y', 'X', 'Y']);
  });
  test('all weights 0 (mw 0) or every server OVERLOAD gives null', () => {
    expect(new Bench('wrr', [{ name: 'X', weight: 0 }]).pick()).toBeNull();
    expect(new Bench('wrr', [{ name: 'X', weight: 2, overloaded: true }, { name: 'Y', weight: 1, overloaded: true }]).pick()).toBeNull();
  });
});

describe('least-connection family', () => {
  test('lc: smallest active*256+inactive among weight > 0 and no OVERLOAD; first wins ties', () => {
    const b = new Bench('lc', [{ name: 'C', weight: 1, inactive: 2 }, { name: 'B', weight: 5, active: 1 }, { name: 'A', weight: 0 }]);
    expect(b.pick()).toBe('C'); // 2 < 256; A is quiesced
    b.get('C').overloaded = true;
    expect(b.pick()).toBe('B');
    expect(new Bench('lc', [{ name: 'C', weight: 1 }, { name: 'B', weight: 9 }]).pick()).toBe('C');
  });
  test('wlc: loh * w > doh * wl replaces the least; picks bound as inactive connections', () => {
    // derived step by step in docs/ipvs.md's wlc example: weights C1 B2 A3 from zero connections
    const b = new Bench('wlc', [{ name: 'C', weight: 1 }, { name: 'B', weight: 2 }, { name: 'A', weight: 3 }]);
    expect(b.picks(9, true)).toEqual(['C', 'B', 'A', 'A', 'B', 'A', 'C', 'B', 'A']);
  });
  test('wlc: an active connection weighs 256 inactive ones', () => {
    const b = new Bench('wlc', [{ name: 'C', weight: 1, active: 1 }, { name: 'B', weight: 1, inactive: 255 }]);
    expect(b.pick()).toBe('B'); // 256*1 > 255*1
    b.get('B').inactConns = 256;
    expect(b.pick()).toBe('C'); // tie: the earlier server stays
  });
  test('sed: (active + 1) / weight, inactive connections ignored', () => {
    const b = new Bench('sed', [{ name: 'C', weight: 1 }, { name: 'B', weight: 2 }, { name: 'A', weight: 3 }]);
    const out: string[] = [];
    for (let i = 0; i < 6; i++) {
      const n = b.pick() as string;
      out.push(n);
      b.get(n).activeConns++;
    }
    expect(out).toEqual(['A', 'B', 'A', 'C', 'B', 'A']);
  });
  test('nq: the first idle server, else the sed minimum', () => {
    expect(new Bench('nq', [{ name: 'C', weight: 1, active: 1 }, { name: 'B', weight: 2 }, { name: 'A', weight: 3 }]).pick()).toBe('B');
    // C (1+1)/1, B (3+1)/2, A (3+1)/3: A
    expect(new Bench('nq', [{ name: 'C', weight: 1, active: 1 }, { name: 'B', weight: 2, active: 3 }, { name: 'A', weight: 3, active: 3 }]).pick()).toBe('A');
    expect(new Bench('nq', [{ name: 'C', weight: 0 }, { name: 'B', weight: 1, overloaded: true }]).pick()).toBeNull();
  });
});

describe('fo and ovf', () => {
  test('fo: highest weight without OVERLOAD, first on ties, weight 0 never', () => {
    const b = new Bench('fo', [{ name: 'C', weight: 2 }, { name: 'B', weight: 5 }, { name: 'A', weight: 5 }]);
    expect(b.pick()).toBe('B');
    b.get('B').overloaded = true;
    expect(b.pick()).toBe('A');
    expect(new Bench('fo', [{ name: 'C', weight: 0 }]).pick()).toBeNull();
  });
  test('ovf: highest weight among servers with active <= weight', () => {
    const b = new Bench('ovf', [{ name: 'C', weight: 2, active: 1 }, { name: 'B', weight: 5, active: 6 }, { name: 'A', weight: 3, active: 3 }]);
    expect(b.pick()).toBe('A'); // B has 6 > 5 active
    b.get('A').activeConns = 4;
    expect(b.pick()).toBe('C');
  });
});

describe('twos', () => {
  test('two draws in [0, total]; the second wins when w2*oh1 > w1*oh2', () => {
    // C1 B2 A3, total 6: draw 0 lands on C, draw 5 on A (5-1-2-3 <= 0)
    const state = [{ name: 'C', weight: 1, inactive: 2 }, { name: 'B', weight: 2 }, { name: 'A', weight: 3, inactive: 1 }];
    expect(new Bench('twos', state, { random: replay([0, 5.5 / 7]) }).pick()).toBe('A'); // 3*2 > 1*1
    expect(new Bench('twos', state, { random: replay([5.5 / 7, 0]) }).pick()).toBe('A'); // 1*1 > 3*2 is false: c1 = A stays
    const idle = [{ name: 'C', weight: 1 }, { name: 'B', weight: 2 }];
    expect(new Bench('twos', idle, { random: replay([0, 2.5 / 4]) }).pick()).toBe('C'); // equal loads: c1
  });
});

// hash_32 of a host-order word to `bits`, written with BigInt (an independent model).
function hashModel(v: number, bits: number): number {
  return Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));
}

describe('sh and dh', () => {
  test('hash_32 agrees with the BigInt model', () => {
    for (const v of [0, 1, 0xc0000201, 0xffffffff, 0x7f000001]) expect(hash32(v, 8)).toBe(hashModel(v, 8));
  });
  test('sh: each server takes max(weight, 1) consecutive buckets; the client address picks one', () => {
    // list C1 B2 A1 fills buckets C B B A, repeated: bucket i -> 'CBBA'[i % 4]
    const b = new Bench('sh', [{ name: 'C', weight: 1 }, { name: 'B', weight: 2 }, { name: 'A', weight: 1 }]);
    for (let i = 1; i < 40; i++) {
      const caddr = `192.0.2.${i}`;
      expect(b.pick({ caddr })).toBe('CBBA'[hashModel((0xc0000200 + i) >>> 0, 8) % 4]);
    }
  });
  test('sh: a quiesced server is refused; sh-fallback walks on from bucket 2*hash; sh-port hashes the port too', () => {
    const b = new Bench('sh', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }]);
    const h = hashModel(0xc0000201, 8);
    const mine = 'CB'[h % 2];
    b.get(mine).weight = 0; // without a reassign the table keeps it, but the pick refuses it
    expect(b.pick()).toBeNull();
    b.flags = SCHED_FLAG_1;
    // fallback: buckets (off + 2h) & 255 for off = 0.. ; the first usable is the other server
    expect(b.pick()).toBe(mine === 'C' ? 'B' : 'C');
    b.flags = SCHED_FLAG_2;
    b.get(mine).weight = 1;
    expect(b.pick({ cport: 1234 })).toBe('CB'[hashModel((0xc0000201 + 1234) >>> 0, 8) % 2]);
  });
  test('sh folds an IPv6 client by XORing its four words', () => {
    const b = new Bench('sh', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }, { name: 'A', weight: 1 }]);
    for (let i = 1; i < 20; i++) {
      // 2001:db8::i:7 -> words 0x20010db8, 0, 0, (i << 16) | 7
      const fold = (0x20010db8 ^ ((i << 16) | 7)) >>> 0;
      expect(b.pick({ caddr: `2001:db8::${i.toString(16)}:7` })).toBe('CBA'[hashModel(fold, 8) % 3]);
    }
  });
  test('dh: the virtual address picks one server per bucket in list order, weights ignored', () => {
    const b = new Bench('dh', [{ name: 'C', weight: 1 }, { name: 'B', weight: 7 }, { name: 'A', weight: 1 }]);
    for (let i = 1; i < 30; i++) expect(b.pick({ vaddr: `10.9.0.${i}` })).toBe('CBA'[hashModel((0x0a090000 + i) >>> 0, 8) % 3]);
    const h = hashModel(0x0a090001, 8) % 3;
    b.get('CBA'[h]).overloaded = true;
    expect(b.pick({ vaddr: '10.9.0.1' })).toBeNull(); // no fallback
  });
});

describe('mh', () => {
  test('hsiphash of 4 bytes matches the kernel self-test vector (lib/siphash_kunit.c, 64-bit, length 4)', () => {
    const key = sipKey(0x07060504, 0x03020100, 0x0f0e0d0c, 0x0b0a0908);
    expect(hsiphashU32(0x03020100, key)).toBe(0x88d38328);
  });
  test('every slot is filled, by weight; a quiesced server keeps its slots (last_weight) but is refused', () => {
    const b = new Bench('mh', [{ name: 'C', weight: 1 }, { name: 'B', weight: 3 }], { mhTableIndex: 8 });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) {
      const n = b.pick({ caddr: `198.51.${i >> 8}.${i & 255}` }) as string;
      counts[n] = (counts[n] ?? 0) + 1;
    }
    // turns 1 and 3: B holds about 3/4 of the 251 slots
    expect(counts.B / 2000).toBeGreaterThan(0.65);
    expect(counts.B / 2000).toBeLessThan(0.85);
    const before = b.pick({ caddr: '198.51.0.7' });
    b.get(before as string).weight = 0;
    b.sched.updDest?.(b.get(before as string));
    expect(b.pick({ caddr: '198.51.0.7' })).toBeNull();
    b.flags = SCHED_FLAG_1;
    expect(b.pick({ caddr: '198.51.0.7' })).toBe(before === 'C' ? 'B' : 'C');
  });
});

describe('lblc', () => {
  test('a hit keeps its server while it is not lblc-overloaded, even with OVERLOAD set', () => {
    const b = new Bench('lblc', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }]);
    expect(b.pick()).toBe('C'); // miss: wlc, first on ties
    b.get('C').inactConns = 10;
    b.get('C').overloaded = true;
    expect(b.pick()).toBe('C'); // cached; OVERLOAD is not checked on a hit
    b.get('C').activeConns = 2; // active > weight while B runs below half its weight
    expect(b.pick()).toBe('B');
    expect(b.pick()).toBe('B'); // the entry now points at B
  });
  test('the 30th GC run drops entries idle for lblc_expiration', () => {
    const b = new Bench('lblc', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }]);
    expect(b.pick()).toBe('C');
    b.get('C').inactConns = 5; // wlc would now pick B, the cache still says C
    // GC runs every 60 s; every 30th (30 min) is a full check dropping entries idle >= 24 h.
    b.clock.advance(24 * 3600_000 - 60_000); // the last full check (23 h 30 min) kept it
    expect(b.pick()).toBe('C'); // and this use refreshes it
    b.clock.advance(24 * 3600_000 - 60_000);
    expect(b.pick()).toBe('C'); // idle 23 h 59 min at the last full check
    b.clock.advance(24 * 3600_000 + 30 * 60_000);
    expect(b.pick()).toBe('B'); // a full check within the last 30 min found it idle 24 h: dropped, wlc picks again
  });
});

describe('lblcr', () => {
  test('an lblc-overloaded minimum adds a wlc pick to the set; a set idle for the expiration sheds its most loaded member', () => {
    const b = new Bench('lblcr', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }]);
    expect(b.pick()).toBe('C');
    b.get('C').activeConns = 2;
    expect(b.pick()).toBe('B'); // set {B, C}
    b.get('C').activeConns = 0;
    b.get('B').inactConns = 3;
    expect(b.pick()).toBe('C'); // min of the set: C (0) < B (3)
    b.clock.advance(24 * 3600_000 + 1); // set.lastmod + expiration passed
    b.get('C').inactConns = 9; // now C is the most loaded and is shed; the min (B) was taken before
    expect(b.pick()).toBe('B');
    b.get('B').inactConns = 50;
    expect(b.pick()).toBe('B'); // C left the set: B is its only member
  });
});

describe('lblc GC above 16384 entries', () => {
  test('entries idle 6 min are dropped from the rover on, bucket by bucket, until (n - 16384) * 4/3 are gone', () => {
    const b = new Bench('lblc', [{ name: 'C', weight: 1 }, { name: 'B', weight: 1 }]);
    const n = 16384 + 300;
    const vaddr = (i: number) => `10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    const word = (i: number) => (((10 << 24) | ((128 + (i >> 16)) << 16) | (i & 0xffff)) >>> 0);
    for (let i = 0; i < n; i++) expect(b.pick({ vaddr: vaddr(i) })).toBe('C');
    b.get('C').inactConns = 100; // wlc now says B; cached entries still say C
    b.clock.advance(6 * 60_000); // the run at 6 min finds every entry idle 6 min
    // Model: buckets hash_32(addr, 10) swept from bucket 1 (rover 0 + 1) until 400 entries went.
    const perBucket = new Array<number>(1024).fill(0);
    for (let i = 0; i < n; i++) perBucket[hashModel(word(i), 10)]++;
    let goal = Math.trunc((300 * 4) / 3);
    const swept = new Set<number>();
    for (let j = 1; goal > 0; j++) {
      swept.add(j & 1023);
      goal -= perBucket[j & 1023];
    }
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const dropped = swept.has(hashModel(word(i), 10));
      const got = b.pick({ vaddr: vaddr(i) });
      expect(got).toBe(dropped ? 'B' : 'C');
      if (dropped) moved++;
    }
    expect(moved).toBeGreaterThanOrEqual(400);
    expect(moved).toBeLessThan(n / 2);
  });
});
