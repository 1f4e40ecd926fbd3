// Run by gc.test.ts as `node --expose-gc gc-child.js NETNS`: opens Tc
// instances in the test's namespace and reports, as JSON on stdout, whether
// an unclosed and unreachable Tc gives its I/O thread and socket back once
// collected, while one still referenced, or still awaiting a reply, keeps
// working.
'use strict';
const { readdirSync, readlinkSync } = require('node:fs');
const { readFile } = require('node:fs/promises');
const { Tc } = require('../../dist');

const netns = process.argv[2];
const threads = () => readdirSync('/proc/self/task').length;
const sockets = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // the directory's own fd, closed by now
    }
  }).length;
const usage = () => ({ threads: threads(), sockets: sockets() });
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Collects until `done()` or 200 rounds; true if done. */
async function collectUntil(done) {
  for (let i = 0; i < 200; i++) {
    global.gc();
    await tick();
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

/** Opens a Tc, uses it and drops it without close(). */
async function abandon() {
  const tc = await Tc.open({ netns });
  await tc.qdisc.list({ dev: 'kk0' });
  return usage();
}

(async () => {
  await readFile('/proc/net/psched'); // starts libuv's thread pool, which Tc.open uses too
  const before = usage();
  const kept = await Tc.open({ netns });
  await kept.qdisc.list();
  const withKept = usage();
  const inUse = await abandon();
  const collected = await collectUntil(() => threads() === withKept.threads && sockets() === withKept.sockets);
  const afterCollect = usage();
  // still reachable: still works after collections
  const keptWorks = (await kept.qdisc.list({ dev: 'kk0' })).length > 0;
  // unreachable but awaiting a reply: the reply still comes
  const inFlight = (async () => {
    const tc = await Tc.open({ netns });
    const listed = tc.qdisc.list({ dev: 'kk0' });
    global.gc(); // nothing but the awaited reply refers to tc now
    return listed;
  })();
  const inFlightAnswered = (await inFlight).length > 0;
  await kept.close();
  process.stdout.write(JSON.stringify({ before, withKept, inUse, collected, afterCollect, keptWorks, inFlightAnswered }));
})().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
