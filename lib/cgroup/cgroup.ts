/**
 * A control group across every hierarchy it lives in: create, open, limits,
 * membership, freeze, kill, stats and delete, over v1, v2 and hybrid layouts.
 * Each operation reads what it needs in one batch, decides in TypeScript, and
 * writes in a second batch that stops at the first error and is undone.
 * @module
 */
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { KernkitError, describeValue } from '../errors';
import { boolean, durationMs, integerIn, invalid, optional, options as optionsOf } from '../validate';
import {
  type IoOp,
  check,
  errnoCode,
  ioError,
  optionalText,
  pollUntil,
  readMany,
  readOptional,
  readText,
  removeDirs,
  runBatch,
  writeTask,
  writeValue,
} from './files';
import { type CgroupHierarchy, CgroupLayout } from './layout';
import {
  type CgroupLimits,
  type LimitController,
  LIMIT_CONTROLLERS,
  V1_DEFAULTS,
  V1_LIMIT_FILES,
  V2_LIMIT_FILES,
  type V1Current,
  type ValidLimits,
  controllersOf,
  limitsFromV1,
  limitsFromV2,
  parseBytesOrMax,
  v1Writes,
  v2Writes,
  validateLimits,
} from './limits';
import { spawnNative } from './native';
import { checkConfined, hierarchyDir, normalizeCgroupPath, realMount } from './paths';
import { CreatePlan, Undo, checkControllerNames, checkCpusWithin, controllerHierarchy, runSteps, writeStep } from './plan';
import { type CgroupStats, nsToUsec, parseFlatKeyed, parseLimit, parseNumber, parsePressure } from './stats';

/** Options shared by {@link Cgroup.create} and {@link Cgroup.open}. */
export interface CgroupOptions {
  /** The hierarchies to use; defaults to this machine's ({@link CgroupLayout.current}). */
  layout?: CgroupLayout;
}

/** Options of {@link Cgroup.create}. */
export interface CgroupCreateOptions extends CgroupOptions {
  /**
   * More controllers to create the group under, beyond those its limits need
   * (e.g. `['memory']` to read memory stats of an unlimited group).
   */
  controllers?: string[];
  /**
   * Make the group threaded on the unified hierarchy (`cgroup.type`), so that
   * single threads can join it with {@link Cgroup.attachThread}; a threaded
   * group takes threads of processes in its parent's domain, and no processes.
   */
  threaded?: boolean;
}

/** Options of operations that wait for the kernel (freeze, thaw, kill, delete). */
export interface CgroupWaitOptions {
  /**
   * Give up with ETIMEDOUT after this many milliseconds: a whole number from 0
   * to 2^31-1, or `Infinity` to wait as long as it takes (default 10000).
   */
  timeout?: number;
}

/** Options of {@link Cgroup.delete}. */
export interface CgroupDeleteOptions extends CgroupWaitOptions {
  /** Remove child groups too, deepest first (default false: a group with children is EBUSY). */
  recursive?: boolean;
  /** Kill the tasks still in the group first (default false: a group with tasks is EBUSY). */
  kill?: boolean;
}

const DEFAULT_TIMEOUT = 10000;
// FUTEX_TID_MASK: no task id is above it.
const MAX_TASK_ID = 0x3fffffff;

/** A process or thread id: an integer from 1 to 2^30-1 (EINVAL otherwise, as the kernel's cgroup.procs). */
function taskId(field: string, value: unknown): number {
  return integerIn(field, value, 1, MAX_TASK_ID, 'EINVAL');
}

/** The layout option: a {@link CgroupLayout}, or the machine's own when absent. */
function layoutOption(value: unknown): Promise<CgroupLayout> {
  if (value === undefined) return CgroupLayout.current();
  if (!(value instanceof CgroupLayout)) throw invalid('options.layout', value, 'a CgroupLayout');
  return Promise.resolve(value);
}

/** The timeout of a wait option, `Infinity` allowed ("no timeout"). */
function timeoutOption(value: unknown): number {
  return optional(value, (v) => durationMs('options.timeout', v, 2 ** 31 - 1, true), DEFAULT_TIMEOUT);
}

const WAIT_KEYS = ['timeout'] as const;

function parseIds(text: string | null): number[] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map(Number);
}

function sortedUnique(lists: number[][]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/**
 * The cgroups a task (process or thread id) is in, per hierarchy of `layout`,
 * from `/proc/<id>/cgroup` (paths relative to the hierarchy's mount, as
 * {@link Cgroup} uses them).
 */
export async function cgroupsOf(id: number, layout?: CgroupLayout): Promise<Map<CgroupHierarchy, string>> {
  taskId('task id', id);
  const lay = await layoutOption(layout);
  const text = await readText(`/proc/${id}/cgroup`);
  const out = new Map<CgroupHierarchy, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, hid, list, cgPath] = m;
    let h: CgroupHierarchy | undefined;
    if (hid === '0' && list === '') h = lay.unified ?? undefined;
    else {
      const names = list.split(',').filter((n) => !n.includes('=')).sort().join(',');
      h = lay.hierarchies.find((x) => x.version === 1 && [...x.controllers].sort().join(',') === names);
    }
    if (!h) continue;
    // /proc shows paths from the hierarchy's root; a bind mount may show a subtree.
    const rel = h.root !== '/' && (cgPath === h.root || cgPath.startsWith(h.root + '/')) ? cgPath.slice(h.root.length) || '/' : cgPath;
    out.set(h, rel);
  }
  return out;
}

/**
 * A cgroup: one path (`/jobs/build-42`), present in one or more hierarchies.
 * On v2 it lives in the unified hierarchy; on v1 in the hierarchy of each
 * controller it uses (plus freezer and cpuacct, to freeze, kill and account
 * it); on a hybrid machine in the unified hierarchy (which tracks, freezes and
 * kills its processes) and in the v1 hierarchies of its controllers.
 */
export class Cgroup {
  /** The group's path, normalised: `/jobs/build-42`. */
  readonly path: string;
  /** The hierarchies this object works with. */
  readonly layout: CgroupLayout;
  private readonly dirs: Map<CgroupHierarchy, string>;
  private wasDeleted = false;

  private constructor(cgPath: string, layout: CgroupLayout, dirs: Map<CgroupHierarchy, string>) {
    this.path = cgPath;
    this.layout = layout;
    this.dirs = dirs;
  }

  /**
   * Creates the group in every hierarchy its limits need, with those limits.
   * On v2 it first enables the needed controllers in each ancestor's
   * `cgroup.subtree_control`; on v1 cpuset it copies `cpus` and `mems` from the
   * parent (an empty cpuset refuses tasks with ENOSPC). Missing ancestors are
   * created. The limits are written before the group is returned, so before
   * anything can be moved or spawned into it. EEXIST if the group exists in
   * any of the hierarchies it would go into (then {@link Cgroup.open} it and
   * {@link Cgroup.set} its limits, or {@link Cgroup.delete} it: a create that
   * was killed midway can leave it without some of them). If any step fails,
   * every earlier step is undone and nothing is left behind.
   */
  static async create(cgPath: string, limits?: CgroupLimits, options?: CgroupCreateOptions): Promise<Cgroup> {
    const opts = optionsOf<CgroupCreateOptions>('options', options, ['layout', 'controllers', 'threaded']);
    const threaded = optional(opts.threaded, (v) => boolean('options.threaded', v), false);
    const layout = await layoutOption(opts.layout);
    const normalized = normalizeCgroupPath(cgPath, layout);
    if (normalized === '/') throw invalid('cgroup path', cgPath, 'a group below the root (the root cgroup cannot be created)');
    const valid = validateLimits(limits);
    const wanted = new Set<string>([...controllersOf(valid), ...checkControllerNames(opts.controllers, layout)]);
    const plan = new CreatePlan(layout, normalized, valid, wanted, threaded);
    const [results, mounts] = await Promise.all([runBatch(plan.probe), Promise.all(plan.targets.map((h) => realMount(h.mountPoint)))]);
    const { steps, dirs } = plan.changes(results, mounts);
    await runSteps(steps);
    return new Cgroup(normalized, layout, dirs);
  }

  /** Opens an existing group in every hierarchy where it exists. ENOENT if it exists in none. */
  static async open(cgPath: string, options?: CgroupOptions): Promise<Cgroup> {
    const layout = await layoutOption(optionsOf<CgroupOptions>('options', options, ['layout']).layout);
    const normalized = normalizeCgroupPath(cgPath, layout);
    const candidates = layout.hierarchies.map((h) => hierarchyDir(h, normalized));
    const [results, mounts] = await Promise.all([
      runBatch(candidates.flatMap((d) => [['isdir', d] as const, ['resolve', d] as const])),
      Promise.all(layout.hierarchies.map((h) => realMount(h.mountPoint))),
    ]);
    const dirs = new Map<CgroupHierarchy, string>();
    layout.hierarchies.forEach((h, i) => {
      if (!check<boolean>(results[2 * i], 'stat', candidates[i])) return;
      checkConfined(mounts[i], check<string>(results[2 * i + 1], 'realpath', candidates[i]), candidates[i], h.mountPoint);
      dirs.set(h, candidates[i]);
    });
    if (dirs.size === 0) {
      throw new KernkitError(
        `cgroup ${describeValue(normalized)} does not exist in any hierarchy (${layout.hierarchies.map((h) => h.mountPoint).join(', ')})`,
        { code: 'ENOENT' },
      );
    }
    return new Cgroup(normalized, layout, dirs);
  }

  /** Whether {@link Cgroup.delete} has removed the group (through this object). */
  get deleted(): boolean {
    return this.wasDeleted;
  }

  /**
   * `await using cg = await Cgroup.create(...)` deletes the group at the end of
   * the scope: {@link Cgroup.delete} with its defaults (EBUSY if tasks or child
   * groups are left: kill them first). Nothing if it was deleted already.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.wasDeleted ? Promise.resolve() : this.delete();
  }

  /** The hierarchies the group exists in (unified first). */
  get hierarchies(): CgroupHierarchy[] {
    return [...this.dirs.keys()];
  }

  /**
   * The group's directory in the hierarchy of `controller` (e.g. `'memory'` →
   * `/sys/fs/cgroup/memory/jobs`), or, without an argument, in the unified
   * hierarchy (else the first one). Null if the group is not there.
   */
  directory(controller?: string): string | null {
    if (controller === undefined) return this.unifiedDir() ?? this.dirs.values().next().value ?? null;
    const h = this.layout.hierarchyFor(controller);
    return (h && this.dirs.get(h)) ?? null;
  }

  /**
   * Changes limits. A controller the group is not under yet is added (the
   * group is created in its hierarchy, its limits are written there, then its
   * processes are moved there, whatever their count against a new pids.max:
   * they are members already). cpuset
   * CPUs outside the parent's are refused with EACCES on v1, as the kernel
   * does. Everything that can be checked is checked before anything changes;
   * if a write fails, the values written before it are restored, processes
   * moved into a new hierarchy go back where they were, and the directories
   * made for it are removed.
   */
  async set(limits: CgroupLimits): Promise<void> {
    const valid = validateLimits(limits);
    const controllers = controllersOf(valid);
    if (!controllers.length) return;
    const targets = controllers.map((c) => {
      const h = controllerHierarchy(this.layout, c);
      return { c, h, dir: this.dirs.get(h) ?? hierarchyDir(h, this.path) };
    });

    // Batch 1, read only: the limit files where they exist (old values, and what v1's write order
    // depends on), whether v1 has swap accounting, and the CPUs above a v1 cpuset.
    const limitFiles = targets.flatMap(({ c, h, dir }) => (h.version === 2 ? V2_LIMIT_FILES[c] : V1_LIMIT_FILES[c]).map((f) => path.join(dir, f)));
    const memoryH = this.layout.hierarchyFor('memory');
    const memswProbe = valid.memory?.swapMax !== undefined && memoryH?.version === 1 ? path.join(memoryH.mountPoint, 'memory.memsw.limit_in_bytes') : null;
    const cpusetH = this.layout.hierarchyFor('cpuset');
    const segs = this.path.split('/').filter(Boolean);
    const parentCpus =
      valid.cpuset?.cpus !== undefined && cpusetH?.version === 1
        ? segs.map((_, i) => path.join(hierarchyDir(cpusetH, '/' + segs.slice(0, i).join('/')), 'cpuset.cpus'))
        : [];
    const texts = await readMany([...limitFiles, ...(memswProbe ? [memswProbe] : []), ...parentCpus]);
    const old = new Map(limitFiles.map((f, i) => [f, texts[i]]));
    const known = texts.slice(texts.length - parentCpus.length).filter((t): t is string => t !== null);
    // The nearest existing ancestor's CPUs are what the group is bound by.
    if (known.length) checkCpusWithin(valid.cpuset!.cpus!, known[known.length - 1].trim());
    const writes = targets.map(({ c, h, dir }) => {
      const only: ValidLimits = { [c]: valid[c] };
      if (h.version === 2) return v2Writes(only);
      const present = old.get(path.join(dir, V1_LIMIT_FILES[c][0])) != null;
      // Where the group is not yet, it starts with the kernel's defaults.
      const current: V1Current = present
        ? v1CurrentFrom(dir, old)
        : { ...V1_DEFAULTS, memswLimit: memswProbe && texts[limitFiles.length] === null ? null : 'max' };
      return v1Writes(only, current); // throws for what v1 cannot express, before anything changes
    });

    const undo = new Undo();
    try {
      const joined: CgroupHierarchy[] = [];
      for (const { c } of targets) {
        const h = await this.ensureController(c, undo);
        if (h) joined.push(h);
      }
      // Files that were not there before (a new directory, a v2 controller just enabled): their values now, for the undo.
      const files = targets.flatMap(({ dir }, i) => writes[i].map((w) => path.join(dir, w.file)));
      const fresh = files.filter((f) => old.get(f) == null);
      if (fresh.length) (await readMany(fresh)).forEach((t, i) => old.set(fresh[i], t));
      // Batch 2: the writes, restored to their old values if one fails.
      const steps = targets.flatMap(({ dir }, i) =>
        writes[i].map((w) => {
          const file = path.join(dir, w.file);
          const before = old.get(file)?.trim();
          if (before === undefined || before === null) throw ioError('ENOENT', 'write', file, w.value, w.field);
          return writeStep(file, w.value, w.field, before === '' ? '\n' : before);
        }),
      );
      await runSteps(steps, undo);
      // Limits first, then the processes: none is ever in the new hierarchy without them.
      for (const h of joined) await this.bringProcesses(h, undo);
    } catch (err) {
      await undo.run();
      throw err;
    }
  }

  /** The current limits of every controller the group is under, in the shape {@link Cgroup.set} takes. */
  async limits(): Promise<CgroupLimits> {
    const plan: Array<{ c: LimitController; v: 1 | 2; names: readonly string[]; dir: string }> = [];
    for (const c of LIMIT_CONTROLLERS) {
      const h = this.layout.hierarchyFor(c);
      const dir = h && this.dirs.get(h);
      if (h && dir) plan.push({ c, v: h.version, names: h.version === 2 ? V2_LIMIT_FILES[c] : V1_LIMIT_FILES[c], dir });
    }
    const texts = await readMany(plan.flatMap((p) => p.names.map((n) => path.join(p.dir, n))));
    const out: CgroupLimits = {};
    let i = 0;
    for (const p of plan) {
      const files = Object.fromEntries(p.names.map((n) => [n, texts[i++]]));
      if (Object.values(files).every((t) => t === null)) continue; // v2: controller not enabled for this group
      (out as Record<string, unknown>)[p.c] = p.v === 2 ? limitsFromV2(p.c, files) : limitsFromV1(p.c, files);
    }
    return out;
  }

  /**
   * Moves a process (all its threads) into the group, in every hierarchy.
   * Retries the kernel's transient EINVAL for a task still being created. If
   * one hierarchy refuses, the process is moved back where it was in the others.
   *
   * A pids limit is enforced as for a fork (the kernel itself never refuses a
   * move): if, once moved, the group or an ancestor has more tasks than its
   * `pids.max`, the process is moved back and the attach fails with EAGAIN.
   * A process already in the group stays, whatever the count.
   */
  async attach(pid: number): Promise<void> {
    taskId('pid', pid);
    await this.moveTask(pid, 'cgroup.procs', 'cgroup.procs', 'attach');
  }

  /**
   * Moves one thread into the group: v1 `tasks` in each v1 hierarchy, v2
   * `cgroup.threads` (the group must be threaded there: create it with
   * `{ threaded: true }`; EOPNOTSUPP otherwise). Without `tid`, the calling
   * thread (main thread or worker). A pids limit is enforced as by
   * {@link Cgroup.attach}: EAGAIN, and the thread moved back, over the limit.
   */
  async attachThread(tid?: number): Promise<void> {
    const id = tid === undefined ? spawnNative.gettid() : taskId('tid', tid);
    const unified = this.unifiedDir();
    if (unified) {
      const type = (await readText(path.join(unified, 'cgroup.type'))).trim();
      if (type !== 'threaded') {
        throw new KernkitError(
          `cgroup ${this.path} is a ${type} group on the unified hierarchy; a single thread can only join a threaded group (create it with { threaded: true })`,
          { code: 'EOPNOTSUPP' },
        );
      }
    }
    await this.moveTask(id, 'tasks', 'cgroup.threads', 'attachThread');
  }

  /** The processes in the group (union over its hierarchies), sorted. */
  async procs(): Promise<number[]> {
    const texts = await readMany([...this.dirs.values()].map((d) => path.join(d, 'cgroup.procs')));
    return sortedUnique(texts.map(parseIds));
  }

  /** The threads in the group (v1 `tasks`, v2 `cgroup.threads`; union), sorted. */
  async threads(): Promise<number[]> {
    const texts = await readMany([...this.dirs].map(([h, d]) => path.join(d, h.version === 2 ? 'cgroup.threads' : 'tasks')));
    return sortedUnique(texts.map(parseIds));
  }

  /**
   * Freezes every task in the group and its descendants; resolves once the
   * kernel reports them frozen (v2 `cgroup.events` `frozen 1`, v1
   * `freezer.state` `FROZEN`). Uses v2 `cgroup.freeze` where the group is in the
   * unified hierarchy, else the v1 freezer; EOPNOTSUPP if it is in neither.
   * ETIMEDOUT if that state is not reached in time (a task in uninterruptible
   * sleep cannot freeze); the group is then thawed again, as runc does.
   */
  async freeze(options?: CgroupWaitOptions): Promise<void> {
    await this.setFrozen(true, timeoutOption(optionsOf<CgroupWaitOptions>('options', options, WAIT_KEYS).timeout));
  }

  /** Thaws the group; resolves once the kernel reports it thawed. */
  async thaw(options?: CgroupWaitOptions): Promise<void> {
    await this.setFrozen(false, timeoutOption(optionsOf<CgroupWaitOptions>('options', options, WAIT_KEYS).timeout));
  }

  /**
   * Kills every task in the group and its descendants with SIGKILL and
   * resolves when the group is empty. v2: `cgroup.kill` (atomic, no fork can
   * escape), then waits for the unified group to empty; hybrid: a process put
   * in the v1 half only (outside the group on v2) is then killed the v1 way.
   * v1: freeze, SIGKILL every task, thaw (without a freezer, or when the
   * freeze times out because a task cannot freeze, SIGKILL until empty).
   * `timeout` bounds each wait (the freeze, then the emptying).
   */
  async kill(options?: CgroupWaitOptions): Promise<void> {
    const timeout = timeoutOption(optionsOf<CgroupWaitOptions>('options', options, WAIT_KEYS).timeout);
    // A thread of ours in the group (a worker placed there) would take this whole process down with it.
    const tasks = await this.subtreeTasks([...this.dirs.values()]);
    const own = tasks.length ? new Set((await readdir('/proc/self/task')).map(Number)) : new Set<number>();
    const mine = tasks.filter((t) => own.has(t));
    if (mine.length) {
      throw new KernkitError(
        `cgroup ${this.path} holds threads of this process (${mine.join(', ')}); end them or move them out before killing the group`,
        { code: 'EBUSY' },
      );
    }
    const unified = this.unifiedDir();
    let signalDirs = [...this.dirs.values()];
    if (unified) {
      let killed = false;
      try {
        await writeValue(path.join(unified, 'cgroup.kill'), '1', 'kill');
        killed = true;
      } catch (err) {
        // Before Linux 5.14, and in threaded groups, there is no cgroup.kill: fall back to signals.
        const code = errnoCode(err);
        if (code !== 'ENOENT' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP') throw err;
      }
      if (killed) {
        // The unified hierarchy tracks every process of the group: wait for it to empty rather than
        // signal pids read from v1 tasks files (by then a pid may belong to another process).
        await pollUntil(
          async () => parseFlatKeyed(await readOptional(path.join(unified, 'cgroup.events'))).get('populated') !== 1,
          timeout,
          `cgroup ${this.path} to empty`,
        );
        // Left in v1: processes put in the v1 half by hand, outside the group on v2.
        signalDirs = (await this.outsideUnified()).length ? this.legacyDirs() : [];
      }
    }
    if (signalDirs.length && (await this.subtreeTasks(signalDirs)).length) await this.killBySignal(signalDirs, timeout);
    await pollUntil(() => this.isEmpty(), timeout, `cgroup ${this.path} to empty`);
  }

  /** What the group used, in one shape for v1 and v2; null where this layout or kernel has no figure. */
  async stats(): Promise<CgroupStats> {
    const unified = this.unifiedDir();
    const acct = this.directory('cpuacct');
    const memV2 = this.layout.hierarchyFor('memory')?.version === 2;
    const cpuV1 = this.layout.hierarchyFor('cpu')?.version === 1;
    const inDir = (dir: string | null, name: string): string | null => (dir ? path.join(dir, name) : null);
    const mem = this.directory('memory');
    const pids = this.directory('pids');
    const files = {
      unifiedCpuStat: inDir(unified, 'cpu.stat'),
      cpuStat: cpuV1 ? inDir(this.directory('cpu'), 'cpu.stat') : null,
      usage: inDir(acct, 'cpuacct.usage'),
      usageUser: inDir(acct, 'cpuacct.usage_user'),
      usageSys: inDir(acct, 'cpuacct.usage_sys'),
      memCurrent: inDir(mem, memV2 ? 'memory.current' : 'memory.usage_in_bytes'),
      memPeak: inDir(mem, memV2 ? 'memory.peak' : 'memory.max_usage_in_bytes'),
      memLimit: inDir(mem, memV2 ? 'memory.max' : 'memory.limit_in_bytes'),
      memFail: memV2 ? null : inDir(mem, 'memory.failcnt'),
      memEvents: inDir(mem, memV2 ? 'memory.events' : 'memory.oom_control'),
      pidsCurrent: inDir(pids, 'pids.current'),
      pidsMax: inDir(pids, 'pids.max'),
      pidsEvents: inDir(pids, 'pids.events'),
      psiCpu: inDir(unified, 'cpu.pressure'),
      psiMem: inDir(unified, 'memory.pressure'),
      psiIo: inDir(unified, 'io.pressure'),
    };
    const keys = Object.keys(files) as Array<keyof typeof files>;
    const wanted = keys.filter((k) => files[k] !== null);
    const texts = await readMany(wanted.map((k) => files[k]!));
    const t = Object.fromEntries(keys.map((k) => [k, null])) as Record<keyof typeof files, string | null>;
    wanted.forEach((k, i) => (t[k] = texts[i]));

    const v2cpu = parseFlatKeyed(t.unifiedCpuStat);
    const v1cpu = parseFlatKeyed(t.cpuStat);
    const events = parseFlatKeyed(t.memEvents);
    const pressure = { cpu: parsePressure(t.psiCpu), memory: parsePressure(t.psiMem), io: parsePressure(t.psiIo) };
    return {
      cpu: {
        // cpuacct (ns) when the group is under it, else the unified hierarchy's own accounting.
        usageUsec: acct ? nsToUsec(parseNumber(t.usage)) : (v2cpu.get('usage_usec') ?? null),
        userUsec: acct ? nsToUsec(parseNumber(t.usageUser)) : (v2cpu.get('user_usec') ?? null),
        systemUsec: acct ? nsToUsec(parseNumber(t.usageSys)) : (v2cpu.get('system_usec') ?? null),
        periods: v1cpu.get('nr_periods') ?? v2cpu.get('nr_periods') ?? null,
        throttledPeriods: v1cpu.get('nr_throttled') ?? v2cpu.get('nr_throttled') ?? null,
        throttledUsec: v1cpu.has('throttled_time') ? nsToUsec(v1cpu.get('throttled_time')) : (v2cpu.get('throttled_usec') ?? null),
      },
      memory: {
        current: parseNumber(t.memCurrent),
        peak: parseNumber(t.memPeak),
        limit: parseLimit(t.memLimit),
        failcnt: memV2 ? (events.get('max') ?? null) : parseNumber(t.memFail),
        oomKills: mem ? (events.get('oom_kill') ?? null) : null,
      },
      pids: {
        current: parseNumber(t.pidsCurrent),
        limit: t.pidsMax === null ? null : t.pidsMax.trim() === 'max' ? 'max' : Number(t.pidsMax.trim()),
        rejected: parseFlatKeyed(t.pidsEvents).get('max') ?? null,
      },
      pressure: pressure.cpu || pressure.memory || pressure.io ? pressure : null,
    };
  }

  /**
   * Removes the group from every hierarchy. A group with tasks is EBUSY unless
   * `kill: true` (then its tasks are killed first); a group with children is
   * EBUSY unless `recursive: true` (then children go first, deepest first).
   * rmdir's transient EBUSY right after the last task exits is retried.
   */
  async delete(options?: CgroupDeleteOptions): Promise<void> {
    const opts = optionsOf<CgroupDeleteOptions>('options', options, ['timeout', 'recursive', 'kill']);
    const timeout = timeoutOption(opts.timeout);
    const recursive = optional(opts.recursive, (v) => boolean('options.recursive', v), false);
    const kill = optional(opts.kill, (v) => boolean('options.kill', v), false);
    const own = [...this.dirs];
    // Batch 1: the subtree in each hierarchy, and whether the group itself holds tasks.
    const probe: IoOp[] = [
      ...own.map(([, d]) => ['walk', d] as const),
      ...own.map(([h, d]) => ['read', path.join(d, h.version === 2 ? 'cgroup.events' : 'tasks')] as const),
    ];
    const results = await runBatch(probe);
    const trees = own.map(([, d], i) => (results[i][0] === 'ENOENT' ? [] : check<string[]>(results[i], 'readdir', d)));
    const withChildren = trees.find((t) => t.length > 1);
    if (withChildren && !recursive) {
      throw new KernkitError(`cgroup ${this.path} has child groups (${withChildren[1]}); pass { recursive: true } to remove them too`, {
        code: 'EBUSY',
      });
    }
    let busy = own.some(([h, d], i) => {
      const text = optionalText(results[own.length + i], path.join(d, h.version === 2 ? 'cgroup.events' : 'tasks'));
      return h.version === 2 ? parseFlatKeyed(text).get('populated') === 1 : parseIds(text).length > 0;
    });
    if (!busy && withChildren) busy = !(await this.isEmpty());
    if (busy) {
      if (!kill) {
        const tasks = await this.subtreeTasks([...this.dirs.values()]);
        throw new KernkitError(
          `cgroup ${this.path} still has tasks (${tasks.slice(0, 8).join(', ')}${tasks.length > 8 ? ', ...' : ''}); pass { kill: true } to kill them first`,
          { code: 'EBUSY' },
        );
      }
      await this.kill({ timeout });
    }
    // Batch 2: children before parents, in every hierarchy.
    const rmdirs = trees.flatMap((t) => [...t].reverse());
    const removed = await removeDirs(rmdirs);
    const failed = removed.findIndex((r) => r[0] !== 0 && r[0] !== 'ENOENT');
    if (failed >= 0) throw ioError(removed[failed][0] as string, 'rmdir', rmdirs[failed]);
    this.wasDeleted = true;
  }

  /**
   * What keeps the group frozen, or null: its own or an ancestor's v2
   * `cgroup.freeze`, or a v1 `freezer.state` other than THAWED (which covers
   * frozen ancestors). A child spawned into a frozen group stops before exec.
   * @internal
   */
  async frozenBy(): Promise<string | null> {
    const files: string[] = [];
    const unified = this.unifiedDir();
    if (unified) {
      const segs = this.path.split('/').filter(Boolean);
      for (let i = segs.length; i > 0; i--) files.push(path.join(hierarchyDir(this.layout.unified!, '/' + segs.slice(0, i).join('/')), 'cgroup.freeze'));
    }
    const freezer = this.directory('freezer');
    if (freezer) files.push(path.join(freezer, 'freezer.state'));
    const texts = await readMany(files);
    for (let i = 0; i < files.length; i++) {
      const text = texts[i]?.trim();
      if (text === undefined || text === '0' || text === 'THAWED') continue;
      return `${files[i]} is ${text}`;
    }
    return null;
  }

  /**
   * Where clone3 and the child's own attach must put a spawned process, and
   * the pids directories whose limits the child checks once attached. @internal
   */
  spawnTargets(): { cgroupDir?: string; procsFiles: string[]; pidsDirs: string[] } {
    const unified = this.unifiedDir();
    return {
      ...(unified ? { cgroupDir: unified } : {}),
      procsFiles: this.legacyDirs().map((d) => path.join(d, 'cgroup.procs')),
      pidsDirs: this.pidsDirs(),
    };
  }

  /**
   * The directories whose pids.max a task joining the group is bound by: the
   * group's and each ancestor's below the root, in the group's pids hierarchy
   * (a v2 level where pids is not enabled has no pids.max: readers skip it).
   * @internal
   */
  pidsDirs(): string[] {
    const h = this.layout.hierarchyFor('pids');
    if (!h || !this.dirs.has(h)) return [];
    const segs = this.path.split('/').filter(Boolean);
    return segs.map((_, i) => hierarchyDir(h, '/' + segs.slice(0, segs.length - i).join('/')));
  }

  /**
   * The first pids directory over its limit, with the count and the limit, or
   * null: the check a fork gets from the kernel and a move does not.
   */
  private async pidsOverLimit(): Promise<{ dir: string; max: number; current: number } | null> {
    const dirs = this.pidsDirs();
    const texts = await readMany(dirs.flatMap((d) => [path.join(d, 'pids.max'), path.join(d, 'pids.current')]));
    for (let i = 0; i < dirs.length; i++) {
      const max = texts[2 * i]?.trim();
      const current = texts[2 * i + 1]?.trim();
      if (max === undefined || max === 'max' || current === undefined) continue;
      if (Number(current) > Number(max)) return { dir: dirs[i], max: Number(max), current: Number(current) };
    }
    return null;
  }

  // ---- internals ----

  private unifiedDir(): string | null {
    return (this.layout.unified && this.dirs.get(this.layout.unified)) ?? null;
  }

  private legacyDirs(): string[] {
    return [...this.dirs].filter(([h]) => h.version === 1).map(([, d]) => d);
  }

  // Makes sure the group is under `controller`: in its hierarchy, and on v2 with it enabled above.
  // Returns the hierarchy the group has just joined (its processes follow once its limits are
  // written: bringProcesses), or null. Undo: the directories made, and the hierarchy forgotten
  // only if its directory is really gone.
  private async ensureController(controller: LimitController, undo: Undo): Promise<CgroupHierarchy | null> {
    const h = controllerHierarchy(this.layout, controller);
    const dir = this.dirs.get(h);
    if (dir) {
      if (h.version === 2) {
        const available = (await readText(path.join(dir, 'cgroup.controllers'))).split(/\s+/);
        if (!available.includes(controller)) await enableAlongPath(h, this.path, [controller], undo);
      }
      return null;
    }
    // The group is not in this hierarchy yet: make it there (and missing ancestors).
    const newDir = hierarchyDir(h, this.path);
    undo.call(async () => {
      const [gone] = await runBatch([['isdir', newDir]]);
      if (gone[0] === 0 && gone[1] === false) this.dirs.delete(h);
    });
    await makeGroupDirIn(h, this.path, h.version === 2 ? [controller] : [], undo);
    this.dirs.set(h, newDir);
    return h;
  }

  // Keeps membership consistent after the group joined hierarchy `h` (and its limits there are
  // written): the group's processes join it there too, whatever their count (they are members
  // already; the kernel itself lets a lowered pids.max stand below pids.current).
  private async bringProcesses(h: CgroupHierarchy, undo: Undo): Promise<void> {
    const newDir = this.dirs.get(h)!;
    for (const pid of await this.procs()) {
      const before = await cgroupsOf(pid, this.layout).catch(() => null);
      const was = before?.get(h);
      try {
        await writeTask(path.join(newDir, 'cgroup.procs'), pid, 'set');
      } catch (err) {
        if (errnoCode(err) === 'ESRCH') continue;
        throw err;
      }
      if (was !== undefined) undo.op(['write', path.join(hierarchyDir(h, was), 'cgroup.procs'), String(pid)]);
    }
  }

  // Moves a task into every hierarchy of the group, then enforces the pids limit as a fork would
  // meet it: over it, the task goes back where it was and the move fails with EAGAIN.
  private async moveTask(id: number, v1File: string, v2File: string, field: string): Promise<void> {
    const before = await cgroupsOf(id, this.layout);
    const pidsH = this.layout.hierarchyFor('pids');
    const joinsPids = pidsH !== null && this.dirs.has(pidsH) && before.get(pidsH) !== this.path;
    const undo = new Undo();
    try {
      for (const [h, dir] of this.dirs) {
        await writeTask(path.join(dir, h.version === 2 ? v2File : v1File), id, field);
        const was = before.get(h);
        if (was !== undefined) undo.op(['write', path.join(hierarchyDir(h, was), h.version === 2 ? v2File : v1File), String(id)]);
      }
      const over = joinsPids ? await this.pidsOverLimit() : null;
      if (over) {
        throw new KernkitError(
          `${field} ${id}: cgroup ${over.dir} is at its pids.max of ${over.max} (${over.current} tasks with this one); ` +
            'a fork inside it would be refused, so the task was moved back',
          { code: 'EAGAIN', syscall: 'write' },
        );
      }
    } catch (err) {
      await undo.run();
      throw err;
    }
  }

  private async setFrozen(frozen: boolean, timeout: number): Promise<void> {
    const unified = this.unifiedDir();
    if (unified) {
      const file = path.join(unified, 'cgroup.freeze');
      await writeValue(file, frozen ? '1' : '0', frozen ? 'freeze' : 'thaw');
      const want = frozen ? 1 : 0;
      await thawOnFailure(
        pollUntil(
          async () => parseFlatKeyed(await readText(path.join(unified, 'cgroup.events'))).get('frozen') === want,
          timeout,
          `cgroup ${this.path} to be ${frozen ? 'frozen' : 'thawed'}`,
        ),
        frozen ? () => writeValue(file, '0') : null,
      );
      return;
    }
    const freezer = this.directory('freezer');
    if (!freezer) {
      throw new KernkitError(`cgroup ${this.path} cannot be frozen: it is neither in the unified hierarchy nor in a v1 freezer hierarchy`, {
        code: 'EOPNOTSUPP',
      });
    }
    await setV1Freezer(freezer, frozen, timeout, this.path);
  }

  private async killBySignal(dirs: string[], timeout: number): Promise<void> {
    const freezer = this.directory('freezer');
    // Frozen tasks cannot fork away from the kill; they die when thawed. A task that cannot be
    // frozen (uninterruptible) makes the freeze time out: the group is thawed again, and killed
    // without that protection below.
    let frozen = false;
    if (freezer) {
      try {
        await setV1Freezer(freezer, true, timeout, this.path);
        frozen = true;
      } catch (err) {
        if (errnoCode(err) !== 'ETIMEDOUT') throw err;
      }
    }
    try {
      for (const tid of await this.subtreeTasks(dirs)) signalKill(tid);
    } finally {
      if (frozen) await setV1Freezer(freezer!, false, timeout, this.path);
    }
    await pollUntil(
      async () => {
        const left = await this.subtreeTasks(dirs);
        left.forEach(signalKill); // without a freezer, a fork may have slipped through
        return left.length === 0;
      },
      timeout,
      `the tasks of cgroup ${this.path} to die`,
    );
  }

  // Every task in the subtrees of `dirs` (v1 tasks; cgroup.threads where there is no tasks file).
  private async subtreeTasks(dirs: string[]): Promise<number[]> {
    if (!dirs.length) return [];
    const walks = await runBatch(dirs.map((d) => ['walk', d] as const));
    const tree = walks.flatMap((r, i) => (r[0] === 'ENOENT' ? [] : check<string[]>(r, 'readdir', dirs[i])));
    const results = await runBatch(tree.flatMap((d) => [['read', path.join(d, 'tasks')] as const, ['read', path.join(d, 'cgroup.threads')] as const]));
    const lists: number[][] = [];
    tree.forEach((d, i) => {
      const tasks = optionalText(results[2 * i], path.join(d, 'tasks'));
      lists.push(parseIds(tasks ?? optionalText(results[2 * i + 1], path.join(d, 'cgroup.threads'))));
    });
    return sortedUnique(lists);
  }

  // Tasks in the group's v1 subtrees whose unified cgroup is outside the group's subtree.
  private async outsideUnified(): Promise<number[]> {
    const unifiedH = this.layout.unified!;
    const out: number[] = [];
    for (const tid of await this.subtreeTasks(this.legacyDirs())) {
      const where = await cgroupsOf(tid, this.layout).catch(() => null); // null: gone meanwhile
      const cg = where?.get(unifiedH);
      if (cg !== undefined && cg !== this.path && !cg.startsWith(this.path + '/')) out.push(tid);
    }
    return out;
  }

  // No task left anywhere in the group's subtree (v2: cgroup.events populated 0).
  private async isEmpty(): Promise<boolean> {
    const unified = this.unifiedDir();
    if (unified) {
      const events = parseFlatKeyed(await readOptional(path.join(unified, 'cgroup.events')));
      if (events.get('populated') === 1) return false;
    }
    return (await this.subtreeTasks(this.legacyDirs())).length === 0;
  }
}

// What v1Writes needs to know, from the limit files read before writing.
function v1CurrentFrom(dir: string, old: Map<string, string | null>): V1Current {
  const get = (f: string): string | null | undefined => old.get(path.join(dir, f));
  const current: V1Current = { ...V1_DEFAULTS };
  const period = get('cpu.cfs_period_us');
  if (period) current.period = Number(period.trim());
  const limit = get('memory.limit_in_bytes');
  if (limit) current.memoryLimit = parseBytesOrMax(limit);
  const memsw = get('memory.memsw.limit_in_bytes');
  if (memsw !== undefined) current.memswLimit = memsw === null ? null : parseBytesOrMax(memsw);
  return current;
}

function signalKill(tid: number): void {
  try {
    process.kill(tid, 'SIGKILL');
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') throw err;
  }
}

async function setV1Freezer(dir: string, frozen: boolean, timeout: number, cgPath: string): Promise<void> {
  const state = frozen ? 'FROZEN' : 'THAWED';
  const file = path.join(dir, 'freezer.state');
  await writeValue(file, state, frozen ? 'freeze' : 'thaw');
  // FREEZING becomes FROZEN lazily, when the state is read and every task has stopped.
  await thawOnFailure(
    pollUntil(async () => (await readText(file)).trim() === state, timeout, `cgroup ${cgPath} to be ${state}`),
    frozen ? () => writeValue(file, 'THAWED') : null,
  );
}

// A freeze that does not complete (a task in uninterruptible sleep never freezes) must not leave
// the group half frozen (v1 FREEZING, v2 cgroup.freeze 1): thaw it again, as runc does, then fail.
async function thawOnFailure(wait: Promise<void>, thaw: (() => Promise<void>) | null): Promise<void> {
  try {
    await wait;
  } catch (err) {
    if (thaw) await thaw().catch(() => undefined);
    if (thaw && err instanceof KernkitError) err.message += '; the group was thawed again';
    throw err;
  }
}

// Enables controllers in the subtree_control of every ancestor of cgPath (v2).
async function enableAlongPath(h: CgroupHierarchy, cgPath: string, controllers: string[], undo: Undo): Promise<void> {
  const segs = cgPath.split('/').filter(Boolean);
  for (let i = 0; i < segs.length; i++) {
    const file = path.join(hierarchyDir(h, '/' + segs.slice(0, i).join('/')), 'cgroup.subtree_control');
    const enabled = new Set((await readText(file)).split(/\s+/).filter(Boolean));
    const missing = controllers.filter((c) => !enabled.has(c));
    if (!missing.length) continue;
    await writeValue(file, missing.map((c) => `+${c}`).join(' '), 'subtree_control');
    // Not if other groups are there by then: they may rely on it (a concurrent create or set).
    const dir = path.dirname(file);
    const own = hierarchyDir(h, cgPath);
    undo.op(['write', file, missing.map((c) => `-${c}`).join(' ')], { dir, own });
  }
}

// Makes the group's directory in one hierarchy (and missing ancestors), for a
// group that already exists elsewhere: v2 controllers enabled above it, v1
// cpusets filled from the parent. Each step is recorded for undo.
async function makeGroupDirIn(h: CgroupHierarchy, cgPath: string, v2Controllers: string[], undo: Undo): Promise<string> {
  const dir = hierarchyDir(h, cgPath);
  const [mount, [resolved]] = await Promise.all([realMount(h.mountPoint), runBatch([['resolve', dir]])]);
  checkConfined(mount, check<string>(resolved, 'realpath', dir), dir, h.mountPoint);
  if (v2Controllers.length) await enableAlongPath(h, cgPath, v2Controllers, undo);
  const segs = cgPath.split('/').filter(Boolean);
  for (let i = 1; i <= segs.length; i++) {
    const parentDir = hierarchyDir(h, '/' + segs.slice(0, i - 1).join('/'));
    const cur = hierarchyDir(h, '/' + segs.slice(0, i).join('/'));
    const [made] = await runBatch([['mkdir', cur]]);
    if (made[0] === 'EEXIST') continue;
    check(made, 'mkdir', cur);
    undo.op(['rmdir', cur]);
    if (h.version === 1 && h.controllers.includes('cpuset')) {
      const copies = await runBatch(
        ['cpuset.cpus', 'cpuset.mems'].map((f) => ['copy', path.join(parentDir, f), path.join(cur, f)] as const),
        true,
      );
      copies.forEach((r, j) => check(r, 'copy parent value', path.join(cur, j ? 'cpuset.mems' : 'cpuset.cpus')));
    }
  }
  return dir;
}
