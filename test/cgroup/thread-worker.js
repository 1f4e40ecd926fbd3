// Worker for lifecycle.kernel.test.ts: places its own thread in a cgroup, as a
// worker pool's thread would, and reports where the kernel says it is. With
// workerData.stay it then waits for a message before exiting.
const { readFileSync, readlinkSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { CgroupLayout, attachThreadToCgroup } = require('../../dist');

(async () => {
  try {
    const machine = await CgroupLayout.current();
    const layout = workerData.mode === 'v2' ? machine.unifiedOnly() : workerData.mode === 'v1' ? machine.legacyOnly() : machine;
    await attachThreadToCgroup(workerData.cgPath, undefined, { layout });
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    parentPort.postMessage({
      tid,
      cgroup: readFileSync('/proc/thread-self/cgroup', 'utf8'),
      processCgroup: readFileSync(`/proc/${process.pid}/task/${process.pid}/cgroup`, 'utf8'),
    });
    if (workerData.stay) parentPort.once('message', () => process.exit(0));
  } catch (err) {
    parentPort.postMessage({ error: `${err.code}: ${err.message}` });
  }
})();
