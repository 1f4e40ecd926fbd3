/**
 * Agreement with libcgroup (Debian cgroup-tools): what kernkit writes, cgget
 * reads back identically; what cgset writes, kernkit reads back.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Cgroup, CgroupLayout, cpuSharesToWeight, cpuWeightToShares, parseCpuList } from '../../lib';
import { GroupJanitor, cgroupMissing } from '../helpers/cgroup';
import { commandMissing, kernelTest } from '../helpers/kernel';

const janitor = new GroupJanitor();
afterEach(() => janitor.cleanup());

const kernel = kernelTest(
  cgroupMissing({ unified: true, v1Controllers: ['cpu', 'cpuset', 'memory', 'pids'] }) ?? commandMissing('cgget', ['-h']),
);

/** `cgget -n -v -r a -r b ... <group>`: the values, one per requested file. */
function cgget(group: string, files: string[]): string[] {
  const out = execFileSync('cgget', ['-n', '-v', ...files.flatMap((f) => ['-r', f]), group.replace(/^\//, '')], { encoding: 'utf8' });
  return out.trimEnd().split('\n');
}

describe('agreement with cgget/cgset (libcgroup)', () => {
  kernel('v1 limits written by kernkit read back identically with cgget', async () => {
    const layout = await CgroupLayout.current();
    const cpu = parseCpuList(readFileSync(path.join(layout.hierarchyFor('cpuset')!.mountPoint, 'cpuset.cpus'), 'utf8').trim())[0];
    const cg = await Cgroup.create(janitor.name(), {
      cpu: { max: { quota: 25000, period: 50000 }, weight: 300 },
      memory: { max: '48M', high: '32M', swapMax: '16M' },
      pids: { max: 33 },
      cpuset: { cpus: String(cpu), mems: '0' },
    });
    const files = [
      'cpu.cfs_quota_us',
      'cpu.cfs_period_us',
      'cpu.shares',
      'memory.limit_in_bytes',
      'memory.soft_limit_in_bytes',
      'memory.memsw.limit_in_bytes',
      'pids.max',
      'cpuset.cpus',
      'cpuset.mems',
    ];
    expect(cgget(cg.path, files)).toEqual([
      '25000',
      '50000',
      String(cpuWeightToShares(300)),
      String(48 * 2 ** 20),
      String(32 * 2 ** 20),
      String(64 * 2 ** 20),
      '33',
      String(cpu),
      '0',
    ]);
  });

  kernel('values cgset writes, kernkit reads back', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { weight: 100 }, pids: { max: 10 }, memory: { max: '64M' } });
    execFileSync('cgset', ['-r', 'pids.max=77', '-r', 'cpu.shares=2048', '-r', 'cpu.cfs_quota_us=30000', '-r', 'memory.limit_in_bytes=33554432', cg.path.slice(1)]);
    expect(await cg.limits()).toEqual({
      cpu: { max: { quota: 30000, period: 100000 }, weight: cpuSharesToWeight(2048) },
      pids: { max: 77 },
      memory: { max: 33554432, high: 'max', swapMax: 'max' },
    });
  });

  kernel('the v2 group on the hybrid unified mount: cgget sees cgroup.freeze and cgroup.type as kernkit set them', async () => {
    const layout = (await CgroupLayout.current()).unifiedOnly();
    const cg = await Cgroup.create(janitor.name(), {}, { layout });
    expect(cgget(cg.path, ['cgroup.type', 'cgroup.freeze'])).toEqual(['domain', '0']);
    await cg.freeze();
    expect(cgget(cg.path, ['cgroup.freeze'])).toEqual(['1']);
    await cg.thaw();
    const threaded = await Cgroup.create(janitor.name(), {}, { layout, threaded: true });
    expect(cgget(threaded.path, ['cgroup.type'])).toEqual(['threaded']);
  });
});
