/**
 * Placing one thread in a cgroup: what a worker pool needs to put its worker
 * threads under a group's limits (cgroup v1 `tasks`, v2 `cgroup.threads` of a
 * threaded group).
 * @module
 */
import { options as optionsOf } from '../validate';
import { Cgroup } from './cgroup';
import type { CgroupLayout } from './layout';

/**
 * Moves a thread into `cgroup` (a {@link Cgroup}, or a path opened with
 * {@link Cgroup.open}); without `tid`, the calling thread. A worker thread
 * calls it with its group's path when it starts:
 *
 * ```ts
 * // inside a worker_threads Worker
 * await attachThreadToCgroup('/pool');
 * ```
 *
 * On v2 and hybrid machines the group must be threaded on the unified
 * hierarchy (`Cgroup.create(path, limits, { threaded: true })`) and be a
 * child of the process's own v2 group's threaded domain; else EOPNOTSUPP.
 * A group at its pids limit refuses the thread with EAGAIN, as a fork in it
 * would be refused (see {@link Cgroup.attachThread}).
 */
export async function attachThreadToCgroup(cgroup: Cgroup | string, tid?: number, options?: { layout?: CgroupLayout }): Promise<void> {
  const opts = optionsOf<{ layout?: CgroupLayout }>('options', options, ['layout']);
  const group = cgroup instanceof Cgroup ? cgroup : await Cgroup.open(cgroup, opts);
  await group.attachThread(tid);
}
