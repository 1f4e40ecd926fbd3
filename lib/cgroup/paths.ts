/**
 * Cgroup paths, confined to their hierarchies. A path names the same group in
 * every hierarchy: `/jobs/build-42` (or `jobs/build-42`) is
 * `<mount>/jobs/build-42` under each mount. An absolute path into a mount
 * point (`/sys/fs/cgroup/memory/jobs`, or `/sys/fs/cgroup/cpu/jobs` where
 * `cpu,cpuacct` is mounted) is accepted as that group. Anything that could
 * leave a hierarchy is refused with EINVAL: `..`, absolute paths below the
 * mounts' parent directory (`/sys/fs`) that lead into no mount, and
 * directories whose real path (symlinks resolved) is outside the mount.
 * @module
 */
import * as path from 'node:path';
import type { KernkitError } from '../errors';
import { cString, invalid } from '../validate';
import { check, runBatch } from './files';
import type { CgroupHierarchy, CgroupLayout } from './layout';

function escapes(input: unknown, expected: string): KernkitError {
  return invalid('cgroup path', input, expected);
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : dir + '/');
}

// Where absolute filesystem paths to cgroups begin: the parent of the directory that holds every
// mount (/sys/fs for /sys/fs/cgroup, pure v2, and /sys/fs/cgroup/<controller>, v1 and hybrid
// alike). An absolute path below it names a cgroup only through a mount; elsewhere it is a
// cgroup path. Null when the mounts share no directory but the root.
function filesystemZone(layout: CgroupLayout): string | null {
  let common = layout.hierarchies[0].mountPoint;
  while (!layout.hierarchies.every((h) => under(h.mountPoint, common))) common = path.dirname(common);
  const zone = path.dirname(common);
  return zone === '/' ? null : zone;
}

// The names that lead into each hierarchy: its mount point and, for co-mounted v1 controllers,
// the sibling name of each one (systemd links /sys/fs/cgroup/cpu to cpu,cpuacct), unless a mount
// of its own has that name. Longest first, so that a deeper mount wins over /sys/fs/cgroup.
function entryPoints(layout: CgroupLayout): string[] {
  const mounts = layout.hierarchies.map((h) => h.mountPoint);
  const names = new Set(mounts);
  for (const h of layout.hierarchies) {
    if (h.version !== 1 || h.controllers.length < 2) continue;
    for (const c of h.controllers) {
      const alias = path.join(path.dirname(h.mountPoint), c);
      if (!mounts.includes(alias)) names.add(alias);
    }
  }
  return [...names].sort((a, b) => b.length - a.length);
}

/**
 * Normalises a cgroup path to `/a/b` (`/` is the root), or throws EINVAL if it
 * is not a string, contains NUL, has a `.` or `..` segment, or is an absolute
 * filesystem path near the cgroup mounts (below their parent directory, e.g.
 * `/sys/fs`) that does not lead into one of them. A path into a mount, or into
 * a co-mounted controller's usual name (`/sys/fs/cgroup/cpu/x` where
 * `cpu,cpuacct` is mounted), names the group below it; any other absolute
 * path is a cgroup path. The same rules apply to v1, v2 and hybrid layouts.
 */
export function normalizeCgroupPath(value: unknown, layout: CgroupLayout): string {
  const input = cString('cgroup path', value, { nonEmpty: true, expected: 'a non-empty string such as "/jobs/build-42"' });
  let rel = input;
  if (input.startsWith('/')) {
    const entry = entryPoints(layout).find((e) => under(input, e));
    const zone = filesystemZone(layout);
    if (entry) rel = input.slice(entry.length);
    else if (zone && under(input, zone)) throw escapes(input, `a path into a cgroup mount (this one is under ${zone} but leads into none)`);
  }
  const segments = rel.split('/').filter((s) => s.length > 0);
  for (const s of segments) {
    if (s === '..' || s === '.') throw escapes(input, `a path without "${s}" segments (a path may not leave its hierarchy)`);
  }
  return '/' + segments.join('/');
}

/** The directory of cgroup `cgPath` (normalised) in hierarchy `h`. */
export function hierarchyDir(h: CgroupHierarchy, cgPath: string): string {
  return cgPath === '/' ? h.mountPoint : path.join(h.mountPoint, cgPath);
}

const realMounts = new Map<string, Promise<string>>();

/** The mount point with symlinks resolved (cached). */
export function realMount(mountPoint: string): Promise<string> {
  let p = realMounts.get(mountPoint);
  if (!p) {
    p = runBatch([['resolve', mountPoint]]).then(([r]) => check<string>(r, 'realpath', mountPoint));
    realMounts.set(mountPoint, p);
    p.catch(() => realMounts.delete(mountPoint));
  }
  return p;
}

/**
 * Throws EINVAL unless `resolved` (the real path of `dir`, or of its deepest
 * existing ancestor) lies in the mount: a symlink on the way must not lead out.
 */
export function checkConfined(mountReal: string, resolved: string, dir: string, mountPoint: string): void {
  if (!under(resolved, mountReal)) throw escapes(dir, `a directory inside the cgroup mount ${mountPoint} (it resolves to ${resolved})`);
}
