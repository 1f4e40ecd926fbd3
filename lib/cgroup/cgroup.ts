/**
 * A control group across every hierarchy it lives in: create, open, limits,
 * membership, freeze, kill, stats and delete, over v1, v2 and hybrid layouts.
 * @module
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { KernkitError, describeValue, invalidArgument } from '../errors';
import { parseCpuList } from '../cpu/cpulist';
import {
  Undo,
  errnoCode,
  fileError,
  isDirectory,
  pollUntil,
  readOptional,
  readText,
  removeDir,
  writeTask,
  writeValue,
} from './files';
import { type CgroupHierarchy, CgroupLayout } from './layout';
import {
  type CgroupLimits,
  type FileWrite,
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
import { assertConfined, hierarchyDir, normalizeCgroupPath } from './paths';
import { type CgroupStats, nsToUsec, parseFlatKeyed, parseLimit, parseNumber, parsePressure } from './stats';

/** Options shared by {@link Cgroup.create} and {@link Cgroup.open}. */
export interface CgroupOptions {
  /** The hierarchies to use; defaults to this machine's ({@link CgroupLayout.current}). */
  layout?: CgroupLayout;
}

/** Options of {@link Cgroup.create}. */
export interface CreateOptions extends CgroupOptions {
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
export interface WaitOptions {
  /** Give up with ETIMEDOUT after this many milliseconds (default 10000). */
  timeout?: number;
}

/** Options of {@link Cgroup.delete}. */
export interface DeleteOptions extends WaitOptions {
  /** Remove child groups too, deepest first (default false: a group with children is EBUSY). */
  recursive?: boolean;
  /** Kill the tasks still in the group first (default false: a group with tasks is EBUSY). */
  kill?: boolean;
}

const DEFAULT_TIMEOUT = 10000;

function positiveId(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > 0x3fffffff) {
    throw invalidArgument(field, value, 'expected a positive integer id');
  }
  return value;
}

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
  const lay = layout ?? (await CgroupLayout.current());
  positiveId(id, 'task id');
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
   * created. EEXIST if the group exists. If any step fails, every earlier step
   * is undone and nothing is left behind.
   */
  static async create(cgPath: string, limits?: CgroupLimits, options: CreateOptions = {}): Promise<Cgroup> {
    const layout = options.layout ?? (await CgroupLayout.current());
    const normalized = normalizeCgroupPath(cgPath, layout);
    if (normalized === '/') throw invalidArgument('cgroup path', cgPath, 'the root cgroup cannot be created');
    const valid = validateLimits(limits);
    const wanted = new Set<string>([...controllersOf(valid), ...checkControllerNames(options.controllers, layout)]);
    const targets = targetHierarchies(layout, wanted);
    if (options.threaded && !layout.unified) {
      throw invalidArgument('threaded', true, 'threaded groups exist on the unified (v2) hierarchy only; this layout has none');
    }
    const undo = new Undo();
    const dirs = new Map<CgroupHierarchy, string>();
    try {
      for (const h of targets) {
        const v2Controllers = h.version === 2 ? [...wanted].filter((c) => h.controllers.includes(c)) : [];
        dirs.set(h, await makeGroupDir(h, normalized, v2Controllers, undo, true));
      }
      const group = new Cgroup(normalized, layout, dirs);
      if (options.threaded) await writeValue(path.join(dirs.get(layout.unified!)!, 'cgroup.type'), 'threaded', 'threaded');
      await group.applyLimits(valid, true);
      return group;
    } catch (err) {
      await undo.run();
      throw err;
    }
  }

  /** Opens an existing group in every hierarchy where it exists. ENOENT if it exists in none. */
  static async open(cgPath: string, options: CgroupOptions = {}): Promise<Cgroup> {
    const layout = options.layout ?? (await CgroupLayout.current());
    const normalized = normalizeCgroupPath(cgPath, layout);
    const dirs = new Map<CgroupHierarchy, string>();
    await Promise.all(
      layout.hierarchies.map(async (h) => {
        const dir = hierarchyDir(h, normalized);
        if (await isDirectory(dir)) {
          await assertConfined(h, dir);
          dirs.set(h, dir);
        }
      }),
    );
    if (dirs.size === 0) {
      throw new KernkitError(`cgroup ${describeValue(normalized)} does not exist in any hierarchy (${layout.hierarchies.map((h) => h.mountPoint).join(', ')})`, {
        code: 'ENOENT',
      });
    }
    const ordered = new Map(layout.hierarchies.filter((h) => dirs.has(h)).map((h) => [h, dirs.get(h)!] as [CgroupHierarchy, string]));
    return new Cgroup(normalized, layout, ordered);
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
    if (controller === undefined) return this.dirs.get(this.layout.unified!) ?? this.dirs.values().next().value ?? null;
    const h = this.layout.hierarchyFor(controller);
    return (h && this.dirs.get(h)) ?? null;
  }

  /**
   * Changes limits. A controller the group is not under yet is added (the
   * group is created in its hierarchy and its processes moved there). cpuset
   * CPUs outside the parent's are refused with EACCES, as cgroup v1 does. If a
   * write fails, the values written before it are restored.
   */
  async set(limits: CgroupLimits): Promise<void> {
    await this.applyLimits(validateLimits(limits), false);
  }

  /** The current limits of every controller the group is under, in the shape {@link Cgroup.set} takes. */
  async limits(): Promise<CgroupLimits> {
    const out: CgroupLimits = {};
    await Promise.all(
      LIMIT_CONTROLLERS.map(async (c) => {
        const h = this.layout.hierarchyFor(c);
        const dir = h && this.dirs.get(h);
        if (!h || !dir) return;
        const names = h.version === 2 ? V2_LIMIT_FILES[c] : V1_LIMIT_FILES[c];
        const texts = await Promise.all(names.map((n) => readOptional(path.join(dir, n))));
        if (texts.every((t) => t === null)) return; // v2: controller not enabled for this group
        const files = Object.fromEntries(names.map((n, i) => [n, texts[i]]));
        (out as Record<string, unknown>)[c] = h.version === 2 ? limitsFromV2(c, files) : limitsFromV1(c, files);
      }),
    );
    return out;
  }

  /**
   * Moves a process (all its threads) into the group, in every hierarchy.
   * Retries the kernel's transient EINVAL for a task still being created. If
   * one hierarchy refuses, the process is moved back where it was in the others.
   */
  async attach(pid: number): Promise<void> {
    positiveId(pid, 'pid');
    await this.moveTask(pid, 'cgroup.procs', 'cgroup.procs', 'attach');
  }

  /**
   * Moves one thread into the group: v1 `tasks` in each v1 hierarchy, v2
   * `cgroup.threads` (the group must be threaded there: create it with
   * `{ threaded: true }`; EOPNOTSUPP otherwise). Without `tid`, the calling
   * thread (main thread or worker).
   */
  async attachThread(tid?: number): Promise<void> {
    const id = tid === undefined ? spawnNative.gettid() : positiveId(tid, 'tid');
    const unified = this.layout.unified && this.dirs.get(this.layout.unified);
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
    const lists = await Promise.all([...this.dirs.values()].map((d) => readOptional(path.join(d, 'cgroup.procs'))));
    return sortedUnique(lists.map(parseIds));
  }

  /** The threads in the group (v1 `tasks`, v2 `cgroup.threads`; union), sorted. */
  async threads(): Promise<number[]> {
    const lists = await Promise.all(
      [...this.dirs].map(([h, d]) => readOptional(path.join(d, h.version === 2 ? 'cgroup.threads' : 'tasks'))),
    );
    return sortedUnique(lists.map(parseIds));
  }

  /**
   * Freezes every task in the group and its descendants; resolves once the
   * kernel reports them frozen (v2 `cgroup.events` `frozen 1`, v1
   * `freezer.state` `FROZEN`). Uses v2 `cgroup.freeze` where the group is in the
   * unified hierarchy, else the v1 freezer; EOPNOTSUPP if it is in neither.
   */
  async freeze(options: WaitOptions = {}): Promise<void> {
    await this.setFrozen(true, options.timeout ?? DEFAULT_TIMEOUT);
  }

  /** Thaws the group; resolves once the kernel reports it thawed. */
  async thaw(options: WaitOptions = {}): Promise<void> {
    await this.setFrozen(false, options.timeout ?? DEFAULT_TIMEOUT);
  }

  /**
   * Kills every task in the group and its descendants with SIGKILL and
   * resolves when the group is empty. v2: `cgroup.kill` (atomic, no fork can
   * escape). v1: freeze, SIGKILL every task, thaw (without a freezer, SIGKILL
   * until empty).
   */
  async kill(options: WaitOptions = {}): Promise<void> {
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    const unified = this.unifiedDir();
    let signalDirs = this.legacyDirs();
    if (unified) {
      try {
        await writeValue(path.join(unified, 'cgroup.kill'), '1', 'kill');
      } catch (err) {
        // Before Linux 5.14, and in threaded groups, there is no cgroup.kill: fall back to signals.
        const code = errnoCode(err);
        if (code !== 'ENOENT' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP') throw err;
        signalDirs = [...this.dirs.values()];
      }
    }
    if (signalDirs.length && (await this.subtreeTasks(signalDirs)).length) await this.killBySignal(signalDirs, timeout);
    await pollUntil(() => this.isEmpty(), timeout, `cgroup ${this.path} to empty`);
  }

  /** What the group used, in one shape for v1 and v2; null where this layout or kernel has no figure. */
  async stats(): Promise<CgroupStats> {
    const read = (controller: string, name: string): Promise<string | null> => {
      const dir = this.directory(controller);
      return dir ? readOptional(path.join(dir, name)) : Promise.resolve(null);
    };
    const unified = this.unifiedDir();
    const readUnified = (name: string): Promise<string | null> => (unified ? readOptional(path.join(unified, name)) : Promise.resolve(null));
    const memV2 = this.layout.hierarchyFor('memory')?.version === 2;
    const pidsV2 = this.layout.hierarchyFor('pids')?.version === 2;
    const acct = this.directory('cpuacct');
    const [
      unifiedCpuStat, cpuStat, usage, usageUser, usageSys,
      memCurrent, memPeak, memLimit, memFail, memEvents,
      pidsCurrent, pidsMax, pidsEvents,
      psiCpu, psiMem, psiIo,
    ] = await Promise.all([
      readUnified('cpu.stat'),
      this.layout.hierarchyFor('cpu')?.version === 1 ? read('cpu', 'cpu.stat') : Promise.resolve(null),
      acct ? readOptional(path.join(acct, 'cpuacct.usage')) : null,
      acct ? readOptional(path.join(acct, 'cpuacct.usage_user')) : null,
      acct ? readOptional(path.join(acct, 'cpuacct.usage_sys')) : null,
      read('memory', memV2 ? 'memory.current' : 'memory.usage_in_bytes'),
      read('memory', memV2 ? 'memory.peak' : 'memory.max_usage_in_bytes'),
      read('memory', memV2 ? 'memory.max' : 'memory.limit_in_bytes'),
      memV2 ? Promise.resolve(null) : read('memory', 'memory.failcnt'),
      read('memory', memV2 ? 'memory.events' : 'memory.oom_control'),
      read('pids', 'pids.current'),
      read('pids', 'pids.max'),
      read('pids', 'pids.events'),
      readUnified('cpu.pressure'),
      readUnified('memory.pressure'),
      readUnified('io.pressure'),
    ]);
    const v2cpu = parseFlatKeyed(unifiedCpuStat);
    const v1cpu = parseFlatKeyed(cpuStat);
    const events = parseFlatKeyed(memEvents);
    const hasMemory = this.directory('memory') !== null;
    const pressure = { cpu: parsePressure(psiCpu), memory: parsePressure(psiMem), io: parsePressure(psiIo) };
    return {
      cpu: {
        // cpuacct (ns) when the group is under it, else the unified hierarchy's own accounting.
        usageUsec: acct ? nsToUsec(parseNumber(usage)) : (v2cpu.get('usage_usec') ?? null),
        userUsec: acct ? nsToUsec(parseNumber(usageUser)) : (v2cpu.get('user_usec') ?? null),
        systemUsec: acct ? nsToUsec(parseNumber(usageSys)) : (v2cpu.get('system_usec') ?? null),
        periods: v1cpu.get('nr_periods') ?? v2cpu.get('nr_periods') ?? null,
        throttledPeriods: v1cpu.get('nr_throttled') ?? v2cpu.get('nr_throttled') ?? null,
        throttledUsec: v1cpu.has('throttled_time') ? nsToUsec(v1cpu.get('throttled_time')) : (v2cpu.get('throttled_usec') ?? null),
      },
      memory: {
        current: parseNumber(memCurrent),
        peak: parseNumber(memPeak),
        limit: parseLimit(memLimit),
        failcnt: memV2 ? (events.get('max') ?? null) : parseNumber(memFail),
        oomKills: hasMemory ? (events.get('oom_kill') ?? null) : null,
      },
      pids: {
        current: parseNumber(pidsCurrent),
        limit: pidsMax === null ? null : pidsMax.trim() === 'max' ? 'max' : Number(pidsMax.trim()),
        rejected: parseFlatKeyed(pidsEvents).get('max') ?? null,
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
  async delete(options: DeleteOptions = {}): Promise<void> {
    const trees = await Promise.all([...this.dirs.values()].map((d) => subtreeDirs(d)));
    if (!options.recursive) {
      const withChildren = trees.find((t) => t.length > 1);
      if (withChildren) {
        throw new KernkitError(`cgroup ${this.path} has child groups (${withChildren[1]}); pass { recursive: true } to remove them too`, {
          code: 'EBUSY',
        });
      }
    }
    if (!(await this.isEmpty())) {
      if (!options.kill) {
        const tasks = await this.subtreeTasks([...this.dirs.values()]);
        throw new KernkitError(
          `cgroup ${this.path} still has tasks (${tasks.slice(0, 8).join(', ')}${tasks.length > 8 ? ', ...' : ''}); pass { kill: true } to kill them first`,
          { code: 'EBUSY' },
        );
      }
      await this.kill(options);
    }
    const errors: unknown[] = [];
    for (const tree of trees) {
      for (const dir of [...tree].reverse()) {
        try {
          await removeDir(dir);
        } catch (err) {
          errors.push(err);
        }
      }
    }
    if (errors.length) throw errors[0];
  }

  /** Where clone3 and the child's own attach must put a spawned process. @internal */
  spawnTargets(): { cgroupDir?: string; procsFiles: string[] } {
    const unified = this.unifiedDir();
    return {
      ...(unified ? { cgroupDir: unified } : {}),
      procsFiles: this.legacyDirs().map((d) => path.join(d, 'cgroup.procs')),
    };
  }

  // ---- internals ----

  private unifiedDir(): string | null {
    return (this.layout.unified && this.dirs.get(this.layout.unified)) ?? null;
  }

  private legacyDirs(): string[] {
    return [...this.dirs].filter(([h]) => h.version === 1).map(([, d]) => d);
  }

  private async applyLimits(valid: ValidLimits, fresh: boolean): Promise<void> {
    const controllers = controllersOf(valid);
    if (!controllers.length) return;
    const undo = new Undo();
    try {
      for (const c of controllers) await this.ensureController(c, undo);
      if (valid.cpuset?.cpus !== undefined) await this.checkCpusWithinParent(valid.cpuset.cpus);
      // Controllers are independent: write them in parallel, each in its own order;
      // wait for all of them to settle so that every write made is in the undo list.
      const results = await Promise.allSettled(
        controllers.map(async (c) => {
          const h = this.layout.hierarchyFor(c)!;
          const dir = this.dirs.get(h)!;
          const only: ValidLimits = { [c]: valid[c] };
          const writes: FileWrite[] = h.version === 2 ? v2Writes(only) : v1Writes(only, await this.v1Current(only, dir, fresh));
          for (const w of writes) {
            const file = path.join(dir, w.file);
            if (!fresh) {
              const old = (await readText(file)).trim();
              undo.push(() => writeValue(file, old === '' ? '\n' : old));
            }
            await writeValue(file, w.value, w.field);
          }
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (err) {
      await undo.run();
      throw err;
    }
  }

  // What the v1 write order depends on; a fresh group has the kernel's defaults.
  private async v1Current(l: ValidLimits, dir: string, fresh: boolean): Promise<V1Current> {
    const current: V1Current = { ...V1_DEFAULTS };
    if (l.cpu?.max?.period !== undefined && !fresh) {
      current.period = Number((await readText(path.join(dir, 'cpu.cfs_period_us'))).trim());
    }
    if (l.memory?.max !== undefined || l.memory?.swapMax !== undefined) {
      const [limit, memsw] = await Promise.all([
        fresh ? null : readText(path.join(dir, 'memory.limit_in_bytes')),
        fresh && l.memory.swapMax === undefined ? 'max' : readOptional(path.join(dir, 'memory.memsw.limit_in_bytes')),
      ]);
      if (limit !== null) current.memoryLimit = parseBytesOrMax(limit);
      current.memswLimit = memsw === null ? null : parseBytesOrMax(memsw);
    }
    return current;
  }

  // Makes sure the group is under `controller`: in its hierarchy, and on v2 with it enabled above.
  private async ensureController(controller: LimitController, undo: Undo): Promise<void> {
    const h = controllerHierarchy(this.layout, controller);
    const dir = this.dirs.get(h);
    if (dir) {
      if (h.version === 2) {
        const available = (await readText(path.join(dir, 'cgroup.controllers'))).split(/\s+/);
        if (!available.includes(controller)) await enableAlongPath(h, this.path, [controller], undo);
      }
      return;
    }
    const made = await makeGroupDir(h, this.path, h.version === 2 ? [controller] : [], undo, false);
    this.dirs.set(h, made);
    undo.push(async () => {
      this.dirs.delete(h);
    });
    // Keep membership consistent: the group's processes join it in the new hierarchy too.
    for (const pid of await this.procs()) {
      try {
        await writeTask(path.join(made, 'cgroup.procs'), pid, controller);
      } catch (err) {
        if (errnoCode(err) !== 'ESRCH') throw err;
      }
    }
  }

  private async checkCpusWithinParent(cpus: string): Promise<void> {
    const h = this.layout.hierarchyFor('cpuset');
    if (!h || this.path === '/') return;
    const parentDir = hierarchyDir(h, path.posix.dirname(this.path));
    const file = path.join(parentDir, h.version === 2 ? 'cpuset.cpus.effective' : 'cpuset.cpus');
    const parentCpus = (await readText(file)).trim();
    const allowed = new Set(parseCpuList(parentCpus));
    const outside = parseCpuList(cpus).filter((c) => !allowed.has(c));
    if (outside.length) {
      throw new KernkitError(
        `cpuset.cpus ${describeValue(cpus)} names CPU ${outside.join(', ')}, outside the parent's CPUs ${describeValue(parentCpus)}`,
        { code: 'EACCES' },
      );
    }
  }

  private async moveTask(id: number, v1File: string, v2File: string, field: string): Promise<void> {
    const before = await cgroupsOf(id, this.layout);
    const undo = new Undo();
    try {
      for (const [h, dir] of this.dirs) {
        await writeTask(path.join(dir, h.version === 2 ? v2File : v1File), id, field);
        const was = before.get(h);
        if (was !== undefined) {
          undo.push(() => writeValue(path.join(hierarchyDir(h, was), h.version === 2 ? v2File : v1File), String(id)));
        }
      }
    } catch (err) {
      await undo.run();
      throw err;
    }
  }

  private async setFrozen(frozen: boolean, timeout: number): Promise<void> {
    const unified = this.unifiedDir();
    if (unified) {
      await writeValue(path.join(unified, 'cgroup.freeze'), frozen ? '1' : '0', frozen ? 'freeze' : 'thaw');
      const want = frozen ? 1 : 0;
      await pollUntil(
        async () => parseFlatKeyed(await readText(path.join(unified, 'cgroup.events'))).get('frozen') === want,
        timeout,
        `cgroup ${this.path} to be ${frozen ? 'frozen' : 'thawed'}`,
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
    // Frozen tasks cannot fork away from the kill; they die when thawed.
    if (freezer) await setV1Freezer(freezer, true, timeout, this.path);
    try {
      for (const tid of await this.subtreeTasks(dirs)) signalKill(tid);
    } finally {
      if (freezer) await setV1Freezer(freezer, false, timeout, this.path);
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

  private async subtreeTasks(dirs: string[]): Promise<number[]> {
    const lists: number[][] = [];
    for (const dir of dirs) {
      const tree = await subtreeDirs(dir);
      const texts = await Promise.all(tree.map((d) => readOptional(path.join(d, 'tasks')).then((t) => t ?? readOptional(path.join(d, 'cgroup.threads')))));
      lists.push(...texts.map(parseIds));
    }
    return sortedUnique(lists);
  }

  // No task left anywhere in the group's subtree (v2: cgroup.events populated 0).
  private async isEmpty(): Promise<boolean> {
    const unified = this.unifiedDir();
    if (unified) {
      const events = parseFlatKeyed(await readOptional(path.join(unified, 'cgroup.events')));
      if (events.get('populated') !== 0) return false;
    }
    return (await this.subtreeTasks(this.legacyDirs())).length === 0;
  }
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
  await writeValue(path.join(dir, 'freezer.state'), state, frozen ? 'freeze' : 'thaw');
  // FREEZING becomes FROZEN lazily, when the state is read and every task has stopped.
  await pollUntil(async () => (await readText(path.join(dir, 'freezer.state'))).trim() === state, timeout, `cgroup ${cgPath} to be ${state}`);
}

// The directory and every descendant group's directory, parents before children.
async function subtreeDirs(dir: string): Promise<string[]> {
  const out = [dir];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw fileError(err, 'readdir', dir);
  }
  for (const e of entries) {
    if (e.isDirectory()) out.push(...(await subtreeDirs(path.join(dir, e.name))));
  }
  return out;
}

function checkControllerNames(names: unknown, layout: CgroupLayout): string[] {
  if (names === undefined) return [];
  if (!Array.isArray(names)) throw invalidArgument('controllers', names, 'expected an array of controller names');
  for (const n of names) {
    if (typeof n !== 'string' || !layout.knownControllers.has(n)) {
      throw invalidArgument('controller', n, `unknown controller (this kernel has ${[...layout.knownControllers].join(', ')})`);
    }
  }
  return names as string[];
}

// The hierarchies a group with these controllers lives in, in layout order:
// the unified one if any (it tracks processes), each controller's, and on pure
// v1 freezer and cpuacct (to freeze, kill and account without v2).
function targetHierarchies(layout: CgroupLayout, controllers: Set<string>): CgroupHierarchy[] {
  const out = new Set<CgroupHierarchy>();
  if (layout.unified) out.add(layout.unified);
  for (const c of controllers) out.add(controllerHierarchy(layout, c));
  if (!layout.unified) {
    for (const c of ['freezer', 'cpuacct']) {
      const h = layout.hierarchyFor(c);
      if (h) out.add(h);
    }
  }
  return layout.hierarchies.filter((h) => out.has(h));
}

// The hierarchy of a controller; ENOENT saying why when it has none here.
function controllerHierarchy(layout: CgroupLayout, controller: string): CgroupHierarchy {
  const h = layout.hierarchyFor(controller);
  if (h) return h;
  const why = !layout.knownControllers.has(controller)
    ? 'this kernel has no such controller'
    : layout.unified
      ? `it is mounted in no v1 hierarchy and not offered by the v2 root (cgroup.controllers: ${layout.unified.controllers.join(' ') || 'none'})`
      : 'it is mounted in no v1 hierarchy';
  throw new KernkitError(`cgroup controller ${describeValue(controller)} is not available: ${why}`, { code: 'ENOENT' });
}

// Enables controllers in the subtree_control of every ancestor of cgPath (v2).
async function enableAlongPath(h: CgroupHierarchy, cgPath: string, controllers: string[], undo: Undo): Promise<void> {
  const segs = cgPath.split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < segs.length; i++) {
    await enableSubtree(hierarchyDir(h, cur), controllers, undo);
    cur = path.posix.join(cur, segs[i]);
  }
}

async function enableSubtree(dir: string, controllers: string[], undo: Undo): Promise<void> {
  const file = path.join(dir, 'cgroup.subtree_control');
  const enabled = new Set((await readText(file)).split(/\s+/).filter(Boolean));
  const missing = controllers.filter((c) => !enabled.has(c));
  if (!missing.length) return;
  await writeValue(file, missing.map((c) => `+${c}`).join(' '), 'subtree_control');
  undo.push(() => writeValue(file, missing.map((c) => `-${c}`).join(' ')));
}

// Creates the group's directory in one hierarchy (and missing ancestors), with
// v2 controllers enabled above it and v1 cpusets populated from the parent.
async function makeGroupDir(h: CgroupHierarchy, cgPath: string, v2Controllers: string[], undo: Undo, mustBeNew: boolean): Promise<string> {
  const dir = hierarchyDir(h, cgPath);
  await assertConfined(h, dir);
  const segs = cgPath.split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < segs.length; i++) {
    const parentDir = hierarchyDir(h, cur);
    cur = path.posix.join(cur, segs[i]);
    const curDir = hierarchyDir(h, cur);
    const last = i === segs.length - 1;
    if (v2Controllers.length) await enableSubtree(parentDir, v2Controllers, undo);
    if (!last && (await isDirectory(curDir))) continue;
    try {
      await fsp.mkdir(curDir);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') {
        if (!last) continue;
        if (!mustBeNew) return dir;
        throw new KernkitError(`cgroup ${describeValue(cgPath)} already exists (${curDir})`, { code: 'EEXIST', syscall: 'mkdir' });
      }
      throw fileError(err, 'mkdir', curDir);
    }
    undo.push(() => removeDir(curDir));
    if (h.version === 1 && h.controllers.includes('cpuset')) await inheritCpuset(parentDir, curDir);
  }
  return dir;
}

// A new v1 cpuset starts with no CPUs and no memory nodes: copy the parent's.
async function inheritCpuset(parentDir: string, dir: string): Promise<void> {
  for (const file of ['cpuset.cpus', 'cpuset.mems']) {
    const value = (await readText(path.join(parentDir, file))).trim();
    if (value) await writeValue(path.join(dir, file), value, file);
  }
}
