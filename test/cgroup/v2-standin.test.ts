/**
 * Pure v2 behaviour this hybrid machine's kernel cannot show (its unified
 * mount has no controllers), in a stand-in mount: a temporary directory whose
 * interface files the tests write. mkdir makes no interface files there, so
 * writing a new group's cgroup.subtree_control fails with ENOENT, which makes
 * a create fail after it enabled a controller in an existing ancestor. A
 * `-ctrl` undo must not take a controller away from groups that other creates
 * made meanwhile and that rely on it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Cgroup, CgroupLayout } from '../../lib';
import { CreatePlan } from '../../lib/cgroup/plan';
import { validateLimits } from '../../lib/cgroup/limits';

let dir: string;
let mount: string;
let layout: CgroupLayout;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kernkit-undo-'));
  mount = path.join(dir, 'mount');
  mkdirSync(mount);
  writeFileSync(path.join(mount, 'cgroup.subtree_control'), '');
  layout = CgroupLayout.parse({ mountinfo: `50 1 0:99 / ${mount} rw - cgroup2 cgroup2 rw\n`, unifiedControllers: 'pids' });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('undo of a failed create (pure v2 stand-in)', () => {
  test('without other groups under the ancestor, the controller it enabled is disabled again', async () => {
    await expect(Cgroup.create('/p/job', { pids: { max: 5 } }, { layout })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(path.join(mount, 'p'))).toBe(false);
    expect(readFileSync(path.join(mount, 'cgroup.subtree_control'), 'utf8')).toBe('-pids');
  });

  test('a group another create made under the ancestor keeps the controller', async () => {
    mkdirSync(path.join(mount, 'sibling')); // made concurrently, relying on +pids at the root
    await expect(Cgroup.create('/p/job', { pids: { max: 5 } }, { layout })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(path.join(mount, 'p'))).toBe(false);
    expect(readFileSync(path.join(mount, 'cgroup.subtree_control'), 'utf8')).toBe('+pids');
  });
});

describe('undo of a failed set that enabled a controller (pure v2 stand-in)', () => {
  // An existing group without pids; its pids.max does not exist here, so the write after enabling fails.
  function group(): void {
    mkdirSync(path.join(mount, 'g'));
    writeFileSync(path.join(mount, 'g', 'cgroup.controllers'), '');
    writeFileSync(path.join(mount, 'g', 'cgroup.subtree_control'), '');
  }

  test('alone under the ancestor: the controller is disabled again', async () => {
    group();
    const cg = await Cgroup.open('/g', { layout });
    await expect(cg.set({ pids: { max: 5 } })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readFileSync(path.join(mount, 'cgroup.subtree_control'), 'utf8')).toBe('-pids');
  });

  test('next to a group made meanwhile: the controller stays', async () => {
    group();
    const cg = await Cgroup.open('/g', { layout });
    mkdirSync(path.join(mount, 'sibling'));
    await expect(cg.set({ pids: { max: 5 } })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(readFileSync(path.join(mount, 'cgroup.subtree_control'), 'utf8')).toBe('+pids');
  });
});

describe('cpuset on v2', () => {
  test("set() writes CPUs outside the parent's as asked (the kernel uses the intersection, unlike v1's EACCES)", async () => {
    writeFileSync(path.join(mount, 'cpuset.cpus.effective'), '0\n');
    mkdirSync(path.join(mount, 'g'));
    for (const [f, text] of [['cgroup.controllers', 'cpuset\n'], ['cpuset.cpus', '\n'], ['cpuset.mems', '\n']]) writeFileSync(path.join(mount, 'g', f), text);
    const cg = await Cgroup.open('/g', { layout: CgroupLayout.parse({ mountinfo: `50 1 0:99 / ${mount} rw - cgroup2 cgroup2 rw\n`, unifiedControllers: 'cpuset' }) });
    await cg.set({ cpuset: { cpus: '1' } });
    expect(readFileSync(path.join(mount, 'g', 'cpuset.cpus'), 'utf8')).toBe('1');
  });
});

describe('missing ancestors in the create plan', () => {
  test("an intermediate directory someone else makes first (EEXIST) is fine and not ours to undo; the group's own is EEXIST", () => {
    const plan = new CreatePlan(layout, '/p/job', validateLimits({}), new Set(), false);
    const { steps } = plan.changes(
      plan.probe.map((op) => (op[0] === 'resolve' ? [0, op[1]] : op[0] === 'isdir' ? [0, false] : ['ENOENT', null])),
      [mount],
    );
    const mkdirs = steps.filter((s) => s.op[0] === 'mkdir');
    expect(mkdirs.map((s) => [s.op[1], s.tolerate])).toEqual([
      [path.join(mount, 'p'), 'EEXIST'],
      [path.join(mount, 'p', 'job'), undefined],
    ]);
  });
});
