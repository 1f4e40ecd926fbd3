/**
 * Cgroup paths, confined to their hierarchies. A path names the same group in
 * every hierarchy: `/jobs/build-42` (or `jobs/build-42`) is
 * `<mount>/jobs/build-42` under each mount. An absolute path under a mount
 * point (`/sys/fs/cgroup/memory/jobs`) is accepted as that group. Anything that
 * could leave a hierarchy is refused with EINVAL: `..`, absolute paths under
 * the cgroup mounts' parent that are not under a mount, and directories whose
 * real path (symlinks resolved) is outside the mount.
 * @module
 */
import * as path from 'node:path';
import { KernkitError, describeValue } from '../errors';
import { check, runBatch } from './files';
import type { CgroupHierarchy, CgroupLayout } from './layout';

function escapes(input: unknown, why: string): KernkitError {
  return new KernkitError(`invalid cgroup path ${describeValue(input)}: ${why}`, { code: 'EINVAL' });
}

// The directory that holds the mount points (/sys/fs/cgroup on a hybrid machine,
// /sys/fs on a pure v2 one): absolute paths in it are filesystem paths, not cgroup paths.
function mountBase(layout: CgroupLayout): string {
  const parents = layout.hierarchies.map((h) => path.dirname(h.mountPoint));
  let base = parents[0];
  while (!parents.every((p) => under(p, base))) base = path.dirname(base);
  return base;
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? '/' : dir + '/');
}

/**
 * Normalises a cgroup path to `/a/b` (`/` is the root), or throws EINVAL if it
 * is not a string, contains NUL, has a `.` or `..` segment, or is an absolute
 * path among the cgroup mounts but under none of them.
 */
export function normalizeCgroupPath(input: unknown, layout: CgroupLayout): string {
  if (typeof input !== 'string' || input.length === 0) throw escapes(input, 'expected a non-empty string such as "/jobs/build-42"');
  if (input.includes('\0')) throw escapes(input, 'contains a NUL byte');
  let rel = input;
  if (input.startsWith('/')) {
    // Longest mount point first: /sys/fs/cgroup (pure v2) must not swallow a path meant for a deeper mount.
    const mounts = [...layout.hierarchies].sort((a, b) => b.mountPoint.length - a.mountPoint.length);
    const mount = mounts.find((h) => under(input, h.mountPoint));
    const base = mountBase(layout);
    if (mount) rel = input.slice(mount.mountPoint.length);
    else if (base !== '/' && under(input, base)) throw escapes(input, `it is under ${base} but under no cgroup mount`);
  }
  const segments = rel.split('/').filter((s) => s.length > 0);
  for (const s of segments) {
    if (s === '..' || s === '.') throw escapes(input, `"${s}" segments are not allowed (a path may not leave its hierarchy)`);
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
  if (!under(resolved, mountReal)) throw escapes(dir, `it resolves to ${resolved}, outside the cgroup mount ${mountPoint}`);
}
