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
import { KernkitError, describeValue, invalidArgument } from '../errors';
import { Cgroup } from './cgroup';
import type { CgroupLayout } from './layout';
import { type NativeStdio, type SpawnPlan, spawnNative } from './native';

/** What becomes of one of the child's fds 0..2: a pipe to us, our own fd, or /dev/null. */
export type SpawnStdio = 'pipe' | 'inherit' | 'ignore';

/** Options of {@link spawn}. */
export interface SpawnOptions {
  /** The group to start the child in: a {@link Cgroup} or a path (opened with {@link Cgroup.open}). Without it, the child stays in ours. */
  cgroup?: Cgroup | string;
  /** The layout used to open `cgroup` when it is a path. */
  layout?: CgroupLayout;
  /** Working directory of the child (default: ours). */
  cwd?: string;
  /** Environment of the child (default: `process.env`); also where `PATH` is looked up. */
  env?: Record<string, string | undefined>;
  /** argv[0] for the program (default: `command`). */
  argv0?: string;
  /** stdin, stdout, stderr: one mode for all or one each (default `'pipe'`). */
  stdio?: SpawnStdio | [SpawnStdio, SpawnStdio, SpawnStdio];
  /** Start a new session (setsid), as child_process's `detached`. */
  detached?: boolean;
}

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
    if (num === undefined || !Number.isInteger(num) || num < 0) throw invalidArgument('signal', signal, 'expected a signal name such as "SIGTERM" or a number');
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

function noNul(value: string, field: string): string {
  if (value.includes('\0')) throw invalidArgument(field, value, 'must not contain NUL bytes');
  return value;
}

function stdioModes(stdio: SpawnOptions['stdio']): [NativeStdio, NativeStdio, NativeStdio] {
  const one = (m: unknown): NativeStdio => {
    if (m === 'pipe' || m === 'inherit' || m === 'ignore') return m;
    throw invalidArgument('stdio', m, 'expected "pipe", "inherit" or "ignore"');
  };
  if (stdio === undefined) return ['pipe', 'pipe', 'pipe'];
  if (Array.isArray(stdio)) {
    if (stdio.length !== 3) throw invalidArgument('stdio', stdio, 'expected three modes: stdin, stdout, stderr');
    return [one(stdio[0]), one(stdio[1]), one(stdio[2])];
  }
  const m = one(stdio);
  return [m, m, m];
}

/** The fallbacks `KERNKIT_SPAWN_COMPAT` may force (comma-separated), for tests and diagnosis. */
const COMPAT_SWITCHES = { 'no-clone3': 'noClone3', 'no-close-range': 'noCloseRange' } as const;
type CompatField = (typeof COMPAT_SWITCHES)[keyof typeof COMPAT_SWITCHES];

// Fallbacks forced through the environment: what a kernel or seccomp profile without the feature gets.
function compatSwitches(): Partial<Record<CompatField, boolean>> {
  const out: Partial<Record<CompatField, boolean>> = {};
  for (const name of (process.env.KERNKIT_SPAWN_COMPAT ?? '').split(',').map((n) => n.trim()).filter(Boolean)) {
    if (!Object.hasOwn(COMPAT_SWITCHES, name)) {
      throw invalidArgument('KERNKIT_SPAWN_COMPAT entry', name, `expected ${Object.keys(COMPAT_SWITCHES).join(' or ')}`);
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
 * pids limit, EBUSY for a frozen group, ...). A group frozen after the check,
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
export async function spawn(command: string, args: readonly string[] = [], options: SpawnOptions = {}): Promise<CgroupChild> {
  if (typeof command !== 'string' || command === '') throw invalidArgument('command', command, 'expected a non-empty string');
  noNul(command, 'command');
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw invalidArgument('args', args, 'expected an array of strings');
  args.forEach((a, i) => noNul(a, `args[${i}]`));
  const env = options.env ?? process.env;
  if (typeof env !== 'object' || env === null) throw invalidArgument('env', env, 'expected an object of strings');
  const envp: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalidArgument(`env.${k}`, v, 'expected a string');
    if (k.includes('=')) throw invalidArgument('env name', k, 'must not contain "="');
    envp.push(noNul(`${k}=${v}`, `env.${k}`));
  }
  if (options.cwd !== undefined && typeof options.cwd !== 'string') throw invalidArgument('cwd', options.cwd, 'expected a string');
  const argv0 = options.argv0 ?? command;
  if (typeof argv0 !== 'string') throw invalidArgument('argv0', argv0, 'expected a string');

  let targets: ReturnType<Cgroup['spawnTargets']> = { procsFiles: [] };
  if (options.cgroup !== undefined) {
    const group =
      options.cgroup instanceof Cgroup
        ? options.cgroup
        : typeof options.cgroup === 'string'
          ? await Cgroup.open(options.cgroup, options.layout ? { layout: options.layout } : {})
          : (() => {
              throw new KernkitError(`invalid cgroup: ${describeValue(options.cgroup)} (expected a Cgroup or a path)`, { code: 'EINVAL' });
            })();
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
    argv: [noNul(argv0, 'argv0'), ...args],
    envp,
    procsFiles: targets.procsFiles,
    stdio: stdioModes(options.stdio),
    setsid: options.detached === true,
    ...compatSwitches(),
    ...(options.cwd !== undefined ? { cwd: noNul(options.cwd, 'cwd') } : {}),
    ...(targets.cgroupDir !== undefined ? { cgroupDir: targets.cgroupDir } : {}),
  };
  let settle!: (exit: ChildExit) => void;
  const exited = new Promise<ChildExit>((resolve) => (settle = resolve));
  const started = await spawnNative.spawn(plan, (code, signal) => {
    settle({ code, signal: signal === null ? null : (signalNames.get(signal) ?? (`SIG${signal}` as NodeJS.Signals)) });
  });
  return new CgroupChild(started.pid, started.id, started.stdio, exited);
}
