/**
 * Decoder robustness, property-based: whatever bytes arrive where a kind's
 * options, statistics or a tc message should be, decoding either yields a
 * value or throws a KernkitError (EBADMSG); it never crashes, never reads
 * past what it was given, and never fills in what is missing. Round trips of
 * random valid options are in roundtrip.test.ts.
 */
import fc from 'fast-check';
import { Psched } from '../../lib';
import { AttrTable, ByteWriter } from '../../lib/netlink';
import { FILTER_KINDS, QDISC_KINDS, type CodecContext } from '../../lib/tc/kinds';
import { decodeStats } from '../../lib/tc/stats';
import { readTcMsg } from '../../lib/tc/tcmsg';
import { decodesOrRefuses } from '../helpers/tc';

const ctx: CodecContext = { psched: Psched.parse('000003e8 00000040 000f4240 3b9aca00'), op: 'test' };

/** Valid options of each kind, to encode and then damage. */
const SAMPLES: Record<string, { qdisc?: unknown; class?: unknown }> = {
  pfifo: { qdisc: { limit: 100 } },
  bfifo: { qdisc: { limit: '10k' } },
  pfifo_head_drop: { qdisc: { limit: 7 } },
  tbf: { qdisc: { rate: '40gbit', burst: '1mb', limit: '100k', peakrate: '50gbit', mtu: '2k', mpu: 64, overhead: 8 } },
  htb: { qdisc: { default: 0x10, r2q: 5, directQlen: 10 }, class: { rate: '50gbit', ceil: '100gbit', burst: '15k', prio: 3, quantum: 2000 } },
  fq: { qdisc: { limit: 100, buckets: 1024, quantum: 3000, maxrate: '1gbit', priomap: [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], weights: [589824, 196608, 65536], timerSlack: '10us', horizonDrop: false } },
  fq_codel: { qdisc: { limit: 1000, flows: 1024, target: '5ms', interval: '100ms', ecn: true, ceThreshold: '1ms', ceThresholdSelector: { value: 1, mask: 0xff }, memoryLimit: '32mb' } },
  netem: { qdisc: { delay: '100ms', jitter: '10ms', delayCorrelation: 25, loss: 1, lossCorrelation: 2, duplicate: 0.5, corrupt: 0.1, reorder: 5, rate: '50gbit', packetOverhead: -4, cellSize: 48, cellOverhead: 5 } },
  ingress: {},
  clsact: {},
};

/** The TCA_OPTIONS payload an encoder writes for `options`. */
function optionsPayload(encode: (w: ByteWriter, o: unknown, c: CodecContext) => void, options: unknown): Uint8Array | undefined {
  const w = new ByteWriter();
  encode(w, options, ctx);
  if (w.length === 0) return undefined;
  return new AttrTable(w.view()).get(2);
}

const damage = (bytes: Uint8Array) =>
  fc.tuple(fc.nat(bytes.length), fc.array(fc.tuple(fc.nat(Math.max(0, bytes.length - 1)), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([cut, flips]) => {
    const out = Uint8Array.from(bytes.subarray(0, cut));
    for (const [at, v] of flips) if (at < out.length) out[at] = v;
    return out;
  });

describe('per-kind decoders never crash', () => {
  for (const [kind, codec] of QDISC_KINDS) {
    test(`${kind}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          decodesOrRefuses(() => codec.decode(bytes, ctx));
          if (codec.decodeXstats) decodesOrRefuses(() => codec.decodeXstats?.(bytes));
          if (codec.classes) {
            decodesOrRefuses(() => codec.classes?.decode(bytes, ctx));
            decodesOrRefuses(() => codec.classes?.decodeXstats?.(bytes));
          }
        }),
        { numRuns: 1500 },
      );
    });

    const sample = SAMPLES[kind];
    for (const which of ['qdisc', 'class'] as const) {
      const options = sample?.[which];
      const encode = which === 'qdisc' ? codec.encode : codec.classes?.encode;
      const decode = which === 'qdisc' ? codec.decode : codec.classes?.decode;
      if (options === undefined || !encode || !decode) continue;
      const payload = optionsPayload(encode, options);
      if (!payload) continue;
      test(`${kind} ${which}: truncated and garbled encodings`, () => {
        expect(decode(payload, ctx)).toBeDefined();
        fc.assert(
          fc.property(damage(payload), (bytes) => decodesOrRefuses(() => decode(bytes, ctx))),
          { numRuns: 1500 },
        );
      });
    }
  }

  for (const [kind, codec] of FILTER_KINDS) {
    test(`${kind} filter: random and damaged bytes`, () => {
      const w = new ByteWriter();
      codec.encode(w, { match: [{ ip: 'dst', value: '10.0.0.0/8' }, { ip: 'dport', value: 80 }], classid: '1:10', divisor: 1 }, ctx);
      const payload = new AttrTable(w.view()).get(2) as Uint8Array;
      expect(codec.decode(payload, ctx)).toMatchObject({ classid: '1:10' });
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), damage(payload)), (bytes) => decodesOrRefuses(() => codec.decode(bytes, ctx))),
        { numRuns: 2000 },
      );
    });
  }

  test('statistics and tcmsg', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodesOrRefuses(() => decodeStats(new AttrTable(bytes)));
        decodesOrRefuses(() => readTcMsg(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('a missing required struct is EBADMSG, never made-up values', () => {
  const htb = QDISC_KINDS.get('htb')!;
  const tbf = QDISC_KINDS.get('tbf')!;
  /** Attributes of random types and sizes, none of the type `without`. */
  const attrsWithout = (without: number) =>
    fc.array(fc.tuple(fc.integer({ min: 1, max: 12 }).filter((t) => t !== without), fc.uint8Array({ maxLength: 48 })), { maxLength: 5 }).map((list) => {
      const w = new ByteWriter();
      for (const [type, payload] of list) w.attr(type, payload);
      return new Uint8Array(w.view());
    });

  test('htb qdisc without TCA_HTB_INIT, htb class without TCA_HTB_PARMS, tbf without TCA_TBF_PARMS', () => {
    const w = new ByteWriter();
    w.attrU32(5, 1000); // TCA_HTB_DIRECT_QLEN alone
    expect(() => htb.decode(w.view(), ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('TCA_HTB_INIT') }));
    expect(() => htb.classes!.decode(w.view(), ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('TCA_HTB_PARMS') }));
    expect(() => tbf.decode(w.view(), ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('TCA_TBF_PARMS') }));
    fc.assert(
      fc.property(attrsWithout(2), attrsWithout(1), (noInit, noParms) => {
        expect(() => htb.decode(noInit, ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
        expect(() => htb.classes!.decode(noParms, ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
        expect(() => tbf.decode(noParms, ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
      }),
      { numRuns: 500 },
    );
  });

  test('a fixed-size attribute of any other size is EBADMSG', () => {
    const fq = QDISC_KINDS.get('fq')!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }).filter((n) => n !== 4), (size) => {
        const w = new ByteWriter();
        w.attr(1, new Uint8Array(size)); // TCA_FQ_PLIMIT, a u32
        expect(() => fq.decode(w.view(), ctx)).toThrow(expect.objectContaining({ code: 'EBADMSG', message: expect.stringContaining('TCA_FQ_PLIMIT') }));
      }),
    );
  });
});

describe('what kernkit encodes decodes back', () => {
  const htbClass = QDISC_KINDS.get('htb')?.classes;
  const tbf = QDISC_KINDS.get('tbf');

  test('htb class rates (32- and 64-bit) and bursts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 2 ** 40 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 7 }), (bits, ceilFactor, prio) => {
        const rate = bits - (bits % 8);
        const payload = optionsPayload(htbClass!.encode, { rate, ceil: rate * ceilFactor, prio, burst: 20000 });
        const info = htbClass!.decode(payload, ctx) as { rate: number; ceil: number; prio: number; burst: number };
        expect(info.rate).toBe(rate);
        expect(info.ceil).toBe(rate * ceilFactor);
        expect(info.prio).toBe(prio);
        // tc truncates to whole microseconds going to ticks and coming back: the burst returns at
        // most what was asked, short by under two microseconds' worth of bytes (tc shows the same)
        expect(info.burst).toBeLessThanOrEqual(20000);
        expect(20000 - info.burst).toBeLessThanOrEqual(Math.ceil((2 * rate) / 8 / 1e6) + 1);
      }),
    );
  });

  test('tbf rate, limit and overhead', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8000, max: 2 ** 36 }), fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 0, max: 65535 }), (bits, limit, overhead) => {
        const rate = bits - (bits % 8);
        const info = tbf!.decode(optionsPayload(tbf!.encode, { rate, burst: '64k', limit, overhead }), ctx) as { rate: number; limit: number; overhead: number };
        expect(info).toMatchObject({ rate, limit, overhead });
      }),
    );
  });
});

describe('dumps of the kinds this kernel lacks, laid out as their kernels dump them', () => {
  const fq = QDISC_KINDS.get('fq')!;
  const fqCodel = QDISC_KINDS.get('fq_codel')!;
  const netem = QDISC_KINDS.get('netem')!;

  test("fq: fq_dump's attributes and struct tc_fq_qd_stats", () => {
    const w = new ByteWriter();
    // fq_dump() order and defaults of a fresh fq on a 1500-byte device
    [
      [1, 10000],
      [2, 100],
      [3, 3028],
      [4, 15140],
      [5, 1],
      [7, 0xffffffff],
      [9, 40000],
      [10, 1023],
      [11, 68750],
      [12, 0xffffffff],
      [8, 10],
      [13, 10000],
      [14, 10000000],
    ].forEach(([type, v]) => w.attrU32(type, v));
    w.attrU8(15, 1);
    w.attr(16, Uint8Array.from([3, 0, 0, 0, 1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]));
    const weights = new Uint8Array(12);
    [589824, 196608, 65536].forEach((v, i) => new DataView(weights.buffer).setInt32(i * 4, v, true));
    w.attr(17, weights);
    expect(fq.decode(w.view(), ctx)).toEqual({
      limit: 10000,
      flowLimit: 100,
      quantum: 3028,
      initialQuantum: 15140,
      pacing: true,
      buckets: 1024,
      refillDelay: 40000,
      orphanMask: 1023,
      lowRateThreshold: 550000,
      timerSlack: 10000,
      horizon: 10000000,
      horizonDrop: true,
      priomap: [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
      weights: [589824, 196608, 65536],
    });

    const st = new DataView(new ArrayBuffer(152));
    for (let i = 0; i < 7; i++) st.setBigUint64(i * 8, BigInt(i + 1), true); // gc_flows .. allocation_errors
    st.setBigInt64(56, -5n, true);
    [64, 68, 72, 76].forEach((off, i) => st.setUint32(off, 10 + i, true));
    [80, 88, 96, 104, 112, 120, 128].forEach((off, i) => st.setBigUint64(off, BigInt(20 + i), true));
    [136, 140, 144].forEach((off, i) => st.setUint32(off, 30 + i, true));
    const bytes = new Uint8Array(st.buffer);
    expect(fq.decodeXstats!(bytes)).toEqual({
      gcFlows: 1,
      highprioPackets: 2,
      tcpRetrans: 3,
      throttled: 4,
      flowsPlimit: 5,
      pktsTooLong: 6,
      allocationErrors: 7,
      timeNextDelayedFlow: -5,
      flows: 10,
      inactiveFlows: 11,
      throttledFlows: 12,
      unthrottleLatencyNs: 13,
      ceMark: 20,
      horizonDrops: 21,
      horizonCaps: 22,
      fastpathPackets: 23,
      bandDrops: [24, 25, 26],
      bandPktCount: [30, 31, 32],
    });
    // an older kernel's shorter struct: only the fields it has
    expect(Object.keys(fq.decodeXstats!(bytes.subarray(0, 80)))).toEqual([
      'gcFlows', 'highprioPackets', 'tcpRetrans', 'throttled', 'flowsPlimit', 'pktsTooLong', 'allocationErrors', 'timeNextDelayedFlow', 'flows', 'inactiveFlows', 'throttledFlows', 'unthrottleLatencyNs',
    ]);
  });

  test('fq_codel: options and struct tc_fq_codel_xstats', () => {
    const w = new ByteWriter();
    [
      [1, 4999],
      [2, 10240],
      [3, 99999],
      [4, 1],
      [6, 1514],
      [8, 64],
      [9, 33554432],
      [5, 1024],
    ].forEach(([type, v]) => w.attrU32(type, v));
    expect(fqCodel.decode(w.view(), ctx)).toEqual({ target: 4999, limit: 10240, interval: 99999, ecn: true, quantum: 1514, dropBatch: 64, memoryLimit: 33554432, flows: 1024 });
    const st = new DataView(new ArrayBuffer(40));
    for (let i = 1; i < 10; i++) st.setUint32(i * 4, i * 11, true);
    expect(fqCodel.decodeXstats!(new Uint8Array(st.buffer))).toEqual({
      maxpacket: 11,
      dropOverlimit: 22,
      ecnMark: 33,
      newFlowCount: 44,
      newFlowsLen: 55,
      oldFlowsLen: 66,
      ceMark: 77,
      memoryUsage: 88,
      dropOvermemory: 99,
    });
  });

  test('netem: what kernkit sends reads back in the units it was given', () => {
    const w = new ByteWriter();
    netem.encode(w, { delay: '100ms', jitter: '10ms', loss: '1%', rate: '10mbit', limit: 500 }, ctx);
    const info = netem.decode(new AttrTable(w.view()).get(2), ctx) as Record<string, number>;
    expect(info).toMatchObject({ limit: 500, delay: 100000, jitter: 10000, rate: 10000000, gap: 0 });
    expect(info.loss).toBeCloseTo(1, 6);
  });
});
