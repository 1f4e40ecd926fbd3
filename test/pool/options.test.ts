import { pathToFileURL } from 'node:url';
import { SHARE_ENV } from 'node:worker_threads';
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
    [{}, 'EINVAL', /^filename: undefined \(expected the path or file: URL of the task module\)$/],
    [{ filename: 42 }, 'EINVAL', /^filename: 42 /],
    [{ filename: '' }, 'EINVAL', /^filename: "" /],
    [{ filename: '/nonexistent/kernkit/task.js' }, 'ENOENT', /^filename: "\/nonexistent\/kernkit\/task.js" \(expected an existing file\)$/],
    [{ filename: new URL('https://example.com/task.js') }, 'EINVAL', /^filename: "https:\/\/example.com\/task.js" \(expected a path or a file: URL\)$/],
    [{ filename: 'file://host/task.js' }, 'EINVAL', /^filename: "file:\/\/host\/task.js" \(expected a file: URL of a local path\)$/],
    [{ filename, cpus: '0-' }, 'EINVAL', /at position 2/],
    [{ filename, cpus: '0-3:1' }, 'EINVAL', /"\/" is missing/],
    [{ filename, cpus: String(possibleCpuCount()) }, 'ERANGE', /names CPU/],
    [{ filename, cpus: [possibleCpuCount()] }, 'ERANGE', /does not exist/],
    [{ filename, cpus: [] }, 'EINVAL', /at least one CPU/],
    [{ filename, cpus: '' }, 'EINVAL', /at least one CPU/],
    [{ filename, cpus: 3 }, 'EINVAL', /cpulist/],
    [{ filename, threadsPerCpu: 0 }, 'ERANGE', /^threadsPerCpu: 0 \(expected an integer from 1 to 64\)$/],
    [{ filename, threadsPerCpu: 65 }, 'ERANGE', /^threadsPerCpu: 65 /],
    [{ filename, threadsPerCpu: 1.5 }, 'EINVAL', /^threadsPerCpu: 1.5 /],
    [{ filename, maxQueue: -1 }, 'ERANGE', /^maxQueue: -1 \(expected an integer >= 0\)$/],
    [{ filename, maxQueue: 1.5 }, 'EINVAL', /^maxQueue: 1.5 /],
    [{ filename, maxQueue: 'lots' }, 'EINVAL', /^maxQueue: "lots" \(expected an integer >= 0, Infinity or 'auto'\)$/],
    [{ filename, nice: 20 }, 'ERANGE', /^nice: 20 \(expected an integer from -20 to 19\)$/],
    [{ filename, nice: -21 }, 'ERANGE', /^nice: -21 /],
    [{ filename, nice: '5' }, 'EINVAL', /^nice: "5" /],
    [{ filename, pin: 'yes' }, 'EINVAL', /^pin: "yes" \(expected true or false\)$/],
    [{ filename, name: '' }, 'EINVAL', /^name: "" \(expected the name of an export\)$/],
    [{ filename, name: 7 }, 'EINVAL', /^name: 7 /],
    [{ filename, cgroup: 5 }, 'EINVAL', /^cgroup: 5 \(expected a Cgroup or the path of one\)$/],
    [{ filename, cgroup: '' }, 'EINVAL', /^cgroup: "" /],
    [{ filename, rates: 'yes' }, 'EINVAL', /^rates: "yes" \(expected true, false or \{ interval, ewmaLog \}\)$/],
    [{ filename, rates: null }, 'EINVAL', /^rates: null /],
    [{ filename, resourceLimits: 5 }, 'EINVAL', /^resourceLimits: 5 /],
    [{ filename, resourceLimits: null }, 'EINVAL', /^resourceLimits: null /],
    [{ filename, resourceLimits: { maxOldSizeMb: 64 } }, 'EINVAL', /^resourceLimits.maxOldSizeMb: unknown option/],
    [{ filename, resourceLimits: { stackSizeMb: '4' } }, 'EINVAL', /^resourceLimits.stackSizeMb: "4" \(expected a finite number\)$/],
    [{ filename, resourceLimits: { maxOldGenerationSizeMb: 0 } }, 'ERANGE', /^resourceLimits.maxOldGenerationSizeMb: 0 \(expected a number of megabytes > 0\)$/],
    [{ filename, env: null }, 'EINVAL', /^env: null \(expected an object of strings or SHARE_ENV\)$/],
    [{ filename, env: 'PATH=/bin' }, 'EINVAL', /^env: "PATH=\/bin" /],
    [{ filename, env: { N: 5 } }, 'EINVAL', /^env.N: 5 \(expected a string\)$/],
    [{ filename, execArgv: '--foo' }, 'EINVAL', /^execArgv: "--foo" \(expected an array\)$/],
    [{ filename, execArgv: [5] }, 'EINVAL', /^execArgv\[0\]: 5 /],
    [{ filename, execArgv: ['--no-such-node-flag'] }, 'EINVAL', /^execArgv: \["--no-such-node-flag"\] \(expected Node flags a worker thread accepts\)$/],
    [{ filename, argv: 'x' }, 'EINVAL', /^argv: "x" \(expected an array\)$/],
    [{ filename, argv: ['ok', Symbol('no')] }, 'EINVAL', /^argv\[1\]: /],
    [{ filename, workerData: { f: () => 1 } }, 'EINVAL', /^workerData: .* \(expected a value the structured clone algorithm can copy\)$/],
    [{ filename, maxThreads: 4 }, 'EINVAL', /^options.maxThreads: unknown option \(expected one of filename, name, /],
  ])('%p', (options, code, message) => {
    const err = optionError(options);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  test('a non-object', () => {
    expect(optionError(undefined)).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^filename: undefined/) });
    expect(optionError('task.js')).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^options: "task.js" \(expected an object/) });
    expect(optionError(null).code).toBe('EINVAL');
    expect(optionError([filename]).code).toBe('EINVAL');
  });

  test('a NUL byte in a filename is EINVAL, not a shorter path that exists', () => {
    // The part before the NUL exists: a check that stops at the NUL would accept it.
    for (const bad of [`${filename}\0junk`, pathToFileURL(filename).href + '%00junk', new URL(pathToFileURL(filename).href + '%00junk')]) {
      const err = optionError({ filename: bad });
      expect(err.code).toBe('EINVAL');
      expect(err.message).toMatch(/^filename: ".*\\u0000junk" \(expected the path or file: URL of the task module without NUL bytes\)$/);
    }
    expect(optionError({ filename, cgroup: 'kernkit-test\0x' })).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^cgroup: /) });
    expect(optionError({ filename, env: { A: 'x\0y' } })).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^env.A: /) });
    expect(optionError({ filename, execArgv: ['--a\0b'] })).toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^execArgv\[0\]: /) });
  });

  test("workerData that cannot be copied keeps the clone error as cause; Node's execArgv error likewise", () => {
    const data = optionError({ filename, workerData: () => 1 });
    expect((data as Error & { cause: Error }).cause.name).toBe('DataCloneError');
    const flags = optionError({ filename, execArgv: ['--no-such-node-flag'] });
    expect((flags as Error & { cause: { code: string } }).cause.code).toBe('ERR_WORKER_INVALID_EXEC_ARGV');
  });
});

describe('good options of every kind are taken', () => {
  test('env, resourceLimits, execArgv, argv and SHARE_ENV reach the workers', async () => {
    const pool = pools.create({
      filename,
      cpus: [getAffinity()[0]],
      env: { KERNKIT_TEST_VAR: 'yes', UNSET: undefined },
      resourceLimits: { maxOldGenerationSizeMb: 64, stackSizeMb: 4 },
      execArgv: ['--no-warnings'],
      argv: ['one', 2],
    });
    expect(await pool.run(1)).toBe(1);
    await pool.close();
    const shared = pools.create({ filename, cpus: [getAffinity()[0]], env: SHARE_ENV });
    expect(await shared.run(2)).toBe(2);
    await shared.close();
  });
});

describe('bad run() options reject', () => {
  test('signal, transferList and name', async () => {
    const pool = pools.create({ filename, cpus: getAffinity() });
    await expect(pool.run(1, { signal: {} as AbortSignal })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('signal') });
    await expect(pool.run(1, { transferList: 'x' as unknown as [] })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.run(1, { name: 7 as unknown as string })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.run(1, null as unknown as undefined)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pool.run(1, { signa: AbortSignal.abort() } as never)).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringMatching(/^run options.signa: unknown option/),
    });
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
