import { readFileSync } from 'node:fs';
import { CgroupLayout, KernkitError } from '../../lib';
import { cgroupMissing } from '../helpers/cgroup';
import { kernelTest } from '../helpers/kernel';

// A pure v1 machine (e.g. CentOS 7): cpu and cpuacct co-mounted, a named systemd hierarchy.
const PURE_V1 = `22 17 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
23 22 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
25 22 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
26 22 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
27 22 0:25 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,pids
28 22 0:26 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpuset,clone_children
29 22 0:27 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,freezer
30 22 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
`;

const PURE_V1_CGROUPS = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	6	1	1
cpu	3	60	1
cpuacct	3	60	1
memory	4	80	1
devices	0	1	1
freezer	7	1	1
net_cls	8	1	1
pids	5	60	1
net_prio	8	1	1
hugetlb	0	1	0
`;

// A pure v2 machine (e.g. Debian 12 with systemd): one cgroup2 mount.
const PURE_V2 = `24 21 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
25 21 0:23 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw
`;

// This project's CI machine: v1 controllers, each alone, and cgroup2 at /unified.
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

describe('CgroupLayout.parse (synthetic mountinfo)', () => {
  test('pure v1: every controller hierarchy, co-mounts kept together, named hierarchies left out', () => {
    const layout = CgroupLayout.parse({ mountinfo: PURE_V1, cgroups: PURE_V1_CGROUPS });
    expect(layout.mode).toBe('v1');
    expect(layout.unified).toBeNull();
    expect(layout.hierarchies.map((h) => [h.version, h.mountPoint, h.controllers.join(',')])).toEqual([
      [1, '/sys/fs/cgroup/cpu,cpuacct', 'cpu,cpuacct'],
      [1, '/sys/fs/cgroup/memory', 'memory'],
      [1, '/sys/fs/cgroup/pids', 'pids'],
      [1, '/sys/fs/cgroup/cpuset', 'cpuset'],
      [1, '/sys/fs/cgroup/freezer', 'freezer'],
      [1, '/sys/fs/cgroup/net_cls,net_prio', 'net_cls,net_prio'],
    ]);
    expect(layout.hierarchyFor('cpu')).toBe(layout.hierarchyFor('cpuacct'));
    expect(layout.hierarchyFor('cpu')!.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.hierarchyFor('devices')).toBeNull(); // known to the kernel, not mounted
    expect(layout.knownControllers.has('hugetlb')).toBe(true);
  });

  test('pure v1 without /proc/cgroups: mount options that are not controllers are dropped', () => {
    const layout = CgroupLayout.parse({ mountinfo: PURE_V1 });
    expect(layout.hierarchyFor('cpuset')!.controllers).toEqual(['cpuset']); // not clone_children
    expect(layout.hierarchies.some((h) => h.controllers.includes('xattr'))).toBe(false);
  });

  test('pure v2: the unified mount holds the controllers its root offers', () => {
    const layout = CgroupLayout.parse({
      mountinfo: PURE_V2,
      cgroups: '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t90\t1\nmemory\t0\t90\t1\n',
      unifiedControllers: 'cpuset cpu io memory hugetlb pids rdma misc\n',
    });
    expect(layout.mode).toBe('v2');
    expect(layout.hierarchies).toHaveLength(1);
    expect(layout.unified).toMatchObject({ version: 2, mountPoint: '/sys/fs/cgroup', root: '/' });
    expect(layout.hierarchyFor('memory')).toBe(layout.unified);
    expect(layout.hierarchyFor('pids')).toBe(layout.unified);
    expect(layout.hierarchyFor('freezer')).toBeNull(); // v2 freezes through cgroup.freeze, not a controller
  });

  test('hybrid: v1 controllers win over the unified hierarchy, which holds none here', () => {
    const layout = CgroupLayout.parse({ mountinfo: HYBRID, unifiedControllers: '' });
    expect(layout.mode).toBe('hybrid');
    expect(layout.hierarchies[0]).toBe(layout.unified); // unified first
    expect(layout.unified!.mountPoint).toBe('/sys/fs/cgroup/unified');
    expect(layout.hierarchyFor('memory')!.mountPoint).toBe('/sys/fs/cgroup/memory');
    expect(layout.hierarchyFor('pids')).toBeNull();
    expect(layout.legacyOnly().mode).toBe('v1');
    expect(layout.legacyOnly().unified).toBeNull();
    expect(layout.unifiedOnly().mode).toBe('v2');
    expect(layout.unifiedOnly().hierarchies).toEqual([layout.unified]);
  });

  test('octal escapes in mount points are decoded; a repeated mount counts once', () => {
    const mountinfo =
      '50 31 0:40 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n' + '51 31 0:40 / /mnt/again rw - cgroup2 cgroup2 rw\n';
    const layout = CgroupLayout.parse({ mountinfo });
    expect(layout.hierarchies.map((h) => h.mountPoint)).toEqual(['/mnt/my cgroups']);
  });

  test('a disabled controller (cgroup_disable=) is not used', () => {
    const cgroups = PURE_V1_CGROUPS.replace('memory\t4\t80\t1', 'memory\t4\t80\t0');
    const layout = CgroupLayout.parse({ mountinfo: PURE_V1, cgroups });
    expect(layout.hierarchyFor('memory')).toBeNull();
  });

  test('no cgroup mount at all is ENOENT', () => {
    expect(() => CgroupLayout.parse({ mountinfo: PURE_V2.split('\n')[1] })).toThrow(
      expect.objectContaining({ code: 'ENOENT', constructor: KernkitError }),
    );
  });

  test.each([
    [null, 'sources: null'],
    ['mountinfo', 'sources: "mountinfo"'],
    [{}, 'sources.mountinfo: undefined'],
    [{ mountinfo: 5 }, 'sources.mountinfo: 5'],
    [{ mountinfo: '', cgroups: null }, 'sources.cgroups: null'],
    [{ mountinfo: '', extra: '' }, 'sources.extra: unknown option'],
  ])('parse(%j) is EINVAL: %s', (sources, message) => {
    expect(() => CgroupLayout.parse(sources as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining(message) }));
  });

  test('restricting a layout to a part it lacks is EINVAL', () => {
    expect(() => CgroupLayout.parse({ mountinfo: PURE_V2 }).legacyOnly()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => CgroupLayout.parse({ mountinfo: PURE_V1 }).unifiedOnly()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('CgroupLayout.detect (this machine)', () => {
  const kernel = kernelTest(cgroupMissing());

  kernel('finds every controller mount in /proc/self/mountinfo and the cgroup2 mount', async () => {
    const layout = await CgroupLayout.detect();
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    const enabled = new Set(
      readFileSync('/proc/cgroups', 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(/\s+/))
        .filter((f) => f[3] === '1')
        .map((f) => f[0]),
    );
    const v1Mounts = mountinfo.filter((l) => / - cgroup cgroup /.test(l));
    for (const line of v1Mounts) {
      const mountPoint = line.split(' ')[4];
      const controllers = line.split(' ').pop()!.split(',').filter((o) => enabled.has(o));
      if (!controllers.length) continue;
      expect(layout.hierarchyFor(controllers[0])!.mountPoint).toBe(mountPoint);
    }
    const v2 = mountinfo.find((l) => / - cgroup2 /.test(l));
    expect(layout.unified?.mountPoint ?? null).toBe(v2 ? v2.split(' ')[4] : null);
    const expectedMode = v2 ? (layout.hierarchies.some((h) => h.version === 1) ? 'hybrid' : 'v2') : 'v1';
    expect(layout.mode).toBe(expectedMode);
    expect(await CgroupLayout.current()).toEqual(layout);
  });
});
