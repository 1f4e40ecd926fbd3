/**
 * Startup steps: what the pool does for each new worker on the main thread,
 * after the worker has pinned itself and said its tid, and before it gets its
 * first task. A step that throws or rejects is a startup failure: a pool that
 * is being built or repaired fails, a setCpus() rolls back.
 *
 * This is where per-thread placement that needs the tid belongs, e.g. moving
 * the worker's thread into a cgroup (writing the tid to the cgroup's
 * `cgroup.threads` or `tasks` file) for a `cgroup` pool option.
 * Internal to kernkit, not part of its API.
 * @module
 */
import type { ResolvedOptions } from './options';
import type { WorkerIdentity } from './pool-worker';

/** One startup step. */
export type StartupStep = (worker: WorkerIdentity) => void | Promise<void>;

/** The steps the options ask for, in order. None yet: options such as `cgroup` add theirs here. */
export function startupSteps(_options: ResolvedOptions): StartupStep[] {
  return [];
}
