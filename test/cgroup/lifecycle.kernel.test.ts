/**
 * Create, open, set, membership, freeze, kill and delete on the real kernel:
 * v2 paths on the unified mount (the layout restricted to it), v1 paths on the
 * controller hierarchies (the layout without it), and the hybrid default.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Cgroup, CgroupLayout, attachThreadToCgroup, cgroupsOf, parseCpuList, spawn, type CgroupChild } from '../../lib';
import { type IoOp, readText, removeDirs } from '../../lib/cgroup/files';
import { addon } from '../../lib/native';
import { GroupJanitor, cgroupMissing, dirIn, exists, processGone } from '../helpers/cgroup';
import { kernelTest } from '../helpers/kernel';

const janitor = new GroupJanitor();
afterEach(() => janitor.cleanup());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const missing = cgroupMissing({ unified: true, v1Controllers: ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids', 'freezer'] });
const kernel = kernelTest(missing);

let machine: CgroupLayout;
let v1: CgroupLayout;
let v2: CgroupLayout;
beforeAll(async () => {
  if (missing) return;
  machine = await CgroupLayout.current();
  v1 = machine.legacyOnly();
  v2 = machine.unifiedOnly();
});

/** A child that prints an increasing counter every 20 ms. */
async function counter(cg: Cgroup): Promise<{ child: CgroupChild; last: () => number }> {
  const child = await spawn(process.execPath, ['-e', 'let i = 0; setInterval(() => console.log(++i), 20);'], {
    cgroup: cg,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let last = 0;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const nums = d.trim().split('\n').map(Number);
    last = nums[nums.length - 1];
  });
  return { child, last: () => last };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('create, open, set, limits', () => {
  kernel('create places the group in the unified hierarchy and in each controller hierarchy it needs', async () => {
    const name = janitor.name();
    const cg = await Cgroup.create(name, { memory: { max: '32M' }, pids: { max: 20 } });
    const where = cg.hierarchies.map((h) => h.mountPoint);
    expect(where).toEqual([machine.unified!.mountPoint, machine.hierarchyFor('memory')!.mountPoint, machine.hierarchyFor('pids')!.mountPoint]);
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, name))).toBe(where.includes(h.mountPoint));
    const opened = await Cgroup.open(name);
    expect(opened.hierarchies).toEqual(cg.hierarchies);
    expect(await opened.limits()).toEqual({ memory: { max: 32 * 2 ** 20, high: 'max', swapMax: 'max' }, pids: { max: 20 } });
  });

  kernel('v1 layout: freezer and cpuacct come along, so the group can be frozen, killed and accounted', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 3 } }, { layout: v1 });
    const controllers = cg.hierarchies.flatMap((h) => h.controllers);
    expect(controllers).toEqual(expect.arrayContaining(['pids', 'freezer', 'cpuacct']));
    expect(cg.hierarchies.some((h) => h.version === 2)).toBe(false);
  });

  kernel('a v1 cpuset starts with the parent\'s cpus and mems', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { controllers: ['cpuset'] });
    const dir = cg.directory('cpuset')!;
    const parent = path.dirname(dir);
    expect(readFileSync(path.join(dir, 'cpuset.cpus'), 'utf8')).toBe(readFileSync(path.join(parent, 'cpuset.cpus'), 'utf8'));
    expect(readFileSync(path.join(dir, 'cpuset.mems'), 'utf8')).toBe(readFileSync(path.join(parent, 'cpuset.mems'), 'utf8'));
  });

  kernel('set changes limits, adds a controller the group lacked, and limits() reads them back', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 10 } });
    const sleeper = await spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' });
    await cg.set({ pids: { max: 'max' }, cpu: { max: { quota: 50000, period: 200000 }, weight: 250 } });
    expect(await cg.limits()).toEqual({ pids: { max: 'max' }, cpu: { max: { quota: 50000, period: 200000 }, weight: 250 } });
    // The running process was moved into the new cpu hierarchy too.
    const where = await cgroupsOf(sleeper.pid);
    expect(where.get(machine.hierarchyFor('cpu')!)).toBe(cg.path);
    await cg.set({ cpu: { max: 'max' } });
    expect((await cg.limits()).cpu).toEqual({ max: 'max', weight: 250 });
  });

  kernel('a set refused by the kernel changes nothing', async () => {
    const parent = await Cgroup.create(janitor.name(), { cpu: { max: { quota: 10000, period: 100000 } } });
    const child = await Cgroup.create(`${parent.path}/job`, { pids: { max: 7 }, cpu: { max: { quota: 5000, period: 100000 } } });
    const before = await child.limits();
    // 50% of a CPU under a parent capped at 10%: the kernel refuses the quota (EINVAL).
    await expect(child.set({ pids: { max: 3 }, cpu: { max: { quota: 50000, period: 100000 } } })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('cpu.cfs_quota_us'),
    });
    expect(await child.limits()).toEqual(before);
  });

  kernel('v1: a set that would drop the swap bound (memory.max unlimited) is refused and changes nothing', async () => {
    const cg = await Cgroup.create(janitor.name(), { memory: { max: '64M', swapMax: '16M' } });
    const before = await cg.limits();
    expect(before.memory).toEqual({ max: 64 * 2 ** 20, high: 'max', swapMax: 16 * 2 ** 20 });
    await expect(cg.set({ memory: { max: 'max' } })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('finite memory.max') });
    expect(await cg.limits()).toEqual(before);
    await cg.set({ memory: { max: 'max', swapMax: 'max' } });
    expect((await cg.limits()).memory).toEqual({ max: 'max', high: 'max', swapMax: 'max' });
  });

  kernel('a set that fails halfway restores what it had written', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { weight: 100 }, cpuset: { mems: '0' }, pids: { max: 7 } });
    const sleeper = await spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' });
    const before = await cg.limits();
    // cpu.shares and the CFS quota are written first; then v1 refuses to empty the cpuset of a busy group (ENOSPC).
    await expect(cg.set({ cpu: { weight: 500, max: { quota: 30000, period: 100000 } }, cpuset: { cpus: '' } })).rejects.toMatchObject({
      code: 'ENOSPC',
    });
    expect(await cg.limits()).toEqual(before);
    sleeper.kill('SIGKILL');
    await sleeper.exited;
  });

  kernel('a set refused by validation adds no controller: nothing is created and no process moves', async () => {
    const cpus = parseCpuList(readFileSync(path.join(machine.hierarchyFor('cpuset')!.mountPoint, 'cpuset.cpus'), 'utf8').trim());
    if (cpus.length < 2) throw new Error('needs two CPUs in the root cpuset');
    const parent = await Cgroup.create(janitor.name(), { cpuset: { cpus: String(cpus[0]) } });
    const child = await Cgroup.create(`${parent.path}/job`, { pids: { max: 10 } });
    const sleeper = await spawn('sleep', ['30'], { cgroup: child, stdio: 'ignore' });
    try {
      const hierarchies = child.hierarchies;
      const where = await cgroupsOf(sleeper.pid);
      // cpu and cpuset are new to the group; the CPU outside the parent's is refused before either is added.
      await expect(child.set({ cpu: { weight: 50 }, cpuset: { cpus: String(cpus[1]) } })).rejects.toMatchObject({ code: 'EACCES' });
      for (const c of ['cpu', 'cpuset']) expect(await exists(dirIn(machine.hierarchyFor(c)!, child.path))).toBe(false);
      expect(child.hierarchies).toEqual(hierarchies);
      expect(await cgroupsOf(sleeper.pid)).toEqual(where);
    } finally {
      sleeper.kill('SIGKILL');
      await sleeper.exited;
    }
  });

  kernel('a set that fails after adding a controller moves the processes back and removes the new directory', async () => {
    const parent = await Cgroup.create(janitor.name(), { cpu: { max: { quota: 10000, period: 100000 } } });
    const child = await Cgroup.create(`${parent.path}/job`, { pids: { max: 10 } });
    const sleeper = await spawn('sleep', ['30'], { cgroup: child, stdio: 'ignore' });
    try {
      const hierarchies = child.hierarchies;
      const where = await cgroupsOf(sleeper.pid);
      // The group joins the cpu hierarchy, then the kernel refuses 50% under a 10% parent (before the sleeper would follow).
      await expect(child.set({ cpu: { max: { quota: 50000, period: 100000 } } })).rejects.toMatchObject({
        code: 'EINVAL',
        message: expect.stringContaining('cpu.cfs_quota_us'),
      });
      expect(await exists(dirIn(machine.hierarchyFor('cpu')!, child.path))).toBe(false);
      expect(child.hierarchies).toEqual(hierarchies);
      expect(await cgroupsOf(sleeper.pid)).toEqual(where);
    } finally {
      sleeper.kill('SIGKILL');
      await sleeper.exited;
    }
    await child.delete();
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, child.path))).toBe(false);
  });

  kernel('a set that adds a controller writes its limits before any process joins the new hierarchy (issue 15 §6)', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { weight: 100 } });
    const sleeper = await spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' });
    const pidsDir = dirIn(machine.hierarchyFor('pids')!, cg.path);
    const cgroupfs = addon.cgroupfs as { run: (ops: IoOp[], stop: boolean) => Promise<unknown> };
    const run = jest.spyOn(cgroupfs, 'run');
    try {
      await cg.set({ pids: { max: 1 } });
      const writes = run.mock.calls.flatMap(([ops]) => ops.filter((op) => op[0] === 'write').map((op) => op[1]));
      const limit = writes.indexOf(path.join(pidsDir, 'pids.max'));
      const join = writes.indexOf(path.join(pidsDir, 'cgroup.procs'));
      expect(limit).toBeGreaterThanOrEqual(0);
      expect(join).toBeGreaterThan(limit);
      expect((await cgroupsOf(sleeper.pid)).get(machine.hierarchyFor('pids')!)).toBe(cg.path);
    } finally {
      run.mockRestore();
      sleeper.kill('SIGKILL');
      await sleeper.exited;
    }
  });

  kernel('a create that fails halfway leaves nothing behind', async () => {
    const parent = await Cgroup.create(janitor.name(), { cpu: { max: { quota: 10000, period: 100000 } } });
    const name = `${parent.path}/job`;
    await expect(Cgroup.create(name, { pids: { max: 5 }, memory: { max: '16M' }, cpu: { max: { quota: 50000, period: 100000 } } })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('cpu.cfs_quota_us'),
    });
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, name))).toBe(false);
    expect(await exists(dirIn(machine.hierarchyFor('cpu')!, parent.path))).toBe(true);
    // Missing ancestors made on the way are removed too.
    const deep = `${janitor.name()}/a/b`;
    // Node 999 is not among the machine's memory nodes: the kernel refuses the write (EINVAL).
    await expect(Cgroup.create(deep, { cpuset: { cpus: '0', mems: '999' } })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('cpuset.mems'),
    });
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, deep.split('/').slice(0, 2).join('/')))).toBe(false);
  });

  kernel('two creates at once under a parent that does not exist yet both succeed', async () => {
    const base = janitor.name();
    const limits = { pids: { max: 5 }, cpuset: { mems: '0' } };
    const [a, b] = await Promise.all([Cgroup.create(`${base}/a`, limits), Cgroup.create(`${base}/b`, limits)]);
    for (const cg of [a, b]) {
      expect(cg.hierarchies.map((h) => h.mountPoint)).toEqual(machine.hierarchies.filter((h) => ['unified', 'cpuset', 'pids'].some((n) => h.mountPoint.endsWith(n))).map((h) => h.mountPoint));
      expect(await cg.limits()).toMatchObject({ pids: { max: 5 }, cpuset: { mems: '0' } });
    }
    // The shared parent got its cpuset from its own parent, once, and both children theirs from it.
    const cpusetDir = (p: string): string => path.join(machine.hierarchyFor('cpuset')!.mountPoint, p);
    const rootCpus = readFileSync(cpusetDir('cpuset.cpus'), 'utf8');
    for (const p of [base, `${base}/a`, `${base}/b`]) expect(readFileSync(path.join(cpusetDir(p), 'cpuset.cpus'), 'utf8')).toBe(rootCpus);
  });

  kernel('bad input: unknown controller, malformed values, cpus outside the parent, escaping paths, missing groups', async () => {
    const name = janitor.name();
    await expect(Cgroup.create(name, { gpu: { max: 1 } } as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('limits.gpu') });
    await expect(Cgroup.create(name, {}, { controllers: ['bogus'] })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(Cgroup.create(name, { memory: { max: -5 } })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(Cgroup.create(name, { memory: { max: '5 gigs' } })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(Cgroup.create(name, { cpu: { weight: 0 } })).rejects.toMatchObject({ code: 'ERANGE' });
    // v1 bounds swap as memsw = max + swap: without a finite max there is nothing to add it to.
    await expect(Cgroup.create(name, { memory: { swapMax: '1G' } })).rejects.toMatchObject({
      code: 'EINVAL',
      message: expect.stringContaining('finite memory.max'),
    });
    await expect(Cgroup.create('/../etc', {})).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(Cgroup.create('/sys/fs/cgroup/not-a-mount/x', {})).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(Cgroup.open(name)).rejects.toMatchObject({ code: 'ENOENT' });
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, name))).toBe(false);
    // cpus outside the parent's set: a parent with one CPU, a child asking for another.
    const cpus = parseCpuList(readFileSync(path.join(machine.hierarchyFor('cpuset')!.mountPoint, 'cpuset.cpus'), 'utf8').trim());
    const parent = await Cgroup.create(janitor.name(), { cpuset: { cpus: String(cpus[0]) } });
    if (cpus.length > 1) {
      await expect(Cgroup.create(`${parent.path}/x`, { cpuset: { cpus: String(cpus[1]) } })).rejects.toMatchObject({
        code: 'EACCES',
        message: expect.stringContaining('outside the parent'),
      });
      for (const h of machine.hierarchies) expect(await exists(dirIn(h, `${parent.path}/x`))).toBe(false);
    }
    await expect(Cgroup.create(parent.path, {})).rejects.toMatchObject({ code: 'EEXIST' });
  });
});

describe('membership', () => {
  kernel('attach moves a process into every hierarchy of the group; procs and threads list it', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 50 } });
    const child = await spawn(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => child.stdout!.once('data', r)); // node is up, with its helper threads
      await cg.attach(child.pid);
      const where = await cgroupsOf(child.pid);
      for (const h of cg.hierarchies) expect(where.get(h)).toBe(cg.path);
      expect(await cg.procs()).toEqual([child.pid]);
      const threads = await cg.threads();
      expect(threads).toContain(child.pid);
      expect(threads.length).toBeGreaterThan(1); // node has helper threads
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
  });

  kernel('an attach refused in one hierarchy moves the process back in the others', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { controllers: ['cpuset'] });
    await cg.set({ cpuset: { cpus: '' } }); // an empty cpuset refuses tasks (ENOSPC)
    const child = await spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const before = await cgroupsOf(child.pid);
      await expect(cg.attach(child.pid)).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(await cgroupsOf(child.pid)).toEqual(before);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
  });

  kernel('v2: a worker thread places itself in a threaded group (cgroup.threads); the process stays', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: v2, threaded: true });
    expect(readFileSync(path.join(cg.directory()!, 'cgroup.type'), 'utf8').trim()).toBe('threaded');
    const tid = await runWorker(cg.path, 'v2');
    expect(tid).toBeGreaterThan(0);
    expect(tid).not.toBe(process.pid);
    expect(await cg.threads()).toEqual([]); // the worker has exited
  });

  kernel('hybrid: a threaded group with a v1 cpu limit takes a worker thread in both halves; kill refuses our own threads', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { max: { quota: 50000, period: 100000 } } }, { threaded: true });
    const { tid, release } = await startWorker(cg.path, 'hybrid', true);
    try {
      expect(await cg.threads()).toEqual([tid]);
      await expect(cg.kill()).rejects.toMatchObject({ code: 'EBUSY', message: expect.stringContaining('this process') });
      await expect(cg.delete({ kill: true })).rejects.toMatchObject({ code: 'EBUSY' });
    } finally {
      await release();
    }
    await cg.delete();
  });

  kernel('v1: a worker thread places itself in the group (tasks); a domain v2 group refuses threads', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { weight: 50 } }, { layout: v1 });
    const tid = await runWorker(cg.path, 'v1');
    expect(tid).toBeGreaterThan(0);
    const domain = await Cgroup.create(janitor.name(), {}, { layout: v2 });
    await expect(domain.attachThread()).rejects.toMatchObject({ code: 'EOPNOTSUPP', message: expect.stringContaining('threaded') });
  });
});

// Runs test/cgroup/thread-worker.js: it attaches itself, reports its tid and where /proc says it is.
// Without `stay` it then exits; with it, it waits until the returned release() is called.
async function startWorker(cgPath: string, mode: 'v1' | 'v2' | 'hybrid', stay = false): Promise<{ tid: number; release: () => Promise<void> }> {
  const worker = new Worker(path.join(__dirname, 'thread-worker.js'), { workerData: { cgPath, mode, stay } });
  const exited = new Promise((r) => worker.once('exit', r));
  const report = await new Promise<{ tid: number; cgroup: string; processCgroup: string; error?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const release = async (): Promise<void> => {
    worker.postMessage('exit');
    await exited;
  };
  if (report.error) {
    await release();
    throw new Error(report.error);
  }
  const lines = report.cgroup.trim().split('\n');
  if (mode !== 'v1') expect(lines).toContain(`0::${cgPath}`);
  if (mode !== 'v2') expect(lines.filter((l) => !l.startsWith('0::') && l.endsWith(`:${cgPath}`)).length).toBeGreaterThanOrEqual(1);
  expect(report.processCgroup).not.toContain(cgPath); // only the thread moved
  if (!stay) await exited;
  return { tid: report.tid, release };
}

async function runWorker(cgPath: string, mode: 'v1' | 'v2' | 'hybrid'): Promise<number> {
  return (await startWorker(cgPath, mode)).tid;
}

describe('freeze and thaw', () => {
  for (const [label, pick] of [
    ['v2 (cgroup.freeze)', () => v2],
    ['v1 (freezer.state)', () => v1],
  ] as Array<[string, () => CgroupLayout]>) {
    kernel(`${label}: a counting child makes no progress while frozen and resumes after thaw`, async () => {
      const cg = await Cgroup.create(janitor.name(), {}, { layout: pick() });
      const { child, last } = await counter(cg);
      try {
        await until(() => last() >= 3, 'the counter to start');
        await cg.freeze();
        await sleep(100); // let lines already in the pipe arrive
        const frozenAt = last();
        await sleep(400); // 20 ticks' worth
        expect(last()).toBe(frozenAt);
        await cg.thaw();
        await until(() => last() >= frozenAt + 3, 'the counter to resume');
      } finally {
        child.kill('SIGKILL');
        await child.exited;
      }
    });
  }
});

describe('a task that cannot be frozen (uninterruptible: a v1 memory OOM with the OOM killer disabled)', () => {
  /** A child stuck in the memory controller's OOM wait (state D, killable, not freezable). */
  async function stuckChild(cg: Cgroup): Promise<CgroupChild> {
    writeFileSync(path.join(cg.directory('memory')!, 'memory.oom_control'), '1');
    const child = await spawn(process.execPath, ['-e', 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));'], { cgroup: cg, stdio: 'ignore' });
    await until(() => /^under_oom 1$/m.test(readFileSync(path.join(cg.directory('memory')!, 'memory.oom_control'), 'utf8')), 'the OOM wait');
    return child;
  }

  for (const [label, pick, frozenFile, thawed] of [
    ['v1 (freezer.state)', () => v1, 'freezer.state', 'THAWED'],
    ['v2 (cgroup.freeze)', () => machine, 'cgroup.freeze', '0'],
  ] as Array<[string, () => CgroupLayout, string, string]>) {
    kernel(`${label}: a freeze that times out thaws the group again; kill still empties it`, async () => {
      const cg = await Cgroup.create(janitor.name(), { memory: { max: '32M', swapMax: 0 } }, { layout: pick() });
      const child = await stuckChild(cg);
      const freezeDir = frozenFile === 'cgroup.freeze' ? cg.directory()! : cg.directory('freezer')!;
      await expect(cg.freeze({ timeout: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      expect(readFileSync(path.join(freezeDir, frozenFile), 'utf8').trim()).toBe(thawed);
      await cg.kill({ timeout: 300 });
      expect(await cg.procs()).toEqual([]);
      expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(readFileSync(path.join(freezeDir, frozenFile), 'utf8').trim()).toBe(thawed);
    });
  }
});

describe('kill and delete', () => {
  for (const [label, pick] of [
    ['v2 (cgroup.kill)', () => v2],
    ['v1 (freeze, SIGKILL, thaw)', () => v1],
    ['hybrid', () => machine],
  ] as Array<[string, () => CgroupLayout]>) {
    kernel(`${label}: delete with live tasks is EBUSY; kill empties the group; delete with kill: true succeeds`, async () => {
      const name = janitor.name();
      const cg = await Cgroup.create(name, {}, { layout: pick() });
      // A shell with three background sleeps that are not our children.
      const sh = await spawn('/bin/sh', ['-c', 'for i in 1 2 3; do sleep 60 & done; echo ready; wait'], { cgroup: cg, stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise((r) => sh.stdout!.once('data', r));
      const pids = await cg.procs();
      expect(pids).toHaveLength(4);
      await expect(cg.delete()).rejects.toMatchObject({ code: 'EBUSY' });
      await cg.kill();
      expect(await cg.procs()).toEqual([]);
      expect(await cg.threads()).toEqual([]);
      expect(await sh.exited).toEqual({ code: null, signal: 'SIGKILL' });
      for (const pid of pids) await until(() => processGone(pid), `pid ${pid} to be gone`);
      // Again with a live task, this time through delete.
      const again = await spawn('sleep', ['60'], { cgroup: cg, stdio: 'ignore' });
      await cg.delete({ kill: true });
      expect(await again.exited).toEqual({ code: null, signal: 'SIGKILL' });
      for (const h of machine.hierarchies) expect(await exists(dirIn(h, name))).toBe(false);
    }, 30000);
  }

  kernel('hybrid: kill uses cgroup.kill and waits for the unified group to empty, without signals by pid', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 100 } }); // unified + v1 pids
    // 256 MiB to unmap on exit: the task stays listed in v1 for a while after cgroup.kill.
    const big = 'const b = Buffer.alloc(256 << 20, 1); console.log("ready"); setInterval(() => b[0]++, 1000);';
    const sh = await spawn(process.execPath, ['-e', big], { cgroup: cg, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => sh.stdout!.once('data', r));
    const signals = jest.spyOn(process, 'kill');
    try {
      await cg.kill();
      expect(signals).not.toHaveBeenCalled(); // a pid read from a v1 tasks file may be reused by then
    } finally {
      signals.mockRestore();
    }
    expect(await cg.procs()).toEqual([]);
    expect(await sh.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  kernel('hybrid: a process only in the v1 half of the group (moved there by hand) is killed too', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 20 } });
    const outsider = await spawn('sleep', ['60'], { stdio: 'ignore' });
    writeFileSync(path.join(cg.directory('pids')!, 'cgroup.procs'), String(outsider.pid));
    expect(await cg.procs()).toEqual([outsider.pid]);
    await cg.kill();
    expect(await outsider.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await cg.procs()).toEqual([]);
  });

  kernel("rmdir's EBUSY backoff waits on timers, not on libuv's pool threads", async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: v2 });
    const sleeper = await spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' });
    try {
      // As many removals of a busy group as there are pool threads: each keeps retrying EBUSY.
      const settled: string[] = [];
      const removals = Array.from({ length: Number(process.env.UV_THREADPOOL_SIZE) || 4 }, () =>
        removeDirs([cg.directory()!]).then((r) => {
          settled.push('rmdir');
          return r;
        }),
      );
      // Another cgroup file operation meanwhile still gets a pool thread.
      await readText(path.join(cg.directory()!, 'cgroup.procs'));
      expect(settled).toEqual([]);
      for (const [result] of await Promise.all(removals)) expect(result[0]).toBe('EBUSY');
    } finally {
      sleeper.kill('SIGKILL');
      await sleeper.exited;
    }
  });

  kernel('delete refuses child groups unless recursive', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 10 } });
    await Cgroup.create(`${cg.path}/a/b`, { pids: { max: 5 } });
    await expect(cg.delete()).rejects.toMatchObject({ code: 'EBUSY', message: expect.stringContaining('child groups') });
    await cg.delete({ recursive: true });
    await expect(Cgroup.open(cg.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  kernel('v2 unified: cpu.stat accounts the group\'s own CPU time', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: v2 });
    const busy = await spawn('/bin/sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'], { cgroup: cg, stdio: 'ignore' });
    expect(await busy.exited).toEqual({ code: 0, signal: null });
    const stats = await cg.stats();
    expect(stats.cpu.usageUsec!).toBeGreaterThan(10000);
    expect(stats.cpu.usageUsec!).toBeGreaterThanOrEqual(stats.cpu.userUsec!);
    expect(stats.memory.current).toBeNull(); // no memory controller on this unified mount
    expect(stats.pressure?.cpu?.some.totalUsec).toEqual(expect.any(Number));
  });
});

describe('attachThreadToCgroup', () => {
  kernel('places one thread of another process by path or by group, and refuses bad ids', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: v1, controllers: ['cpu'] });
    await expect(attachThreadToCgroup(cg.path, -1, { layout: v1 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(attachThreadToCgroup(cg, 1.5)).rejects.toMatchObject({ code: 'EINVAL' });
    // A node child has helper threads besides its main one; only the threads named move.
    const child = await spawn(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => child.stdout!.once('data', r));
      const tids = (await readdir(`/proc/${child.pid}/task`)).map(Number).sort((a, b) => a - b);
      expect(tids.length).toBeGreaterThan(2);
      const [main, helper] = [child.pid, tids.find((t) => t !== child.pid)!];
      await attachThreadToCgroup(cg.path, main, { layout: v1 });
      await attachThreadToCgroup(cg, helper);
      expect(await cg.threads()).toEqual([main, helper].sort((a, b) => a - b));
      const cpuLine = (tid: number): string =>
        readFileSync(`/proc/${child.pid}/task/${tid}/cgroup`, 'utf8')
          .split('\n')
          .find((l) => l.split(':')[1] === 'cpu')!;
      expect(cpuLine(main).endsWith(`:${cg.path}`)).toBe(true);
      expect(cpuLine(helper).endsWith(`:${cg.path}`)).toBe(true);
      const others = tids.filter((t) => t !== main && t !== helper);
      for (const t of others) expect(cpuLine(t).endsWith(`:${cg.path}`)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
  });
});

describe('pids limits on attach (issue 15): refused as a fork in the group would be', () => {
  /** A node child (main thread plus helper threads), up and running. */
  async function nodeChild(): Promise<CgroupChild> {
    const child = await spawn(process.execPath, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout!.once('data', r));
    return child;
  }

  kernel('attach past pids.max is EAGAIN naming the group and the limit, and the process goes back where it was', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 2 } });
    const child = await nodeChild(); // more than two threads: over the limit once moved in
    try {
      const before = await cgroupsOf(child.pid);
      await expect(cg.attach(child.pid)).rejects.toMatchObject({
        code: 'EAGAIN',
        message: expect.stringMatching(new RegExp(`${cg.directory('pids')} is at its pids.max of 2`)),
      });
      expect(await cgroupsOf(child.pid)).toEqual(before);
      expect(await cg.threads()).toEqual([]);
      // Within the limit it joins; a process already in the group stays, whatever the count.
      await cg.set({ pids: { max: 64 } });
      await cg.attach(child.pid);
      await cg.set({ pids: { max: 1 } });
      await cg.attach(child.pid);
      expect(await cg.procs()).toEqual([child.pid]);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
  });

  kernel('attachThread / attachThreadToCgroup past pids.max is EAGAIN, and the thread goes back', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 1 } }, { layout: v1 });
    const child = await nodeChild();
    try {
      const [main, helper] = [child.pid, (await readdir(`/proc/${child.pid}/task`)).map(Number).find((t) => t !== child.pid)!];
      await attachThreadToCgroup(cg, main);
      await expect(attachThreadToCgroup(cg.path, helper, { layout: v1 })).rejects.toMatchObject({ code: 'EAGAIN', message: expect.stringContaining('pids.max of 1') });
      expect(await cg.threads()).toEqual([main]);
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
  });
});

describe('options and lifecycle (issue 15 §4, §6; issue 9)', () => {
  kernel('every options argument is a plain object with known keys: anything else is EINVAL, before anything changes', async () => {
    const name = janitor.name();
    const notOptions: unknown[] = [null, 5, 'x', Symbol('x'), () => undefined, [], { bogus: 1 }];
    for (const bad of notOptions) {
      await expect(Cgroup.create(name, {}, bad as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^options/) });
      await expect(Cgroup.open('/', bad as never)).rejects.toMatchObject({ code: 'EINVAL' });
    }
    await expect(Cgroup.create(name, {}, { threaded: 'yes' as never })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('options.threaded') });
    await expect(Cgroup.create(name, {}, { layout: {} as never })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('options.layout') });
    await expect(Cgroup.create('/kernkit-test-a\0b')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('NUL') });
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, name))).toBe(false);

    const cg = await Cgroup.create(name, {});
    for (const bad of notOptions) {
      for (const call of [() => cg.freeze(bad as never), () => cg.thaw(bad as never), () => cg.kill(bad as never), () => cg.delete(bad as never)]) {
        await expect(call()).rejects.toMatchObject({ code: 'EINVAL' });
      }
    }
    const timeouts: Array<[unknown, string]> = [
      [NaN, 'EINVAL'], [-1, 'ERANGE'], [1.5, 'EINVAL'], ['100', 'EINVAL'], [{}, 'EINVAL'], [1n, 'EINVAL'], [Symbol('t'), 'EINVAL'], [2 ** 31, 'ERANGE'], [-Infinity, 'EINVAL'],
    ];
    for (const [timeout, code] of timeouts) {
      await expect(cg.freeze({ timeout } as never)).rejects.toMatchObject({ code, message: expect.stringContaining('options.timeout') });
    }
    await expect(cg.delete({ recursive: 1 } as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('options.recursive') });
    await expect(cg.delete({ kill: 'yes' } as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('options.kill') });
    expect(await cg.frozenBy()).toBeNull(); // nothing of the refused calls ran
    // Infinity is "no timeout".
    await cg.freeze({ timeout: Infinity });
    await cg.thaw({ timeout: Infinity });
    expect(cg.deleted).toBe(false);
    await cg.delete({ timeout: Infinity });
  });

  kernel('a group left by a killed create (in some hierarchies only) is EEXIST, saying to open + set or delete it', async () => {
    const name = janitor.name();
    const pidsH = machine.hierarchyFor('pids')!;
    await mkdir(dirIn(pidsH, name)); // what a create killed after its first mkdir leaves
    const err = await Cgroup.create(name, { pids: { max: 5 }, cpu: { weight: 50 } }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err).toMatchObject({ code: 'EEXIST' });
    expect(err!.message).toContain(dirIn(pidsH, name));
    expect(err!.message).toMatch(/open\(\).*set\(\).*delete\(\)/);
    for (const h of machine.hierarchies) if (h !== pidsH) expect(await exists(dirIn(h, name))).toBe(false);
    // What the message says works: open it, set the limits, use it.
    const cg = await Cgroup.open(name);
    await cg.set({ pids: { max: 5 } });
    expect((await cg.limits()).pids).toEqual({ max: 5 });
  });

  kernel('deleted, and Symbol.asyncDispose (await using) deletes the group, once', async () => {
    // Jest's sandbox has no Symbol.asyncDispose (Node adds it to its own realm only): run it in a plain node, from dist/.
    const name = janitor.name();
    const script = `
      const { Cgroup } = require(${JSON.stringify(path.join(__dirname, '../../dist'))});
      (async () => {
        const cg = await Cgroup.create(${JSON.stringify(name)}, { pids: { max: 5 } });
        const seen = [cg.deleted];
        await cg[Symbol.asyncDispose]();
        seen.push(cg.deleted);
        await cg[Symbol.asyncDispose](); // deleted already: nothing to do
        console.log(JSON.stringify(seen));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([false, true]);
    for (const h of machine.hierarchies) expect(await exists(dirIn(h, name))).toBe(false);
    const cg = await Cgroup.create(janitor.name(), {});
    expect(cg.deleted).toBe(false);
    await cg.delete();
    expect(cg.deleted).toBe(true);
  });
});
