// Benchmark worker: tryCharge + uncharge pairs on one leaf of a 3-level tree, the
// way `variant` says, from when the main thread opens the gate; reports its span.
const { parentPort, workerData } = require('node:worker_threads');
const { ResourceCounter } = require('../../dist');
const { AtomicsTree } = require('./rescounter-atomics');

const { variant, iterations, gate, handle, sab, parents, leaf } = workerData;

// One tryCharge + uncharge pair of the chosen variant; true if the charge was refused.
function pairOf() {
  if (variant === 'kernkit') {
    const c = ResourceCounter.attach(handle);
    return (n) => (c.tryCharge(n) ? (c.uncharge(n), false) : true);
  }
  const tree = new AtomicsTree(sab, parents, variant === 'atomics-plain-reads');
  return (n) => (tree.tryCharge(leaf, n) ? (tree.uncharge(leaf, n), false) : true);
}

function loop() {
  const pair = pairOf();
  return () => {
    let refused = 0;
    for (let i = 0; i < iterations; i++) if (pair((i & 15) + 1)) refused++;
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
