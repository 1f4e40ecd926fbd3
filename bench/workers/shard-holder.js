// Benchmark worker: takes a shard by writing a counter once, then parks until released.
const { parentPort, workerData } = require('node:worker_threads');
const { Counter } = require('../../dist');

Counter.attach(workerData.handle).inc();
parentPort.postMessage('holding');
Atomics.wait(new Int32Array(workerData.release), 0, 0);
