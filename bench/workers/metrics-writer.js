// Benchmark worker for bench/metrics.ts. Attaches every counter and counter
// set by handle. `write`: adds a fixed pattern once (the scrape benchmark's
// numbers) and reports. `count`: increments counters round-robin until the
// stop flag is set, then reports how many increments it made and in what time.
const { parentPort, workerData } = require('node:worker_threads');
const { Counter, CounterSet } = require('../../dist');

const counters = workerData.counters.map((h) => Counter.attach(h));
const sets = workerData.sets.map((h) => CounterSet.attach(h));

if (workerData.mode === 'write') {
  const k = workerData.index + 1;
  counters.forEach((c, i) => c.add(k * (i + 1)));
  sets.forEach((s, i) => {
    for (let f = 0; f < s.fields.length; f++) s.add(f, k * (i + f + 1));
  });
  parentPort.postMessage({ written: true });
  parentPort.on('message', () => parentPort.close());
} else {
  // This thread's CPU time (utime + stime, in clock ticks of 10 ms), from the kernel.
  const { readFileSync } = require('node:fs');
  const cpuNs = () => {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 1e7;
  };
  const stop = new Int32Array(workerData.stop);
  parentPort.postMessage({ ready: true });
  const n = counters.length;
  let ops = 0;
  const t0 = process.hrtime.bigint();
  const c0 = cpuNs();
  while (Atomics.load(stop, 0) === 0) {
    for (let j = 0; j < 100_000; j++) counters[j % n].inc();
    ops += 100_000;
  }
  parentPort.postMessage({ ops, ns: Number(process.hrtime.bigint() - t0), cpuNs: cpuNs() - c0 });
}
