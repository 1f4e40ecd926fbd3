// Counters written from many worker threads: exact sums, nothing lost when
// threads exit or are terminated, monotonic reads while others fold.
import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { Counter, CounterSet } from '../../lib';
import { fixture, watch } from '../helpers/workers';

const writer = fixture(__dirname, 'writer.js');

interface WriterResult {
  expected: number;
  expectedSet: number[];
}

function runWriters(threads: number, data: (t: number) => object): Promise<WriterResult[]> {
  return Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const w = watch(new Worker(writer, { workerData: data(t) }));
      return w.next<WriterResult>().then(async (r) => (await w.exit, r));
    }),
  );
}

describe('counting from many threads', () => {
  test('8 threads x 1,000,000 mixed inc/add on one counter and one set: the sums are exact', async () => {
    const counter = new Counter('shared');
    const set = new CounterSet(['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes']);
    counter.add(5); // the main thread writes too
    set.inc(set.index('conns'));
    const results = await runWriters(8, (t) => ({
      counterHandle: counter.handle,
      setHandle: set.handle,
      iterations: 1_000_000,
      seed: t + 1,
    }));
    const expected = results.reduce((a, r) => a + r.expected, 5);
    expect(counter.sum()).toBe(BigInt(expected));
    expect(counter.value()).toBe(expected);
    const expectedSet = [1, 0, 0, 0, 0];
    for (const r of results) r.expectedSet.forEach((v, i) => (expectedSet[i] += v));
    expect(set.sum()).toEqual({
      conns: BigInt(expectedSet[0]),
      inpkts: BigInt(expectedSet[1]),
      outpkts: BigInt(expectedSet[2]),
      inbytes: BigInt(expectedSet[3]),
      outbytes: BigInt(expectedSet[4]),
    });
  });

  test('threads that exit or are terminated mid-run lose nothing they counted', async () => {
    const counter = new Counter('dying');
    const mirror = new SharedArrayBuffer(4 * 8);
    const counts = new Int32Array(mirror);
    const script = fixture(__dirname, 'until-stopped.js');
    // Four run until terminated, four call process.exit() after a known count.
    const workers = Array.from(
      { length: 8 },
      (_, slot) => new Worker(script, { workerData: { handle: counter.handle, mirror, slot, exitAfter: slot < 4 ? 0 : 200_000 + slot } }),
    );
    const watched = workers.map(watch);
    await Promise.all(watched.map((w) => w.next()));
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all(workers.slice(0, 4).map((w) => w.terminate()));
    await Promise.all(watched.map((w) => w.exit));

    const mirrored = counts.reduce((a, n) => a + n, 0);
    const sum = counter.sum();
    // A terminated thread may die between its inc() and the mirror: one more at most each.
    expect(sum).toBeGreaterThanOrEqual(BigInt(mirrored));
    expect(sum).toBeLessThanOrEqual(BigInt(mirrored + 4));
    for (let slot = 4; slot < 8; slot++) expect(counts[slot]).toBe(200_000 + slot);

    // Their shards are reused by new threads; what the dead ones counted stays.
    const before = counter.sum();
    const more = await runWriters(8, (t) => ({ counterHandle: counter.handle, iterations: 10_000, seed: 100 + t }));
    expect(counter.sum()).toBe(before + BigInt(more.reduce((a, r) => a + r.expected, 0)));
  });

  test('sum() never decreases while writers add non-negative amounts and fold', async () => {
    const counter = new Counter('monotonic');
    const stop = new SharedArrayBuffer(4);
    const workers = Array.from({ length: 3 }, () => watch(new Worker(fixture(__dirname, 'adder.js'), { workerData: { handle: counter.handle, stop } })));
    await Promise.all(workers.map((w) => w.next()));
    let last = 0n;
    let reads = 0;
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      const s = counter.sum();
      expect(s >= last).toBe(true);
      last = s;
      reads++;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const added = (await Promise.all(workers.map((w) => w.next<bigint>()))).reduce((a, b) => a + b, 0n);
    await Promise.all(workers.map((w) => w.exit));
    expect(reads).toBeGreaterThan(0);
    expect(counter.sum()).toBe(added);
    // Folds happened: the total is far past what a 2^40 slot can hold.
    expect(added).toBeGreaterThan(2n ** 41n);
  });

  test('a zero() racing with sum() on other threads never shows a negative value', async () => {
    const counter = new Counter('zero-race');
    const stop = new SharedArrayBuffer(4);
    const workers = ['add', 'zero'].map((role) =>
      watch(new Worker(fixture(__dirname, 'zeroer.js'), { workerData: { handle: counter.handle, stop, role } })),
    );
    await Promise.all(workers.map((w) => w.next()));
    let negative = 0;
    let reads = 0;
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      if (counter.sum() < 0n) negative++;
      reads++;
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    await Promise.all(workers.map((w) => w.exit));
    expect(reads).toBeGreaterThan(1000);
    expect(negative).toBe(0);
  });

  test('terminating workers in the middle of native calls, and exiting with busy ones, never aborts', () => {
    for (let run = 0; run < 3; run++) {
      const out = execFileSync(process.execPath, [fixture(__dirname, 'busy-teardown.js'), '10'], { encoding: 'utf8', timeout: 60_000 });
      expect(out.trim()).toBe('ok');
    }
  });

  test('more threads than shards: the extra threads count through the atomic total', () => {
    const out = execFileSync(process.execPath, [fixture(__dirname, 'many-threads.js'), '6', '100000'], {
      env: { ...process.env, KERNKIT_PERCPU_SHARDS: '2' },
      encoding: 'utf8',
    });
    const r = JSON.parse(out) as { maxShards: number; withoutShard: number; sum: string };
    expect(r.maxShards).toBe(2);
    // The main thread holds one shard, so at most one worker has the other at a time.
    expect(r.withoutShard).toBeGreaterThan(0);
    // Each thread: 50,000 inc() and 50,000 add(3); the main thread added 7.
    expect(r.sum).toBe(String(6 * (50_000 + 150_000) + 7));
  });

  test('handles work both ways: a worker attaches, both sides write and read the same counter', async () => {
    const counter = new Counter('both-ways');
    const set = new CounterSet(['a', 'b']);
    const w = watch(new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const { Counter, CounterSet } = require(workerData.dist);
       const c = Counter.attach(workerData.c);
       const s = CounterSet.attach(workerData.s);
       c.add(10);
       s.add(s.index('b'), 4);
       parentPort.postMessage({ name: c.name, fields: s.fields, seen: String(c.sum()), handle: c.handle });`,
      { eval: true, workerData: { c: counter.handle, s: set.handle, dist: require.resolve('../../dist') } },
    ));
    counter.add(1);
    const reply = await w.next<{ name: string; fields: string[]; seen: string; handle: { chunk: number; offset: number } }>();
    await w.exit;
    expect(reply.name).toBe('both-ways');
    expect(reply.fields).toEqual(['a', 'b']);
    expect(BigInt(reply.seen)).toBeGreaterThanOrEqual(10n);
    expect(reply.handle).toMatchObject({ chunk: counter.handle.chunk, offset: counter.handle.offset });
    expect(counter.sum()).toBe(11n);
    expect(set.sum()).toEqual({ a: 0n, b: 4n });
    // The worker's reference went with it; the counter stays usable here.
    counter.inc();
    expect(counter.sum()).toBe(12n);
  });
});
