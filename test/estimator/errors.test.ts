/** Bad input: clear KernkitErrors naming the field, the value and what is allowed. */
import { CounterSet, estimation, GenEstimator, KernkitError, RateEstimator } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { cpusMissing, IPVS_FIELDS, printed, runChild } from '../helpers/estimator';

const code = (c: string) => expect.objectContaining({ code: c });

describe('RateEstimator input', () => {
  test('a set without the needed fields is EINVAL naming the missing one', () => {
    const stats = new CounterSet(['conns', 'inpkts', 'outpkts', 'outbytes']);
    expect(() => new RateEstimator(stats)).toThrow(KernkitError);
    expect(() => new RateEstimator(stats)).toThrow(code('EINVAL'));
    expect(() => new RateEstimator(stats)).toThrow(/^stats: \["conns","inpkts","outpkts","outbytes"\] \(expected a CounterSet with a field "inbytes";/);
  });

  test('a field map to a name the set lacks is EINVAL naming the map entry', () => {
    const stats = new CounterSet([...IPVS_FIELDS]);
    expect(() => new RateEstimator(stats, { fields: { inbytes: 'rx_bytes' } })).toThrow(/^stats: .* \(expected a CounterSet with a field "rx_bytes" \(options\.fields\.inbytes\);/);
    expect(() => new RateEstimator(stats, { fields: { bytes: 'inbytes' } as never })).toThrow(/^options\.fields\.bytes: unknown option/);
  });

  test('something other than a CounterSet is EINVAL', () => {
    expect(() => new RateEstimator({} as never)).toThrow(code('EINVAL'));
    expect(() => new RateEstimator(undefined as never)).toThrow(/^stats: undefined \(expected a CounterSet with fields conns, /);
  });

  test('options that are not an object, or have unknown keys, are EINVAL', () => {
    const stats = new CounterSet([...IPVS_FIELDS]);
    expect(() => new RateEstimator(stats, 5 as never)).toThrow(code('EINVAL'));
    expect(() => new RateEstimator(stats, { field: {} } as never)).toThrow(/^options\.field: unknown option/);
  });

  test('zero() after stop() is EINVAL', () => {
    const est = new RateEstimator(new CounterSet([...IPVS_FIELDS]));
    est.stop();
    expect(() => est.zero()).toThrow(code('EINVAL'));
  });
});

describe('GenEstimator input', () => {
  const stats = new CounterSet(['bytes', 'packets']);

  test.each([
    [{ interval: 4, ewmaLog: 3 }, /^options\.interval: 4 \(expected an integer from -2 to 3\)/],
    [{ interval: -3, ewmaLog: 3 }, /^options\.interval: -3 /],
    [{ interval: 0, ewmaLog: 0 }, /^options\.ewmaLog: 0 \(expected an integer from 1 to 30\)/],
    [{ interval: 0, ewmaLog: 31 }, /^options\.ewmaLog: 31 /],
  ])('%j is ERANGE naming the option', (options, message) => {
    expect(() => new GenEstimator(stats, options)).toThrow(code('ERANGE'));
    expect(() => new GenEstimator(stats, options)).toThrow(message);
  });

  test('non-integers and missing fields are EINVAL', () => {
    expect(() => new GenEstimator(stats, { interval: 0.5, ewmaLog: 3 })).toThrow(code('EINVAL'));
    expect(() => new GenEstimator(stats, undefined as never)).toThrow(code('EINVAL'));
    expect(() => new GenEstimator(stats, { interval: 0, ewmaLog: 3, period: 1 } as never)).toThrow(/^options\.period: unknown option/);
    expect(() => new GenEstimator(new CounterSet(['bytes']), { interval: 0, ewmaLog: 3 })).toThrow(/\(expected a CounterSet with a field "packets";/);
  });
});

describe('estimation.configure input', () => {
  test.each([
    [{ cpus: '0-x' }, 'EINVAL', /^config\.cpus: "0-x" \(expected a cpulist/],
    [{ cpulist: '0-x' }, 'EINVAL', /^config\.cpulist: "0-x" \(expected a cpulist/],
    [{ cpus: '3-1' }, 'EINVAL', /runs backwards/],
    [{ cpus: '0-100000' }, 'ERANGE', /^config\.cpus: "0-100000"/],
    [{ cpus: [100000] }, 'ERANGE', /config\.cpus/],
    [{ cpus: [0.5] }, 'EINVAL', /config\.cpus/],
    [{ cpus: 0 }, 'EINVAL', /config\.cpus/],
    [{ cpus: [0], cpulist: '0' }, 'EINVAL', /^config\.cpulist: "0" \(expected no cpulist next to cpus/],
    [{ nice: 20 }, 'EINVAL', /^config\.nice: 20 \(expected an integer from -20 to 19\)/],
    [{ nice: -21 }, 'EINVAL', /^config\.nice: -21 /],
    [{ nice: 1.5 }, 'EINVAL', /^config\.nice: 1.5 /],
    [{ cpu: '0' }, 'EINVAL', /^config\.cpu: unknown option/],
    [5, 'EINVAL', /^config: 5 \(expected an object/],
  ])('%j rejects with %s', async (config, errno, message) => {
    const before = estimation.stats();
    const p = estimation.configure(config as never);
    await expect(p).rejects.toThrow(code(errno));
    await expect(estimation.configure(config as never)).rejects.toThrow(message);
    expect(estimation.stats()).toMatchObject({ cpus: before.cpus, nice: before.nice }); // unchanged
  });
});

test('configure() and configure({}) change nothing', async () => {
  const before = estimation.stats();
  await estimation.configure();
  await estimation.configure({});
  expect(estimation.stats()).toMatchObject({ cpus: before.cpus, nice: before.nice, calcPhase: before.calcPhase });
});

describe('valid CPUs that leave none the caller may use', () => {
  kernelTest(cpusMissing(0, 1))('are EINVAL naming them (the kernel would stop estimation silently); [] still stops it', () => {
    // A child process whose main thread is pinned to CPU 0 asks for CPU 1.
    const r = runChild(`
      k.setAffinity([0]);
      const est = new k.RateEstimator(new k.CounterSet(fields));
      const before = k.estimation.stats();
      let error;
      try {
        await k.estimation.configure({ cpus: [1] });
      } catch (e) {
        error = { code: e.code, message: e.message };
      }
      const after = k.estimation.stats();
      await k.estimation.configure({ cpus: [] });
      print({ error, unchanged: after.cpus.join() === before.cpus.join() && !after.stopped, emptyStops: k.estimation.stats().stopped });
      est.stop();
    `);
    expect(r.stderr).toBe('');
    expect(printed(r)).toEqual([
      {
        error: { code: 'EINVAL', message: expect.stringMatching(/^config\.cpus: \[1\] \(expected CPUs the calling thread may use \(0\):/) },
        unchanged: true,
        emptyStops: true,
      },
    ]);
    expect(r.status).toBe(0);
  }, 30_000);
});
