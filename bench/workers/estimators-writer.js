// Benchmark worker: the second writer shard of every counter set. It writes
// each set's five slots once through the arena's per-thread view (what
// CounterSet.add does), rather than attaching 10^6 CounterSets, which would
// cost as much again as creating them.
const { parentPort, workerData } = require('node:worker_threads');
const { chunkView } = require('../../dist/percpu/arena');

const places = workerData.places; // Int32Array: chunk, offset, chunk, offset, ...
for (let i = 0; i < places.length; i += 2) {
  const mine = chunkView(places[i]).mine;
  const offset = places[i + 1];
  for (let f = 0; f < 5; f++) mine[offset + f] += 1 + f;
}
parentPort.postMessage('written');
parentPort.on('message', () => parentPort.close());
