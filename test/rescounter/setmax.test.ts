// page_counter_set_max's retry rule under a racing charger: a limit that setMax
// reports as set is never passed by a charge, even one that raced with it.
import { Worker } from 'node:worker_threads';
import { ResourceCounter } from '../../lib';
import { fixture, watch } from '../helpers/workers';

test('setMax just above a growing usage: after it succeeds, usage never ends above the new max', async () => {
  for (let round = 0; round < 20; round++) {
    const counter = new ResourceCounter({ name: `round${round}` });
    const stop = new SharedArrayBuffer(4);
    const w = watch(new Worker(fixture(__dirname, 'steady-charger.js'), { workerData: { handle: counter.handle, stop } }));
    expect(await w.next<string>()).toBe('running');
    let limit = -1;
    while (limit < 0) {
      const target = counter.usage; // no margin: any charge racing with setMax would pass a naive check
      try {
        counter.setMax(target);
        limit = target;
      } catch (err) {
        expect(err).toMatchObject({ code: 'EBUSY' });
      }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const charged = await w.next<number>();
    await w.exit;
    expect(counter.usage).toBe(charged);
    expect(counter.usage).toBeLessThanOrEqual(limit);
    expect(counter.max).toBe(limit);
    counter.close();
  }
}, 60_000);
