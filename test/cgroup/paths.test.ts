import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Cgroup, CgroupLayout } from '../../lib';
import { normalizeCgroupPath } from '../../lib/cgroup/paths';

const HYBRID = CgroupLayout.parse({
  mountinfo:
    '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n' +
    '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n' +
    '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n',
});
// The usual systemd v1 layout: co-mounted controllers, with symlinks named after each (cpu -> cpu,cpuacct).
const SYSTEMD_V1 = CgroupLayout.parse({
  mountinfo:
    '25 22 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n' +
    '26 22 0:24 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n' +
    '27 22 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n',
});
const PURE_V2 = CgroupLayout.parse({ mountinfo: '24 21 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n', unifiedControllers: 'cpu memory pids' });

describe('cgroup paths', () => {
  test.each([
    ['/jobs/build-42', '/jobs/build-42'],
    ['jobs/build-42', '/jobs/build-42'],
    ['//jobs///build-42/', '/jobs/build-42'],
    ['/', '/'],
    ['/sys/fs/cgroup/memory/jobs', '/jobs'],
    ['/sys/fs/cgroup/unified', '/'],
  ])('%j names %j', (input, expected) => {
    expect(normalizeCgroupPath(input, HYBRID)).toBe(expected);
  });

  test('on pure v2 the mount is /sys/fs/cgroup itself', () => {
    expect(normalizeCgroupPath('/sys/fs/cgroup/jobs/a', PURE_V2)).toBe('/jobs/a');
    expect(normalizeCgroupPath('/jobs/a', PURE_V2)).toBe('/jobs/a');
  });

  test.each([
    ['..'],
    ['/jobs/../../etc'],
    ['/jobs/./x'],
    ['/sys/fs/cgroup/memory/../cpu/x'],
    ['/sys/fs/cgroup/bogus/x'], // among the mounts, under none
    ['/sys/fs/cgroup'],
    ['a\0b'],
    [''],
  ])('%j is refused with EINVAL', (input) => {
    expect(() => normalizeCgroupPath(input, HYBRID)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('a non-string path is EINVAL', () => {
    expect(() => normalizeCgroupPath(42, HYBRID)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => normalizeCgroupPath(undefined, HYBRID)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('/sys/fs/... outside the cgroup mounts is EINVAL in every mode', () => {
    for (const layout of [PURE_V2, HYBRID, SYSTEMD_V1]) {
      expect(() => normalizeCgroupPath('/sys/fs/bpf/x', layout)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => normalizeCgroupPath('/sys/fs/cgroup/../bpf/x', layout)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(normalizeCgroupPath('/jobs/x', layout)).toBe('/jobs/x');
    }
  });

  test("co-mounted controllers: the names systemd links to the mount (cpu -> cpu,cpuacct) work as the mount's", () => {
    expect(normalizeCgroupPath('/sys/fs/cgroup/cpu,cpuacct/jobs/a', SYSTEMD_V1)).toBe('/jobs/a');
    expect(normalizeCgroupPath('/sys/fs/cgroup/cpu/jobs/a', SYSTEMD_V1)).toBe('/jobs/a');
    expect(normalizeCgroupPath('/sys/fs/cgroup/cpuacct/jobs/a', SYSTEMD_V1)).toBe('/jobs/a');
    expect(normalizeCgroupPath('/sys/fs/cgroup/net_prio', SYSTEMD_V1)).toBe('/');
    expect(normalizeCgroupPath('/sys/fs/cgroup/memory/jobs', SYSTEMD_V1)).toBe('/jobs');
    expect(() => normalizeCgroupPath('/sys/fs/cgroup/cpux/jobs', SYSTEMD_V1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  describe('symlinks', () => {
    let dir: string;
    let layout: CgroupLayout;
    beforeAll(() => {
      // A stand-in "mount" in a temporary directory, with a symlink that leads out of it.
      dir = mkdtempSync(path.join(tmpdir(), 'kernkit-cgpath-'));
      mkdirSync(path.join(dir, 'mount', 'inside'), { recursive: true });
      mkdirSync(path.join(dir, 'outside'));
      symlinkSync(path.join(dir, 'outside'), path.join(dir, 'mount', 'escape'));
      symlinkSync(path.join(dir, 'mount', 'inside'), path.join(dir, 'mount', 'alias'));
      layout = CgroupLayout.parse({ mountinfo: `50 1 0:99 / ${path.join(dir, 'mount')} rw - cgroup2 cgroup2 rw\n` });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test('opening a group through a symlink that leaves the mount is EINVAL', async () => {
      await expect(Cgroup.open('/escape', { layout })).rejects.toMatchObject({ code: 'EINVAL' });
    });

    test('creating below such a symlink is EINVAL, and creates nothing', async () => {
      await expect(Cgroup.create('/escape/job', {}, { layout })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(import('node:fs/promises').then((f) => f.readdir(path.join(dir, 'outside')))).resolves.toEqual([]);
    });

    test('a symlink that stays inside the mount is fine', async () => {
      const cg = await Cgroup.open('/alias', { layout });
      expect(cg.directory()).toBe(path.join(dir, 'mount', 'alias'));
    });

    test('a missing group is ENOENT', async () => {
      await expect(Cgroup.open('/nowhere', { layout })).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
