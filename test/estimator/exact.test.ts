/**
 * The estimators against an independent BigInt implementation of the kernel's
 * arithmetic (test/helpers/estimator.ts), to the unit, in manual mode: each
 * step() is one 2 s estimation pass.
 */
import fc from 'fast-check';
import { CounterSet, estimation, GenEstimator, type ManualClock, RateEstimator } from '../../lib';
import { GenModel, IPVS_FIELDS, IpvsModel, nextMessage, startWorker } from '../helpers/estimator';

type Increments = [number, number, number, number, number];

/** A trace: the increments of each field before each step, and the steps before which zero() runs. */
interface Trace {
  name: string;
  steps: Increments[];
  zeroAt?: number[];
}

const P52 = 2 ** 52;

const traces: Trace[] = [
  {
    name: 'step up then idle',
    steps: [
      ...Array.from({ length: 3 }, (): Increments => [0, 0, 0, 0, 0]),
      ...Array.from({ length: 12 }, (): Increments => [10, 1000, 800, 1_500_000, 1_200_000]),
      ...Array.from({ length: 12 }, (): Increments => [0, 0, 0, 0, 0]),
    ],
  },
  {
    name: 'ramp',
    steps: Array.from({ length: 25 }, (_, k): Increments => [k, 100 * k, 50 * k, 150_000 * k, 75_000 * k]),
  },
  {
    name: 'bursts',
    steps: Array.from({ length: 20 }, (_, k): Increments =>
      k === 5 || k === 12 ? [1_000_000, 1_000_000_000, 500_000_000, 1_400_000_000_000, 700_000_000_000] : [1, 3, 2, 90, 60],
    ),
  },
  { name: 'idle', steps: Array.from({ length: 15 }, (): Increments => [0, 0, 0, 0, 0]) },
  {
    name: 'zero midway',
    steps: Array.from({ length: 20 }, (_, k): Increments => [7, 700 + k, 300, 1_000_000, 400_000 + k]),
    zeroAt: [8, 15],
  },
  // Counters accept negative adds: a delta below zero is a huge u64 rate, and the
  // kernel's u64 arithmetic (and decoding, with its carries) wraps.
  { name: 'plus one then minus one', steps: [[1, 1, 1, 1, 1], [-1, -1, -1, -1, -1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]] },
  {
    name: 'negative deltas',
    steps: Array.from({ length: 16 }, (_, k): Increments =>
      k % 4 === 3 ? [-40, -9000, -3, -7_000_000, -1] : k % 4 === 1 ? [-1, 0, -2, -15, -31] : [10, 2000, 1, 1_500_000, 32],
    ),
    zeroAt: [9],
  },
  {
    name: 'totals past 2^53',
    steps: Array.from({ length: 10 }, (): Increments => [3, P52 / 4, P52 / 8, P52, P52 / 2]),
    zeroAt: [6],
  },
];

/** Adds one step's increments through the set's public API (large ones in safe pieces). */
function apply(stats: CounterSet, inc: readonly number[]): void {
  inc.forEach((n, i) => {
    if (n) stats.add(i, n);
  });
}

function sums(raw: bigint[], inc: readonly number[]): void {
  inc.forEach((n, i) => {
    raw[i] += BigInt(n);
  });
}

describe('RateEstimator: the kernel arithmetic, to the unit', () => {
  let clock: ManualClock;

  beforeAll(() => {
    clock = estimation.manual();
  });

  afterAll(() => {
    estimation.automatic();
  });

  test('named traces: steps, ramps, bursts, idle periods, zero midway, negative deltas, totals past 2^53', () => {
    const runs = traces.map((t) => {
      const stats = new CounterSet([...IPVS_FIELDS]);
      return { t, stats, est: new RateEstimator(stats), model: new IpvsModel([0n, 0n, 0n, 0n, 0n]), raw: [0n, 0n, 0n, 0n, 0n] };
    });
    const longest = Math.max(...traces.map((t) => t.steps.length));
    try {
      for (let k = 0; k < longest; k++) {
        for (const r of runs) {
          if (k >= r.t.steps.length) continue;
          if (r.t.zeroAt?.includes(k)) {
            r.est.zero();
            r.model.zero();
          }
          apply(r.stats, r.t.steps[k]);
          sums(r.raw, r.t.steps[k]);
        }
        clock.step();
        for (const r of runs) {
          if (k >= r.t.steps.length) continue;
          r.model.estimate(r.raw);
          expect({ trace: r.t.name, step: k, ...r.est.read() }).toEqual({ trace: r.t.name, step: k, ...r.model.read() });
        }
      }
      for (const r of runs) expect(r.est.estimations).toBe(longest);
      // The past-2^53 trace really went past it, and the set agrees with the totals.
      const big = runs[runs.length - 1];
      expect(big.raw[3]).toBeGreaterThan(2n ** 53n);
      expect(big.stats.sum().inbytes).toBe(big.raw[3]);
    } finally {
      for (const r of runs) r.est.stop();
    }
  });

  test('random traces (fast-check)', () => {
    const increment = fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 2000 }) },
      { weight: 1, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 45 }) },
      { weight: 2, arbitrary: fc.integer({ min: -2000, max: -1 }) }, // negative adds
      { weight: 1, arbitrary: fc.integer({ min: -(2 ** 45), max: -1 }) },
    );
    const step = fc.record({ inc: fc.tuple(increment, increment, increment, increment, increment), zero: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (trace) => {
        const stats = new CounterSet([...IPVS_FIELDS]);
        const est = new RateEstimator(stats);
        const model = new IpvsModel([0n, 0n, 0n, 0n, 0n]);
        const raw = [0n, 0n, 0n, 0n, 0n];
        try {
          for (const s of trace) {
            if (s.zero) {
              est.zero();
              model.zero();
            }
            apply(stats, s.inc);
            sums(raw, s.inc);
            clock.step();
            model.estimate(raw);
            expect(est.read()).toEqual(model.read());
          }
        } finally {
          est.stop();
        }
      }),
      { numRuns: 60 },
    );
  });

  test('an estimator over a set with history starts from its current counts and zero point', () => {
    const stats = new CounterSet(['x', 'conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
    apply(stats, [5, 100, 2000, 3000, 4_000_000, 5_000_000]);
    stats.zero();
    apply(stats, [0, 10, 20, 30, 40, 50]);
    const est = new RateEstimator(stats);
    try {
      // Totals count from the set's zero point; the first delta from now.
      const model = new IpvsModel([110n, 2020n, 3030n, 4_000_040n, 5_000_050n], [100n, 2000n, 3000n, 4_000_000n, 5_000_000n]);
      expect(est.read()).toEqual(model.read());
      apply(stats, [0, 4, 400, 200, 60_000, 30_000]);
      clock.step();
      model.estimate([114n, 2420n, 3230n, 4_060_040n, 5_030_050n]);
      expect(est.read()).toEqual(model.read());
      expect(est.read().inpkts).toBe(stats.sum().inpkts);
    } finally {
      est.stop();
    }
  });

  test('a field map reads counters under other names', () => {
    const stats = new CounterSet(['rx_bytes', 'accepted', 'tx_pkts', 'rx_pkts', 'tx_bytes']);
    const est = new RateEstimator(stats, {
      fields: { conns: 'accepted', inpkts: 'rx_pkts', outpkts: 'tx_pkts', inbytes: 'rx_bytes', outbytes: 'tx_bytes' },
    });
    try {
      const model = new IpvsModel([0n, 0n, 0n, 0n, 0n]);
      stats.add(stats.index('accepted'), 40);
      stats.add(stats.index('rx_pkts'), 4000);
      stats.add(stats.index('tx_pkts'), 3000);
      stats.add(stats.index('rx_bytes'), 6_000_000);
      stats.add(stats.index('tx_bytes'), 90_000);
      clock.step();
      model.estimate([40n, 4000n, 3000n, 6_000_000n, 90_000n]);
      expect(est.read()).toEqual(model.read());
    } finally {
      est.stop();
    }
  });

  test.each([3, 16])('writers in %i worker threads (many shards), adding and subtracting', async (threads) => {
    const stats = new CounterSet([...IPVS_FIELDS]);
    const workers = Array.from({ length: threads }, () => startWorker('adder', { handle: stats.handle }));
    const est = new RateEstimator(stats);
    try {
      await Promise.all(workers.map((w) => nextMessage(w)));
      const model = new IpvsModel([0n, 0n, 0n, 0n, 0n]);
      const raw = [0n, 0n, 0n, 0n, 0n];
      let seed = 7;
      const rand = (max: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % max;
      };
      for (let k = 0; k < 15; k++) {
        const waits: Promise<unknown>[] = [];
        for (const w of workers) {
          // Mostly up, sometimes down (k = 4, 11), once by up to 2^30.
          const sign = k === 4 || k === 11 ? -1 : 1;
          const adds = IPVS_FIELDS.map((_, i) => [i, sign * rand(k === 9 ? 2 ** 30 : 5000)] as [number, number]);
          adds.forEach(([i, n]) => {
            raw[i] += BigInt(n);
          });
          w.postMessage({ adds });
          waits.push(nextMessage(w));
        }
        const mine = IPVS_FIELDS.map(() => rand(1000));
        apply(stats, mine);
        sums(raw, mine);
        await Promise.all(waits);
        clock.step();
        model.estimate(raw);
        expect(est.read()).toEqual(model.read());
      }
      expect(stats.sum().inpkts).toBe(raw[1]);
    } finally {
      est.stop();
      for (const w of workers) w.postMessage('exit');
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
    }
  }, 30_000);
});

describe('GenEstimator: gen_estimator arithmetic, to the unit', () => {
  let clock: ManualClock;

  beforeAll(() => {
    clock = estimation.manual();
  });

  afterAll(() => {
    estimation.automatic();
  });

  test.each([
    [-2, 1],
    [-1, 2],
    [0, 3],
    [1, 4],
    [2, 8],
    [3, 30],
  ])('interval %i, ewmaLog %i', (interval, ewmaLog) => {
    const stats = new CounterSet(['bytes', 'packets']);
    stats.add(0, 12345);
    stats.add(1, 67);
    const est = new GenEstimator(stats, { interval, ewmaLog });
    const model = new GenModel(interval, ewmaLog, 12345n, 67n);
    let bytes = 12345n;
    let packets = 67n;
    try {
      for (let k = 1; k <= 24; k++) {
        const inc = k % 7 === 3 ? [3_000_000_000, 2_000_000] : k > 18 ? [0, 0] : [150_000 * k, 100 * k];
        stats.add(0, inc[0]);
        stats.add(1, inc[1]);
        bytes += BigInt(inc[0]);
        packets += BigInt(inc[1]);
        clock.step();
        model.advance(2000 * k, bytes, packets);
        expect({ step: k, ...est.read() }).toEqual({ step: k, ...model.read() });
      }
      // 48 s of periods of 2^interval s.
      expect(est.estimations).toBe(48 / 2 ** interval);
    } finally {
      est.stop();
    }
  });
});

describe('manual mode', () => {
  test('step() outside manual mode is EINVAL', () => {
    const clock = estimation.manual();
    estimation.automatic();
    expect(() => clock.step()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('a stopped estimator keeps its last reading', () => {
    const clock = estimation.manual();
    try {
      const stats = new CounterSet([...IPVS_FIELDS]);
      const est = new RateEstimator(stats);
      stats.add(1, 5000);
      clock.step();
      const before = est.read();
      est.stop();
      est.stop();
      stats.add(1, 5000);
      clock.step();
      expect(est.stopped).toBe(true);
      expect(est.read()).toEqual(before);
      expect(est.estimations).toBe(1);
    } finally {
      estimation.automatic();
    }
  });

  test('Symbol.dispose stops either estimator (what `using` calls) and keeps its last reading', () => {
    const clock = estimation.manual();
    try {
      const before = estimation.stats();
      const rate = new RateEstimator(new CounterSet([...IPVS_FIELDS]));
      const stats = new CounterSet(['bytes', 'packets']);
      const gen = new GenEstimator(stats, { interval: 1, ewmaLog: 1 });
      stats.add(0, 1 << 20);
      clock.step();
      const last = gen.read();
      expect(last.bps).toBeGreaterThan(0);
      for (const est of [rate, gen]) {
        expect(est.stopped).toBe(false);
        est[Symbol.dispose]();
        est[Symbol.dispose](); // idempotent, as stop()
        expect(est.stopped).toBe(true);
      }
      expect(estimation.stats()).toMatchObject({ estimators: before.estimators, genEstimators: before.genEstimators });
      stats.add(0, 1 << 20);
      clock.step();
      expect(gen.read()).toEqual(last);
      expect(gen.estimations).toBe(1);
    } finally {
      estimation.automatic();
    }
  });
});
