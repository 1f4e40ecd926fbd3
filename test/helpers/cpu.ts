/**
 * Helpers for the affinity and pool tests: what /proc says about a thread,
 * throwaway cpuset cgroups, and running a snippet as an unprivileged user.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { KernkitError } from '../../lib';

/** The compiled package (dist/), which worker scripts and child processes load. */
export const distPath = path.join(__dirname, '..', '..', 'dist');

/** A field of /proc/self/task/<tid>/status, e.g. `Cpus_allowed_list`. */
export function taskStatus(tid: number, field: string): string {
  const text = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith(`${field}:`));
  if (line === undefined) throw new Error(`no ${field} in /proc/self/task/${tid}/status`);
  return line.slice(field.length + 1).trim();
}

/** A thread's nice value as /proc/self/task/<tid>/stat reports it (field 19). */
export function taskNice(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields after it start past the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19 - 3]);
}

/** The thread ids of this process now. */
export function processTids(): number[] {
  return readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b);
}

const CPUSET_ROOT = '/sys/fs/cgroup/cpuset';

/** Why cpuset (v1) tests cannot run here, or null. */
export function cpusetMissing(): string | null {
  if (!process.getuid || process.getuid() !== 0) return 'needs root';
  if (!existsSync(path.join(CPUSET_ROOT, 'cpuset.cpus'))) return `needs the cpuset v1 controller at ${CPUSET_ROOT}`;
  return null;
}

/**
 * A fresh cpuset cgroup `kernkit-test-<random>`; call `remove()` when done (also on failure).
 * With `cpus`, it is limited to them (and given the root's memory nodes) right away.
 */
export function makeCpuset(cpus?: string): { dir: string; remove(): void } {
  const dir = path.join(CPUSET_ROOT, `kernkit-test-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir);
  const cg = {
    dir,
    remove(): void {
      if (existsSync(dir)) rmdirSync(dir);
    },
  };
  if (cpus !== undefined) {
    try {
      writeCgroupFile(path.join(dir, 'cpuset.cpus'), cpus);
      writeCgroupFile(path.join(dir, 'cpuset.mems'), readFileSync(path.join(CPUSET_ROOT, 'cpuset.mems'), 'utf8').trim());
    } catch (e) {
      cg.remove();
      throw e;
    }
  }
  return cg;
}

/** Writes `text` to a cgroup file in one write(2), as the kernel expects. */
export function writeCgroupFile(file: string, text: string): void {
  writeFileSync(file, text);
}

/** Runs a Node snippet in a child process as `nobody` (uid/gid 65534); returns its stdout. */
export function runAsNobody(script: string): string {
  return execFileSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
}

/** The `.code` of the KernkitError `fn` throws, or undefined if it does not throw. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KernkitError);
    return (err as KernkitError).code;
  }
  return undefined;
}
