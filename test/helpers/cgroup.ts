/**
 * Helpers for cgroup kernel tests: random `kernkit-test-*` names, what the
 * machine lacks for a test, and cleanup that removes every group a test made
 * (killing what is left in it), also when the test failed.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Cgroup, CgroupLayout, type CgroupHierarchy } from '../../lib';
import { rootMissing } from './kernel';

/** A fresh group path: `/kernkit-test-<random>`. */
export function testGroupName(prefix = 'kernkit-test'): string {
  return `/${prefix}-${randomBytes(6).toString('hex')}`;
}

let layoutPromise: Promise<CgroupLayout | null> | undefined;

/** The machine's layout read synchronously (for test guards), or null when there is no cgroup filesystem. */
export function machineLayoutSync(): CgroupLayout | null {
  return layoutSync();
}

/** The machine's layout, or null when there is no cgroup filesystem. */
export function machineLayout(): Promise<CgroupLayout | null> {
  layoutPromise ??= CgroupLayout.current().catch(() => null);
  return layoutPromise;
}

function layoutSync(): CgroupLayout | null {
  try {
    const read = (f: string): string | undefined => {
      try {
        return readFileSync(f, 'utf8');
      } catch {
        return undefined;
      }
    };
    const mountinfo = read('/proc/self/mountinfo') ?? '';
    const draft = CgroupLayout.parse({ mountinfo, cgroups: read('/proc/cgroups') });
    const unifiedControllers = draft.unified ? read(path.join(draft.unified.mountPoint, 'cgroup.controllers')) : undefined;
    return CgroupLayout.parse({ mountinfo, cgroups: read('/proc/cgroups'), unifiedControllers });
  } catch {
    return null;
  }
}

/**
 * Why a cgroup kernel test cannot run here, or null: needs root, each of
 * `controllers` in some hierarchy (v1 or v2), each of `v1Controllers` in a v1
 * hierarchy, and the unified hierarchy if `unified`.
 */
export function cgroupMissing(opts: { controllers?: string[]; v1Controllers?: string[]; unified?: boolean } = {}): string | null {
  const root = rootMissing();
  if (root) return root;
  const layout = layoutSync();
  if (!layout) return 'needs a mounted cgroup filesystem';
  for (const c of opts.controllers ?? []) {
    if (!layout.hierarchyFor(c)) return `needs the ${c} controller`;
  }
  for (const c of opts.v1Controllers ?? []) {
    if (layout.hierarchyFor(c)?.version !== 1) return `needs the ${c} controller in a v1 hierarchy`;
  }
  if (opts.unified && !layout.unified) return 'needs the unified (cgroup2) hierarchy';
  return null;
}

/**
 * Tracks the groups a test creates and removes them afterwards, in every
 * hierarchy of the machine (whatever layout the test used), killing their tasks.
 */
export class GroupJanitor {
  private readonly names = new Set<string>();

  /** A new random name, remembered for cleanup. */
  name(prefix?: string): string {
    const n = testGroupName(prefix);
    this.names.add(n);
    return n;
  }

  /** Removes every remembered group that still exists. */
  async cleanup(): Promise<void> {
    const layout = await machineLayout();
    if (!layout) return;
    const errors: unknown[] = [];
    for (const name of this.names) {
      try {
        const cg = await Cgroup.open(name, { layout });
        await cg.thaw().catch(() => undefined);
        await cg.delete({ recursive: true, kill: true });
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') errors.push(err);
      }
    }
    this.names.clear();
    if (errors.length) throw errors[0];
  }
}

/** True when `dir` exists. */
export async function exists(dir: string): Promise<boolean> {
  return fsp.stat(dir).then(
    () => true,
    () => false,
  );
}

/** The group's directory in a hierarchy, whether or not it exists. */
export function dirIn(h: CgroupHierarchy, name: string): string {
  return path.join(h.mountPoint, name);
}

/** Collects everything a stream emits as text. */
export function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

/** Whether a process is gone (no /proc entry, or a zombie waiting for its parent). */
export async function processGone(pid: number): Promise<boolean> {
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
