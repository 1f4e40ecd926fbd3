// Benchmark worker for bench/perip.ts: counts `iterations` times into entries, either
// through kernkit entry handles or into a thread-local Map keyed by address strings
// (the pure-JS way, whose counts reach the main thread by postMessage at the end).
const { parentPort, workerData } = require('node:worker_threads');
const { IpStatsWriter } = require('../../dist');

const { variant, handles, keys, iterations, gate } = workerData;
const gateView = new Int32Array(gate);

let body;
if (variant === 'kernkit') {
  const writers = handles.map((h) => IpStatsWriter.attach(h));
  const id = writers[0].map.index('RetransSegs');
  const n = writers.length;
  body = () => {
    for (let i = 0; i < iterations; i++) writers[i % n].count(id, 1);
  };
} else {
  const counts = new Map(keys.map((k) => [k, { RetransSegs: 0 }]));
  const n = keys.length;
  body = () => {
    for (let i = 0; i < iterations; i++) counts.get(keys[i % n]).RetransSegs++;
    parentPort.postMessage({ counts: [...counts].map(([k, v]) => [k, v.RetransSegs]) });
  };
}
body(); // warm-up pass (not timed, not counted by the main thread's check)
parentPort.postMessage({ ready: true });
Atomics.wait(gateView, 0, 0);
const start = process.hrtime.bigint();
body();
const end = process.hrtime.bigint();
parentPort.postMessage({ start, end });
