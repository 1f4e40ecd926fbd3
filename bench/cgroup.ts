/**
 * cgroup lifecycle: create a group with cpu, memory and pids limits, read its
 * stats, delete it; N times (default 1000, KERNKIT_BENCH_CGROUP_N to change).
 *
 * - kernkit: Cgroup.create / stats / delete (asynchronous, validated; on a
 *   hybrid machine it also makes the group in the unified hierarchy).
 * - cgroup-tools (libcgroup): cgcreate, cgset, cgget, cgdelete as processes,
 *   the way shell-driven tools do it.
 * - plain fs: mkdirSync / writeFileSync / readFileSync / rmdirSync on the same
 *   v1 files, no validation, blocking the event loop: the floor.
 *
 * Groups are named kernkit-bench-<random>-<i> and always removed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Cgroup, CgroupLayout, type CgroupLimits } from '../lib';
import { printTable, writeResults, type Row } from './lib/report';

const LIMITS: CgroupLimits = {
  cpu: { max: { quota: 50000, period: 100000 }, weight: 100 },
  memory: { max: '256M' },
  pids: { max: 100 },
};
const CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['-h'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function timeLoop(n: number, body: (i: number) => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await body(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n; // µs per iteration
}

export async function run(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('cgroup bench needs root; skipped');
    return;
  }
  const n = Number(process.env.KERNKIT_BENCH_CGROUP_N ?? 1000);
  const layout = await CgroupLayout.current();
  const dirsOf = (name: string): string[] => CONTROLLERS.map((c) => path.join(layout.hierarchyFor(c)!.mountPoint, name));
  const prefix = `kernkit-bench-${randomBytes(4).toString('hex')}`;
  const made = new Set<string>();
  const nameFor = (variant: string, i: number): string => {
    const name = `${prefix}-${variant}-${i}`;
    made.add(name);
    return name;
  };

  try {
    // Warm-up: JIT, dentry caches.
    for (let i = 0; i < 20; i++) {
      const cg = await Cgroup.create(`/${nameFor('warm', i)}`, LIMITS);
      await cg.stats();
      await cg.delete();
    }

    const kernkitUs = await timeLoop(n, async (i) => {
      const cg = await Cgroup.create(`/${nameFor('kk', i)}`, LIMITS);
      await cg.stats();
      await cg.delete();
    });

    const plainUs = await timeLoop(n, (i) => {
      const name = nameFor('fs', i);
      const [cpu, memory, pids] = dirsOf(name);
      for (const d of [cpu, memory, pids]) mkdirSync(d);
      writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), '50000');
      writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), '100000');
      writeFileSync(path.join(cpu, 'cpu.shares'), '1024');
      writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(256 * 2 ** 20));
      writeFileSync(path.join(pids, 'pids.max'), '100');
      for (const f of ['cpu.stat']) readFileSync(path.join(cpu, f), 'utf8');
      for (const f of ['memory.usage_in_bytes', 'memory.max_usage_in_bytes', 'memory.limit_in_bytes', 'memory.failcnt', 'memory.oom_control']) {
        readFileSync(path.join(memory, f), 'utf8');
      }
      for (const f of ['pids.current', 'pids.max', 'pids.events']) readFileSync(path.join(pids, f), 'utf8');
      for (const d of [cpu, memory, pids]) rmdirSync(d);
    });

    const rows: Row[] = [];
    const results: Record<string, unknown> = { iterations: n, mode: layout.mode, limits: LIMITS };
    let toolsUs: number | null = null;
    if (hasCommand('cgcreate')) {
      toolsUs = await timeLoop(n, (i) => {
        const name = nameFor('tools', i);
        execFileSync('cgcreate', ['-g', `${CONTROLLERS.join(',')}:/${name}`]);
        execFileSync('cgset', [
          '-r', 'cpu.cfs_quota_us=50000',
          '-r', 'cpu.cfs_period_us=100000',
          '-r', 'cpu.shares=1024',
          '-r', `memory.limit_in_bytes=${256 * 2 ** 20}`,
          '-r', 'pids.max=100',
          name,
        ]);
        execFileSync('cgget', ['-g', 'cpu', '-g', 'memory', '-g', 'pids', `/${name}`], { maxBuffer: 1 << 24 });
        // libcgroup 2.0.2's cgdelete removes only the first controller it is given on this
        // hybrid layout (the others stay behind), so one call per controller.
        for (const c of CONTROLLERS) execFileSync('cgdelete', ['-g', `${c}:/${name}`]);
      });
    } else {
      console.log('cgroup-tools (cgcreate, cgset, cgget, cgdelete) not installed: no peer figures');
    }

    rows.push({ name: 'kernkit Cgroup.create + stats + delete', 'µs/iter': kernkitUs, 'iter/s': 1e6 / kernkitUs, 'tools / this': toolsUs ? toolsUs / kernkitUs : null });
    if (toolsUs) rows.push({ name: 'cgroup-tools cgcreate + cgset + cgget + cgdelete', 'µs/iter': toolsUs, 'iter/s': 1e6 / toolsUs, 'tools / this': 1 });
    rows.push({ name: 'plain fs, sync, unvalidated (floor)', 'µs/iter': plainUs, 'iter/s': 1e6 / plainUs, 'tools / this': toolsUs ? toolsUs / plainUs : null });
    printTable(`cgroup lifecycle, ${n} iterations (${layout.mode} layout)`, rows);
    if (toolsUs) console.log(`kernkit is ${(toolsUs / kernkitUs).toFixed(1)}x faster than cgroup-tools (target: 10x)\n`);
    Object.assign(results, {
      kernkitUsPerIter: kernkitUs,
      cgroupToolsUsPerIter: toolsUs,
      plainFsUsPerIter: plainUs,
      speedupVsCgroupTools: toolsUs ? toolsUs / kernkitUs : null,
    });
    writeResults('cgroup', results);
  } finally {
    // Whatever a failed iteration left behind.
    for (const name of made) {
      for (const h of layout.hierarchies) {
        const dir = path.join(h.mountPoint, name);
        if (existsSync(dir)) rmdirSync(dir);
      }
    }
  }
}
