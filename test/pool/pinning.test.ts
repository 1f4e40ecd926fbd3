import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { formatCpuList, getAffinity, getNice, onlineCpus } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { cpusetMissing, distPath, makeCpuset, processTids, taskNice, taskStatus, writeCgroupFile } from '../helpers/cpu';
import { fixture, Gate, PoolTracker } from '../helpers/pool';

const pools = new PoolTracker();
afterEach(() => pools.destroyAll());

const cpus = getAffinity();

interface WhoAmI {
  tid: number;
  cpu: number;
  affinity: number[];
  nice: number;
}

describe('every worker pins its own thread to its CPU', () => {
  test('checked from outside through /proc/self/task/<tid>/status', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus, threadsPerCpu: 2 });
    await pool.ready();
    const workers = pool.stats().workers;
    expect(workers).toHaveLength(cpus.length * 2);
    expect(workers.map((w) => w.cpu).sort()).toEqual(cpus.flatMap((c) => [c, c]).sort());
    const tids = new Set(processTids());
    for (const w of workers) {
      expect(w.state).toBe('idle');
      expect(tids.has(w.tid!)).toBe(true);
      expect(w.tid).not.toBe(process.pid);
      expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(w.cpu));
    }
    // The main thread keeps its own mask.
    expect(getAffinity()).toEqual(cpus);
    await pool.close();
  });

  test('inside each task, the thread is pinned and runs on its CPU', async () => {
    const pool = pools.create<string, WhoAmI>({ filename: fixture('tasks.js'), cpus, threadsPerCpu: 2 });
    await pool.ready();
    const byTid = new Map(pool.stats().workers.map((w) => [w.tid!, w.cpu!]));
    const results = await Promise.all(Array.from({ length: 40 }, () => pool.run('', { name: 'whoami' })));
    for (const r of results) {
      expect(byTid.has(r.tid)).toBe(true);
      expect(r.affinity).toEqual([byTid.get(r.tid)]);
      expect(r.cpu).toBe(byTid.get(r.tid)); // currentCpu() is within the one-CPU mask
    }
    await pool.close();
  });

  test('a one-CPU pool puts all its workers on that CPU', async () => {
    const cpu = cpus[cpus.length - 1];
    const pool = pools.create({ filename: fixture('tasks.js'), cpus: String(cpu), threadsPerCpu: 3 });
    await pool.ready();
    const workers = pool.stats().workers;
    expect(workers).toHaveLength(3);
    for (const w of workers) expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(cpu));
    expect(pool.cpus).toEqual([cpu]);
    expect(pool.stats().cpus).toEqual([cpu]);
    await pool.close();
  });

  test('nice applies to each worker thread, not to the main thread', async () => {
    const mainNice = getNice();
    const pool = pools.create<string, WhoAmI>({ filename: fixture('tasks.js'), cpus, nice: Math.min(19, mainNice + 4) });
    await pool.ready();
    for (const w of pool.stats().workers) expect(taskNice(w.tid!)).toBe(Math.min(19, mainNice + 4));
    expect((await pool.run('', { name: 'whoami' })).nice).toBe(Math.min(19, mainNice + 4));
    expect(getNice()).toBe(mainNice);
    await pool.close();
  });

  test('pin: false leaves the workers on the inherited mask', async () => {
    const pool = pools.create<string, WhoAmI>({ filename: fixture('tasks.js'), cpus, pin: false });
    await pool.ready();
    for (const w of pool.stats().workers) {
      expect(w.cpu).toBeNull();
      expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(formatCpuList(cpus));
    }
    expect((await pool.run('', { name: 'whoami' })).affinity).toEqual(cpus);
    await pool.close();
  });

  test('workers pinned while tasks run stay pinned (a held task on every worker)', async () => {
    const pool = pools.create({ filename: fixture('tasks.js'), cpus });
    const gate = new Gate();
    const held = cpus.map(() => pool.run(gate.buffer, { name: 'hold' }));
    await gate.whenStarted(cpus.length);
    for (const w of pool.stats().workers) {
      expect(w.state).toBe('busy');
      expect(taskStatus(w.tid!, 'Cpus_allowed_list')).toBe(String(w.cpu));
    }
    gate.open();
    const where = (await Promise.all(held)) as Array<{ tid: number; cpu: number }>;
    expect(new Set(where.map((r) => r.cpu))).toEqual(new Set(cpus));
    await pool.close();
  });
});

const cpusetTest = kernelTest(cpusetMissing() ?? (onlineCpus().length < 2 ? 'needs two online CPUs' : null));
cpusetTest('a CPU the cpuset forbids: workers cannot pin, ready() and run() reject with EINVAL', () => {
  const cg = makeCpuset();
  try {
    const [allowed, forbidden] = onlineCpus();
    writeCgroupFile(path.join(cg.dir, 'cpuset.cpus'), String(allowed));
    writeCgroupFile(path.join(cg.dir, 'cpuset.mems'), '0');
    // A child process inside the cpuset builds the pool (this test process stays where it is).
    const script = `
      require('node:fs').writeFileSync(${JSON.stringify(path.join(cg.dir, 'cgroup.procs'))}, String(process.pid));
      const { WorkerPool } = require(${JSON.stringify(distPath)});
      (async () => {
        const out = {};
        const pool = new WorkerPool({ filename: ${JSON.stringify(fixture('tasks.js'))}, cpus: '${forbidden}' });
        await pool.ready().catch((e) => { out.ready = e.code; out.syscall = e.syscall; out.message = e.message; });
        await pool.run(1).catch((e) => { out.run = e.code; });
        await pool.close();
        const good = new WorkerPool({ filename: ${JSON.stringify(fixture('tasks.js'))}, cpus: '${allowed}' });
        out.good = await good.run(7);
        await good.close();
        process.stdout.write(JSON.stringify(out));
      })();
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    expect(out).toMatchObject({ ready: 'EINVAL', syscall: 'sched_setaffinity', run: 'ESHUTDOWN', good: 7 });
    expect(out.message).toMatch(/cpuset/);
  } finally {
    cg.remove();
  }
});
