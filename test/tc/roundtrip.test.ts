/**
 * Round trips, property-based: random valid options of every kind are
 * encoded, the attributes decoded back, and every value compared with what
 * was asked. Exact where the encoding keeps it; for bursts (sent as
 * scheduler ticks) within the bounds of the iproute2 arithmetic in use.
 */
import fc from 'fast-check';
import { Psched } from '../../lib';
import { AttrTable, ByteWriter } from '../../lib/netlink';
import { FILTER_KINDS, QDISC_KINDS, type CodecContext } from '../../lib/tc/kinds';

const TRUNCATE = Psched.parse('000003e8 00000040 000f4240 3b9aca00'); // 15.625 ticks per µs, HZ 1e9
const ROUND_UP = TRUNCATE.withRounding('round-up');
const TICKS_PER_US = 15.625;
const U32_MAX = 0xffffffff;
const RUNS = { numRuns: 500 };

/** Encodes with `encode` and returns the TCA_OPTIONS payload. */
function roundTrip(kind: string, which: 'qdisc' | 'class', options: unknown, psched = TRUNCATE): unknown {
  const codec = QDISC_KINDS.get(kind)!;
  const pair = which === 'qdisc' ? codec : codec.classes!;
  const ctx: CodecContext = { psched, op: 'test' };
  const w = new ByteWriter();
  pair.encode(w, options, ctx);
  return pair.decode(new AttrTable(w.view()).get(2), ctx);
}

const u32 = fc.integer({ min: 0, max: U32_MAX });
/** A rate in bits per second that is whole bytes, from 1 byte/s to about 8 Tbit/s. */
const rateBits = (maxBytes = 2 ** 40) => fc.integer({ min: 1, max: maxBytes }).map((bytes) => bytes * 8);
const linklayer = fc.constantFrom('ethernet' as const, 'atm' as const);

/**
 * The bytes a bucket shows after going to ticks and back. Truncating
 * (iproute2 up to 6.14) loses up to two microseconds' worth and never gains;
 * rounding up (6.15 on) keeps at least what was asked (to the byte, floating
 * point) and adds at most one tick's worth.
 */
function expectBurst(shown: number, asked: number, bytesPerSecond: number, psched: Psched): void {
  const perUs = bytesPerSecond / 1e6;
  if (psched.rounding === 'truncate') {
    expect(shown).toBeLessThanOrEqual(asked);
    expect(shown).toBeGreaterThanOrEqual(asked - 2 * perUs - 1);
  } else {
    expect(shown).toBeGreaterThanOrEqual(asked - 1);
    expect(shown).toBeLessThanOrEqual(asked + perUs / TICKS_PER_US + 1);
  }
}

describe('fifos', () => {
  for (const kind of ['pfifo', 'bfifo', 'pfifo_head_drop']) {
    test(kind, () => {
      fc.assert(fc.property(u32, (limit) => expect(roundTrip(kind, 'qdisc', { limit })).toEqual({ limit })), RUNS);
    });
  }
});

describe('tbf', () => {
  const tbf = fc
    .record({
      rate: rateBits(2 ** 32 - 1), // tc times the bucket at the 32-bit rate: beyond it the ticks are not the 64-bit rate's
      limit: fc.integer({ min: 1, max: U32_MAX }),
      mpu: fc.integer({ min: 0, max: 0xffff }),
      overhead: fc.integer({ min: 0, max: 0xffff }),
      linklayer,
      burstSeconds: fc.double({ min: 1e-6, max: 200, noNaN: true }),
      peak: fc.option(fc.record({ factor: fc.integer({ min: 2, max: 100 }), mtu: fc.integer({ min: 1, max: 65535 }) })),
    })
    .map((r) => {
      const bytes = r.rate / 8;
      const burst = Math.max(1, Math.min(U32_MAX, Math.floor(bytes * r.burstSeconds)));
      const options: Record<string, unknown> = { rate: r.rate, burst, limit: r.limit, mpu: r.mpu, overhead: r.overhead, linklayer: r.linklayer };
      // a peak rate whose bytes/s still fit 32 bits, so that its bucket is timed at the rate itself
      if (r.peak && bytes * r.peak.factor < 2 ** 32 && r.peak.mtu / (bytes * r.peak.factor) < 200) Object.assign(options, { peakrate: r.rate * r.peak.factor, mtu: r.peak.mtu });
      return options;
    });

  for (const psched of [TRUNCATE, ROUND_UP]) {
    test(`rate, burst, limit, peak rate and mtu, mpu, overhead, link layer (${psched.rounding})`, () => {
      fc.assert(
        fc.property(tbf, (o) => {
          const info = roundTrip('tbf', 'qdisc', o, psched) as Record<string, number | string>;
          expect(info).toMatchObject({ rate: o.rate, limit: o.limit, mpu: o.mpu, overhead: o.overhead, linklayer: o.linklayer });
          expectBurst(info.burst as number, o.burst as number, (o.rate as number) / 8, psched);
          if (o.peakrate === undefined) {
            expect(info.peakrate).toBeUndefined();
          } else {
            expect(info.peakrate).toBe(o.peakrate);
            expectBurst(info.mtu as number, o.mtu as number, (o.peakrate as number) / 8, psched);
          }
        }),
        RUNS,
      );
    });
  }
});

describe('htb', () => {
  test('qdisc: default, r2q, direct queue length, offload', () => {
    fc.assert(
      fc.property(u32, u32, fc.option(fc.integer({ min: 0, max: U32_MAX - 1 })), fc.boolean(), (def, r2q, directQlen, offload) => {
        const options: Record<string, unknown> = { default: def, r2q, offload };
        if (directQlen !== null) options.directQlen = directQlen;
        const info = roundTrip('htb', 'qdisc', options) as Record<string, unknown>;
        expect(info).toMatchObject({ default: def, r2q, offload });
        expect(info.directQlen).toBe(directQlen ?? undefined);
      }),
      RUNS,
    );
  });

  const htbClass = fc
    .record({
      rate: rateBits(),
      ceilFactor: fc.integer({ min: 1, max: 8 }),
      prio: fc.integer({ min: 0, max: 7 }),
      quantum: u32,
      mpu: fc.integer({ min: 0, max: 0xffff }),
      overhead: fc.integer({ min: 0, max: 0xffff }),
      mtu: fc.integer({ min: 64, max: 65535 }),
      linklayer,
      burstSeconds: fc.option(fc.double({ min: 1e-6, max: 200, noNaN: true })),
    })
    .map((r) => {
      const bytes = r.rate / 8;
      const options: Record<string, unknown> = {
        rate: r.rate,
        ceil: r.rate * r.ceilFactor,
        prio: r.prio,
        quantum: r.quantum,
        mpu: r.mpu,
        overhead: r.overhead,
        mtu: r.mtu,
        linklayer: r.linklayer,
      };
      if (r.burstSeconds !== null) options.burst = Math.max(1, Math.min(U32_MAX, Math.floor(bytes * r.burstSeconds)));
      return options;
    })
    // tc's default buckets, rate/HZ + mtu, must fit 32 bits of ticks (274 s) too
    .filter((o) => [o.rate, o.ceil].every((bits) => ((bits as number) / 8 / 1e9 + (o.mtu as number)) / ((bits as number) / 8) < 200));

  for (const psched of [TRUNCATE, ROUND_UP]) {
    test(`class: 32- and 64-bit rate and ceil, prio, quantum, mpu, overhead, link layer, bursts (${psched.rounding})`, () => {
      fc.assert(
        fc.property(htbClass, (o) => {
          const info = roundTrip('htb', 'class', o, psched) as Record<string, number | string>;
          expect(info).toMatchObject({ rate: o.rate, ceil: o.ceil, prio: o.prio, quantum: o.quantum, mpu: o.mpu, overhead: o.overhead, linklayer: o.linklayer, level: 0 });
          const rateBytes = (o.rate as number) / 8;
          const ceilBytes = (o.ceil as number) / 8;
          const burst = (o.burst as number | undefined) ?? Math.trunc(rateBytes / psched.hz) + (o.mtu as number);
          expectBurst(info.burst as number, burst, rateBytes, psched);
          expectBurst(info.cburst as number, Math.trunc(ceilBytes / psched.hz) + (o.mtu as number), ceilBytes, psched);
        }),
        RUNS,
      );
    });
  }
});

describe('fq', () => {
  const fq = fc.record(
    {
      limit: u32,
      flowLimit: u32,
      quantum: u32,
      initialQuantum: fc.integer({ min: 0, max: 2 ** 20 }),
      pacing: fc.boolean(),
      maxrate: fc.integer({ min: 0, max: U32_MAX - 1 }).map((bytes) => bytes * 8), // ~0 means unlimited
      buckets: fc.integer({ min: 1, max: 18 }).map((log) => 2 ** log),
      refillDelay: u32,
      orphanMask: u32,
      lowRateThreshold: u32.map((bytes) => bytes * 8),
      ceThreshold: fc.integer({ min: 0, max: U32_MAX - 1 }), // ~0 means disabled
      timerSlack: u32,
      horizon: u32,
      horizonDrop: fc.boolean(),
      priomap: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 16, maxLength: 16 }),
      weights: fc.array(fc.integer({ min: 16384, max: 0x7fffffff }), { minLength: 3, maxLength: 3 }),
      offloadHorizon: u32,
    },
    { requiredKeys: [] },
  );

  test('every option given comes back, and only those', () => {
    fc.assert(fc.property(fq, (o) => expect(roundTrip('fq', 'qdisc', o)).toEqual(o)), RUNS);
  });
});

describe('fq_codel', () => {
  const fqCodel = fc.record(
    {
      // zero (or ~0 for ceThreshold and memoryLimit) means "not given" to tc, and is not sent
      limit: fc.integer({ min: 1, max: U32_MAX }),
      flows: fc.integer({ min: 1, max: 65536 }),
      quantum: fc.integer({ min: 1, max: 2 ** 20 }),
      target: fc.integer({ min: 1, max: U32_MAX }),
      interval: fc.integer({ min: 1, max: U32_MAX }),
      ecn: fc.boolean(),
      ceThreshold: fc.integer({ min: 0, max: U32_MAX - 1 }),
      ceThresholdSelector: fc.record({ value: fc.integer({ min: 0, max: 254 }), mask: fc.integer({ min: 1, max: 255 }) }),
      memoryLimit: fc.integer({ min: 0, max: U32_MAX - 1 }),
      dropBatch: fc.integer({ min: 1, max: U32_MAX }),
    },
    { requiredKeys: [] },
  );

  test('every option given comes back, and only those', () => {
    fc.assert(fc.property(fqCodel, (o) => expect(roundTrip('fq_codel', 'qdisc', o)).toEqual(o)), RUNS);
  });
});

describe('netem', () => {
  const percent = fc.integer({ min: 0, max: 100000 }).map((milli) => milli / 1000);
  const netem = fc
    .record({
      limit: u32,
      delay: fc.integer({ min: 1, max: 270_000_000 }), // µs whose ticks fit 32 bits
      jitter: fc.option(fc.integer({ min: 0, max: 270_000_000 })),
      loss: percent,
      duplicate: percent,
      corrupt: fc.option(percent),
      ecn: fc.boolean(),
      rate: fc.option(fc.record({ rate: rateBits(2 ** 36), packetOverhead: fc.integer({ min: -0x80000000, max: 0x7fffffff }), cellSize: u32, cellOverhead: fc.integer({ min: -0x80000000, max: 0x7fffffff }) })),
    })
    .filter((r) => !r.ecn || r.loss > 0);

  test('limit, delay and jitter (to the microsecond), probabilities, ecn, rate and its overheads', () => {
    fc.assert(
      fc.property(netem, (r) => {
        const options: Record<string, unknown> = { limit: r.limit, delay: r.delay, loss: r.loss, duplicate: r.duplicate, ecn: r.ecn };
        if (r.jitter !== null) options.jitter = r.jitter;
        if (r.corrupt !== null) options.corrupt = r.corrupt;
        if (r.rate !== null) Object.assign(options, r.rate);
        const info = roundTrip('netem', 'qdisc', options) as Record<string, number | boolean>;
        expect(info.limit).toBe(r.limit);
        // tc's ticks are truncated, and truncated again on the way back: at most a microsecond lost
        for (const [k, v] of [['delay', r.delay], ['jitter', r.jitter ?? 0]] as const) {
          expect(info[k]).toBeLessThanOrEqual(v);
          expect(info[k]).toBeGreaterThanOrEqual(v - 1);
        }
        // probabilities travel scaled to 32 bits
        expect(info.loss).toBeCloseTo(r.loss, 6);
        expect(info.duplicate).toBeCloseTo(r.duplicate, 6);
        if (r.corrupt !== null) expect(info.corrupt).toBeCloseTo(r.corrupt, 6);
        expect(info.ecn ?? false).toBe(r.ecn);
        if (r.rate === null) {
          expect(info.rate).toBeUndefined();
        } else {
          expect(info).toMatchObject(r.rate);
        }
      }),
      RUNS,
    );
  });
});

describe('u32 filters', () => {
  const u32Filter = FILTER_KINDS.get('u32')!;
  // keys on distinct 32-bit words (keys on one word are merged, as tc merges them)
  const keys = fc.uniqueArray(fc.record({ word: fc.integer({ min: 0, max: 15 }), value: u32, mask: fc.integer({ min: 1, max: U32_MAX }) }), { selector: (k) => k.word, minLength: 1, maxLength: 6 });
  test('keys (value under mask, offset) and classid', () => {
    fc.assert(
      fc.property(keys, fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }), (ks, major, minor) => {
        const classid = `${major.toString(16)}:${minor.toString(16)}`;
        const w = new ByteWriter();
        u32Filter.encode(w, { match: ks.map((k) => ({ u32: k.value, mask: k.mask, at: k.word * 4 })), classid }, { psched: TRUNCATE, op: 'test' });
        const info = u32Filter.decode(new AttrTable(w.view()).get(2), { psched: TRUNCATE, op: 'test' }) as { classid: string; keys: unknown[]; terminal: boolean };
        expect(info.classid).toBe(classid);
        expect(info.terminal).toBe(true);
        expect(info.keys).toEqual(ks.map((k) => ({ value: (k.value & k.mask) >>> 0, mask: k.mask, at: k.word * 4, offmask: 0 })));
      }),
      RUNS,
    );
  });
});
