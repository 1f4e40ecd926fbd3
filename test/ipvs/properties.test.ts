/**
 * Property tests: each scheduler against an independent, simple model of its
 * rule, over random server states (fast-check).
 */
import fc from 'fast-check';
import { Bench, type ServerState } from './helpers';
import { SCHED_FLAG_2, type SchedulerName } from '../../lib/ipvs/schedulers';

const server = fc.record({
  weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12 })),
  active: fc.integer({ min: 0, max: 20 }),
  inactive: fc.integer({ min: 0, max: 600 }),
  overloaded: fc.boolean(),
});
const servers = fc.array(server, { minLength: 1, maxLength: 7 });
const named = (xs: Omit<ServerState, 'name'>[]): ServerState[] => xs.map((x, i) => ({ ...x, name: `S${i}` }));

// The first index with the minimum of `load` (as an exact fraction num/den) among eligible servers.
function argminFraction(xs: ServerState[], ok: (s: ServerState) => boolean, num: (s: ServerState) => number): string | null {
  let best: ServerState | null = null;
  for (const s of xs) {
    if (!ok(s)) continue;
    if (!best || num(s) * best.weight < num(best) * s.weight) best = s;
  }
  return best?.name ?? null;
}
const oh = (s: ServerState) => (s.active ?? 0) * 256 + (s.inactive ?? 0);
const eligible = (s: ServerState) => !s.overloaded && s.weight > 0;

function pickOnce(name: SchedulerName, xs: ServerState[]): string | null {
  return new Bench(name, xs).pick();
}

describe('least-connection family against argmin models', () => {
  test('lc = first minimum of active*256+inactive', () => {
    fc.assert(
      fc.property(servers, (raw) => {
        const xs = named(raw);
        let best: ServerState | null = null;
        for (const s of xs) if (eligible(s) && (!best || oh(s) < oh(best))) best = s;
        expect(pickOnce('lc', xs)).toBe(best?.name ?? null);
      }),
    );
  });
  test('wlc = first minimum of overhead / weight', () => {
    fc.assert(fc.property(servers, (raw) => expect(pickOnce('wlc', named(raw))).toBe(argminFraction(named(raw), eligible, oh))));
  });
  test('sed = first minimum of (active + 1) / weight', () => {
    fc.assert(fc.property(servers, (raw) => expect(pickOnce('sed', named(raw))).toBe(argminFraction(named(raw), eligible, (s) => (s.active ?? 0) + 1))));
  });
  test('nq = first idle eligible server, else sed', () => {
    fc.assert(
      fc.property(servers, (raw) => {
        const xs = named(raw);
        const idle = xs.find((s) => eligible(s) && (s.active ?? 0) === 0);
        const want = idle ? idle.name : argminFraction(xs, eligible, (s) => (s.active ?? 0) + 1);
        expect(pickOnce('nq', xs)).toBe(want);
      }),
    );
  });
  test('fo = first maximum weight; ovf = first maximum weight among active <= weight', () => {
    fc.assert(
      fc.property(servers, (raw) => {
        const xs = named(raw);
        const maxOf = (ok: (s: ServerState) => boolean) => {
          let best: ServerState | null = null;
          for (const s of xs) if (ok(s) && (!best || s.weight > best.weight)) best = s;
          return best?.name ?? null;
        };
        expect(pickOnce('fo', xs)).toBe(maxOf(eligible));
        expect(pickOnce('ovf', xs)).toBe(maxOf((s) => eligible(s) && (s.active ?? 0) <= s.weight));
      }),
    );
  });
});

describe('round robins against the textbook algorithms', () => {
  test('rr visits eligible servers in list order, cyclically', () => {
    fc.assert(
      fc.property(servers, fc.integer({ min: 1, max: 20 }), (raw, n) => {
        const xs = named(raw);
        const ok = xs.filter(eligible).map((s) => s.name);
        const want = Array.from({ length: n }, (_, i) => (ok.length ? ok[i % ok.length] : null));
        expect(new Bench('rr', xs).picks(n)).toEqual(want);
      }),
    );
  });
  test('wrr on a fresh service is the LVS interleaved weighted round robin', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 40 }), (ws, n) => {
        const xs = ws.map((weight, i) => ({ name: `S${i}`, weight }));
        // http://kb.linuxvirtualserver.org/wiki/Weighted_Round-Robin_Scheduling
        const g = ws.filter((w) => w > 0).reduce((a, b) => (b ? gcdModel(a, b) : a), 0);
        const max = Math.max(...ws);
        let i = -1;
        let cw = 0;
        const want: (string | null)[] = [];
        for (let k = 0; k < n; k++) {
          if (max === 0) {
            want.push(null);
            continue;
          }
          for (;;) {
            i = (i + 1) % ws.length;
            if (i === 0) {
              cw -= g;
              if (cw <= 0) cw = max;
            }
            if (ws[i] >= cw) break;
          }
          want.push(xs[i].name);
        }
        expect(new Bench('wrr', xs).picks(n)).toEqual(want);
      }),
    );
  });
});

function gcdModel(a: number, b: number): number {
  return b === 0 ? a : gcdModel(b, a % b);
}

describe('twos against a cumulative-weight model', () => {
  test('draw r lands on the first eligible server whose running weight sum reaches r', () => {
    fc.assert(
      fc.property(servers, fc.double({ min: 0, max: 0.999999, noNaN: true }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (raw, x1, x2) => {
        const xs = named(raw);
        const ok = xs.filter(eligible);
        const got = new Bench('twos', xs, { random: ((v) => () => v.shift() as number)([x1, x2]) }).pick();
        if (!ok.length) return expect(got).toBeNull();
        const total = ok.reduce((a, s) => a + s.weight, 0);
        const land = (x: number) => {
          const r = Math.floor(x * (total + 1));
          let sum = 0;
          for (const s of ok) {
            sum += s.weight;
            if (sum >= r) return s;
          }
          throw new Error('unreachable');
        };
        const a = land(x1);
        const b = land(x2);
        expect(got).toBe(b.weight * oh(a) > a.weight * oh(b) ? b.name : a.name);
      }),
    );
  });
});

// hash_32 with BigInt.
const h32 = (v: number, bits: number) => Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));

describe('sh and dh against table models', () => {
  const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 }));
  test('sh: servers repeated max(weight,1) times fill 256 buckets cyclically', () => {
    fc.assert(
      fc.property(servers, ipv4, (raw, [a, b, c, d]) => {
        const xs = named(raw);
        const table: ServerState[] = [];
        while (table.length < 256) for (const s of xs) for (let k = 0; k < Math.max(s.weight, 1) && table.length < 256; k++) table.push(s);
        const word = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
        const s = table[h32(word, 8)];
        expect(new Bench('sh', xs).pick({ caddr: `${a}.${b}.${c}.${d}` })).toBe(eligible(s) ? s.name : null);
      }),
    );
  });
  test('dh: one bucket per server, cyclically, keyed by the virtual address', () => {
    fc.assert(
      fc.property(servers, ipv4, (raw, [a, b, c, d]) => {
        const xs = named(raw);
        const word = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
        const s = xs[h32(word, 8) % xs.length];
        expect(new Bench('dh', xs).pick({ vaddr: `${a}.${b}.${c}.${d}` })).toBe(eligible(s) ? s.name : null);
      }),
    );
  });
});

// SipHash-1-3 over 4 bytes with BigInt (an independent implementation of lib/siphash.c's 64-bit hsiphash).
function sipModel(m: number, k: bigint): number {
  const M = (1n << 64n) - 1n;
  const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M;
  let v0 = 0x736f6d6570736575n ^ k;
  let v1 = 0x646f72616e646f6dn ^ k;
  let v2 = 0x6c7967656e657261n ^ k;
  let v3 = 0x7465646279746573n ^ k;
  const round = () => {
    v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const b = (4n << 56n) | BigInt(m >>> 0);
  v3 ^= b; round(); v0 ^= b; v2 ^= 0xffn; round(); round(); round();
  return Number((v0 ^ v1 ^ v2 ^ v3) & 0xffffffffn);
}

describe('mh against a Maglev model', () => {
  test('the lookup slot of a client holds the server the Maglev population puts there', () => {
    const M = 251; // table index 8
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 254 }), (ws, last) => {
        const xs = ws.map((weight, i) => ({ name: `S${i}`, weight }));
        const addrWord = (i: number) => ((10 << 24) | (i >> 8 << 8) | ((i & 255) + 1)) >>> 0; // 10.0.x.(i+1)
        const g = ws.reduce(gcdModel);
        const rshift = Math.max(0, 32 - Math.clz32(Math.max(...ws) / g) - 4);
        const perms = xs.map((_, i) => {
          const v = (80 + addrWord(i)) >>> 0;
          return { next: sipModel(v, 2654435761n) % M, skip: (sipModel(v, 2654446892n) % (M - 1)) + 1, turns: Math.max(1, (ws[i] / g) >> rshift) };
        });
        const table: (number | null)[] = new Array(M).fill(null);
        let filled = 0;
        outer: for (;;) {
          for (let i = 0; i < xs.length; i++) {
            for (let t = 0; t < perms[i].turns; t++) {
              while (table[perms[i].next] !== null) perms[i].next = (perms[i].next + perms[i].skip) % M;
              table[perms[i].next] = i;
              if (++filled === M) break outer;
            }
          }
        }
        const client = (0xc6336400 + last) >>> 0; // 198.51.100.last
        const want = table[sipModel(client, 2654435761n) % M] as number;
        expect(new Bench('mh', xs, { mhTableIndex: 8 }).pick({ caddr: `198.51.100.${last}` })).toBe(xs[want].name);
      }),
    );
  });
});

describe("mh's memo of client slots", () => {
  test('is exact: clients that share a memo entry (same low 12 bits of the hashed word), by address or by port, across weight changes, pick what a fresh scheduler picks', () => {
    const step = fc.oneof(
      // few clients, so they come back after a change; `low` picks the memo entry, `high` and `portStep` collide in it
      fc.record({ high: fc.integer({ min: 0, max: 3 }), low: fc.constantFrom(0, 1, 4095), portStep: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ server: fc.nat(), weight: fc.integer({ min: 0, max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }), fc.boolean(), fc.array(step, { minLength: 2, maxLength: 40 }), (ws, byPort, steps) => {
        const states = ws.map((weight, i) => ({ name: `S${i}`, weight, lastWeight: weight }));
        const flags = byPort ? SCHED_FLAG_2 : 0;
        const longLived = new Bench('mh', states, { mhTableIndex: 8, flags });
        for (const s of steps) {
          if ('server' in s) {
            // upd_dest: a new weight (0 quiesces and keeps last_weight, so the slots stay)
            const st = states[s.server % states.length];
            st.weight = s.weight;
            if (s.weight > 0) st.lastWeight = s.weight;
            const d = longLived.get(st.name);
            d.weight = st.weight;
            d.lastWeight = st.lastWeight;
            longLived.sched.updDest?.(d);
            continue;
          }
          // 198.51.(high * 16 + low >> 8).(low & 255): the words differ only above bit 11, as do ports 4096 apart.
          const packet = { caddr: `198.51.${(s.high << 4) | (s.low >> 8)}.${s.low & 255}`, cport: 1000 + 4096 * s.portStep };
          expect(longLived.pick(packet)).toBe(new Bench('mh', states, { mhTableIndex: 8, flags }).pick(packet));
        }
      }),
    );
  });
});
