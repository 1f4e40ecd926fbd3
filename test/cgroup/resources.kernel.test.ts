/**
 * Limits enforced by the real kernel, in kernkit-test-* groups on this
 * machine's own layout (v1 controllers on a hybrid machine), with children
 * started by kernkit's spawn.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Cgroup, parseCpuList, spawn } from '../../lib';
import { GroupJanitor, cgroupMissing, collect, machineLayoutSync } from '../helpers/cgroup';
import { kernelTest } from '../helpers/kernel';

const janitor = new GroupJanitor();
afterEach(() => janitor.cleanup());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('cpu', () => {
  const kernel = kernelTest(cgroupMissing({ controllers: ['cpu'] }));

  kernel('a busy child under cpu.max 20% of one CPU uses 20% ± 5% over 3 s, by the group\'s own stats', async () => {
    // weight 10000: under contention from other work on this machine, the group still gets its quota.
    const cg = await Cgroup.create(janitor.name(), { cpu: { max: { quota: 20000, period: 100000 }, weight: 10000 } });
    const child = await spawn('/bin/sh', ['-c', 'while :; do :; done'], { cgroup: cg, stdio: 'ignore' });
    await sleep(300); // let the loop start and the bandwidth timer settle
    const before = await cg.stats();
    const t0 = process.hrtime.bigint();
    await sleep(3000);
    const after = await cg.stats();
    const wallUsec = Number(process.hrtime.bigint() - t0) / 1000;
    child.kill('SIGKILL');
    await child.exited;
    const share = (after.cpu.usageUsec! - before.cpu.usageUsec!) / wallUsec;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
    expect(after.cpu.throttledPeriods!).toBeGreaterThan(before.cpu.throttledPeriods!);
    expect(after.cpu.throttledUsec!).toBeGreaterThan(0);
  }, 20000);
});

describe('memory', () => {
  const kernel = kernelTest(cgroupMissing({ controllers: ['memory'] }));

  kernel('a child allocating past a 64 MiB limit is OOM-killed, and the stats say so', async () => {
    const cg = await Cgroup.create(janitor.name(), { memory: { max: '64M', swapMax: 0 } });
    const grow = 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));';
    const child = await spawn(process.execPath, ['-e', grow], { cgroup: cg, stdio: 'ignore' });
    const exit = await child.exited;
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    const stats = await cg.stats();
    expect(stats.memory.limit).toBe(64 * 2 ** 20);
    expect(stats.memory.peak!).toBeGreaterThan(60 * 2 ** 20);
    expect(stats.memory.peak!).toBeLessThanOrEqual(64 * 2 ** 20);
    expect(Math.max(stats.memory.failcnt ?? 0, stats.memory.oomKills ?? 0)).toBeGreaterThan(0);
    expect(stats.memory.oomKills).toBeGreaterThanOrEqual(1);
  }, 30000);
});

describe('cpuset', () => {
  const kernel = kernelTest(cgroupMissing({ controllers: ['cpuset'] }));

  kernel("a child in a group with cpus '1' runs on CPU 1 only", async () => {
    // The CPUs at the top of the cpuset hierarchy, wherever the layout has it.
    const h = machineLayoutSync()!.hierarchyFor('cpuset')!;
    const top = path.join(h.mountPoint, h.version === 2 ? 'cpuset.cpus.effective' : 'cpuset.cpus');
    const available = parseCpuList(readFileSync(top, 'utf8').trim());
    const cpu = available.includes(1) ? 1 : available[available.length - 1];
    const cg = await Cgroup.create(janitor.name(), { cpuset: { cpus: String(cpu) } });
    const child = await spawn('grep', ['Cpus_allowed_list', '/proc/self/status'], { cgroup: cg, stdio: ['ignore', 'pipe', 'inherit'] });
    const [out, exit] = await Promise.all([collect(child.stdout), child.exited]);
    expect(exit.code).toBe(0);
    expect(out.trim()).toBe(`Cpus_allowed_list:\t${cpu}`);
    expect((await cg.limits()).cpuset).toEqual({ cpus: String(cpu), mems: expect.any(String) });
  });
});

describe('pids', () => {
  const kernel = kernelTest(cgroupMissing({ controllers: ['pids'] }));

  kernel('with pids.max 5 the group holds 5 tasks and the sixth fork fails', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 5 } });
    // The shell is task 1; each "sleep &" is one fork.
    const script = 'for i in 1 2 3 4 5 6 7 8; do sleep 30 </dev/null >/dev/null 2>&1 & echo forked $i; done';
    const child = await spawn('/bin/sh', ['-c', script], { cgroup: cg, stdio: ['ignore', 'pipe', 'pipe'] });
    const [out, err, exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
    expect(out.trim().split('\n')).toEqual(['forked 1', 'forked 2', 'forked 3', 'forked 4']);
    expect(err).toMatch(/fork/i);
    expect(exit.code).not.toBe(0);
    const stats = await cg.stats();
    expect(stats.pids.limit).toBe(5);
    expect(stats.pids.rejected).toBeGreaterThanOrEqual(1);
    expect(stats.pids.current).toBe(4); // the sleeps outlive the shell
  }, 20000);
});
