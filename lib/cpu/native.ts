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
  getCpu(): number;
  gettid(): number;
  getNice(tid: number): number;
  setNice(tid: number, nice: number): void;
}

/** The addon's affinity functions. */
export const affinityNative = addon.affinity as AffinityNative;
