// Worker threads count into the same table entries through entry handles.
import { Worker } from 'node:worker_threads';
import { IpStatsTable, IpStatsWriter, MibMap } from '../../lib';
import { fixture, watch } from '../helpers/workers';

const script = fixture(__dirname, 'entry-writer.js');

function table(): IpStatsTable {
  const map = new MibMap(['RetransSegs', 'InSegs']);
  map.addMapping(0, ['RetransSegs']);
  map.addMapping(1, ['InSegs']);
  const t = new IpStatsTable(map);
  t.start();
  return t;
}

async function run(handles: object[], threads: number, iterations: number, field: string): Promise<Array<{ added: number[]; polluted: boolean[] }>> {
  return Promise.all(
    Array.from({ length: threads }, async () => {
      const w = watch(new Worker(script, { workerData: { handles, iterations, field } }));
      const r = await w.next<{ added: number[]; polluted: boolean[] }>();
      await w.exit;
      return r;
    }),
  );
}

describe('IpStatsWriter from worker threads', () => {
  test('4 threads and the main thread count into the same entries: the sums are exact', async () => {
    const t = table();
    const cookies = [t.insert('10.0.0.1', '10.0.0.2'), t.insert('10.0.0.1', '10.0.0.3')];
    t.count(cookies[0], 'RetransSegs', 5);
    const results = await run(cookies.map((c) => t.handleOf(c)), 4, 200_000, 'RetransSegs');
    const expected = [5, 0];
    for (const r of results) r.added.forEach((n, i) => (expected[i] += n));
    expect(cookies.map((c) => t.get(c)!.counters.RetransSegs)).toEqual(expected.map(BigInt));
  });

  test('after a flush the workers\' handles are polluted: their writes are counted, not applied', async () => {
    const t = table();
    const cookie = t.insert('10.0.0.1', '10.0.0.2');
    const handle = t.handleOf(cookie);
    t.flush();
    const fresh = t.insert('10.0.0.1', '10.0.0.2');
    const [r] = await run([handle], 1, 1000, 'RetransSegs');
    expect(r.polluted).toEqual([true]);
    expect(t.get(fresh)!.counters.RetransSegs).toBe(0n);
    expect(t.stats().polluted).toBe(1000);
  });

  test('the level switch reaches the workers; a level the handle lacks is counted as unallocated', async () => {
    const t = table();
    const cookie = t.insert('10.0.0.1', '10.0.0.2');
    const atLevel0 = t.handleOf(cookie);
    await run([atLevel0], 1, 100, 'InSegs'); // level 1 field at level 0: not counted
    expect(t.stats().unallocated).toBe(0);
    t.map.level = 1;
    await run([atLevel0], 1, 100, 'InSegs'); // counted, but this handle has no level-1 counters
    expect(t.stats().unallocated).toBe(100);
    const [r] = await run([t.handleOf(cookie)], 1, 100, 'InSegs');
    expect(t.get(cookie)!.counters.InSegs).toBe(BigInt(r.added[0]));
  });

  test('attach refuses what is not an entry handle', () => {
    expect(() => IpStatsWriter.attach({ kind: 'x' } as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => IpStatsWriter.attach(null as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
