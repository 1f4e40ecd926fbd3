// Benchmark worker: the second writer shard of every counter set. It attaches
// each set by its handle and writes its five fields once, then holds the sets
// until the benchmark is done.
const { parentPort, workerData } = require('node:worker_threads');
const { CounterSet } = require('../../dist');

const sets = workerData.handles.map((h) => CounterSet.attach(h));
for (const set of sets) for (let f = 0; f < 5; f++) set.add(f, 1 + f);
parentPort.postMessage('written');
parentPort.on('message', () => parentPort.close());
