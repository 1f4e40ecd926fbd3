/**
 * Real traffic: UDP sent from one test namespace to another across a veth
 * pair (by a child process inside the sending namespace, bounded in count and
 * time, to the peer's address only), observed through kernkit's statistics.
 */
import { type ClassInfo } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { sendUdp, tcMissing, useVethLink } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

/** Ethernet (14) + IPv4 (20) + UDP (8) headers around each payload. */
const OVERHEAD = 42;

const fx = useVethLink();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function classStats(classid: string): Promise<ClassInfo> {
  const [c] = await fx.tc.class.list({ dev: 'kk0', classid });
  return c;
}

ktest('UDP across the veth pair shows in the qdisc statistics, packet for packet', async () => {
  await fx.tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'pfifo', options: { limit: 2000 } });
  const before = (await fx.tc.qdisc.list({ dev: 'kk0' }))[0].stats;
  const sent = await sendUdp(fx.link.left, fx.link.rightAddr, 9000, { count: 200, durationMs: 10000, size: 500 });
  expect(sent.sent).toBe(200);
  const after = (await fx.tc.qdisc.list({ dev: 'kk0' }))[0].stats;
  expect(after.packets - before.packets).toBe(200n);
  expect(after.bytes - before.bytes).toBe(BigInt(200 * (500 + OVERHEAD)));
  expect(after.drops).toBe(0);
  expect(after.qlen).toBe(0);
}, 30000);

/**
 * A class's counters, read at a moment the kernel chose somewhere between
 * `before` and `after` (this process's monotonic clock, in ns).
 */
async function sample(classid: string): Promise<{ stats: ClassInfo['stats']; before: bigint; after: bigint }> {
  const before = process.hrtime.bigint();
  const { stats } = await classStats(classid);
  return { stats, before, after: process.hrtime.bigint() };
}

ktest('an htb class at 1 mbit holds a UDP flood to about 1 Mbit/s', async () => {
  const RATE = 125000; // 1 mbit in bytes per second
  const PACKET = 1000 + OVERHEAD; // what htb charges, and counts, per datagram
  await fx.tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb', options: { default: 0x10 } });
  await fx.tc.class.add({ dev: 'kk0', parent: '1:', classid: '1:10', kind: 'htb', options: { rate: '1mbit', ceil: '1mbit' } });
  const { burst, cburst } = (await classStats('1:10')).options as { burst: number; cburst: number };
  const flood = sendUdp(fx.link.left, fx.link.rightAddr, 9001, { count: 1e9, durationMs: 7000, size: 1000 });
  await sleep(1500); // the queue fills: from here on the class always has packets waiting
  const s0 = await sample('1:10');
  await sleep(4000);
  const s1 = await sample('1:10');
  const sent = await flood;
  // The sender pushed as fast as its socket would take: packets were waiting in the class
  // (at both readings, its queue held some) and htb throttled it ...
  expect(sent.sent).toBeGreaterThan(300);
  expect(s0.stats.qlen).toBeGreaterThan(10);
  expect(s1.stats.qlen).toBeGreaterThan(10);
  expect(s1.stats.overlimits).toBeGreaterThan(s0.stats.overlimits);
  // ... and what left the class ran at 1 Mbit/s. The kernel's byte counters are exact; the
  // moments it read them are known only to lie within each request's round trip, so the window
  // between them is bracketed: at least `inner`, at most `outer`. However loaded the machine,
  // htb's token bucket lets through at most rate × window + bucket (+ a packet in debt), and
  // with packets always waiting it keeps up with its rate.
  const bytes = Number(s1.stats.bytes - s0.stats.bytes);
  const outer = Number(s1.after - s0.before) / 1e9;
  const inner = Number(s1.before - s0.after) / 1e9;
  if (process.env.KERNKIT_TEST_VERBOSE) console.log(`htb 1mbit class: ${bytes} bytes in ${inner.toFixed(3)}..${outer.toFixed(3)}s`);
  expect(bytes).toBeLessThanOrEqual(RATE * outer + Math.max(burst, cburst) + 2 * PACKET);
  expect(bytes).toBeGreaterThanOrEqual(0.8 * RATE * inner);
  const end = await classStats('1:10');
  expect(end.options).toMatchObject({ rate: 1000000, ceil: 1000000 });
}, 30000);

ktest('a u32 filter steers a UDP port into its class', async () => {
  await fx.tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb', options: { default: 0x20 } });
  for (const classid of ['1:10', '1:20']) await fx.tc.class.add({ dev: 'kk0', parent: '1:', classid, kind: 'htb', options: { rate: '100mbit' } });
  await fx.tc.filter.add({
    dev: 'kk0',
    parent: '1:',
    protocol: 'ip',
    prio: 1,
    kind: 'u32',
    options: { match: [{ ip: 'dst', value: `${fx.link.rightAddr}/32` }, { ip: 'protocol', value: 'udp' }, { ip: 'dport', value: 5001 }], classid: '1:10' },
  });
  const a = await sendUdp(fx.link.left, fx.link.rightAddr, 5001, { count: 50, durationMs: 10000, size: 200 });
  const b = await sendUdp(fx.link.left, fx.link.rightAddr, 5002, { count: 30, durationMs: 10000, size: 200 });
  expect([a.sent, b.sent]).toEqual([50, 30]);
  expect((await classStats('1:10')).stats).toMatchObject({ packets: 50n, bytes: BigInt(50 * (200 + OVERHEAD)) });
  expect((await classStats('1:20')).stats).toMatchObject({ packets: 30n, bytes: BigInt(30 * (200 + OVERHEAD)) });
}, 30000);
