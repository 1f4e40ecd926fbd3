/**
 * Where the cgroup hierarchies are: v1 (one mount per controller set, e.g.
 * `/sys/fs/cgroup/memory`), v2 (one unified mount) or hybrid (both, the unified
 * one usually at `/sys/fs/cgroup/unified` with no controllers of its own).
 * Detected from `/proc/self/mountinfo` (which names each mount's controllers),
 * `/proc/cgroups` (which controllers this kernel has) and the v2 root's
 * `cgroup.controllers`; each mount's type is confirmed with statfs.
 * @module
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { KernkitError } from '../errors';
import { optional, options, string } from '../validate';

/** How the machine's cgroups are organised. */
export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** One mounted cgroup hierarchy. */
export interface CgroupHierarchy {
  /** 1 for a legacy (v1) hierarchy, 2 for the unified hierarchy. */
  readonly version: 1 | 2;
  /** Where it is mounted, e.g. `/sys/fs/cgroup/cpu` or `/sys/fs/cgroup/unified`. */
  readonly mountPoint: string;
  /** The cgroup the mount shows at its top (mountinfo's root field; `/` unless bind-mounted). */
  readonly root: string;
  /** The controllers bound to it: e.g. `['cpu', 'cpuacct']` (v1), or those listed in the v2 root's `cgroup.controllers`. */
  readonly controllers: readonly string[];
}

/** The text a layout is parsed from (the files themselves, or test fixtures). */
export interface LayoutSources {
  /** Contents of `/proc/self/mountinfo`. */
  mountinfo: string;
  /** Contents of `/proc/cgroups` (controller names and whether they are enabled). */
  cgroups?: string;
  /** Contents of `cgroup.controllers` at the v2 mount's root. */
  unifiedControllers?: string;
}

// Mount options of a v1 cgroup mount that are not controller names.
const V1_OPTIONS = new Set(['rw', 'ro', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode', 'all', 'none', 'favordynmods']);

// mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

interface Controllers {
  /** Every controller /proc/cgroups names. */
  known: Set<string>;
  /** Those with enabled = 1. */
  enabled: Set<string>;
}

function parseProcCgroups(text: string): Controllers {
  const known = new Set<string>();
  const enabled = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const [name, , , on] = line.trim().split(/\s+/);
    known.add(name);
    if (on !== '0') enabled.add(name);
  }
  return { known, enabled };
}

/**
 * The cgroup hierarchies of a machine, and in which one each controller lives.
 * Get the machine's own with {@link CgroupLayout.current}; build one from
 * fixtures with {@link CgroupLayout.parse}.
 */
export class CgroupLayout {
  /** `v1`, `v2` or `hybrid`. */
  readonly mode: CgroupMode;
  /** Every hierarchy kernkit can use: v1 controller hierarchies, and the unified one. Named v1 hierarchies without controllers (`name=systemd`) are left out. */
  readonly hierarchies: readonly CgroupHierarchy[];
  /** The unified (v2) hierarchy, or null. */
  readonly unified: CgroupHierarchy | null;
  /** Controllers this kernel has (from `/proc/cgroups`; without it, those seen in mounts). */
  readonly knownControllers: ReadonlySet<string>;

  private static cached: Promise<CgroupLayout> | undefined;

  private constructor(hierarchies: CgroupHierarchy[], known: Set<string>) {
    this.hierarchies = Object.freeze(hierarchies.map((h) => Object.freeze({ ...h, controllers: Object.freeze([...h.controllers]) })));
    this.unified = this.hierarchies.find((h) => h.version === 2) ?? null;
    const legacy = this.hierarchies.some((h) => h.version === 1);
    if (!legacy && !this.unified) {
      throw new KernkitError('cgroup: no cgroup hierarchy is mounted (no cgroup or cgroup2 entry in mountinfo)', { code: 'ENOENT' });
    }
    this.mode = legacy && this.unified ? 'hybrid' : legacy ? 'v1' : 'v2';
    this.knownControllers = known;
    Object.freeze(this);
  }

  /**
   * Builds a layout from mountinfo (and optionally /proc/cgroups and the v2
   * root's cgroup.controllers). EINVAL for sources that are not an object of
   * strings with those keys.
   */
  static parse(sources: LayoutSources): CgroupLayout {
    const given = options<LayoutSources>('sources', sources, ['mountinfo', 'cgroups', 'unifiedControllers']);
    string('sources.mountinfo', given.mountinfo);
    optional(given.cgroups, (v) => string('sources.cgroups', v));
    optional(given.unifiedControllers, (v) => string('sources.unifiedControllers', v));
    const procCgroups = sources.cgroups !== undefined ? parseProcCgroups(sources.cgroups) : null;
    const hierarchies: CgroupHierarchy[] = [];
    const seen = new Set<string>();
    const known = new Set<string>(procCgroups?.known ?? []);
    for (const line of sources.mountinfo.split('\n')) {
      if (!line.trim()) continue;
      // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
      const fields = line.split(' ');
      const dash = fields.indexOf('-', 6);
      if (dash < 0 || fields.length < dash + 4) continue;
      const fstype = fields[dash + 1];
      if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
      const root = unescapeMount(fields[3]);
      const mountPoint = unescapeMount(fields[4]);
      if (fstype === 'cgroup2') {
        if (seen.has('v2')) continue; // the same hierarchy mounted twice: the first mount will do
        seen.add('v2');
        const controllers = (sources.unifiedControllers ?? '').split(/\s+/).filter(Boolean);
        controllers.forEach((c) => known.add(c));
        hierarchies.push({ version: 2, mountPoint, root, controllers });
        continue;
      }
      const controllers = fields[dash + 3]
        .split(',')
        .filter((o) => !o.includes('=') && !V1_OPTIONS.has(o))
        .filter((o) => !procCgroups || (procCgroups.known.has(o) && procCgroups.enabled.has(o)))
        .sort();
      if (controllers.length === 0) continue; // name=systemd and the like: not kernkit's
      const key = controllers.join(',');
      if (seen.has(key)) continue;
      seen.add(key);
      if (!procCgroups) controllers.forEach((c) => known.add(c));
      hierarchies.push({ version: 1, mountPoint, root, controllers });
    }
    // The unified hierarchy first: it is where kernkit tracks processes when it exists.
    hierarchies.sort((a, b) => b.version - a.version);
    return new CgroupLayout(hierarchies, known);
  }

  /** Detects this machine's layout (uncached); see {@link CgroupLayout.current}. */
  static async detect(): Promise<CgroupLayout> {
    const [mountinfo, cgroups] = await Promise.all([
      fsp.readFile('/proc/self/mountinfo', 'utf8'),
      fsp.readFile('/proc/cgroups', 'utf8').catch(() => undefined),
    ]);
    const draft = CgroupLayout.parse({ mountinfo, cgroups });
    let unifiedControllers = '';
    if (draft.unified) {
      unifiedControllers = await fsp.readFile(path.join(draft.unified.mountPoint, 'cgroup.controllers'), 'utf8').catch(() => '');
    }
    const layout = CgroupLayout.parse({ mountinfo, cgroups, unifiedControllers });
    // statfs confirms what mountinfo says (a mount point hidden by a later mount shows another type).
    const checked = await Promise.all(
      layout.hierarchies.map(async (h) => {
        const type = await fsp.statfs(h.mountPoint).then((s) => s.type, () => -1);
        return type === (h.version === 2 ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC) ? h : null;
      }),
    );
    const usable = checked.filter((h): h is CgroupHierarchy => h !== null);
    return usable.length === layout.hierarchies.length ? layout : new CgroupLayout(usable, new Set(layout.knownControllers));
  }

  /** This machine's layout, detected once and cached. */
  static current(): Promise<CgroupLayout> {
    if (!CgroupLayout.cached) {
      CgroupLayout.cached = CgroupLayout.detect();
      CgroupLayout.cached.catch(() => {
        CgroupLayout.cached = undefined;
      });
    }
    return CgroupLayout.cached;
  }

  /**
   * The hierarchy a controller lives in: its v1 hierarchy if it is bound to one
   * (a controller bound to v1 cannot be used on v2), else the unified hierarchy
   * if its root offers it, else null.
   */
  hierarchyFor(controller: string): CgroupHierarchy | null {
    const legacy = this.hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller));
    if (legacy) return legacy;
    return this.unified && this.unified.controllers.includes(controller) ? this.unified : null;
  }

  /** This layout without the unified hierarchy: pure v1 behaviour on a hybrid machine. EINVAL if no v1 hierarchy is left. */
  legacyOnly(): CgroupLayout {
    const v1 = this.hierarchies.filter((h) => h.version === 1);
    if (!v1.length) throw new KernkitError('cgroup: this layout has no v1 hierarchy', { code: 'EINVAL' });
    return new CgroupLayout([...v1], new Set(this.knownControllers));
  }

  /** Only the unified hierarchy: pure v2 behaviour on a hybrid machine. EINVAL if there is none. */
  unifiedOnly(): CgroupLayout {
    if (!this.unified) throw new KernkitError('cgroup: this layout has no unified (v2) hierarchy', { code: 'EINVAL' });
    return new CgroupLayout([this.unified], new Set(this.knownControllers));
  }
}

/** statfs f_type of a cgroup2 mount (include/uapi/linux/magic.h). */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
/** statfs f_type of a cgroup v1 mount. */
export const CGROUP_SUPER_MAGIC = 0x27e0eb;
