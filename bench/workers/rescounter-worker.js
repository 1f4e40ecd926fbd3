// Benchmark worker: tryCharge + uncharge pairs on one leaf of a 3-level tree, the
// way `variant` says, from when the main thread opens the gate; reports its span.
const { parentPort, workerData } = require('node:worker_threads');
const { ResourceCounter } = require('../../dist');
const { AtomicsTree } = require('./rescounter-atomics');

const { variant, iterations, gate, handle, sab, parents, leaf } = workerData;

function loop() {
  if (variant === 'kernkit') {
    const c = ResourceCounter.attach(handle);
    return () => {
      let refused = 0;
      for (let i = 0; i < iterations; i++) {
        const n = (i & 15) + 1;
        if (c.tryCharge(n)) c.uncharge(n);
        else refused++;
      }
      return refused;
    };
  }
  const tree = new AtomicsTree(sab, parents);
  if (variant === 'atomics-plain-reads') {
    return () => {
      let refused = 0;
      for (let i = 0; i < iterations; i++) {
        const n = (i & 15) + 1;
        if (tree.tryChargePlainReads(leaf, n)) tree.uncharge(leaf, n);
        else refused++;
      }
      return refused;
    };
  }
  return () => {
    let refused = 0;
    for (let i = 0; i < iterations; i++) {
      const n = (i & 15) + 1;
      if (tree.tryCharge(leaf, n)) tree.uncharge(leaf, n);
      else refused++;
    }
    return refused;
  };
}

const run = loop();
run(); // warm-up: measured optimised
parentPort.postMessage({ ready: true });
Atomics.wait(new Int32Array(gate), 0, 0);
const start = process.hrtime.bigint();
const refused = run();
const end = process.hrtime.bigint();
parentPort.postMessage({ start, end, refused });
