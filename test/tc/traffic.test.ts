/**
 * Real traffic: UDP sent from one test namespace to another across a veth
 * pair (by a child process inside the sending namespace, bounded in count and
 * time, to the peer's address only), observed through kernkit's statistics.
 */
import { Tc, type ClassInfo } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { VethLink, removeAllNamespaces, sendUdp, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

/** Ethernet (14) + IPv4 (20) + UDP (8) headers around each payload. */
const OVERHEAD = 42;

let link: VethLink;
let tc: Tc;

beforeEach(async () => {
  if (tcMissing()) return;
  link = VethLink.create('kk0', 'kk1');
  tc = await Tc.open({ netns: link.left.name });
});

afterEach(async () => {
  await tc?.close();
  link?.remove();
});

afterAll(removeAllNamespaces);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function classStats(classid: string): Promise<ClassInfo> {
  const [c] = await tc.class.list({ dev: 'kk0', classid });
  return c;
}

ktest('UDP across the veth pair shows in the qdisc statistics, packet for packet', async () => {
  await tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'pfifo', options: { limit: 2000 } });
  const before = (await tc.qdisc.list({ dev: 'kk0' }))[0].stats;
  const sent = await sendUdp(link.left, link.rightAddr, 9000, { count: 200, durationMs: 10000, size: 500 });
  expect(sent.sent).toBe(200);
  const after = (await tc.qdisc.list({ dev: 'kk0' }))[0].stats;
  expect(after.packets - before.packets).toBe(200n);
  expect(after.bytes - before.bytes).toBe(BigInt(200 * (500 + OVERHEAD)));
  expect(after.drops).toBe(0);
  expect(after.qlen).toBe(0);
}, 30000);

ktest('an htb class at 1 mbit holds a UDP flood to about 1 Mbit/s', async () => {
  await tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb', options: { default: 0x10 } });
  await tc.class.add({ dev: 'kk0', parent: '1:', classid: '1:10', kind: 'htb', options: { rate: '1mbit', ceil: '1mbit' } });
  const flood = sendUdp(link.left, link.rightAddr, 9001, { count: 1e9, durationMs: 4500, size: 1000 });
  await sleep(1500); // past the initial burst
  const t0 = process.hrtime.bigint();
  const s0 = (await classStats('1:10')).stats;
  await sleep(2000);
  const t1 = process.hrtime.bigint();
  const s1 = (await classStats('1:10')).stats;
  const sent = await flood;
  const seconds = Number(t1 - t0) / 1e9;
  const mbit = (Number(s1.bytes - s0.bytes) * 8) / seconds / 1e6;
  // The sender pushed as fast as its socket would take: packets were waiting in the class
  // and htb throttled it ...
  expect(sent.sent).toBeGreaterThan(300);
  expect(s1.qlen).toBeGreaterThan(10);
  expect(s1.overlimits).toBeGreaterThan(s0.overlimits);
  if (process.env.KERNKIT_TEST_VERBOSE) console.log(`htb 1mbit class: ${mbit.toFixed(3)} Mbit/s over ${seconds.toFixed(2)}s`);
  // ... and what left the class ran at about 1 Mbit/s.
  expect(mbit).toBeGreaterThan(0.8);
  expect(mbit).toBeLessThan(1.2);
  const end = await classStats('1:10');
  expect(end.options).toMatchObject({ rate: 1000000, ceil: 1000000 });
}, 30000);

ktest('a u32 filter steers a UDP port into its class', async () => {
  await tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb', options: { default: 0x20 } });
  for (const classid of ['1:10', '1:20']) await tc.class.add({ dev: 'kk0', parent: '1:', classid, kind: 'htb', options: { rate: '100mbit' } });
  await tc.filter.add({
    dev: 'kk0',
    parent: '1:',
    protocol: 'ip',
    prio: 1,
    kind: 'u32',
    options: { match: [{ ip: 'dst', value: `${link.rightAddr}/32` }, { ip: 'protocol', value: 'udp' }, { ip: 'dport', value: 5001 }], classid: '1:10' },
  });
  const a = await sendUdp(link.left, link.rightAddr, 5001, { count: 50, durationMs: 10000, size: 200 });
  const b = await sendUdp(link.left, link.rightAddr, 5002, { count: 30, durationMs: 10000, size: 200 });
  expect([a.sent, b.sent]).toEqual([50, 30]);
  expect((await classStats('1:10')).stats).toMatchObject({ packets: 50n, bytes: BigInt(50 * (200 + OVERHEAD)) });
  expect((await classStats('1:20')).stats).toMatchObject({ packets: 30n, bytes: BigInt(30 * (200 + OVERHEAD)) });
}, 30000);
