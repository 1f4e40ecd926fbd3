// Worker for lifecycle.kernel.test.ts: places its own thread in a cgroup, as a
// worker pool's thread would, and reports where the kernel says it is.
const { readFileSync, readlinkSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { CgroupLayout, attachThreadToCgroup } = require('../../dist');

(async () => {
  try {
    const machine = await CgroupLayout.current();
    const layout = workerData.mode === 'v2' ? machine.unifiedOnly() : machine.legacyOnly();
    await attachThreadToCgroup(workerData.cgPath, undefined, { layout });
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    parentPort.postMessage({
      tid,
      cgroup: readFileSync('/proc/thread-self/cgroup', 'utf8'),
      processCgroup: readFileSync(`/proc/${process.pid}/task/${process.pid}/cgroup`, 'utf8'),
    });
  } catch (err) {
    parentPort.postMessage({ error: `${err.code}: ${err.message}` });
  }
})();
