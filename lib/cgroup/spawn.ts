/**
 * Starting a program inside a cgroup: the child is in the group before it runs
 * its first instruction (v2: clone3 with CLONE_INTO_CGROUP; v1 and hybrid: the
 * forked child attaches itself in every v1 hierarchy before exec). The clone
 * happens on a libuv pool thread and the exit is watched through a pidfd on the
 * event loop: nothing blocks it.
 * @module
 */
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { KernkitError } from '../errors';
import { arrayOf, boolean, cString, invalid, oneOf, optional, options as optionsOf, plainObject } from '../validate';
import { Cgroup } from './cgroup';
import { readOptional } from './files';
import { CgroupLayout } from './layout';
import { type NativeStdio, type SpawnPlan, spawnNative } from './native';

/** What becomes of one of the child's fds 0..2: a pipe to us, our own fd, or /dev/null. */
export type SpawnStdio = 'pipe' | 'inherit' | 'ignore';

/** Options of {@link spawn}. */
export interface SpawnOptions {
  /** The group to start the child in: a {@link Cgroup} or a path (opened with {@link Cgroup.open}). Without it, the child stays in ours. */
  cgroup?: Cgroup | string;
  /** The layout used to open `cgroup` when it is a path. */
  layout?: CgroupLayout;
  /** Working directory of the child (default: ours); a non-empty path without NUL bytes. */
  cwd?: string;
  /** Environment of the child (default: `process.env`); also where `PATH` is looked up. Entries set to `undefined` are left out. */
  env?: Record<string, string | undefined>;
  /** argv[0] for the program (default: `command`). */
  argv0?: string;
  /** stdin, stdout, stderr: one mode for all or one each (default `'pipe'`). */
  stdio?: SpawnStdio | [SpawnStdio, SpawnStdio, SpawnStdio];
  /** Start a new session (setsid), as child_process's `detached` (`true` or `false`, default false). */
  detached?: boolean;
}

const SPAWN_KEYS = ['cgroup', 'layout', 'cwd', 'env', 'argv0', 'stdio', 'detached'] as const;
const STDIO_MODES = ['pipe', 'inherit', 'ignore'] as const;

/** How a child ended: an exit code, or the signal that killed it. */
export interface ChildExit {
  /** Exit status, or null if a signal ended it. */
  code: number | null;
  /** The signal's name (`'SIGKILL'`), or null. */
  signal: NodeJS.Signals | null;
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(osConstants.signals).map(([name, num]) => [num as number, name as NodeJS.Signals]),
);

/** A child started by {@link spawn}. */
export class CgroupChild {
  /** The child's process id. */
  readonly pid: number;
  /** Its stdin when piped, else null. */
  readonly stdin: Writable | null;
  /** Its stdout when piped, else null. */
  readonly stdout: Readable | null;
  /** Its stderr when piped, else null. */
  readonly stderr: Readable | null;
  /** Resolves when the child has exited (and been reaped); never rejects. */
  readonly exited: Promise<ChildExit>;
  private readonly id: number;

  /** @internal */
  constructor(pid: number, id: number, fds: [number, number, number], exited: Promise<ChildExit>) {
    this.pid = pid;
    this.id = id;
    this.exited = exited;
    this.stdin = fds[0] >= 0 ? new net.Socket({ fd: fds[0], readable: false, writable: true }) : null;
    this.stdout = fds[1] >= 0 ? new net.Socket({ fd: fds[1], readable: true, writable: false }) : null;
    this.stderr = fds[2] >= 0 ? new net.Socket({ fd: fds[2], readable: true, writable: false }) : null;
  }

  /**
   * Sends a signal (default SIGTERM) through the child's pidfd, so a recycled
   * pid can never be hit. ESRCH once the child has exited.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    const num = typeof signal === 'number' ? signal : osConstants.signals[signal];
    if (num === undefined || !Number.isInteger(num) || num < 0) throw invalid('signal', signal, 'a signal name such as "SIGTERM" or a number');
    spawnNative.kill(this.id, num);
  }

  /** Lets the event loop exit while the child still runs. */
  unref(): void {
    spawnNative.setRef(this.id, false);
  }

  /** Undoes {@link CgroupChild.unref}. */
  ref(): void {
    spawnNative.setRef(this.id, true);
  }
}

function stdioModes(stdio: unknown): [NativeStdio, NativeStdio, NativeStdio] {
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (Array.isArray(stdio)) {
    if (stdio.length !== 3) throw invalid('options.stdio', stdio, 'three modes: stdin, stdout, stderr');
    const modes = arrayOf('options.stdio', stdio, (field, m) => oneOf(field, m, STDIO_MODES));
    return [modes[0], modes[1], modes[2]];
  }
  const m = oneOf('options.stdio', stdio, STDIO_MODES);
  return [m, m, m];
}

// NAME=value strings: every value a string without NUL (undefined: left out), every name without "=".
function environment(env: unknown): string[] {
  const envp: string[] = [];
  for (const [k, v] of Object.entries(plainObject('options.env', env, 'an object of strings'))) {
    if (v === undefined) continue;
    cString(`options.env.${k}`, v);
    if (k === '' || k.includes('=')) throw invalid('options.env name', k, 'a non-empty name without "="');
    envp.push(cString('options.env name', k) + '=' + (v as string));
  }
  return envp;
}

// The group to spawn into: a Cgroup, or a path opened with Cgroup.open.
function openGroup(cgroup: unknown, layout: CgroupLayout | undefined): Promise<Cgroup> {
  if (cgroup instanceof Cgroup) return Promise.resolve(cgroup);
  if (typeof cgroup !== 'string') throw invalid('options.cgroup', cgroup, 'a Cgroup or the path of one');
  return Cgroup.open(cString('options.cgroup', cgroup, { nonEmpty: true }), layout === undefined ? {} : { layout });
}

/** The fallbacks `KERNKIT_SPAWN_COMPAT` may force (comma-separated), for tests and diagnosis. */
const COMPAT_SWITCHES = { 'no-clone3': 'noClone3', 'no-close-range': 'noCloseRange' } as const;
type CompatField = (typeof COMPAT_SWITCHES)[keyof typeof COMPAT_SWITCHES];

// Fallbacks forced through the environment: what a kernel or seccomp profile without the feature gets.
function compatSwitches(): Partial<Record<CompatField, boolean>> {
  const out: Partial<Record<CompatField, boolean>> = {};
  for (const name of (process.env.KERNKIT_SPAWN_COMPAT ?? '').split(',').map((n) => n.trim()).filter(Boolean)) {
    if (!Object.hasOwn(COMPAT_SWITCHES, name)) {
      throw invalid('KERNKIT_SPAWN_COMPAT entry', name, Object.keys(COMPAT_SWITCHES).join(' or '));
    }
    out[COMPAT_SWITCHES[name as keyof typeof COMPAT_SWITCHES]] = true;
  }
  return out;
}

// execvp's search: a name with a slash is used as is; otherwise every PATH entry (empty = current directory).
function execCandidates(command: string, env: Record<string, string | undefined>): string[] {
  if (command.includes('/')) return [command];
  const pathVar = env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  return pathVar.split(':').map((dir) => `${dir || '.'}/${command}`);
}

/**
 * Starts `command` with `args`, inside `options.cgroup` from its first
 * instruction. Resolves once the program has been exec'd; rejects with the
 * errno of whatever failed (ENOENT for a missing program, EACCES, the attach
 * error of a v1 hierarchy such as ENOSPC for an empty cpuset, EAGAIN from a
 * pids limit, EBUSY for a frozen group, ...). A pids limit holds as for a fork
 * inside the group: v2's clone3 into the group is checked by the kernel, and
 * the child, once attached, checks pids.current against pids.max of the group
 * and its ancestors in the pids hierarchy and stops before exec (EAGAIN, naming
 * the group and the limit) when over, since the kernel never checks a move.
 * Meanwhile the child counts: a fork inside the group at that moment may be
 * refused. Strings that reach the child (command, args, env, cwd, argv0) and
 * the group's path are EINVAL with a NUL byte. A group frozen after the check,
 * before the child has exec'd, holds the spawn (and a libuv pool thread)
 * until it is thawed.
 *
 * Needs Linux 5.3 (pidfds that poll, clone3 or clone with CLONE_PIDFD).
 * Features of later kernels are used where present, with a fallback:
 * waitid(P_PIDFD) (5.4; before, waitid(P_PID), safe for a child not yet
 * reaped), CLONE_INTO_CGROUP (5.7; before, the child attaches itself),
 * close_range(CLOSE_RANGE_CLOEXEC) (5.11; before, the fds /proc/self/fd lists
 * are marked one by one, or without /proc every fd below RLIMIT_NOFILE).
 * The child outlives the thread that spawned it, as a child_process child
 * outlives its parent: when a worker thread ends before its child, kernkit's
 * reaper thread reaps the child once it exits (no zombie), but nothing can
 * wait for or signal it through kernkit any more.
 *
 * Deviation from execvp: no `/bin/sh` retry for a file without a `#!` line
 * (ENOEXEC), as posix_spawnp.
 *
 * Where clone3 is refused (ENOSYS: Docker's default seccomp profile, Linux
 * before 5.3; E2BIG with a cgroup: before 5.7), the child is started with
 * clone() and writes itself into the unified group's `cgroup.procs` before
 * exec, as it does for v1 hierarchies. `KERNKIT_SPAWN_COMPAT=no-clone3` (or
 * `no-close-range`, or both, comma-separated) in the environment forces a
 * fallback (tests, diagnosis).
 */
export async function spawn(command: string, args: readonly string[] = [], options?: SpawnOptions): Promise<CgroupChild> {
  cString('command', command, { nonEmpty: true });
  const argv = arrayOf('args', args, (field, a) => cString(field, a));
  const opts = optionsOf<SpawnOptions>('options', options, SPAWN_KEYS);
  const env = opts.env === undefined ? process.env : opts.env;
  const envp = environment(env);
  const cwd = optional(opts.cwd, (v) => cString('options.cwd', v, { nonEmpty: true }));
  const argv0 = optional(opts.argv0, (v) => cString('options.argv0', v), command);
  const setsid = optional(opts.detached, (v) => boolean('options.detached', v), false);
  const stdio = stdioModes(opts.stdio);
  if (opts.layout !== undefined && !(opts.layout instanceof CgroupLayout)) throw invalid('options.layout', opts.layout, 'a CgroupLayout');

  let group: Cgroup | null = null;
  let targets: ReturnType<Cgroup['spawnTargets']> = { procsFiles: [], pidsDirs: [] };
  if (opts.cgroup !== undefined) {
    group = await openGroup(opts.cgroup, opts.layout);
    targets = group.spawnTargets();
    // The child would stop before exec, and with it the pool thread that cloned it (CLONE_VFORK) until a thaw.
    const frozen = await group.frozenBy();
    if (frozen) {
      throw new KernkitError(`spawn ${command}: cgroup ${group.path} is frozen (${frozen}); a child would stop before exec until it is thawed`, {
        code: 'EBUSY',
      });
    }
  }

  const plan: SpawnPlan = {
    candidates: execCandidates(command, env),
    argv: [argv0, ...argv],
    envp,
    procsFiles: targets.procsFiles,
    pidsDirs: targets.pidsDirs,
    stdio,
    setsid,
    ...compatSwitches(),
    ...(cwd !== undefined ? { cwd } : {}),
    ...(targets.cgroupDir !== undefined ? { cgroupDir: targets.cgroupDir } : {}),
  };
  let settle!: (exit: ChildExit) => void;
  const exited = new Promise<ChildExit>((resolve) => (settle = resolve));
  let started: Awaited<ReturnType<typeof spawnNative.spawn>>;
  try {
    started = await spawnNative.spawn(plan, (code, signal) => {
      settle({ code, signal: signal === null ? null : (signalNames.get(signal) ?? (`SIG${signal}` as NodeJS.Signals)) });
    });
  } catch (err) {
    throw group && targets.cgroupDir ? await explainCloneRefusal(err, command, group, targets.cgroupDir) : err;
  }
  return new CgroupChild(started.pid, started.id, started.stdio, exited);
}

// clone3(CLONE_INTO_CGROUP) is refused with EAGAIN by a v2 pids limit (or RLIMIT_NPROC, or the
// system's pid limit): name the group and its limit.
async function explainCloneRefusal(err: unknown, command: string, group: Cgroup, dir: string): Promise<unknown> {
  const e = err as { code?: unknown; syscall?: unknown };
  if (e?.code !== 'EAGAIN' || e.syscall !== 'clone3') return err;
  const max = (await readOptional(`${dir}/pids.max`).catch(() => null))?.trim();
  const limit = max === undefined || max === 'max' ? 'no pids limit of its own (an ancestor\'s, RLIMIT_NPROC or the system\'s limit was reached)' : `it is at its pids.max of ${max}`;
  return new KernkitError(`spawn ${command}: clone3 into cgroup ${group.path} was refused: ${limit}`, { code: 'EAGAIN', syscall: 'clone3' });
}
