/**
 * Types of the addon's affinity part (csrc/affinity.cc).
 * Internal to kernkit, not part of its API.
 * @module
 */
import { addon } from '../native';

/** The functions csrc/affinity.cc exports. A tid of 0 is the calling thread. */
export interface AffinityNative {
  /** The thread's allowed CPUs, ascending; `sizeHint` is a first guess of the mask size in CPUs. */
  getAffinity(tid: number, sizeHint: number): number[];
  /** Pins the thread to `cpus`, with a mask of `maskCpus` bits. */
  setAffinity(tid: number, cpus: number[], maskCpus: number): void;
  /** sched_getcpu(): the calling thread's CPU now. */
  getCpu(): number;
  /** gettid(): the calling thread's kernel id. */
  gettid(): number;
  /** getpriority(PRIO_PROCESS, tid). */
  getNice(tid: number): number;
  /** setpriority(PRIO_PROCESS, tid, nice). */
  setNice(tid: number, nice: number): void;
}

/** The addon's affinity functions. */
export const affinityNative = addon.affinity as AffinityNative;
