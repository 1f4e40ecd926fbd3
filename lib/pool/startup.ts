/**
 * Startup steps: what the pool does for each new worker on the main thread,
 * after the worker has pinned itself and said its tid, and before it gets its
 * first task. A step that throws or rejects is a startup failure: a pool that
 * is being built or repaired fails, a setCpus() rolls back.
 * Internal to kernkit, not part of its API.
 * @module
 */
import { Cgroup } from '../cgroup/cgroup';
import { setAffinity } from '../cpu/affinity';
import type { ResolvedOptions } from './options';
import type { WorkerIdentity } from './pool-worker';

/** One startup step. */
export type StartupStep = (worker: WorkerIdentity) => void | Promise<void>;

/** The steps the options ask for, in order. */
export function startupSteps(options: ResolvedOptions): StartupStep[] {
  const steps: StartupStep[] = [];
  const { cgroup } = options;
  if (cgroup !== undefined) {
    let group: Promise<Cgroup> | undefined; // opened once, by the first worker to start
    steps.push(async (w) => {
      if (!group) {
        const opening = cgroup instanceof Cgroup ? Promise.resolve(cgroup) : Cgroup.open(cgroup);
        group = opening;
        // A failed open is not kept: a later worker start opens the group again.
        opening.catch(() => {
          if (group === opening) group = undefined;
        });
      }
      await (await group).attachThread(w.tid);
      // Joining a v1 cpuset sets the thread's mask to the group's CPUs: pin it again.
      if (w.cpu !== null) setAffinity([w.cpu], w.tid);
    });
  }
  return steps;
}
