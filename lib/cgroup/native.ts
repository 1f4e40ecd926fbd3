/**
 * Types of the addon's spawn part (csrc/spawn.cc).
 * @internal
 * @module
 */
import { addon } from '../native';

/** How one of the child's fds 0..2 is set up. */
export type NativeStdio = 'pipe' | 'inherit' | 'ignore';

/** Everything the child needs, resolved and validated in TypeScript. */
export interface SpawnPlan {
  /** Paths to try with execve, in order (PATH already searched). */
  candidates: string[];
  argv: string[];
  /** `NAME=value` strings. */
  envp: string[];
  cwd?: string;
  /** cgroup2 directory for clone3(CLONE_INTO_CGROUP). */
  cgroupDir?: string;
  /** cgroup v1 `cgroup.procs` files the child writes itself into before exec. */
  procsFiles: string[];
  /** pids directories (the group and its ancestors) whose pids.max the attached child checks before exec (EAGAIN over it). */
  pidsDirs: string[];
  stdio: [NativeStdio, NativeStdio, NativeStdio];
  setsid: boolean;
  /** Start the child with clone() (the child attaching itself to `cgroupDir`), as where clone3 is refused. */
  noClone3?: boolean;
  /** Mark fds close-on-exec from /proc/self/fd (else up to RLIMIT_NOFILE), as where close_range lacks CLOSE_RANGE_CLOEXEC. */
  noCloseRange?: boolean;
}

/** A started child: its pid, the native id for kill/setRef, and our ends of its pipes (-1 where none). */
export interface NativeChild {
  pid: number;
  id: number;
  /** The system call that started it: clone3, or the clone() fallback. */
  via: 'clone3' | 'clone';
  stdio: [number, number, number];
}

/** The functions csrc/spawn.cc exports. */
export interface SpawnNative {
  /** Clones (CLONE_VFORK) on a pool thread; resolves once the child has exec'd, rejects with the child's errno if it could not. */
  spawn(plan: SpawnPlan, onExit: (code: number | null, signal: number | null) => void): Promise<NativeChild>;
  /** pidfd_send_signal; ESRCH once the child has been reaped. */
  kill(id: number, signal: number): void;
  /** Whether waiting for the child keeps the event loop alive. */
  setRef(id: number, ref: boolean): void;
  /** The calling thread's kernel thread id. */
  gettid(): number;
}

/** The addon's spawn functions. */
export const spawnNative = addon.spawn as SpawnNative;
