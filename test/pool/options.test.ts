import { KernkitError, type WorkerPoolOptions, getAffinity, possibleCpuCount } from '../../lib';
import { fixture, PoolTracker } from '../helpers/pool';

const pools = new PoolTracker();
afterEach(() => pools.destroyAll());

const filename = fixture('tasks.js');

function optionError(options: unknown): KernkitError {
  let err: unknown;
  try {
    pools.create(options as WorkerPoolOptions);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KernkitError);
  return err as KernkitError;
}

describe('bad options throw from the constructor, naming the option', () => {
  test.each([
    [{}, 'EINVAL', /filename/],
    [{ filename: 42 }, 'EINVAL', /filename/],
    [{ filename: '/nonexistent/kernkit/task.js' }, 'ENOENT', /no such file/],
    [{ filename: new URL('https://example.com/task.js') }, 'EINVAL', /file: URL/],
    [{ filename, cpus: '0-' }, 'EINVAL', /at position 2/],
    [{ filename, cpus: '0-3:1' }, 'EINVAL', /"\/" is missing/],
    [{ filename, cpus: String(possibleCpuCount()) }, 'ERANGE', /names CPU/],
    [{ filename, cpus: [possibleCpuCount()] }, 'ERANGE', /does not exist/],
    [{ filename, cpus: [] }, 'EINVAL', /at least one CPU/],
    [{ filename, cpus: '' }, 'EINVAL', /at least one CPU/],
    [{ filename, cpus: 3 }, 'EINVAL', /cpulist/],
    [{ filename, threadsPerCpu: 0 }, 'ERANGE', /threadsPerCpu/],
    [{ filename, threadsPerCpu: 65 }, 'ERANGE', /threadsPerCpu/],
    [{ filename, threadsPerCpu: 1.5 }, 'EINVAL', /threadsPerCpu/],
    [{ filename, maxQueue: -1 }, 'ERANGE', /maxQueue/],
    [{ filename, maxQueue: 'lots' }, 'EINVAL', /maxQueue/],
    [{ filename, nice: 20 }, 'ERANGE', /nice/],
    [{ filename, nice: -21 }, 'ERANGE', /nice/],
    [{ filename, nice: '5' }, 'EINVAL', /nice/],
    [{ filename, pin: 'yes' }, 'EINVAL', /pin/],
    [{ filename, name: '' }, 'EINVAL', /name/],
    [{ filename, resourceLimits: 5 }, 'EINVAL', /resourceLimits/],
    [{ filename, execArgv: '--foo' }, 'EINVAL', /execArgv/],
    [{ filename, maxThreads: 4 }, 'EINVAL', /unknown option.*maxThreads/],
  ])('%p', (options, code, message) => {
    const err = optionError(options);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  test('a non-object', () => {
    expect(optionError(undefined).code).toBe('EINVAL');
    expect(optionError('task.js').code).toBe('EINVAL');
  });
});

describe('bad run() options reject', () => {
  test('signal, transferList and name', async () => {
    const pool = pools.create({ filename, cpus: getAffinity() });
    await expect(pool.run(1, { signal: {} as AbortSignal })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('signal') });
    await expect(pool.run(1, { transferList: 'x' as unknown as [] })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.run(1, { name: 7 as unknown as string })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.run(1, null as unknown as undefined)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(pool.stats().submitted).toBe(0);
    expect(await pool.run(1)).toBe(1);
    await pool.close();
  });
});

test('defaults: the calling thread\'s CPUs, one worker each, relative filename resolved', async () => {
  const pool = pools.create({ filename: require('node:path').relative(process.cwd(), filename) });
  expect(pool.cpus).toEqual(getAffinity());
  await pool.ready();
  expect(pool.stats().threads).toBe(getAffinity().length);
  expect(pool.threads).toHaveLength(getAffinity().length);
  await pool.close();
});
