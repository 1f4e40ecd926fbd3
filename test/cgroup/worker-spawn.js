// For spawn.kernel.test.ts: a worker thread spawns a child and is terminated
// while the child still runs (or, with 'inflight', while its spawn is still
// under way). Prints how the children ended up: every one must be reaped once
// it exits, and the process must not crash. With 'main-too' the main thread
// loads kernkit as well (the addon then stays loaded when the worker ends).
const { readdirSync, readFileSync } = require('node:fs');
const { Worker } = require('node:worker_threads');

const mode = process.argv[2];
if (mode === 'main-too') require('../../dist');

// Our children, alive or zombie, by pid.
function children() {
  const out = {};
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid) out[name] = state;
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const worker = new Worker(
  `
  const { parentPort, workerData } = require('node:worker_threads');
  const { spawn } = require(workerData.dist);
  const started = spawn('sleep', ['0.3'], { stdio: ['ignore', 'pipe', 'ignore'] });
  if (workerData.mode === 'inflight') parentPort.postMessage(0);
  else started.then((c) => parentPort.postMessage(c.pid));
  `,
  { eval: true, workerData: { mode, dist: require.resolve('../../dist') } },
);
worker.once('message', async () => {
  await worker.terminate();
  const deadline = Date.now() + 10000; // a hang guard, not a measurement
  let left = children();
  while (Object.keys(left).length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    left = children();
  }
  process.stdout.write(JSON.stringify({ left }));
});
