/**
 * Types of the addon's estimator part (csrc/estimator.cc, the bindings of csrc/estimator_*.cc).
 * @internal
 * @module
 */
import { addon } from '../native';
// The addon builds these objects itself, field for field as the public types describe them.
import type { EstimationStats } from './types';

/** What the addon's stats() returns: the public stats without the deprecated cpulist, which lib adds. */
export type NativeEstimationStats = Omit<EstimationStats, 'cpulist'>;

/** Why the kthreads could not be placed as configured (the previous configuration is back). */
export interface NativeConfigureFailure {
  /** The setting the failure concerns; `kthreads` when no thread could be created. */
  field: 'cpulist' | 'nice' | 'kthreads';
  /** errno name. */
  code: string;
  /** Negative errno. */
  errno: number;
  /** The call that failed: sched_setaffinity, setpriority or pthread_create. */
  syscall: string;
}

/** The functions csrc/estimator.cc exports. */
export interface EstimatorNative {
  constants(): {
    slabSlots: number;
    slotBytes: number;
    ticks: number;
    tickNs: number;
    tickChains: number;
    cpuKthreads: number;
    privBytes: number;
  };
  view(slab: number): ArrayBuffer;
  create(
    kind: 1 | 2,
    chunk: number,
    offset: number,
    width: number,
    token: number,
    fieldIndices: number[],
    intervalLog: number,
    ewmaLog: number,
  ): number;
  remove(id: number): void;
  zero(id: number): void;
  snapshot(id: number, out: Uint32Array): void;
  manual(): void;
  automatic(): void;
  step(): void;
  configure(cpus: number[] | null, nice: number | null): Promise<NativeConfigureFailure | null>;
  stats(): NativeEstimationStats;
  /** For tests only: force failures and limits (see TestHooks in csrc/estimator.cc). */
  testHooks(hooks: { failStarts?: number; chainMax?: number; holdExits?: boolean }): { heldExits: number };
}

/** The addon's estimator functions. */
export const estimatorNative = addon.estimator as EstimatorNative;
