/**
 * What Cgroup.create would do on pure v1 and pure v2 machines (this machine is
 * hybrid with no v2 controllers, so the v2 limit files and subtree_control
 * delegation cannot run on its kernel): the probe batch, and the steps and
 * undo its answers call for.
 */
import { CgroupLayout } from '../../lib';
import type { IoOp, IoResult } from '../../lib/cgroup/files';
import { validateLimits } from '../../lib/cgroup/limits';
import { CreatePlan } from '../../lib/cgroup/plan';

const PURE_V2 = CgroupLayout.parse({
  mountinfo: '24 21 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n',
  unifiedControllers: 'cpuset cpu io memory pids',
});
const PURE_V1 = CgroupLayout.parse({
  mountinfo: [
    '25 22 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '26 22 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
    '27 22 0:25 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
    '28 22 0:26 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset',
    '29 22 0:27 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer',
  ].join('\n'),
});

/** Answers a probe as a machine where `existing` dirs exist and `files` have the given text. */
function answer(probe: IoOp[], existing: string[], files: Record<string, string>): IoResult[] {
  return probe.map((op): IoResult => {
    switch (op[0]) {
      case 'resolve':
        return [0, op[1]];
      case 'isdir':
        return [0, existing.includes(op[1])];
      case 'read':
        return op[1] in files ? [0, files[op[1]]] : ['ENOENT', null];
      default:
        throw new Error(`unexpected probe ${op[0]}`);
    }
  });
}

const show = (op: IoOp): string => op.join(' ');

describe('create plan, pure v2', () => {
  const limits = validateLimits({ cpu: { max: { quota: 20000, period: 100000 } }, memory: { max: '64M' }, pids: { max: 5 } });

  test('delegates the controllers down every ancestor, makes the missing one, writes v2 files', () => {
    const plan = new CreatePlan(PURE_V2, '/jobs/build', limits, new Set(['cpu', 'memory', 'pids']), false);
    expect(plan.targets.map((h) => h.mountPoint)).toEqual(['/sys/fs/cgroup']);
    expect(plan.probe.map(show)).toEqual([
      'resolve /sys/fs/cgroup/jobs/build',
      'isdir /sys/fs/cgroup/jobs',
      'isdir /sys/fs/cgroup/jobs/build',
      'read /sys/fs/cgroup/cgroup.subtree_control',
      'read /sys/fs/cgroup/jobs/cgroup.subtree_control',
    ]);
    const results = answer(plan.probe, [], { '/sys/fs/cgroup/cgroup.subtree_control': 'cpu io\n' });
    const { steps, dirs } = plan.changes(results, ['/sys/fs/cgroup']);
    expect(steps.map((s) => show(s.op))).toEqual([
      'write /sys/fs/cgroup/cgroup.subtree_control +memory +pids', // cpu was delegated already
      'mkdir /sys/fs/cgroup/jobs',
      'write /sys/fs/cgroup/jobs/cgroup.subtree_control +cpu +memory +pids',
      'mkdir /sys/fs/cgroup/jobs/build',
      'write /sys/fs/cgroup/jobs/build/cpu.max 20000 100000',
      'write /sys/fs/cgroup/jobs/build/memory.max 67108864',
      'write /sys/fs/cgroup/jobs/build/pids.max 5',
    ]);
    expect(steps.map((s) => (s.undo ? show(s.undo) : null))).toEqual([
      'write /sys/fs/cgroup/cgroup.subtree_control -memory -pids',
      'rmdir /sys/fs/cgroup/jobs',
      'write /sys/fs/cgroup/jobs/cgroup.subtree_control -cpu -memory -pids',
      'rmdir /sys/fs/cgroup/jobs/build',
      null,
      null,
      null,
    ]);
    expect([...dirs.values()]).toEqual(['/sys/fs/cgroup/jobs/build']);
  });

  test('an existing ancestor is not made again; threaded groups get cgroup.type', () => {
    const plan = new CreatePlan(PURE_V2, '/pool/workers', validateLimits({}), new Set(), true);
    const results = answer(plan.probe, ['/sys/fs/cgroup/pool'], {});
    expect(plan.changes(results, ['/sys/fs/cgroup']).steps.map((s) => show(s.op))).toEqual([
      'mkdir /sys/fs/cgroup/pool/workers',
      'write /sys/fs/cgroup/pool/workers/cgroup.type threaded',
    ]);
  });

  test("CPUs outside the parent's are written as asked: v2 takes them and uses the intersection", () => {
    const plan = new CreatePlan(PURE_V2, '/pinned', validateLimits({ cpuset: { cpus: '1' } }), new Set(['cpuset']), false);
    expect(plan.probe.map(show).filter((op) => op.includes('cpuset.cpus'))).toEqual([]);
    const results = answer(plan.probe, [], { '/sys/fs/cgroup/cgroup.subtree_control': 'cpuset\n' });
    expect(plan.changes(results, ['/sys/fs/cgroup']).steps.map((s) => show(s.op))).toEqual([
      'mkdir /sys/fs/cgroup/pinned',
      'write /sys/fs/cgroup/pinned/cpuset.cpus 1',
    ]);
  });

  test('a path that resolves outside the mount is EINVAL', () => {
    const plan = new CreatePlan(PURE_V2, '/x', validateLimits({}), new Set(), false);
    const results: IoResult[] = [[0, '/etc/x']];
    expect(() => plan.changes(results, ['/sys/fs/cgroup'])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('a controller the v2 root does not offer is ENOENT, saying so', () => {
    const bare = CgroupLayout.parse({
      mountinfo: '24 21 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      cgroups: '#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t0\t1\t1\npids\t0\t1\t1\n',
      unifiedControllers: 'memory',
    });
    expect(() => new CreatePlan(bare, '/x', validateLimits({ pids: { max: 1 } }), new Set(['pids']), false)).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('cgroup.controllers: memory') }),
    );
  });
});

describe('create plan, pure v1', () => {
  test('one directory per hierarchy, freezer and cpuacct included, cpuset filled from the parent', () => {
    const limits = validateLimits({ cpu: { weight: 100 }, cpuset: { cpus: '0' }, memory: { max: '1G', swapMax: '256M' } });
    const plan = new CreatePlan(PURE_V1, '/job', limits, new Set(['cpu', 'cpuset', 'memory']), false);
    expect(plan.targets.map((h) => h.mountPoint)).toEqual([
      '/sys/fs/cgroup/cpu,cpuacct',
      '/sys/fs/cgroup/memory',
      '/sys/fs/cgroup/cpuset',
      '/sys/fs/cgroup/freezer',
    ]);
    const results = answer(plan.probe, [], {
      '/sys/fs/cgroup/cpuset/cpuset.cpus': '0-1\n',
      '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes': '9223372036854771712\n',
    });
    const mounts = plan.targets.map((h) => h.mountPoint);
    expect(plan.changes(results, mounts).steps.map((s) => show(s.op))).toEqual([
      'mkdir /sys/fs/cgroup/cpu,cpuacct/job',
      'mkdir /sys/fs/cgroup/memory/job',
      'mkdir /sys/fs/cgroup/cpuset/job',
      'copy /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpuset/job/cpuset.cpus',
      'copy /sys/fs/cgroup/cpuset/cpuset.mems /sys/fs/cgroup/cpuset/job/cpuset.mems',
      'mkdir /sys/fs/cgroup/freezer/job',
      'write /sys/fs/cgroup/cpu,cpuacct/job/cpu.shares 1024',
      'write /sys/fs/cgroup/cpuset/job/cpuset.cpus 0',
      `write /sys/fs/cgroup/memory/job/memory.limit_in_bytes ${2 ** 30}`,
      `write /sys/fs/cgroup/memory/job/memory.memsw.limit_in_bytes ${2 ** 30 + 2 ** 28}`,
    ]);
  });

  test("CPUs outside the nearest existing ancestor's are EACCES before anything changes, as v1 refuses them", () => {
    const plan = new CreatePlan(PURE_V1, '/pinned/job', validateLimits({ cpuset: { cpus: '1' } }), new Set(['cpuset']), false);
    expect(plan.probe.map(show)).toEqual(
      expect.arrayContaining(['read /sys/fs/cgroup/cpuset/cpuset.cpus', 'read /sys/fs/cgroup/cpuset/pinned/cpuset.cpus']),
    );
    const results = answer(plan.probe, ['/sys/fs/cgroup/cpuset/pinned'], {
      '/sys/fs/cgroup/cpuset/cpuset.cpus': '0-1\n',
      '/sys/fs/cgroup/cpuset/pinned/cpuset.cpus': '0\n',
    });
    expect(() => plan.changes(results, plan.targets.map((h) => h.mountPoint))).toThrow(
      expect.objectContaining({ code: 'EACCES', message: expect.stringContaining('outside the parent') }),
    );
  });

  test('swapMax without v1 swap accounting is EOPNOTSUPP', () => {
    const plan = new CreatePlan(PURE_V1, '/job', validateLimits({ memory: { swapMax: 0 } }), new Set(['memory']), false);
    const results = answer(plan.probe, [], {});
    expect(() => plan.changes(results, plan.targets.map((h) => h.mountPoint))).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });

  test('threaded needs the unified hierarchy', () => {
    expect(() => new CreatePlan(PURE_V1, '/job', validateLimits({}), new Set(), true)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('create plan, a group left by a create that was killed midway', () => {
  test('existing in some of its hierarchies is EEXIST before any step, naming them and saying to open + set or delete', () => {
    const limits = validateLimits({ cpu: { weight: 100 }, pids: { max: 5 } });
    const plan = new CreatePlan(PURE_V1, '/job', limits, new Set(['cpu', 'pids']), false);
    expect(plan.probe.map(show)).toEqual(expect.arrayContaining(['isdir /sys/fs/cgroup/pids/job']));
    const results = answer(plan.probe, ['/sys/fs/cgroup/pids/job'], {});
    let thrown: unknown;
    try {
      plan.changes(results, plan.targets.map((h) => h.mountPoint));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'EEXIST' });
    const message = (thrown as Error).message;
    expect(message).toContain('/sys/fs/cgroup/pids/job');
    expect(message).not.toContain('/sys/fs/cgroup/cpu,cpuacct/job');
    expect(message).toMatch(/open\(\).*set\(\).*delete\(\)/);
  });
});
