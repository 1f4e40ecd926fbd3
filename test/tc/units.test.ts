import fc from 'fast-check';
import { KernkitError, Psched, formatHandle, formatRate, formatSize, formatTime, parseClassId, parsePercent, parseQdiscHandle, parseRate, parseSize, parseTime, parseTime64 } from '../../lib';
import { setupEstimator } from '../../lib/tc/tca-rate';
import { parseFilterParent, parseParent } from '../../lib/tc/handle';

// /proc/net/psched of a kernel with a nanosecond clock and high-resolution timers.
const PSCHED = Psched.parse('000003e8 00000040 000f4240 3b9aca00\n');

describe('units as tc reads them', () => {
  test('rates: SI and IEC suffixes in bits or bytes, case-insensitive; a bare number is bits/s', () => {
    expect(parseRate('10mbit')).toBe(1250000);
    expect(parseRate('1.5gbit')).toBe(187500000);
    expect(parseRate('100kbps')).toBe(100000); // kBps: kilobytes
    expect(parseRate('1Kibit')).toBe(128);
    expect(parseRate('1mibit')).toBe(131072);
    expect(parseRate('8bit')).toBe(1);
    expect(parseRate('12bit')).toBe(1); // truncated, as get_rate64 does
    expect(parseRate(1000)).toBe(125);
    expect(parseRate('100gbit')).toBe(12500000000); // past 32 bits
    expect(parseRate('1MBps')).toBe(1000000);
  });

  test('sizes: k/m/g are binary; kbit/mbit/gbit are bits; a bare number is bytes', () => {
    expect(parseSize('15k')).toBe(15360);
    expect(parseSize('15kb')).toBe(15360);
    expect(parseSize('1.5mb')).toBe(1572864);
    expect(parseSize('64kbit')).toBe(8192);
    expect(parseSize('1.5')).toBe(1);
    expect(parseSize(1600)).toBe(1600);
    expect(parseSize('4294967295b')).toBe(4294967295);
  });

  test('times: s/ms/us to microseconds, 64-bit times to nanoseconds', () => {
    expect(parseTime('100ms')).toBe(100000);
    expect(parseTime('40us')).toBe(40);
    expect(parseTime('1.5s')).toBe(1500000);
    expect(parseTime('2secs')).toBe(2000000);
    expect(parseTime(250)).toBe(250);
    expect(parseTime64('10us')).toBe(10000);
    expect(parseTime64('3ns')).toBe(3);
    expect(parseTime64(7)).toBe(7);
  });

  test('percentages', () => {
    expect(parsePercent('12.5%')).toBe(0.125);
    expect(parsePercent('50')).toBe(0.5);
    expect(parsePercent(100)).toBe(1);
  });

  test('refusals name the field, the value and what is allowed', () => {
    expect(() => parseRate('10mbits', 'htb.rate')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/htb\.rate.*"10mbits".*unknown unit "mbits"/) }));
    expect(() => parseRate('-1mbit', 'x')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^x: "-1mbit" \(expected .*not negative\)$/) }));
    expect(() => parseSize('4gb', 'limit')).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^limit: "4gb" \(expected a size of at most 4294967295 bytes/) }));
    expect(() => parseTime('2h', 'latency')).toThrow(/unknown unit "h"/);
    expect(() => parseTime(-1, 'latency')).toThrow(KernkitError);
    expect(() => parsePercent('101%', 'loss')).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => parseRate(Number.NaN)).toThrow(KernkitError);
    expect(() => parseSize({} as never)).toThrow(KernkitError);
  });

  test('printing as tc prints', () => {
    expect(formatRate(1250000)).toBe('10Mbit');
    expect(formatRate(125)).toBe('1Kbit');
    expect(formatRate(187500000)).toBe('1500Mbit');
    expect(formatRate(12500000000)).toBe('100Gbit');
    expect(formatSize(1600)).toBe('1600b');
    expect(formatSize(15360)).toBe('15Kb');
    expect(formatSize(1048576)).toBe('1Mb');
    expect(formatTime(40)).toBe('40us');
    expect(formatTime(100000)).toBe('100ms');
    expect(formatTime(1500000)).toBe('1.5s');
  });

  test('any string either parses to a non-negative integer or is a KernkitError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (s) => {
        for (const parse of [parseRate, parseSize, parseTime, parseTime64]) {
          try {
            const v = parse(s, 'f');
            expect(Number.isInteger(v) && v >= 0).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(KernkitError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('handles', () => {
  test('qdisc handles, class ids and parents', () => {
    expect(parseQdiscHandle('1:')).toBe(0x10000);
    expect(parseQdiscHandle('ffff')).toBe(0xffff0000);
    expect(parseQdiscHandle(0x20000)).toBe(0x20000);
    expect(parseClassId('1:10')).toBe(0x10010);
    expect(parseClassId(':10')).toBe(0x10);
    expect(parseClassId('root')).toBe(0xffffffff);
    expect(parseClassId('10010')).toBe(0x10010);
    expect(parseParent('ingress')).toBe(0xfffffff1);
    expect(parseFilterParent('ingress')).toBe(0xfffffff2);
    expect(parseFilterParent('egress')).toBe(0xfffffff3);
    expect(formatHandle(0x10010)).toBe('1:10');
    expect(formatHandle(0x10000)).toBe('1:');
    expect(formatHandle(0xffffffff)).toBe('root');
    expect(formatHandle(0xfffffff1)).toBe('ffff:fff1');
  });

  test('bad handles are EINVAL', () => {
    expect(() => parseQdiscHandle('1:2')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^handle: "1:2" \(expected /) }));
    expect(() => parseQdiscHandle(0x10001)).toThrow(/minor 0/);
    expect(() => parseClassId('10000:1')).toThrow(KernkitError);
    expect(() => parseClassId('1:g')).toThrow(KernkitError);
    expect(() => parseClassId(-1)).toThrow(KernkitError);
  });

  test('format and parse round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfffffffe }), (h) => {
        expect(parseClassId(formatHandle(h))).toBe(h);
      }),
    );
  });
});

describe("tc's tick arithmetic (tc_core.c)", () => {
  test('/proc/net/psched gives 15.625 ticks per microsecond and the clock rate', () => {
    expect(PSCHED.tickInUsec).toBe(15.625);
    expect(PSCHED.clockFactor).toBe(1);
    expect(PSCHED.hz).toBe(1000000000);
    // without the fourth field iproute2 falls back to HZ
    expect(Psched.parse('000003e8 00000040 000f4240').hz).toBe(100);
  });

  test('xmittime truncates the microseconds before scaling, as tc_core_time2tick takes an unsigned int', () => {
    expect(PSCHED.xmittime(125000, 1600, 'b')).toBe(200000); // 12800us
    expect(PSCHED.xmittime(12500000000, 1612, 'b')).toBe(0); // 0.129us → 0us → 0 ticks (tc shows burst 0b)
    expect(PSCHED.xmittime(1250000, 15360, 'b')).toBe(192000);
    expect(PSCHED.xmitsize(1250000, 192000)).toBe(15360);
    expect(() => PSCHED.xmittime(1, 1e6, 'htb.burst')).toThrow(expect.objectContaining({ code: 'ERANGE', message: expect.stringContaining('htb.burst') }));
  });

  // Worked by hand from iproute2's tc_core.c with 15.625 ticks per microsecond:
  //   up to 6.14:  ticks = trunc(trunc(1e6 * size / rate) * 15.625); shown = trunc(rate * trunc(ticks / 15.625) / 1e6)
  //   6.15 on:     ticks = ceil(1e6 * size / rate * 15.625);         shown = trunc(rate * (ticks / 15.625) / 1e6)
  const cases: Array<[string, number, number, [number, number], [number, number]]> = [
    // rate (bytes/s), size: [ticks, shown] truncating, [ticks, shown] rounding up
    // 1gbit, 1600: 12.8us → 12us → 187.5 → 187 ticks → 11.968us → 11us → 1375 bytes;  12.8us × 15.625 = 200 → 12.8us → 1600 bytes
    ['1gbit, burst 1600', 125e6, 1600, [187, 1375], [200, 1600]],
    // 1gbit, 1500: 12us → 187 ticks → 1375;  187.5 → 188 ticks → 12.032us → 1504 bytes
    ['1gbit, burst 1500', 125e6, 1500, [187, 1375], [188, 1504]],
    // 100gbit, 1612: 0.12896us → 0 ticks → 0;  2.015 → 3 ticks → 0.192us → 2400 bytes
    ['100gbit, burst 1612', 12.5e9, 1612, [0, 0], [3, 2400]],
    // 3mbit, 1000: 2666.67us → 2666us → 41656.25 → 41656 ticks → 2665.98us → 2665us → 999.375 → 999;
    //              41666.67 → 41667 ticks → 2666.688us → 1000.008 → 1000
    ['3mbit, burst 1000', 375000, 1000, [41656, 999], [41667, 1000]],
    // exact values agree: 10mbit, 15k: 12288us → 192000 ticks → 15360 bytes either way
    ['10mbit, burst 15k', 1.25e6, 15360, [192000, 15360], [192000, 15360]],
  ];
  const UP = PSCHED.withRounding('round-up');
  for (const [name, rate, size, truncated, roundedUp] of cases) {
    test(`iproute2 up to 6.14 and from 6.15 on: ${name}`, () => {
      expect(PSCHED.rounding).toBe('truncate');
      const t = PSCHED.xmittime(rate, size, 'b');
      expect([t, PSCHED.xmitsize(rate, t)]).toEqual(truncated);
      const u = UP.xmittime(rate, size, 'b');
      expect([u, UP.xmitsize(rate, u)]).toEqual(roundedUp);
      expect(UP.xmitsize(rate, u)).toBeGreaterThanOrEqual(size - 1); // at least what was asked, to the byte tc shows
    });
  }

  test('rounding up, rate tables round up too, and a bucket beyond 32 bits of ticks is still refused', () => {
    // 3mbit: 1000 bytes is 41656 ticks truncated, 41667 rounded up (above)
    expect(PSCHED.rateTable(375000, 0, 3, 2047, 'ethernet').table[124]).toBe(41656);
    expect(UP.rateTable(375000, 0, 3, 2047, 'ethernet').table[124]).toBe(41667);
    expect(() => UP.xmittime(1, 1e6, 'htb.burst')).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => PSCHED.withRounding('nearest' as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('burstRounding') }));
  });

  test('the rate table picks the cell size that covers the mtu in 256 entries', () => {
    const t = PSCHED.rateTable(125000, 0, undefined, 1600, 'ethernet');
    expect(t.cellLog).toBe(3);
    expect(t.table[0]).toBe(1000); // 8 bytes: 64us
    expect(t.table[255]).toBe(256000); // 2048 bytes
    const atm = PSCHED.rateTable(125000, 0, undefined, 1600, 'atm');
    expect(atm.table[0]).toBe(PSCHED.xmittime(125000, 53, 'x')); // one ATM cell
    expect(PSCHED.rateTable(125000, 100, 3, 1600, 'ethernet').table[0]).toBe(PSCHED.xmittime(125000, 100, 'x')); // mpu
  });

  test('estimators as tc_setup_estimator computes them', () => {
    expect(setupEstimator({ interval: '1s', timeConstant: '8s' })).toEqual({ interval: 0, ewmaLog: 3 });
    expect(setupEstimator({ interval: '250ms', timeConstant: '1s' })).toEqual({ interval: -2, ewmaLog: 2 });
    expect(() => setupEstimator({ interval: '9s', timeConstant: '60s' })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });
});
