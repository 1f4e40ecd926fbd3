import { once } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  KernkitError,
  currentCpu,
  formatCpuList,
  getAffinity,
  getNice,
  gettid,
  onlineCpus,
  parseCpuList,
  possibleCpuCount,
  setAffinity,
  setNice,
} from '../../lib';
import { kernelTest, rootMissing } from '../helpers/kernel';
import { cpusetMissing, distPath, makeCpuset, runAsNobody, taskNice, taskStatus, writeCgroupFile, codeOf } from '../helpers/cpu';

/** A worker thread that runs kernkit calls on itself when asked. */
class Thread {
  readonly worker = new Worker(path.join(__dirname, 'fixtures', 'thread.js'));

  async call(op: string, ...args: unknown[]): Promise<{ ok: boolean; value?: any; code?: string; message?: string }> {
    this.worker.postMessage({ op, args });
    const [reply] = await once(this.worker, 'message');
    return reply;
  }

  async state(): Promise<{ tid: number; affinity: number[]; cpu: number; nice: number }> {
    return (await this.call('state')).value;
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

const original = getAffinity();
const online = onlineCpus();

afterEach(() => setAffinity(original)); // the main thread's mask is restored even when a test fails

describe('affinity on the main thread', () => {
  test('getAffinity agrees with /proc, onlineCpus with /sys', () => {
    const tid = gettid();
    expect(tid).toBe(process.pid); // the main thread's tid is the pid
    expect(formatCpuList(getAffinity())).toBe(taskStatus(tid, 'Cpus_allowed_list'));
    expect(getAffinity(tid)).toEqual(getAffinity());
    expect(online).toEqual(parseCpuList(require('node:fs').readFileSync('/sys/devices/system/cpu/online', 'utf8')));
    expect(online.length).toBeGreaterThan(0);
  });

  test('pinning to each CPU in turn: the mask round-trips and currentCpu() is in it', () => {
    const tid = gettid();
    for (const cpu of original) {
      setAffinity([cpu]);
      expect(getAffinity()).toEqual([cpu]);
      expect(currentCpu()).toBe(cpu);
      expect(taskStatus(tid, 'Cpus_allowed_list')).toBe(String(cpu));
    }
    setAffinity(formatCpuList(original)); // a cpulist string works as well
    expect(getAffinity()).toEqual(original);
    expect(original).toContain(currentCpu());
  });

  test('a stride cpulist pins to the CPUs it names', () => {
    const list = `${original[0]}-${original[original.length - 1]}:1/2`; // every other CPU
    setAffinity(list);
    const expected = parseCpuList(list).filter((c) => original.includes(c));
    expect(getAffinity()).toEqual(expected);
    expect(expected).toContain(currentCpu());
  });
});

describe('affinity inside a worker thread', () => {
  let thread: Thread | undefined;
  afterEach(async () => {
    await thread?.stop();
    thread = undefined;
  });

  test('the worker pins itself; /proc and getAffinity(tid) from outside agree', async () => {
    thread = new Thread();
    const { tid } = await thread.state();
    expect(tid).not.toBe(process.pid);
    for (const cpu of original) {
      expect(await thread.call('setAffinity', [cpu])).toMatchObject({ ok: true });
      const s = await thread.state();
      expect(s.affinity).toEqual([cpu]);
      expect(s.cpu).toBe(cpu);
      expect(taskStatus(tid, 'Cpus_allowed_list')).toBe(String(cpu));
      expect(getAffinity(tid)).toEqual([cpu]);
    }
    // Pinning the worker left the main thread alone.
    expect(getAffinity()).toEqual(original);
  });

  test('the main thread pins the worker by tid', async () => {
    thread = new Thread();
    const { tid } = await thread.state();
    const cpu = original[original.length - 1];
    setAffinity([cpu], tid);
    const s = await thread.state();
    expect(s.affinity).toEqual([cpu]);
    expect(s.cpu).toBe(cpu);
    expect(getAffinity()).toEqual(original);
  });

  test('nice is per thread: the worker changes its own, the main thread keeps its own', async () => {
    thread = new Thread();
    const { tid, nice } = await thread.state();
    const mainNice = getNice();
    const target = Math.min(19, nice + 3);
    expect(await thread.call('setNice', target)).toMatchObject({ ok: true });
    expect(getNice(tid)).toBe(target);
    expect(taskNice(tid)).toBe(target);
    expect((await thread.state()).nice).toBe(target);
    expect(getNice()).toBe(mainNice);
    // And from outside, by tid.
    setNice(Math.min(19, target + 1), tid);
    expect((await thread.state()).nice).toBe(Math.min(19, target + 1));
  });
});

describe('affinity errors', () => {
  test('bad cpulists and CPU numbers', () => {
    expect(codeOf(() => setAffinity('0-'))).toBe('EINVAL');
    expect(() => setAffinity('0,x')).toThrow(/at position 2/);
    expect(codeOf(() => setAffinity(String(possibleCpuCount())))).toBe('ERANGE');
    expect(codeOf(() => setAffinity([possibleCpuCount()]))).toBe('ERANGE');
    expect(() => setAffinity([possibleCpuCount() + 3])).toThrow(new RegExp(`CPU ${possibleCpuCount() + 3} does not exist`));
    expect(codeOf(() => setAffinity([]))).toBe('EINVAL');
    expect(codeOf(() => setAffinity(''))).toBe('EINVAL');
    expect(codeOf(() => setAffinity([0.5]))).toBe('EINVAL');
    expect(codeOf(() => setAffinity([-1]))).toBe('EINVAL');
    expect(codeOf(() => setAffinity(3 as unknown as number[]))).toBe('EINVAL');
    expect(getAffinity()).toEqual(original); // nothing was changed on the way
  });

  test('messages name the field, the value and what is allowed', () => {
    const n = possibleCpuCount();
    expect(() => setAffinity([0, -1])).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'cpus[1]: -1 (expected an integer >= 0)' }));
    expect(() => setAffinity([0, n])).toThrow(expect.objectContaining({ code: 'ERANGE', message: `cpus[1]: ${n} (expected a CPU of this machine, 0-${n - 1} (CPU ${n} does not exist))` }));
    expect(() => setAffinity('0,x')).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'cpus: "0,x" (expected a cpulist such as "0-3,8" or "0-15:2/4"; at position 2: a number expected, found "x")' }));
    expect(() => setAffinity([])).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'cpus: [] (expected at least one CPU)' }));
    expect(() => setAffinity(null as unknown as number[])).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^cpus: null \(expected a cpulist/) }));
    expect(() => getAffinity(-1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^tid: -1 \(expected an integer from 0 to 2147483647\)$/) }));
    expect(() => setNice(20)).toThrow(expect.objectContaining({ code: 'ERANGE', message: 'nice: 20 (expected an integer from -20 to 19)' }));
    expect(() => setNice(1.5)).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'nice: 1.5 (expected an integer from -20 to 19)' }));
    // A Set works as CPU numbers too; outputs are always ascending arrays.
    setAffinity(new Set([...original].reverse()));
    expect(getAffinity()).toEqual(original);
  });

  test('bad tids and nice values', () => {
    expect(codeOf(() => getAffinity(-1))).toBe('EINVAL');
    expect(codeOf(() => getAffinity(1.5))).toBe('EINVAL');
    expect(codeOf(() => setAffinity([0], 2 ** 31))).toBe('EINVAL');
    expect(codeOf(() => setNice(20))).toBe('ERANGE');
    expect(codeOf(() => setNice(-21))).toBe('ERANGE');
    expect(codeOf(() => setNice(1.5))).toBe('EINVAL');
    expect(codeOf(() => setNice('3' as unknown as number))).toBe('EINVAL');
  });

  test('a thread that does not exist is ESRCH from the kernel', () => {
    const noSuchTid = 2 ** 31 - 1; // above any pid_max (at most 4194304)
    let err: KernkitError | undefined;
    try {
      getAffinity(noSuchTid);
    } catch (e) {
      err = e as KernkitError;
    }
    expect(err).toMatchObject({ code: 'ESRCH', syscall: 'sched_getaffinity', errno: -3 });
    expect(codeOf(() => setAffinity([0], noSuchTid))).toBe('ESRCH');
    expect(codeOf(() => getNice(noSuchTid))).toBe('ESRCH');
    expect(codeOf(() => setNice(0, noSuchTid))).toBe('ESRCH');
  });

  kernelTest(rootMissing())('without privilege: EPERM for another user\'s thread, EACCES for lowering nice', () => {
    const script = `
      const k = require(${JSON.stringify(distPath)});
      const codes = {};
      const attempt = (name, fn) => { try { fn(); codes[name] = 'ok'; } catch (e) { codes[name] = e.code; } };
      attempt('pinInit', () => k.setAffinity([0], 1));
      attempt('niceInit', () => k.setNice(5, 1));
      attempt('lowerOwnNice', () => k.setNice(-1));
      attempt('pinSelf', () => k.setAffinity([0]));
      attempt('raiseOwnNice', () => k.setNice(1));
      process.stdout.write(JSON.stringify(codes));
    `;
    expect(JSON.parse(runAsNobody(script))).toEqual({
      pinInit: 'EPERM',
      niceInit: 'EPERM',
      lowerOwnNice: 'EACCES',
      pinSelf: 'ok',
      raiseOwnNice: 'ok',
    });
  });

  const cpusetTest = kernelTest(cpusetMissing() ?? (online.length < 2 ? 'needs two online CPUs' : null));
  cpusetTest('a mask with no CPU the cpuset allows is EINVAL from the kernel', () => {
    const cg = makeCpuset();
    try {
      const [allowed, other] = online;
      writeCgroupFile(path.join(cg.dir, 'cpuset.cpus'), String(allowed));
      writeCgroupFile(path.join(cg.dir, 'cpuset.mems'), '0');
      const script = `
        require('node:fs').writeFileSync(${JSON.stringify(path.join(cg.dir, 'cgroup.procs'))}, String(process.pid));
        const k = require(${JSON.stringify(distPath)});
        const out = { inside: k.getAffinity() };
        try { k.setAffinity([${other}]); out.other = 'ok'; } catch (e) { out.other = e.code; out.message = e.message; }
        k.setAffinity([${allowed}, ${other}]);
        out.both = k.getAffinity();
        process.stdout.write(JSON.stringify(out));
      `;
      const out = JSON.parse(require('node:child_process').execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
      expect(out.inside).toEqual([allowed]);
      expect(out.other).toBe('EINVAL');
      expect(out.message).toMatch(/sched_setaffinity: .*cpuset/);
      expect(out.both).toEqual([allowed]); // the kernel keeps the allowed part of a mixed mask
    } finally {
      cg.remove();
    }
  });
});
