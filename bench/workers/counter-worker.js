// Benchmark worker: counts `iterations` times into one logical counter the way
// `variant` says, starting when the main thread opens the gate, and reports its
// own start and end times (process.hrtime is one clock for all threads).
const { parentPort, workerData } = require('node:worker_threads');
const { Counter } = require('../../dist');

const { variant, iterations, index, gate, shared, handle } = workerData;
const gateView = new Int32Array(gate);

function countKernkit() {
  const c = Counter.attach(handle);
  return () => {
    for (let i = 0; i < iterations; i++) c.inc();
  };
}

function countAtomicsShared() {
  const slot = new Int32Array(shared);
  return () => {
    for (let i = 0; i < iterations; i++) Atomics.add(slot, 0, 1);
  };
}

function countAtomicsPadded() {
  const slots = new Int32Array(shared);
  const mine = index * 16; // 64 bytes apart: no false sharing
  return () => {
    for (let i = 0; i < iterations; i++) Atomics.add(slots, mine, 1);
  };
}

function countPostMessage() {
  // A thread-local count, sent to the main thread every 65,536 increments.
  return () => {
    let pending = 0;
    for (let i = 0; i < iterations; i++) {
      if (++pending === 65536) {
        parentPort.postMessage({ delta: pending });
        pending = 0;
      }
    }
    if (pending) parentPort.postMessage({ delta: pending });
  };
}

const variants = {
  kernkit: countKernkit,
  'atomics-shared': countAtomicsShared,
  'atomics-padded': countAtomicsPadded,
  postmessage: countPostMessage,
};
const count = variants[variant]();
count(); // warm-up pass so every variant is measured optimised (its counts are subtracted by the main thread)
parentPort.postMessage({ ready: true });
Atomics.wait(gateView, 0, 0);
const start = process.hrtime.bigint();
count();
const end = process.hrtime.bigint();
parentPort.postMessage({ start, end });
