/**
 * htb classes through kernkit on the real kernel, checked against classes tc
 * makes on a twin device (iproute2 6.1 prints htb classes as text even with
 * -j, so the comparison is on `tc -d -r class show` text, which includes the
 * raw bucket ticks).
 */
import { KernkitError, Psched, Tc, type ClassSpec } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

/** `tc -s -d -r class show dev D classid C` without its first words' device-specific parts. */
function classText(ns: TestNetns, dev: string, classid: string): string {
  return ns.tc('-d', '-r', 'class', 'show', 'dev', dev, 'classid', classid);
}

let ns: TestNetns;
let tc: Tc;

beforeEach(async () => {
  if (tcMissing()) return;
  ns = TestNetns.create('kk0', 'kk1');
  ns.addVethPair('tc0', 'tc1');
  tc = await Tc.open({ netns: ns.name });
  for (const dev of ['kk0', 'tc0']) ns.tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10');
  for (const dev of ['kk0', 'tc0']) ns.tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '100mbit');
});

afterEach(async () => {
  await tc?.close();
  ns?.remove();
});

afterAll(removeAllNamespaces);

type Case = [string, string[], ClassSpec['options'], RegExp];

const cases: Case[] = [
  ['rate only (ceil and bursts default)', ['rate', '1mbit'], { rate: '1mbit' }, /rate 1Mbit ceil 1Mbit linklayer ethernet burst 1600b\/1 mpu 0b cburst 1600b\/1/],
  ['rate and ceil', ['rate', '2mbit', 'ceil', '5mbit'], { rate: '2mbit', ceil: '5mbit' }, /rate 2Mbit ceil 5Mbit/],
  ['burst and cburst', ['rate', '1mbit', 'burst', '15k', 'cburst', '30k'], { rate: '1mbit', burst: '15k', cburst: '30k' }, /burst 15Kb\/1 mpu 0b cburst 30Kb\/1/],
  ['prio', ['rate', '1mbit', 'prio', '5'], { rate: '1mbit', prio: 5 }, /prio 5 /],
  ['quantum', ['rate', '1mbit', 'quantum', '3000'], { rate: '1mbit', quantum: 3000 }, /quantum 3000 /],
  ['mtu, mpu, overhead', ['rate', '1mbit', 'mtu', '9000', 'mpu', '64', 'overhead', '20'], { rate: '1mbit', mtu: 9000, mpu: 64, overhead: 20 }, /overhead 20 .*mpu 64b/],
  ['atm link layer', ['rate', '1mbit', 'linklayer', 'atm'], { rate: '1mbit', linklayer: 'atm' }, /linklayer atm/],
  ['64-bit rate and ceil', ['rate', '50gbit', 'ceil', '100gbit'], { rate: '50gbit', ceil: '100gbit' }, /rate 50Gbit ceil 100Gbit/],
  ['rates in bytes and IEC units', ['rate', '100KBps', 'ceil', '2mibit'], { rate: '100KBps', ceil: '2mibit' }, /rate 800Kbit ceil 2097Kbit/],
];

describe('htb class add: the kernel holds what tc would make', () => {
  for (const [name, tcArgs, options, pattern] of cases) {
    ktest(name, async () => {
      ns.tc('class', 'add', 'dev', 'tc0', 'parent', '1:1', 'classid', '1:10', 'htb', ...tcArgs);
      await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options });
      const mine = classText(ns, 'kk0', '1:10');
      expect(mine).toBe(classText(ns, 'tc0', '1:10'));
      expect(mine).toMatch(pattern);
    });
  }
});

describe('htb class operations', () => {
  ktest('list() decodes options, counters and htb statistics', async () => {
    await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '1mbit', ceil: '2mbit', burst: '10k', prio: 2, quantum: 1500 } });
    await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:20', kind: 'htb', options: { rate: '40gbit' } });
    const classes = await tc.class.list({ dev: 'kk0' });
    expect(classes.map((c) => c.classid).sort()).toEqual(['1:1', '1:10', '1:20']);
    const c10 = classes.find((c) => c.classid === '1:10');
    expect(c10).toMatchObject({ dev: 'kk0', kind: 'htb', parent: '1:1' });
    expect(c10?.options).toEqual({ rate: 1000000, ceil: 2000000, burst: 10240, cburst: 1600, prio: 2, quantum: 1500, level: 0, mpu: 0, overhead: 0, linklayer: 'ethernet' });
    expect(c10?.stats).toMatchObject({ bytes: 0n, packets: 0n, drops: 0, overlimits: 0, backlog: 0, qlen: 0 });
    // a fresh class holds its whole bucket: burst (10k at 1mbit = 81920us) in ticks,
    // and its ceil bucket: the default cburst, 1600 bytes at 2mbit = 6400us
    expect(c10?.xstats).toEqual({ lends: 0, borrows: 0, giants: 0, tokens: 1280000, ctokens: 100000 });
    const c1 = classes.find((c) => c.classid === '1:1');
    expect(c1?.options).toMatchObject({ rate: 100000000, level: 7 });
    expect(classes.find((c) => c.classid === '1:20')?.options).toMatchObject({ rate: 40000000000, ceil: 40000000000 });
    expect(await tc.class.list({ dev: 'kk0', classid: '1:20' })).toHaveLength(1);
    expect((await tc.class.list({ dev: 'kk0', parent: '1:1' })).map((c) => c.classid).sort()).toEqual(['1:10', '1:20']);
    expect((await tc.class.list({ dev: 'kk0', parent: 'root' })).map((c) => c.classid)).toEqual(['1:1']);
    expect(await tc.class.list({ dev: 'kk0', parent: '2:' })).toEqual([]);
    // a qdisc attached to a leaf class shows as its leaf
    await tc.qdisc.add({ dev: 'kk0', parent: '1:10', handle: '10:', kind: 'pfifo', options: { limit: 5 } });
    expect((await tc.class.list({ dev: 'kk0', classid: '1:10' }))[0].leaf).toBe('10:');
  });

  ktest('the kernel’s warnings on success reach the caller', async () => {
    const small = await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:30', kind: 'htb', options: { rate: '1kbit' } });
    expect(small.warnings).toEqual(['sch_htb: quantum of class 10030 is small. Consider r2q change.']);
    const big = await tc.class.add({ dev: 'kk0', parent: '1:', classid: '1:31', kind: 'htb', options: { rate: '10gbit' } });
    expect(big.warnings).toEqual(['sch_htb: quantum of class 10031 is big. Consider r2q change.']);
    expect(ns.tryTc('class', 'add', 'dev', 'tc0', 'parent', '1:1', 'classid', '1:30', 'htb', 'rate', '1kbit').stderr).toContain(small.warnings[0]);
    const quiet = await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:32', kind: 'htb', options: { rate: '1kbit', quantum: 1500 } });
    expect(quiet.warnings).toEqual([]);
  });

  ktest('replace creates or changes; change alters an existing class', async () => {
    await tc.class.replace({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '1mbit' } });
    expect(classText(ns, 'kk0', '1:10')).toMatch(/rate 1Mbit ceil 1Mbit/);
    await tc.class.replace({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '3mbit', ceil: '4mbit' } });
    expect(classText(ns, 'kk0', '1:10')).toMatch(/rate 3Mbit ceil 4Mbit/);
    await tc.class.change({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '5mbit', ceil: '6mbit', prio: 1 } });
    expect(classText(ns, 'kk0', '1:10')).toMatch(/prio 1 .*rate 5Mbit ceil 6Mbit/);
    await expect(tc.class.change({ dev: 'kk0', parent: '1:1', classid: '1:99', kind: 'htb', options: { rate: '1mbit' } })).rejects.toMatchObject({ code: 'ENOENT', op: 'class change' });
  });

  ktest('duplicates, deleting what is absent and deleting a parent are the kernel’s errors', async () => {
    await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '1mbit' } });
    await expect(tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '1mbit' } })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(tc.class.delete({ dev: 'kk0', classid: '1:1' })).rejects.toMatchObject({ code: 'EBUSY', extack: 'HTB class in use' });
    await tc.class.delete({ dev: 'kk0', classid: '1:10' });
    expect(ns.tc('class', 'show', 'dev', 'kk0', 'classid', '1:10')).toBe('');
    const absent = await tc.class.delete({ dev: 'kk0', classid: '1:10' }).catch((e: KernkitError) => e);
    expect(absent).toMatchObject({ code: 'ENOENT', message: 'class delete: No such file or directory' });
    expect(ns.tryTc('class', 'del', 'dev', 'tc0', 'classid', '1:10').stderr).toContain('No such file or directory');
  });

  ktest('bad class options are refused before sending, naming the option and the range', async () => {
    const bad: Array<[ClassSpec['options'], string, RegExp]> = [
      [{ rate: '1mbit', prio: 8 }, 'ERANGE', /htb\.prio: 8 \(expected an integer from 0 to 7\)/],
      [{ rate: 0 }, 'EINVAL', /htb\.rate: 0 \(expected a rate of at least 8bit/],
      [{ rate: '1mbit', ceil: '7bit' }, 'EINVAL', /htb\.ceil: "7bit" \(expected a ceil of at least 8bit/],
      [{} as never, 'EINVAL', /htb\.rate.*required/],
      [{ rate: '1mbit', mpu: 70000 }, 'ERANGE', /htb\.mpu/],
      [{ rate: '1mbit', linklayer: 'token-ring' as never }, 'EINVAL', /htb\.linklayer/],
      [{ rate: '1mbit', burst: '10k/3' }, 'EINVAL', /htb\.burst.*power of two/],
      [{ rate: '1mbit', colour: 'blue' } as never, 'EINVAL', /htb\.colour: unknown option/],
    ];
    for (const [options, code, message] of bad) {
      await expect(tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options })).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    }
    await expect(tc.class.add({ dev: 'kk0', classid: '1:10', kind: 'pfifo' as never, options: {} as never })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('classless') });
    expect(ns.tc('class', 'show', 'dev', 'kk0', 'classid', '1:10')).toBe('');
  });
});

describe('burst arithmetic', () => {
  ktest("by default iproute2 6.1's (truncating); with burstRounding 'round-up' that of iproute2 6.15 and later", async () => {
    const psched = await Psched.read();
    const ticksPerUs = psched.tickInUsec;
    const options = { rate: '1gbit', burst: 1600, cburst: 1600 };
    ns.tc('class', 'add', 'dev', 'tc0', 'parent', '1:1', 'classid', '1:10', 'htb', 'rate', '1gbit', 'burst', '1600', 'cburst', '1600');
    await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options });
    // the same ticks as the system's tc (iproute2 6.1): trunc(trunc(12.8us) * ticks per us)
    const truncated = Math.trunc(12 * ticksPerUs);
    const rawTicks = (text: string) => parseInt(/ buffer \[([0-9a-f]+)\]/.exec(text)?.[1] ?? 'x', 16);
    expect(rawTicks(classText(ns, 'kk0', '1:10'))).toBe(truncated);
    expect(classText(ns, 'kk0', '1:10')).toBe(classText(ns, 'tc0', '1:10'));
    const up = await Tc.open({ netns: ns.name, burstRounding: 'round-up' });
    try {
      await up.class.replace({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options });
      // ceil(12.8us * ticks per us): the bucket holds at least 1600 bytes
      expect(rawTicks(classText(ns, 'kk0', '1:10'))).toBe(Math.ceil(12.8 * ticksPerUs));
      expect(((await up.class.list({ dev: 'kk0', classid: '1:10' }))[0].options as { burst: number }).burst).toBeGreaterThanOrEqual(1599);
      // read back the 6.1 way, the same ticks show less than was asked
      expect(((await tc.class.list({ dev: 'kk0', classid: '1:10' }))[0].options as { burst: number }).burst).toBeLessThan(1600);
    } finally {
      await up.close();
    }
  });
});

describe('listing', () => {
  ktest('several list() calls at once on one Tc all succeed (dumps queue on the socket)', async () => {
    await tc.class.add({ dev: 'kk0', parent: '1:1', classid: '1:10', kind: 'htb', options: { rate: '1mbit' } });
    for (let round = 0; round < 10; round++) {
      // the first round also looks the names up (a request each, and a link dump to name what is listed)
      const outcomes = await Promise.allSettled([
        tc.class.list({ dev: 'kk0' }),
        tc.class.list({ dev: 'kk0' }),
        tc.qdisc.list({ dev: 'kk0' }),
        tc.filter.list({ dev: 'kk0' }),
        tc.qdisc.list(),
        tc.class.list({ dev: 'tc0' }),
      ]);
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as KernkitError).code))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
      const [a, b, q, f, all, twin] = outcomes.map((o) => (o as PromiseFulfilledResult<Array<{ dev: string; classid?: string }>>).value);
      expect(a.map((c) => c.classid).sort()).toEqual(['1:1', '1:10']);
      expect(b).toEqual(a);
      expect(q).toEqual([expect.objectContaining({ kind: 'htb', dev: 'kk0' })]);
      expect(f).toEqual([]);
      expect(all.map((x) => x.dev)).toEqual(expect.arrayContaining(['kk0', 'tc0']));
      expect(twin.map((c) => c.classid)).toEqual(['1:1']);
    }
  });
});
