// ResourceCounter held against the kernel's own page_counter: the cgroup v1
// memory controller (memory.limit_in_bytes, usage_in_bytes, max_usage_in_bytes,
// failcnt) in a kernkit-test-* group, next to a ResourceCounter with the same limit.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Cgroup, ResourceCounter, spawn } from '../../lib';
import { GroupJanitor, cgroupMissing } from '../helpers/cgroup';
import { kernelTest } from '../helpers/kernel';

const janitor = new GroupJanitor();
afterEach(() => janitor.cleanup());

const kernel = kernelTest(cgroupMissing({ v1Controllers: ['memory'] }));
const PAGE = 4096;
const MiB = 1 << 20;

function memoryFile(cg: Cgroup, file: string): string {
  return path.join(cg.directory('memory')!, file);
}

kernel('over the limit: the charge fails and counts in failcnt, the peak stops at the limit — in memcg and in ResourceCounter', async () => {
  const limit = 16 * MiB;
  const cg = await Cgroup.create(janitor.name(), { memory: { max: limit } });
  // perl touches 64 MiB of anonymous memory: the kernel refuses charges past 16 MiB, finds nothing to reclaim (no swap for it) and OOM-kills.
  const hog = await spawn('/usr/bin/perl', ['-e', '$s = "x" x (64 << 20); print length($s)'], { cgroup: cg, stdio: 'ignore' });
  const exit = await hog.exited;
  const kernelStats = (await cg.stats()).memory;

  const counter = new ResourceCounter({ name: 'memcg-twin', max: limit });
  let refused = 0;
  for (let bytes = 0; bytes < 64 * MiB; bytes += PAGE) if (!counter.tryCharge(PAGE)) refused++;

  expect(exit.signal).toBe('SIGKILL');
  expect(kernelStats.failcnt).toBeGreaterThan(0);
  expect(kernelStats.peak).toBeLessThanOrEqual(limit);
  expect(kernelStats.peak).toBeGreaterThan(limit - 4 * MiB); // it did fill up to (near) the limit
  expect(counter.failcnt).toBe(refused);
  expect(counter.failcnt).toBeGreaterThan(0);
  expect(counter.watermark).toBe(limit);
  expect(counter.usage).toBe(limit);
  counter.close();
}, 30_000);

kernel('a limit below usage is refused with EBUSY and the old limit stays; resetting the peak sets it to usage — in memcg and in ResourceCounter', async () => {
  const cg = await Cgroup.create(janitor.name(), { memory: { max: 128 * MiB } });
  // perl says "ready" once its 24 MiB string (and the temporary it was built from) exist, then holds them.
  const holder = await spawn('/usr/bin/perl', ['-e', '$| = 1; $s = "x" x (24 << 20); print "ready\n"; sleep 60'], { cgroup: cg, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      holder.stdout!.on('end', () => reject(new Error('the holder exited before holding its memory')));
    });
    expect((await cg.stats()).memory.current).toBeGreaterThanOrEqual(24 * MiB);
    await expect(cg.set({ memory: { max: 4 * MiB } })).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(fsp.writeFile(memoryFile(cg, 'memory.limit_in_bytes'), String(4 * MiB))).rejects.toMatchObject({ code: 'EBUSY' });
    const after = (await cg.stats()).memory;
    expect(after.limit).toBe(128 * MiB);
    await fsp.writeFile(memoryFile(cg, 'memory.max_usage_in_bytes'), '0');
    const reset = (await cg.stats()).memory;
    expect(reset.peak).toBeLessThanOrEqual(after.peak!);
    expect(reset.peak).toBeGreaterThanOrEqual(24 * MiB);
  } finally {
    holder.kill('SIGKILL');
    await holder.exited;
  }

  const counter = new ResourceCounter({ name: 'memcg-twin', max: 128 * MiB });
  counter.charge(48 * MiB);
  counter.uncharge(24 * MiB);
  expect(() => counter.setMax(4 * MiB)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
  expect(counter.max).toBe(128 * MiB);
  expect(counter.watermark).toBe(48 * MiB);
  counter.resetWatermark();
  expect(counter.watermark).toBe(24 * MiB);
  expect(counter.resCounter()).toMatchObject({ usage: 24 * MiB, max_usage: 24 * MiB, limit: 128 * MiB, failcnt: 0 });
  counter.setMax(24 * MiB); // exactly the usage: allowed, as usage > new max is the kernel's test
  expect(counter.max).toBe(24 * MiB);
  counter.close();
}, 30_000);
