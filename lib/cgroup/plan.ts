/**
 * Multi-step changes and how they are taken back. What creating a group
 * takes, decided without touching the filesystem: which hierarchies it goes
 * into, what must be looked at first (the probe batch), and, given the
 * answers, the ordered steps with their undo (v2 controllers enabled in each
 * ancestor's subtree_control, missing ancestors made, v1 cpusets filled from
 * the parent, the limits written in a safe order). Also the one undo journal
 * ({@link Undo}) every multi-step operation records into, and
 * {@link runSteps}, which runs steps and rolls back on failure.
 * @internal
 * @module
 */
import * as path from 'node:path';
import { KernkitError, describeValue } from '../errors';
import { parseCpuList } from '../cpu/cpulist';
import { arrayOf, invalid, string } from '../validate';
import { type IoOp, type IoResult, check, ioError, isAbsent, runBatch, runRetryingRmdirs } from './files';
import type { CgroupHierarchy, CgroupLayout } from './layout';
import { type V1Current, V1_DEFAULTS, type ValidLimits, controllersOf, v1Writes, v2Writes } from './limits';
import { checkConfined, hierarchyDir } from './paths';

/** One write of a multi-step change: the op, how to describe its failure, how to take it back. */
export interface Step {
  op: IoOp;
  /** For the error message: operation, file, value, limit field. */
  what: [op: string, file: string, value?: string, field?: string];
  undo?: IoOp;
  /**
   * Run the undo only if, by then, no group under `dir` exists other than
   * those on the way down to `own`: a `-ctrl` in an ancestor's
   * subtree_control would take the controller away from groups that
   * concurrent creates made there and rely on it.
   */
  undoIfUnused?: { dir: string; own: string };
  /**
   * An errno that means someone else did it first (EEXIST of a missing
   * ancestor made by a concurrent create): not a failure, and nothing of
   * ours to undo; the steps marked `onlyIfMade` right after it are skipped.
   */
  tolerate?: string;
  /** Part of making the directory of the `tolerate` step before it (a v1 cpuset's copies). */
  onlyIfMade?: boolean;
  /** A better error for some errno (EEXIST of the group's own mkdir). */
  explain?: (code: string) => KernkitError | undefined;
}

/** A step writing `value` to `file`; with `undoValue`, undone by writing that back. */
export function writeStep(file: string, value: string, field?: string, undoValue?: string): Step {
  return {
    op: ['write', file, value],
    what: ['write', file, value, field],
    ...(undoValue !== undefined ? { undo: ['write', file, undoValue] as IoOp } : {}),
  };
}

/**
 * EACCES unless every CPU of `cpus` is in `parentCpus`: cgroup v1's rule
 * (cpuset1_validate_change). Not applied on v2, which takes any CPUs and uses
 * their intersection with the parent's effective set.
 */
export function checkCpusWithin(cpus: string, parentCpus: string): void {
  const allowed = new Set(parseCpuList(parentCpus));
  const outside = parseCpuList(cpus).filter((c) => !allowed.has(c));
  if (outside.length) {
    throw new KernkitError(
      `cpuset.cpus ${describeValue(cpus)} names CPU ${outside.join(', ')}, outside the parent's CPUs ${describeValue(parentCpus)}`,
      { code: 'EACCES' },
    );
  }
}

/** Validates extra controller names against what this kernel has (EINVAL). */
export function checkControllerNames(names: unknown, layout: CgroupLayout): string[] {
  if (names === undefined) return [];
  const known = `a controller this kernel has (${[...layout.knownControllers].join(', ')})`;
  return arrayOf('controllers', names, (field, n) => {
    if (!layout.knownControllers.has(string(field, n, { expected: known }))) throw invalid(field, n, known);
    return n as string;
  });
}

/** The hierarchy of a controller; ENOENT saying why when it has none here. */
export function controllerHierarchy(layout: CgroupLayout, controller: string): CgroupHierarchy {
  const h = layout.hierarchyFor(controller);
  if (h) return h;
  const why = !layout.knownControllers.has(controller)
    ? 'this kernel has no such controller'
    : layout.unified
      ? `it is mounted in no v1 hierarchy and not offered by the v2 root (cgroup.controllers: ${layout.unified.controllers.join(' ') || 'none'})`
      : 'it is mounted in no v1 hierarchy';
  throw new KernkitError(`cgroup controller ${describeValue(controller)} is not available: ${why}`, { code: 'ENOENT' });
}

/**
 * The hierarchies a group with these controllers lives in, in layout order:
 * the unified one if any (it tracks processes), each controller's, and on pure
 * v1 freezer and cpuacct (to freeze, kill and account without v2).
 */
export function targetHierarchies(layout: CgroupLayout, controllers: Set<string>): CgroupHierarchy[] {
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

/**
 * EEXIST for a create of a group that exists (in the hierarchies `dirs`): say
 * what to do, since a create killed midway leaves such a group, possibly
 * without some of its limits.
 */
export function alreadyExists(cgPath: string, dirs: string[]): KernkitError {
  return new KernkitError(
    `cgroup ${describeValue(cgPath)} already exists (${dirs.join(', ')}); to use it, Cgroup.open() it and set() its limits ` +
      '(a create that was killed midway can leave it without some of them), or delete() it and create it again',
    { code: 'EEXIST', syscall: 'mkdir' },
  );
}

/** The plan of one {@link Cgroup.create}: a probe batch, then the steps its answers call for. */
export class CreatePlan {
  /** The hierarchies the group goes into. */
  readonly targets: CgroupHierarchy[];
  /** What to look at first (run as one batch; answer in the same order). */
  readonly probe: IoOp[] = [];
  private readonly at = new Map<string, number>();
  // Every level from the root's first child down to the group: [parent, path].
  private readonly levels: Array<[string, string]>;

  constructor(
    private readonly layout: CgroupLayout,
    private readonly cgPath: string,
    private readonly limits: ValidLimits,
    private readonly controllers: Set<string>,
    private readonly threaded: boolean,
  ) {
    this.targets = targetHierarchies(layout, controllers);
    if (threaded && !layout.unified) {
      throw invalid('threaded', true, 'false: threaded groups exist on the unified (v2) hierarchy only, and this layout has none');
    }
    const segs = cgPath.split('/').filter(Boolean);
    this.levels = segs.map((_, i) => [i === 0 ? '/' : '/' + segs.slice(0, i).join('/'), '/' + segs.slice(0, i + 1).join('/')]);
    // Real paths (confinement), which ancestors exist, what v2 ancestors already
    // delegate, the CPUs above a new v1 cpuset, whether v1 has swap accounting.
    for (const h of this.targets) {
      this.ask(`resolve ${h.mountPoint}`, ['resolve', hierarchyDir(h, cgPath)]);
      for (const [, p] of this.levels) this.ask(`isdir ${h.mountPoint} ${p}`, ['isdir', hierarchyDir(h, p)]);
      if (this.v2Controllers(h).length) {
        for (const [parent] of this.levels) this.ask(`subtree ${parent}`, ['read', path.join(hierarchyDir(h, parent), 'cgroup.subtree_control')]);
      }
    }
    const cpusetH = layout.hierarchyFor('cpuset');
    if (limits.cpuset?.cpus !== undefined && cpusetH?.version === 1) {
      for (const [parent] of this.levels) this.ask(`cpus ${parent}`, ['read', path.join(hierarchyDir(cpusetH, parent), 'cpuset.cpus')]);
    }
    const memoryH = layout.hierarchyFor('memory');
    if (limits.memory?.swapMax !== undefined && memoryH?.version === 1) {
      this.ask('memsw', ['read', path.join(memoryH.mountPoint, 'memory.memsw.limit_in_bytes')]);
    }
  }

  private ask(key: string, op: IoOp): void {
    this.at.set(key, this.probe.length);
    this.probe.push(op);
  }

  private v2Controllers(h: CgroupHierarchy): string[] {
    return h.version === 2 ? [...this.controllers].filter((c) => h.controllers.includes(c)) : [];
  }

  /**
   * The steps, given the probe's results and the real path of each target's
   * mount. Throws EINVAL for a path that resolves outside its mount and EACCES
   * for CPUs outside a v1 parent's, before anything is changed.
   */
  changes(results: IoResult[], realMounts: string[]): { steps: Step[]; dirs: Map<CgroupHierarchy, string> } {
    const result = (key: string): IoResult => results[this.at.get(key)!];
    const { layout, cgPath, limits } = this;
    this.targets.forEach((h, i) => {
      const dir = hierarchyDir(h, cgPath);
      checkConfined(realMounts[i], check<string>(result(`resolve ${h.mountPoint}`), 'realpath', dir), dir, h.mountPoint);
    });
    const existing = this.targets.filter((h) => check<boolean>(result(`isdir ${h.mountPoint} ${cgPath}`), 'stat', hierarchyDir(h, cgPath)));
    if (existing.length) throw alreadyExists(cgPath, existing.map((h) => hierarchyDir(h, cgPath)));
    if (this.at.has(`cpus ${this.levels[0][0]}`)) {
      // The nearest existing ancestor's CPUs are what the new group starts from.
      const known = this.levels.map(([parent]) => result(`cpus ${parent}`)).filter((r) => r[0] === 0);
      if (known.length) checkCpusWithin(limits.cpuset!.cpus!, (known[known.length - 1][1] as string).trim());
    }

    const steps: Step[] = [];
    const dirs = new Map<CgroupHierarchy, string>();
    for (const h of this.targets) {
      const v2Controllers = this.v2Controllers(h);
      for (const [parent, p] of this.levels) {
        const parentDir = hierarchyDir(h, parent);
        const dir = hierarchyDir(h, p);
        const last = p === cgPath;
        if (v2Controllers.length) {
          const r = result(`subtree ${parent}`);
          const enabled = r[0] === 0 ? (r[1] as string).split(/\s+/) : [];
          const missing = v2Controllers.filter((c) => !enabled.includes(c));
          if (missing.length) {
            const file = path.join(parentDir, 'cgroup.subtree_control');
            steps.push({
              op: ['write', file, missing.map((c) => `+${c}`).join(' ')],
              what: ['write', file, missing.map((c) => `+${c}`).join(' '), 'subtree_control'],
              undo: ['write', file, missing.map((c) => `-${c}`).join(' ')],
              undoIfUnused: { dir: parentDir, own: hierarchyDir(h, cgPath) },
            });
          }
        }
        if (!last && check<boolean>(result(`isdir ${h.mountPoint} ${p}`), 'stat', dir)) continue;
        steps.push({
          op: ['mkdir', dir],
          what: ['mkdir', dir],
          undo: ['rmdir', dir],
          // A missing ancestor may be made by a concurrent create between our probe and this step.
          ...(last ? {} : { tolerate: 'EEXIST' }),
          explain: (code) => (code === 'EEXIST' && last ? alreadyExists(cgPath, [dir]) : undefined),
        });
        if (h.version === 1 && h.controllers.includes('cpuset')) {
          // A new v1 cpuset has no CPUs and no memory nodes: it starts with its parent's.
          for (const f of ['cpuset.cpus', 'cpuset.mems']) {
            steps.push({
              op: ['copy', path.join(parentDir, f), path.join(dir, f)],
              what: ['copy parent value', path.join(dir, f)],
              onlyIfMade: true,
            });
          }
        }
      }
      dirs.set(h, hierarchyDir(h, cgPath));
    }
    if (this.threaded) steps.push(writeStep(path.join(dirs.get(layout.unified!)!, 'cgroup.type'), 'threaded', 'threaded'));
    // A new group has the kernel's defaults; only v1 swap accounting needs a look.
    const fresh: V1Current = { ...V1_DEFAULTS };
    if (this.at.has('memsw')) fresh.memswLimit = isAbsent(result('memsw')[0]) ? null : 'max';
    for (const c of controllersOf(limits)) {
      const h = layout.hierarchyFor(c)!;
      const only: ValidLimits = { [c]: limits[c] };
      for (const w of h.version === 2 ? v2Writes(only) : v1Writes(only, fresh)) {
        steps.push(writeStep(path.join(dirs.get(h)!, w.file), w.value, w.field));
      }
    }
    return { steps, dirs };
  }
}

type UndoEntry =
  | { kind: 'op'; op: IoOp; ifUnused?: { dir: string; own: string } }
  | { kind: 'call'; run: () => Promise<unknown> };

/**
 * The one undo journal of a multi-step operation: what each step done so far
 * takes to be taken back, run newest first if a later step fails. An entry is
 * a filesystem op (a write of the old value, an rmdir), optionally only if no
 * other group relies on it, or a function for what needs a look first. Undo is
 * best effort: its own errors are dropped, so that the caller sees the error
 * that made it roll back.
 */
export class Undo {
  private readonly entries: UndoEntry[] = [];

  /**
   * Records an op that takes the step just made back. With `ifUnused`, it runs
   * only if, by then, no group under `dir` exists other than those on the way
   * down to `own`: a `-ctrl` in an ancestor's subtree_control would take the
   * controller away from groups that concurrent creates made and rely on.
   */
  op(op: IoOp, ifUnused?: { dir: string; own: string }): void {
    this.entries.push({ kind: 'op', op, ...(ifUnused ? { ifUnused } : {}) });
  }

  /** Records a function that takes the step just made back. */
  call(run: () => Promise<unknown>): void {
    this.entries.push({ kind: 'call', run });
  }

  /** Undoes every recorded step, newest first; consecutive plain ops go as one batch (rmdir's EBUSY retried). */
  async run(): Promise<void> {
    let plain: IoOp[] = [];
    const flush = async (): Promise<void> => {
      if (plain.length) await runRetryingRmdirs(plain).catch(() => undefined);
      plain = [];
    };
    for (let entry = this.entries.pop(); entry; entry = this.entries.pop()) {
      if (entry.kind === 'op' && !entry.ifUnused) {
        plain.push(entry.op);
        continue;
      }
      await flush(); // what was undone before it decides what is left
      try {
        if (entry.kind === 'call') await entry.run();
        else if (!(await othersUnder(entry.ifUnused!.dir, entry.ifUnused!.own))) await runBatch([entry.op]);
      } catch {
        // best effort: the original error matters more
      }
    }
    await flush();
  }
}

/**
 * Whether groups exist under `dir` other than those on the way down to `own`
 * (the group an operation is about, and its ancestors); unknown counts as
 * yes: then nothing is taken away.
 */
export async function othersUnder(dir: string, own: string): Promise<boolean> {
  const [walk] = await runBatch([['walk', dir]]);
  if (walk[0] !== 0) return true;
  return (walk[1] as string[]).some((d) => d !== dir && d !== own && !own.startsWith(d + '/'));
}

/**
 * Runs steps in order, as one batch that stops at the first failure (split
 * after each step whose `tolerate` errno decides what follows), recording each
 * done step's undo in `undo`. On a failure runs `undo` (also what the caller
 * recorded in it before) and throws that failure.
 */
export async function runSteps(steps: Step[], undo = new Undo()): Promise<void> {
  const record = (done: Step[]): void => {
    for (const s of done) if (s.undo) undo.op(s.undo, s.undoIfUnused);
  };
  for (let i = 0; i < steps.length; ) {
    const cut = steps.findIndex((s, k) => k >= i && s.tolerate !== undefined);
    const end = cut < 0 ? steps.length : cut + 1;
    const batch = steps.slice(i, end);
    const results = await runBatch(
      batch.map((s) => s.op),
      true,
    );
    const failed = results.findIndex((r) => r[0] !== 0);
    const last = batch.length - 1;
    if (failed === last && batch[last].tolerate === results[last][0]) {
      // Someone else made it: not ours to undo, nor to fill in.
      record(batch.slice(0, last));
      for (i = end; i < steps.length && steps[i].onlyIfMade; i++);
      continue;
    }
    if (failed >= 0) {
      record(batch.slice(0, failed));
      await undo.run();
      const code = results[failed][0] as string;
      const step = batch[failed];
      throw step.explain?.(code) ?? ioError(code, ...step.what);
    }
    record(batch);
    i = end;
  }
}
