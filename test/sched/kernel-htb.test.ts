/**
 * Htb against the kernel's htb: the same class tree built in a test namespace
 * with Tc, two UDP floods classified by port with u32, and the per-class shares
 * the kernel delivers (`tc -s class` bytes over a window while both classes are
 * backlogged) compared with what lib/sched's Htb delivers for the same tree and
 * backlog on the manual clock: within 5 % per class.
 */
import { Psched, type ClassInfo, type HtbClassOptions } from '../../lib';
import { Htb, SimulatedClock } from '../../lib/sched';
import { kernelTest } from '../helpers/kernel';
import { sendUdp, tcMissing, useVethLink } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

/**
 * Buckets of 20 packets. With tc's default (rate/HZ + 1600 bytes: about one packet here) a kernel
 * timer that fires late loses tokens the bucket cannot hold, which the manual clock never does
 * (a ceil-limited class then got 8 % less in the kernel); the comparison is about the algorithm.
 */
const BUCKETS = { burst: '20k', cburst: '20k' };

/** Ethernet + IPv4 + UDP headers: htb charges and counts 1000 + 42 bytes per datagram. */
const PACKET = 1000 + 42;

interface Tree {
  root: HtbClassOptions;
  a: HtbClassOptions;
  b: HtbClassOptions;
}

const fx = useVethLink();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Shares of 1:10 and 1:20 in lib/sched's Htb, both backlogged with PACKET-byte items, over 20 simulated seconds after 2 s. */
async function simulatedShares(tree: Tree): Promise<[number, number]> {
  const clock = new SimulatedClock();
  const q = new Htb<string>({ clock, psched: await Psched.read() });
  q.addClass({ classid: '1:1', ...tree.root });
  q.addClass({ classid: '1:10', parent: '1:1', ...tree.a });
  q.addClass({ classid: '1:20', parent: '1:1', ...tree.b });
  for (let i = 0; i < 50; i++) for (const c of ['1:10', '1:20']) q.enqueue({ classid: c, length: PACKET, payload: c });
  const bytes: Record<string, number> = { '1:10': 0, '1:20': 0 };
  while (clock.now() < 22e9) {
    const it = q.dequeue();
    if (!it) {
      clock.set(q.nextTime() as number);
      continue;
    }
    if (clock.now() >= 2e9) bytes[it.payload as string] += it.length;
    q.enqueue({ classid: it.payload as string, length: PACKET, payload: it.payload });
  }
  const total = bytes['1:10'] + bytes['1:20'];
  return [bytes['1:10'] / total, bytes['1:20'] / total];
}

async function classBytes(classid: string): Promise<ClassInfo['stats']> {
  const [c] = await fx.tc.class.list({ dev: 'kk0', classid });
  return c.stats;
}

/** Shares the kernel gives 1:10 (UDP port 5001) and 1:20 (port 5002) under two floods. */
async function kernelShares(tree: Tree): Promise<[number, number]> {
  await fx.tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb', options: { default: 0x20 } });
  await fx.tc.class.add({ dev: 'kk0', parent: '1:', classid: '1:1', kind: 'htb', options: tree.root });
  await fx.tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: tree.a });
  await fx.tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:20', kind: 'htb', options: tree.b });
  for (const [port, classid] of [[5001, '1:10'], [5002, '1:20']] as const) {
    await fx.tc.filter.add({
      dev: 'kk0',
      parent: '1:',
      protocol: 'ip',
      prio: 1,
      kind: 'u32',
      options: { match: [{ ip: 'protocol', value: 'udp' }, { ip: 'dport', value: port }], classid },
    });
  }
  const floods = [5001, 5002].map((port) => sendUdp(fx.link.left, fx.link.rightAddr, port, { count: 1e9, durationMs: 8000, size: 1000 }));
  await sleep(2000); // both classes fill up
  const [a0, b0] = [await classBytes('1:10'), await classBytes('1:20')];
  await sleep(5000);
  const [a1, b1] = [await classBytes('1:10'), await classBytes('1:20')];
  await Promise.all(floods);
  // Backlogged all along: the kernel held packets in both classes at both readings.
  for (const s of [a0, b0, a1, b1]) expect(s.qlen).toBeGreaterThan(5);
  const a = Number(a1.bytes - a0.bytes);
  const b = Number(b1.bytes - b0.bytes);
  return [a / (a + b), b / (a + b)];
}

async function compare(tree: Tree): Promise<void> {
  const sim = await simulatedShares(tree);
  const kernel = await kernelShares(tree);
  if (process.env.KERNKIT_TEST_VERBOSE) console.log(`shares: kernel ${kernel.map((s) => s.toFixed(4))}, Htb ${sim.map((s) => s.toFixed(4))}`);
  for (let i = 0; i < 2; i++) expect(Math.abs(kernel[i] - sim[i]) / sim[i]).toBeLessThan(0.05);
}

ktest('guaranteed rates plus borrowing: the spare rate is shared by quantum as the kernel shares it', async () => {
  // 1:10 gets 1 + 1/3 and 1:20 2 + 2/3 of 4 Mbit/s (quanta 12500 and 25000).
  await compare({ root: { rate: '4mbit', ...BUCKETS }, a: { rate: '1mbit', ceil: '4mbit', ...BUCKETS }, b: { rate: '2mbit', ceil: '4mbit', ...BUCKETS } });
}, 60000);

ktest('a ceil-limited class: 1:10 stops at its ceil and 1:20 takes the rest', async () => {
  await compare({ root: { rate: '4mbit', ...BUCKETS }, a: { rate: '1mbit', ceil: '1500kbit', ...BUCKETS }, b: { rate: '1mbit', ceil: '4mbit', ...BUCKETS } });
}, 60000);
