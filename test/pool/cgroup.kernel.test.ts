// The `cgroup` pool option: every worker thread is placed in the group before
// its first task, stays pinned, and leaves the group when the pool closes.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Cgroup, getAffinity } from '../../lib';
import { resolveOptions } from '../../lib/pool/options';
import { startupSteps } from '../../lib/pool/startup';
import { cgroupMissing, GroupJanitor } from '../helpers/cgroup';
import { taskStatus } from '../helpers/cpu';
import { kernelTest } from '../helpers/kernel';
import { fixture, PoolTracker } from '../helpers/pool';

const pools = new PoolTracker();
const janitor = new GroupJanitor();
afterEach(async () => {
  await pools.destroyAll(); // threads out first, then the groups can go
  await janitor.cleanup();
});

const kernel = kernelTest(cgroupMissing({ unified: true, v1Controllers: ['cpu', 'cpuset'] }));
const cpus = getAffinity();

/** The cgroup paths /proc gives for one thread, by hierarchy line. */
function threadCgroups(tid: number): string[] {
  return readFileSync(`/proc/self/task/${tid}/cgroup`, 'utf8').trim().split('\n');
}

describe('WorkerPool option cgroup', () => {
  kernel('workers join a threaded group in every hierarchy before their first task, pinned all the same', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { weight: 50 } }, { threaded: true });
    const pool = pools.create<void, { tid: number; cpu: number }>({ filename: fixture('tasks.js'), cpus, cgroup: cg.path });
    const first = await pool.run(undefined, { name: 'whoami' });
    await pool.ready(); // every worker, not only the one that ran the task
    const workers = pool.stats().workers;
    expect(workers.map((w) => w.tid).sort()).toEqual((await cg.threads()).sort());
    expect(workers.map((w) => w.tid)).toContain(first.tid);
    for (const w of workers) {
      const lines = threadCgroups(w.tid!);
      expect(lines).toContain(`0::${cg.path}`); // unified, threaded
      expect(lines.some((l) => /^\d+:[^:]*\bcpu\b[^:]*:/.test(l) && l.endsWith(`:${cg.path}`))).toBe(true); // v1 cpu
      expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(w.cpu));
    }
    // The main thread stayed where it was.
    expect(threadCgroups(process.pid)).not.toContain(`0::${cg.path}`);
    await pool.close();
    expect(await cg.threads()).toEqual([]);
  });

  kernel('a v1 cpuset resets the mask of a joining thread: the pool pins it again', async () => {
    const cpu = cpus[cpus.length - 1];
    const cg = await Cgroup.create(janitor.name(), { cpuset: { cpus: String(cpu) } }, { threaded: true });
    const pool = pools.create({ filename: fixture('tasks.js'), cpus: [cpu], threadsPerCpu: 2, cgroup: cg });
    await pool.ready();
    for (const w of pool.stats().workers) expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(cpu));
    await pool.close();
  });

  kernel('a CPU outside the group\'s cpuset fails the start with EINVAL', async () => {
    if (cpus.length < 2) throw new Error('needs two CPUs');
    const cg = await Cgroup.create(janitor.name(), { cpuset: { cpus: String(cpus[0]) } }, { threaded: true });
    const pool = pools.create({ filename: fixture('tasks.js'), cpus: [cpus[1]], cgroup: cg });
    await expect(pool.ready()).rejects.toMatchObject({ code: 'EINVAL' });
  });

  kernel('a domain (non-threaded) v2 group refuses worker threads: the start fails with EOPNOTSUPP', async () => {
    const cg = await Cgroup.create(janitor.name(), {});
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, cgroup: cg });
    await expect(pool.ready()).rejects.toMatchObject({ code: 'EOPNOTSUPP' });
    await expect(pool.run(1)).rejects.toMatchObject({ code: expect.any(String) });
  });

  kernel('a cgroup path that could not be opened is opened again by a later worker start', async () => {
    const name = janitor.name();
    const steps = startupSteps(resolveOptions({ filename: fixture('tasks.js'), cgroup: name, pin: false }));
    expect(steps).toHaveLength(1);
    // A thread to place: a worker that reports its tid and waits.
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.postMessage(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()));
       parentPort.once('message', () => process.exit(0));`,
      { eval: true },
    );
    const exited = new Promise((r) => worker.once('exit', r));
    try {
      const tid = await new Promise<number>((r) => worker.once('message', r));
      const identity = { threadId: worker.threadId, tid, cpu: null };
      await expect(steps[0](identity)).rejects.toMatchObject({ code: 'ENOENT' }); // not there yet
      const cg = await Cgroup.create(name, {}, { threaded: true });
      await steps[0](identity);
      expect(await cg.threads()).toEqual([tid]);
    } finally {
      worker.postMessage('exit');
      await exited;
    }
  });

  test('the option must be a Cgroup or a path', () => {
    for (const bad of [5, '', {}, null]) {
      expect(() => pools.create({ filename: fixture('tasks.js'), cgroup: bad as never })).toThrow(
        expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^cgroup: /) }),
      );
    }
  });
});
