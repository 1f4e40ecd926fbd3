/**
 * spawn(): the child is in its group from its first instruction, in every
 * hierarchy (v2 through clone3 CLONE_INTO_CGROUP, v1 through the child's own
 * attach before exec), with exec errors reported as the errno, and stdio,
 * exit status and signals as a child process should have them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Cgroup, CgroupLayout, KernkitError, spawn } from '../../lib';
import { type SpawnPlan, spawnNative } from '../../lib/cgroup/native';
import { GroupJanitor, cgroupMissing, collect } from '../helpers/cgroup';
import { commandMissing, kernelTest, rootMissing } from '../helpers/kernel';

const janitor = new GroupJanitor();
afterEach(() => janitor.cleanup());

const missing = cgroupMissing({ unified: true, v1Controllers: ['cpu', 'cpuset', 'memory', 'pids'] });
const kernel = kernelTest(missing);
const anywhere = kernelTest(rootMissing()); // spawn without a cgroup only needs Linux

let machine: CgroupLayout;
beforeAll(async () => {
  if (!missing) machine = await CgroupLayout.current();
});

/** The /proc/self/cgroup lines of a child that prints it as its first act, by hierarchy id line. */
async function cgroupLinesOf(cg: Cgroup): Promise<string[]> {
  const child = await spawn('cat', ['/proc/self/cgroup'], { cgroup: cg, stdio: ['ignore', 'pipe', 'inherit'] });
  const [out, exit] = await Promise.all([collect(child.stdout), child.exited]);
  expect(exit).toEqual({ code: 0, signal: null });
  return out.trim().split('\n');
}

function expectInGroup(lines: string[], cg: Cgroup): void {
  for (const h of cg.hierarchies) {
    const line = h.version === 2 ? lines.find((l) => l.startsWith('0::')) : lines.find((l) => l.split(':')[1].split(',').includes(h.controllers[0]));
    expect(line).toBeDefined();
    expect(line!.slice(line!.lastIndexOf(':') + 1)).toBe(cg.path);
  }
}

/** Zombie children of this process (spawn must reap what it started, also on failure). */
function zombies(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === process.pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('spawn into a cgroup', () => {
  kernel('hybrid: the first thing the child prints shows it in the group in every hierarchy', async () => {
    const cg = await Cgroup.create(janitor.name(), { cpu: { weight: 100 }, memory: { max: '64M' }, pids: { max: 10 }, cpuset: { mems: '0' } });
    expect(cg.hierarchies.length).toBe(5);
    const lines = await cgroupLinesOf(cg);
    expectInGroup(lines, cg);
    // Hierarchies the group is not in keep the child where we are.
    const devices = lines.find((l) => l.split(':')[1] === 'devices');
    if (devices) expect(devices.endsWith(`:${cg.path}`)).toBe(false);
  });

  kernel('v2 only (clone3 CLONE_INTO_CGROUP)', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: machine.unifiedOnly() });
    expect(cg.spawnTargets()).toEqual({ cgroupDir: cg.directory(), procsFiles: [], pidsDirs: [] });
    expectInGroup(await cgroupLinesOf(cg), cg);
  });

  kernel('v1 only (the child attaches itself before exec)', async () => {
    const layout = machine.legacyOnly();
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 10 }, memory: { max: '64M' } }, { layout });
    expect(cg.spawnTargets().cgroupDir).toBeUndefined();
    expectInGroup(await cgroupLinesOf(cg), cg);
  });

  kernel('a frozen group (v1 freezer, v2 cgroup.freeze, or a frozen v2 ancestor) refuses the spawn with EBUSY', async () => {
    const v1Group = await Cgroup.create(janitor.name(), {}, { layout: machine.legacyOnly() });
    const v2Parent = await Cgroup.create(janitor.name(), {}, { layout: machine.unifiedOnly() });
    const v2Child = await Cgroup.create(`${v2Parent.path}/job`, {}, { layout: machine.unifiedOnly() });
    for (const [frozen, target] of [
      [v1Group, v1Group],
      [v2Parent, v2Parent],
      [v2Parent, v2Child],
    ] as const) {
      await frozen.freeze();
      await expect(spawn('true', [], { cgroup: target, stdio: 'ignore' })).rejects.toMatchObject({
        code: 'EBUSY',
        message: expect.stringContaining('frozen'),
      });
      expect(await target.procs()).toEqual([]);
      await frozen.thaw();
      const child = await spawn('true', [], { cgroup: target, stdio: 'ignore' });
      expect(await child.exited).toEqual({ code: 0, signal: null });
    }
  });

  kernel('a path works as the cgroup option', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 10 } });
    const child = await spawn('true', [], { cgroup: cg.path, stdio: 'ignore' });
    expect(await child.exited).toEqual({ code: 0, signal: null });
    await expect(spawn('true', [], { cgroup: `${cg.path}-missing` })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  kernel('a v1 hierarchy that refuses the child fails the spawn with its errno, naming the file', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { controllers: ['cpuset'] });
    await cg.set({ cpuset: { cpus: '' } });
    const before = zombies().length;
    const err: KernkitError = await spawn('true', [], { cgroup: cg, stdio: 'ignore' }).then(
      () => {
        throw new Error('spawn succeeded');
      },
      (e: KernkitError) => e,
    );
    expect(err).toBeInstanceOf(KernkitError);
    expect(err.code).toBe('ENOSPC');
    expect(err.message).toContain(`${cg.directory('cpuset')}/cgroup.procs`);
    await new Promise((r) => setTimeout(r, 100));
    expect(zombies().length).toBeLessThanOrEqual(before);
    expect(await cg.procs()).toEqual([]);
  });
});

describe('clone() fallback, where clone3 is refused (seccomp ENOSYS, old kernels)', () => {
  afterEach(() => {
    delete process.env.KERNKIT_SPAWN_COMPAT;
    jest.restoreAllMocks();
  });

  kernel('KERNKIT_SPAWN_COMPAT=no-clone3: started by clone(), the child attaches itself in every hierarchy before exec', async () => {
    const hybrid = await Cgroup.create(janitor.name(), { pids: { max: 10 }, memory: { max: '64M' } });
    const v2 = await Cgroup.create(janitor.name(), {}, { layout: machine.unifiedOnly() });
    const calls = jest.spyOn(spawnNative, 'spawn');
    process.env.KERNKIT_SPAWN_COMPAT = 'no-clone3';
    expectInGroup(await cgroupLinesOf(hybrid), hybrid);
    expectInGroup(await cgroupLinesOf(v2), v2);
    expect(calls).toHaveBeenCalledTimes(2);
    for (const [i, result] of calls.mock.results.entries()) {
      expect(calls.mock.calls[i][0]).toMatchObject({ noClone3: true, cgroupDir: expect.any(String) });
      expect(await result.value).toMatchObject({ via: 'clone' });
    }
    delete process.env.KERNKIT_SPAWN_COMPAT;
    await cgroupLinesOf(v2);
    expect(await calls.mock.results[2].value).toMatchObject({ via: 'clone3' });
  });

  kernel('a unified group that refuses the child fails the spawn with its errno, naming its cgroup.procs', async () => {
    // A domain group next to a threaded sibling is "domain invalid": it takes no processes
    // (EOPNOTSUPP from clone3 and from the child's own write alike).
    const parent = await Cgroup.create(janitor.name(), {}, { layout: machine.unifiedOnly() });
    await Cgroup.create(`${parent.path}/threads`, {}, { layout: machine.unifiedOnly(), threaded: true });
    const invalid = await Cgroup.create(`${parent.path}/job`, {}, { layout: machine.unifiedOnly() });
    expect(readFileSync(path.join(invalid.directory()!, 'cgroup.type'), 'utf8').trim()).toBe('domain invalid');
    await expect(spawn('true', [], { cgroup: invalid, stdio: 'ignore' })).rejects.toMatchObject({ code: 'EOPNOTSUPP', syscall: 'clone3' });
    process.env.KERNKIT_SPAWN_COMPAT = 'no-clone3';
    await expect(spawn('true', [], { cgroup: invalid, stdio: 'ignore' })).rejects.toMatchObject({
      code: 'EOPNOTSUPP',
      syscall: 'write',
      message: expect.stringContaining(`${invalid.directory()}/cgroup.procs`),
    });
    expect(await invalid.procs()).toEqual([]);
    process.env.KERNKIT_SPAWN_COMPAT = 'no-such-thing';
    await expect(spawn('true', [], { stdio: 'ignore' })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('KERNKIT_SPAWN_COMPAT') });
  });
});

describe('concurrent spawns', () => {
  const v1Freezer = kernelTest(cgroupMissing({ v1Controllers: ['freezer'] }));

  v1Freezer('a spawn is not held up by another one whose child stalls before exec (frozen v1 group)', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: machine.legacyOnly() });
    // The public spawn refuses a frozen group; the native call is what a group frozen mid-spawn meets.
    const stalled: SpawnPlan = {
      candidates: ['/bin/true'],
      argv: ['true'],
      envp: [],
      procsFiles: cg.spawnTargets().procsFiles,
      pidsDirs: [],
      stdio: ['ignore', 'ignore', 'ignore'],
      setsid: false,
    };
    for (let i = 0; i < 20; i++) {
      await cg.freeze();
      let stalledExit!: () => void;
      const stalledExited = new Promise<void>((r) => (stalledExit = r));
      const other = spawnNative.spawn(stalled, () => stalledExit());
      // Its report pipe is created while the other child may still hold copies of every inherited fd.
      const child = await spawn('true', [], { stdio: 'ignore' });
      expect(await child.exited).toEqual({ code: 0, signal: null });
      await cg.thaw();
      await other;
      await stalledExited;
    }
  }, 60000);
});

describe('spawn as a child process', () => {
  anywhere('exec failures reject with the errno: ENOENT, EACCES, and a missing cwd', async () => {
    await expect(spawn('kernkit-no-such-program-xyz', [])).rejects.toMatchObject({ code: 'ENOENT', syscall: 'execve' });
    await expect(spawn('/nonexistent/prog', [])).rejects.toMatchObject({ code: 'ENOENT' });
    const dir = mkdtempSync(path.join(tmpdir(), 'kernkit-spawn-'));
    try {
      writeFileSync(path.join(dir, 'plain'), 'echo hi\n', { mode: 0o644 });
      writeFileSync(path.join(dir, 'noshebang'), 'echo hi\n', { mode: 0o755 });
      await expect(spawn(path.join(dir, 'plain'), [])).rejects.toMatchObject({ code: 'EACCES' });
      // As posix_spawnp (and unlike execvp), no retry through /bin/sh.
      await expect(spawn(path.join(dir, 'noshebang'), [])).rejects.toMatchObject({ code: 'ENOEXEC' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expect(spawn('true', [], { cwd: '/nonexistent-dir' })).rejects.toMatchObject({ code: 'ENOENT', syscall: 'chdir' });
    await new Promise((r) => setTimeout(r, 100));
    expect(zombies()).toEqual([]);
  });

  anywhere('stdin, stdout, stderr, env, cwd, exit code', async () => {
    const child = await spawn('/bin/sh', ['-c', 'read line; echo "got $line in $PWD with $FOO"; echo oops >&2; exit 7'], {
      env: { FOO: 'bar', PATH: '/usr/bin:/bin' },
      cwd: tmpdir(),
    });
    child.stdin!.end('hello\n');
    const [out, err, exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
    expect(out).toBe(`got hello in ${tmpdir()} with bar\n`);
    expect(err).toBe('oops\n');
    expect(exit).toEqual({ code: 7, signal: null });
  });

  anywhere("'inherit' hands our fds 0-2 to the child (Node's own may be close-on-exec)", async () => {
    const child = await spawn('/bin/sh', ['-c', 'for f in 0 1 2; do [ -e /proc/$$/fd/$f ] && echo "fd $f" >&3; done 3>&2'], {
      stdio: ['inherit', 'inherit', 'pipe'],
    });
    const [err, exit] = await Promise.all([collect(child.stderr), child.exited]);
    expect(exit.code).toBe(0);
    expect(err).toBe('fd 0\nfd 1\nfd 2\n');
  });

  anywhere('kill() signals through the pidfd; after exit it is ESRCH', async () => {
    const child = await spawn('sleep', ['30'], { stdio: 'ignore' });
    child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(() => child.kill()).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(() => child.kill('SIGNOPE' as NodeJS.Signals)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  anywhere('the child starts with default signal dispositions, nothing blocked, and only fds 0-2', async () => {
    const child = await spawn('/bin/sh', ['-c', 'grep -E "^Sig(Ign|Blk)" /proc/self/status; ls /proc/self/fd'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = await collect(child.stdout);
    await child.exited;
    // Node ignores SIGPIPE; a child must not inherit that.
    expect(out).toContain('SigBlk:\t0000000000000000');
    expect(out).toContain('SigIgn:\t0000000000000000');
    const fds = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
    expect(fds.filter((fd) => fd > 3)).toEqual([]); // 3 is ls's own directory
  });

  const withBash = kernelTest(commandMissing('bash'));
  for (const compat of ['', 'no-close-range']) {
    withBash(`an fd of ours that is not close-on-exec does not reach the program${compat ? ` (${compat}: the /proc/self/fd walk)` : ''}`, () => {
      // A Node process with an inherited fd 50 that is not close-on-exec (a shell redirection leaves it so).
      const run = spawnSync('bash', ['-c', 'exec "$0" "$1" 50</dev/null', process.execPath, path.join(__dirname, 'inherited-fd.js')], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, KERNKIT_SPAWN_COMPAT: compat },
        encoding: 'utf8',
      });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const { exit, fds } = JSON.parse(run.stdout) as { exit: unknown; fds: number[] };
      expect(exit).toEqual({ code: 0, signal: null });
      expect(fds).toEqual([0, 1, 2, 3]); // 3 is ls's own directory
    });
  }

  for (const mode of ['worker-only', 'main-too', 'inflight']) {
    anywhere(`a worker that ends before its child neither crashes the process nor leaves a zombie (${mode})`, () => {
      const run = spawnSync(process.execPath, [path.join(__dirname, 'worker-spawn.js'), mode], { encoding: 'utf8' });
      expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      expect(JSON.parse(run.stdout)).toEqual({ left: {} });
    });
  }

  anywhere('waiting for a child does not block the event loop', async () => {
    const child = await spawn('sleep', ['0.3'], { stdio: 'ignore' });
    // While the child sleeps 300 ms, a 5 ms timer keeps firing: the wait blocks nothing.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      const exit = await child.exited;
      expect(exit.code).toBe(0);
      expect(ticks).toBeGreaterThanOrEqual(10); // 60 on an idle machine; a blocked loop gives 0 or 1
    } finally {
      clearInterval(timer);
    }
  });

  anywhere('bad arguments are EINVAL', async () => {
    await expect(spawn('', [])).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(spawn('true', ['a\0b'])).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(spawn('true', [], { stdio: 'loud' as never })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(spawn('true', [], { cgroup: 42 as never })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('pids limits: spawn refuses as a fork inside the group would (issue 15)', () => {
  const v1Pids = kernelTest(cgroupMissing({ unified: true, v1Controllers: ['pids'] }));
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(path.join(tmpdir(), 'kernkit-pids-'));
  });
  afterEach(() => {
    delete process.env.KERNKIT_SPAWN_COMPAT;
    rmSync(scratch, { recursive: true, force: true });
  });

  /** A spawn that would leave a file behind if its command ever ran (without a fork, which pids.max 1 refuses). */
  function spawnMarker(cg: Cgroup, name: string): Promise<unknown> {
    return spawn('sh', ['-c', `: > ${path.join(scratch, name)}; exec sleep 30`], { cgroup: cg, stdio: 'ignore' });
  }

  for (const compat of ['', 'no-clone3']) {
    v1Pids(`v1 pids hierarchy${compat ? ` (${compat})` : ' (clone3 into the unified group)'}: EAGAIN past pids.max, naming the group and the limit; the command never runs`, async () => {
      if (compat) process.env.KERNKIT_SPAWN_COMPAT = compat;
      const cg = await Cgroup.create(janitor.name(), { pids: { max: 1 } });
      await spawnMarker(cg, 'first');
      const before = zombies().length;
      const err = await spawnMarker(cg, 'second').then(
        () => null,
        (e: KernkitError) => e,
      );
      expect(err).toBeInstanceOf(KernkitError);
      expect(err).toMatchObject({ code: 'EAGAIN', syscall: 'fork' });
      expect(err!.message).toContain(cg.directory('pids')!);
      expect(err!.message).toContain('pids.max of 1');
      expect(existsSync(path.join(scratch, 'second'))).toBe(false);
      expect((await cg.stats()).pids).toMatchObject({ current: 1, limit: 1 });
      expect((await cg.procs()).length).toBe(1);
      expect(zombies().length).toBeLessThanOrEqual(before);
    });
  }

  v1Pids("an ancestor's pids.max binds too, as the kernel's charge walks up", async () => {
    const parent = await Cgroup.create(janitor.name(), { pids: { max: 1 } });
    const child = await Cgroup.create(`${parent.path}/job`, { pids: { max: 'max' } });
    await spawnMarker(child, 'first');
    await expect(spawnMarker(child, 'second')).rejects.toMatchObject({ code: 'EAGAIN', message: expect.stringContaining(`${parent.directory('pids')} is at its pids.max of 1`) });
    expect(existsSync(path.join(scratch, 'second'))).toBe(false);
  });

  v1Pids('the README example: pids.max 64 holds 64 tasks and not one more', async () => {
    const cg = await Cgroup.create(janitor.name(), { pids: { max: 64 } });
    const children = [];
    for (let i = 0; i < 64; i++) children.push(await spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' }));
    await expect(spawn('sleep', ['30'], { cgroup: cg, stdio: 'ignore' })).rejects.toMatchObject({ code: 'EAGAIN' });
    expect((await cg.stats()).pids.current).toBe(64);
  });

  // The v2 path (clone3 CLONE_INTO_CGROUP into a group whose pids.max the kernel checks) cannot
  // run on this machine kind: its hybrid layout binds pids to v1, and a controller lives in one
  // hierarchy at a time. Its error is tested below with clone3's EAGAIN mocked.
});

describe('clone3 refused with EAGAIN (a v2 pids limit, RLIMIT_NPROC)', () => {
  afterEach(() => jest.restoreAllMocks());

  kernel('names the group and says which limit it may be', async () => {
    const cg = await Cgroup.create(janitor.name(), {}, { layout: machine.unifiedOnly() });
    const refusal = Object.assign(new Error('clone3 into x: EAGAIN'), { code: 'EAGAIN', syscall: 'clone3' });
    jest.spyOn(spawnNative, 'spawn').mockRejectedValue(refusal);
    await expect(spawn('true', [], { cgroup: cg, stdio: 'ignore' })).rejects.toMatchObject({
      code: 'EAGAIN',
      syscall: 'clone3',
      // No pids on v2 here: the group has no pids.max of its own.
      message: expect.stringContaining(`clone3 into cgroup ${cg.path} was refused: no pids limit of its own`),
    });
    // Another errno, or a spawn without a group, is passed on as it is.
    const other = Object.assign(new Error('x'), { code: 'ENOMEM', syscall: 'clone3' });
    jest.spyOn(spawnNative, 'spawn').mockRejectedValue(other);
    await expect(spawn('true', [], { cgroup: cg, stdio: 'ignore' })).rejects.toBe(other);
  });
});

describe('spawn input (issue 15: NUL bytes and options)', () => {
  test.each([
    ['command', () => spawn('tr\0ue')],
    ['args[1]', () => spawn('true', ['a', 'b\0c'])],
    ['options.env.X', () => spawn('true', [], { env: { X: 'a\0b' } })],
    ['options.env name', () => spawn('true', [], { env: { 'X\0Y': 'a' } })],
    ['options.cwd', () => spawn('true', [], { cwd: '/tmp\0/x' })],
    ['options.argv0', () => spawn('true', [], { argv0: 'a\0' })],
    ['options.cgroup', () => spawn('true', [], { cgroup: '/kernkit-test-x\0y' })],
    ['options', () => spawn('true', [], null as never)],
    ['options', () => spawn('true', [], 5 as never)],
    ['options', () => spawn('true', [], 'x' as never)],
    ['options', () => spawn('true', [], Symbol('x') as never)],
    ['options', () => spawn('true', [], (() => undefined) as never)],
    ['options.bogus', () => spawn('true', [], { bogus: 1 } as never)],
    ['options.detached', () => spawn('true', [], { detached: 'yes' as never })],
    ['options.detached', () => spawn('true', [], { detached: 1 as never })],
    ['options.env', () => spawn('true', [], { env: null as never })],
    ['options.cwd', () => spawn('true', [], { cwd: '' })],
    ['options.stdio', () => spawn('true', [], { stdio: 'tty' as never })],
    ['options.cgroup', () => spawn('true', [], { cgroup: 5 as never })],
    ['options.layout', () => spawn('true', [], { layout: {} as never })],
    ['args', () => spawn('true', 'a' as never)],
  ])('%s → EINVAL', async (field, call) => {
    await expect(call()).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}[:.]`)) });
  });
});
