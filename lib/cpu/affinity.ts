/**
 * CPU affinity and per-thread scheduling: which CPUs a thread may run on
 * (sched_setaffinity/sched_getaffinity), the CPU it runs on now
 * (sched_getcpu), thread ids (gettid) and per-thread nice values
 * (setpriority/getpriority on a thread id).
 *
 * Every function works on one *thread*: without a `tid`, the calling thread
 * (the main thread, or the worker thread that calls it). Node's own
 * `os.setPriority()` takes a pid; on Linux a tid works there too, but nothing
 * in Node sets affinity.
 * @module
 */
import { readFileSync } from 'node:fs';
import { integer, integerIn, invalid, optional, outOfRange } from '../validate';
import { formatCpuList, isIterable, parseCpuList, parseCpuListField, possibleCpuCount } from './cpulist';
import { affinityNative } from './native';

/**
 * CPUs as input: an array of CPU numbers (`[0, 1, 2, 3, 8]`; any iterable of
 * them works) or a cpulist string (`"0-3,8"`, `"0-15:2/4"`). Outputs are always
 * `number[]`, ascending.
 */
export type CpuSpec = string | readonly number[] | Iterable<number>;

/** The kernel's nice range (MIN_NICE, MAX_NICE). */
export const MIN_NICE = -20;
/** The kernel's nice range (MIN_NICE, MAX_NICE). */
export const MAX_NICE = 19;

const MAX_TID = 0x7fffffff;

/**
 * A tid argument: undefined is the calling thread (0). `EINVAL` for anything
 * but an integer from 0 to 2^31 - 1, out of range too: such a value is no
 * thread id at all (pid_t is an int).
 */
function checkTid(tid: unknown): number {
  return optional(tid, (t) => integerIn('tid', t, 0, MAX_TID, 'EINVAL'), 0);
}

/**
 * The one input path for CPUs: a cpulist string or CPU numbers, turned into
 * sorted unique CPU numbers, each below {@link possibleCpuCount}. `EINVAL` for
 * a malformed list, a non-integer or an empty set (unless `allowEmpty`),
 * `ERANGE` for a CPU this machine cannot have.
 * @internal
 */
export function resolveCpus(cpus: unknown, field = 'cpus', allowEmpty = false): number[] {
  let list: number[];
  if (typeof cpus === 'string') {
    list = parseCpuListField(field, cpus);
  } else if (isIterable(cpus)) {
    const possible = possibleCpuCount();
    const given = [...cpus];
    given.forEach((cpu, i) => {
      // EINVAL for a negative number, as for "-1" in a cpulist: it is no CPU number at all.
      integer(`${field}[${i}]`, cpu, { min: 0, rangeCode: 'EINVAL' });
      if ((cpu as number) >= possible) {
        throw outOfRange(`${field}[${i}]`, cpu, `a CPU of this machine, 0-${possible - 1} (CPU ${cpu} does not exist)`);
      }
    });
    list = [...new Set(given as number[])].sort((a, b) => a - b);
  } else {
    throw invalid(field, cpus, 'a cpulist such as "0-3,8" or an array of CPU numbers');
  }
  if (list.length === 0 && !allowEmpty) throw invalid(field, cpus, 'at least one CPU');
  return list;
}

/**
 * The CPUs a thread may run on, ascending (sched_getaffinity). Without `tid`,
 * the calling thread. The mask is sized at run time, so machines with more
 * than 1024 CPUs read correctly. `ESRCH` if there is no such thread.
 */
export function getAffinity(tid?: number): number[] {
  return affinityNative.getAffinity(checkTid(tid), possibleCpuCount());
}

/**
 * Pins a thread to `cpus` (sched_setaffinity): it runs only on those CPUs from
 * now on. Without `tid`, the calling thread — a worker pins itself this way.
 *
 * Errors: `EINVAL` for a malformed cpulist (with the position) or an empty
 * set, `ERANGE` for a CPU beyond this machine's possible CPUs, `EINVAL` from
 * the kernel when none of the CPUs is online and allowed by the thread's
 * cpuset, `EPERM` when the caller may not change that thread (another user's,
 * without CAP_SYS_NICE), `ESRCH` for no such thread.
 *
 * Synchronous on purpose: the syscall does not sleep on an outside event (at
 * most it waits for the kernel's stopper thread to migrate the target).
 */
export function setAffinity(cpus: CpuSpec, tid?: number): void {
  const t = checkTid(tid);
  const list = resolveCpus(cpus);
  affinityNative.setAffinity(t, list, possibleCpuCount());
}

/** The CPU the calling thread is running on at this moment (sched_getcpu). */
export function currentCpu(): number {
  return affinityNative.getCpu();
}

/** The kernel's id of the calling thread (gettid): what `/proc/self/task/<tid>` and `tid` arguments use. */
export function gettid(): number {
  return affinityNative.gettid();
}

/**
 * Checks that every CPU of `cpus` is online now: `EINVAL` naming the first
 * that is not (a thread cannot be pinned to an offline CPU).
 * @internal
 */
export function checkOnline(cpus: readonly number[], field = 'cpus'): void {
  const online = new Set(onlineCpus());
  const offline = cpus.find((cpu) => !online.has(cpu));
  if (offline !== undefined) {
    throw invalid(field, [...cpus], `online CPUs only (CPU ${offline} is not; online: ${formatCpuList(online)})`);
  }
}

/** The CPUs that are online now, ascending (`/sys/devices/system/cpu/online`). */
export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
}

/** A thread's nice value, from -20 to 19 (getpriority on its tid). Without `tid`, the calling thread. */
export function getNice(tid?: number): number {
  return affinityNative.getNice(checkTid(tid));
}

/**
 * Sets one thread's nice value (setpriority(PRIO_PROCESS, tid): on Linux each
 * thread has its own). Without `tid`, the calling thread.
 *
 * Deviation from the kernel: setpriority clamps a value outside -20..19
 * silently; this rejects it with `ERANGE`, since such a value is a mistake.
 * Errors from the kernel: `EACCES` for lowering the value without
 * CAP_SYS_NICE (or RLIMIT_NICE), `EPERM` for another user's thread, `ESRCH`
 * for no such thread.
 */
export function setNice(nice: number, tid?: number): void {
  const t = checkTid(tid);
  affinityNative.setNice(t, integerIn('nice', nice, MIN_NICE, MAX_NICE));
}
