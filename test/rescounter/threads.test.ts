// Charging one counter tree from four worker threads at once: Atomics on the
// addon's external ArrayBuffers are atomic across threads, the charge-check-undo
// walk leaves exact usages, and failcnt counts every refusal at its level.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ResourceCounter } from '../../lib';
import { fixture, watch } from '../helpers/workers';

interface ChargerResult {
  charged: number;
  uncharged: number;
  refusedBy: Record<string, number>;
}

// 4 x 10^6 operations take about 5 s on a loaded 2-core machine; the full count of the issue.
const OPERATIONS = 1_000_000;

test('4 workers x 10^6 random tryCharge/uncharge on a 3-level tree: exact usages, limits held, failcnt = refusals', async () => {
  const root = new ResourceCounter({ name: 'root', max: 40_000 });
  const mids = [0, 1].map((m) => new ResourceCounter({ name: `mid${m}`, parent: root, max: 25_000 }));
  const leaves = [0, 1, 2, 3].map((l) => new ResourceCounter({ name: `leaf${l}`, parent: mids[l >> 1], max: 15_000 }));
  const all = [root, ...mids, ...leaves];
  const start = new SharedArrayBuffer(4);
  const workers = leaves.map(
    (leaf, t) =>
      watch(new Worker(fixture(__dirname, 'charger.js'), { workerData: { handle: leaf.handle, seed: 0x9e3779b9 + t * 7919, operations: OPERATIONS, maxAmount: 1000, start } })),
  );
  for (const w of workers) expect(await w.next<string>()).toBe('ready');
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const results = await Promise.all(workers.map((w) => w.next<ChargerResult>()));
  await Promise.all(workers.map((w) => w.exit));

  const net = results.map((r) => r.charged - r.uncharged);
  leaves.forEach((leaf, l) => expect(leaf.usage).toBe(net[l]));
  mids.forEach((mid, m) => expect(mid.usage).toBe(net[2 * m] + net[2 * m + 1]));
  expect(root.usage).toBe(net.reduce((a, b) => a + b, 0));
  for (const c of all) {
    expect(c.usage).toBeLessThanOrEqual(c.max);
    expect(c.underflows).toBe(0);
    const refusals = results.reduce((a, r) => a + (r.refusedBy[c.name] ?? 0), 0);
    expect(c.failcnt).toBe(refusals);
  }
  // The limits were reached at every level: the test exercised refusals everywhere.
  for (const c of all) expect(c.failcnt).toBeGreaterThan(0);
  for (const c of all) expect(c.watermark).toBeLessThanOrEqual(c.max);
}, 60_000);

test('a counter attached in a worker is the same counter: charges made there are seen here', async () => {
  const root = new ResourceCounter({ name: 'root', max: 1000 });
  const leaf = new ResourceCounter({ name: 'leaf', parent: root });
  const start = new SharedArrayBuffer(4);
  Atomics.store(new Int32Array(start), 0, 1);
  const w = watch(new Worker(path.join(__dirname, 'fixtures', 'charger.js'), { workerData: { handle: leaf.handle, seed: 1, operations: 1001, maxAmount: 1, start } }));
  await w.next();
  const r = await w.next<ChargerResult>();
  await w.exit;
  expect(r.charged - r.uncharged).toBeGreaterThan(0);
  expect(leaf.usage).toBe(r.charged - r.uncharged);
  expect(root.usage).toBe(r.charged - r.uncharged);
});

test('a worker that exits without closing drops its references: once this thread closes, the counters are freed', async () => {
  const root = new ResourceCounter({ name: 'root' });
  const leaf = new ResourceCounter({ name: 'leaf', parent: root });
  const rootHandle = root.handle;
  const leafHandle = leaf.handle;
  const w = watch(new Worker(fixture(__dirname, 'attach-and-exit.js'), { workerData: { handle: leafHandle, amount: 5 } }));
  expect(await w.next<string>()).toBe('root'); // the worker had the parent too
  expect(await w.exit).toBe(0);
  expect(root.usage).toBe(5);
  leaf.close();
  root.close();
  // Had the worker's environment kept its references, these would still attach.
  expect(() => ResourceCounter.attach(leafHandle)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  expect(() => ResourceCounter.attach(rootHandle)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
});
