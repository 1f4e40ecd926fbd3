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
    expect(() => new RateEstimator(stats)).toThrow(/no field "inbytes"/);
  });

  test('a field map to a name the set lacks is EINVAL naming the map entry', () => {
    const stats = new CounterSet([...IPVS_FIELDS]);
    expect(() => new RateEstimator(stats, { fields: { inbytes: 'rx_bytes' } })).toThrow(/no field "rx_bytes" \(options\.fields\.inbytes\)/);
    expect(() => new RateEstimator(stats, { fields: { bytes: 'inbytes' } as never })).toThrow(/options\.fields\.bytes/);
  });

  test('something other than a CounterSet is EINVAL', () => {
    expect(() => new RateEstimator({} as never)).toThrow(code('EINVAL'));
    expect(() => new RateEstimator(undefined as never)).toThrow(/needs a CounterSet/);
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
    [{ interval: 4, ewmaLog: 3 }, /options\.interval out of range: 4 \(-2 to 3\)/],
    [{ interval: -3, ewmaLog: 3 }, /options\.interval out of range: -3/],
    [{ interval: 0, ewmaLog: 0 }, /options\.ewmaLog out of range: 0 \(1 to 30\)/],
    [{ interval: 0, ewmaLog: 31 }, /options\.ewmaLog out of range: 31/],
  ])('%j is ERANGE naming the option', (options, message) => {
    expect(() => new GenEstimator(stats, options)).toThrow(code('ERANGE'));
    expect(() => new GenEstimator(stats, options)).toThrow(message);
  });

  test('non-integers and missing fields are EINVAL', () => {
    expect(() => new GenEstimator(stats, { interval: 0.5, ewmaLog: 3 })).toThrow(code('EINVAL'));
    expect(() => new GenEstimator(stats, undefined as never)).toThrow(code('EINVAL'));
    expect(() => new GenEstimator(new CounterSet(['bytes']), { interval: 0, ewmaLog: 3 })).toThrow(/no field "packets"/);
  });
});

describe('estimation.configure input', () => {
  test.each([
    [{ cpulist: '0-x' }, 'EINVAL', /invalid cpulist "0-x"/],
    [{ cpulist: '3-1' }, 'EINVAL', /runs backwards/],
    [{ cpulist: '0-100000' }, 'ERANGE', /cpulist out of range/],
    [{ nice: 20 }, 'EINVAL', /invalid nice: 20 \(expected an integer from -20 to 19\)/],
    [{ nice: -21 }, 'EINVAL', /invalid nice: -21/],
    [{ nice: 1.5 }, 'EINVAL', /invalid nice: 1.5/],
    [{ cpus: '0' }, 'EINVAL', /config\.cpus/],
  ])('%j rejects with %s', async (config, errno, message) => {
    const before = estimation.stats();
    const p = estimation.configure(config as never);
    await expect(p).rejects.toThrow(code(errno));
    await expect(estimation.configure(config as never)).rejects.toThrow(message);
    expect(estimation.stats()).toMatchObject({ cpulist: before.cpulist, nice: before.nice }); // unchanged
  });
});

describe('a valid cpulist that leaves no CPU the caller may use', () => {
  kernelTest(cpusMissing(0, 1))('is EINVAL naming it (the kernel would stop estimation silently); "" still stops it', () => {
    // A child process whose main thread is pinned to CPU 0 asks for CPU 1.
    const r = runChild(`
      k.setAffinity([0]);
      const est = new k.RateEstimator(new k.CounterSet(fields));
      const before = k.estimation.stats();
      let error;
      try {
        await k.estimation.configure({ cpulist: '1' });
      } catch (e) {
        error = { code: e.code, message: e.message };
      }
      const after = k.estimation.stats();
      await k.estimation.configure({ cpulist: '' });
      print({ error, unchanged: after.cpulist === before.cpulist && !after.stopped, emptyStops: k.estimation.stats().stopped });
      est.stop();
    `);
    expect(r.stderr).toBe('');
    expect(printed(r)).toEqual([
      {
        error: { code: 'EINVAL', message: expect.stringMatching(/^invalid cpulist: "1" \(none of these CPUs is one the calling thread may use \(0\);/) },
        unchanged: true,
        emptyStops: true,
      },
    ]);
    expect(r.status).toBe(0);
  }, 30_000);
});
