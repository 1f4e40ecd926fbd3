/**
 * Qdiscs through kernkit on the real kernel, for every kind this kernel has
 * (pfifo, bfifo, pfifo_head_drop, tbf, htb, ingress, clsact), checked with
 * `tc -s -j -d qdisc show`: each case is also made by iproute2's tc on a twin
 * device, and the kernel must hold the same on both.
 */
import { KernkitError, Tc, type QdiscSpec } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

/**
 * tc's JSON view (`-d`: with cell sizes, mpu and link layer) of a device's
 * qdiscs, without what legitimately differs between twins: the device, an
 * auto-assigned handle, and traffic the kernel itself sent (IPv6 neighbour
 * discovery on a fresh link).
 */
function view(ns: TestNetns, dev: string, keepHandle: boolean): Array<Record<string, unknown>> {
  return ns.tcJson('qdisc', '-d', 'dev', dev).map((q) => {
    const { dev: _d, handle, bytes: _b, packets: _p, ...rest } = q;
    void [_d, _b, _p];
    const options = { ...(rest.options as Record<string, unknown>) };
    delete options.direct_packets_stat;
    return keepHandle ? { handle, ...rest, options } : { ...rest, options };
  });
}

let ns: TestNetns;
let tc: Tc;

beforeEach(async () => {
  if (tcMissing()) return;
  ns = TestNetns.create('kk0', 'kk1');
  ns.addVethPair('tc0', 'tc1');
  tc = await Tc.open({ netns: ns.name });
});

afterEach(async () => {
  await tc?.close();
  ns?.remove();
});

afterAll(removeAllNamespaces);

/** [name, tc arguments after `dev X`, kernkit spec without dev, checks on tc's JSON for kk0]. */
type Case = [string, string[], Omit<QdiscSpec, 'dev'>, (q: Record<string, unknown>) => void];

const cases: Case[] = [
  ['pfifo defaults', ['root', 'pfifo'], { kind: 'pfifo' }, (q) => expect(q.options).toEqual({ limit: 1000 })],
  ['pfifo limit', ['root', 'pfifo', 'limit', '77'], { kind: 'pfifo', options: { limit: 77 } }, (q) => expect(q.options).toEqual({ limit: 77 })],
  ['bfifo defaults', ['root', 'bfifo'], { kind: 'bfifo' }, (q) => expect(q.options).toEqual({ limit: 1514000 }) /* txqueuelen x (mtu + 14) */],
  ['bfifo limit in k', ['root', 'bfifo', 'limit', '10k'], { kind: 'bfifo', options: { limit: '10k' } }, (q) => expect(q.options).toEqual({ limit: 10240 })],
  ['pfifo_head_drop limit', ['root', 'pfifo_head_drop', 'limit', '5'], { kind: 'pfifo_head_drop', options: { limit: 5 } }, (q) => expect(q.options).toEqual({ limit: 5 })],
  [
    'tbf rate, burst, latency',
    ['root', 'handle', '1:', 'tbf', 'rate', '10mbit', 'burst', '15k', 'latency', '100ms'],
    { handle: '1:', kind: 'tbf', options: { rate: '10mbit', burst: '15k', latency: '100ms' } },
    (q) => expect(q.options).toMatchObject({ rate: 1250000, burst: '15Kb/1', lat: 100000, mpu: 0, linklayer: 'ethernet' }),
  ],
  [
    'tbf limit, mpu, overhead',
    ['root', 'tbf', 'rate', '1mbit', 'burst', '10kb', 'limit', '30000', 'mpu', '64', 'overhead', '24'],
    { kind: 'tbf', options: { rate: '1mbit', burst: '10kb', limit: 30000, mpu: 64, overhead: 24 } },
    (q) => expect(q.options).toMatchObject({ rate: 125000, mpu: 64 }),
  ],
  [
    'tbf peakrate and mtu',
    ['root', 'tbf', 'rate', '1.5gbit', 'burst', '1mb', 'limit', '100k', 'peakrate', '2gbit', 'mtu', '2k'],
    { kind: 'tbf', options: { rate: '1.5gbit', burst: '1mb', limit: '100k', peakrate: '2gbit', mtu: '2k' } },
    (q) => expect(q.options).toMatchObject({ rate: 187500000 }),
  ],
  [
    'tbf 64-bit rate and atm link layer',
    ['root', 'tbf', 'rate', '40gbit', 'burst', '10mb', 'latency', '1ms', 'linklayer', 'atm'],
    { kind: 'tbf', options: { rate: '40gbit', burst: '10mb', latency: '1ms', linklayer: 'atm' } },
    (q) => expect(q.options).toMatchObject({ rate: 5000000000, linklayer: 'atm' }),
  ],
  [
    'tbf burst with a cell size',
    ['root', 'tbf', 'rate', '100kbit', 'burst', '4k/8', 'latency', '40us'],
    { kind: 'tbf', options: { rate: '100kbit', burst: '4k/8', latency: '40us' } },
    // the kernel keeps no cell size: tc shows /1 either way
    (q) => expect(q.options).toMatchObject({ burst: '4Kb/1', lat: 0 }),
  ],
  ['htb defaults', ['root', 'handle', '1:', 'htb'], { handle: '1:', kind: 'htb' }, (q) => expect(q.options).toMatchObject({ r2q: 10, default: '0', direct_qlen: 1000 })],
  [
    'htb default, r2q, direct_qlen',
    ['root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '5', 'direct_qlen', '33'],
    { handle: '1:', kind: 'htb', options: { default: '10', r2q: 5, directQlen: 33 } },
    (q) => expect(q.options).toMatchObject({ r2q: 5, default: '0x10', direct_qlen: 33 }),
  ],
  ['ingress', ['ingress'], { kind: 'ingress' }, (q) => expect(q).toMatchObject({ kind: 'ingress', parent: 'ffff:fff1' })],
  ['clsact', ['clsact'], { kind: 'clsact' }, (q) => expect(q).toMatchObject({ kind: 'clsact', parent: 'ffff:fff1' })],
  [
    'pfifo with an estimator',
    ['root', 'estimator', '1s', '8s', 'pfifo'],
    { kind: 'pfifo', estimator: { interval: '1s', timeConstant: '8s' } },
    (q) => expect(q.options).toEqual({ limit: 1000 }),
  ],
];

describe('qdisc add: the kernel holds what tc would make', () => {
  for (const [name, tcArgs, spec, check] of cases) {
    ktest(name, async () => {
      ns.tc('qdisc', 'add', 'dev', 'tc0', ...tcArgs);
      const result = await tc.qdisc.add({ dev: 'kk0', ...spec } as QdiscSpec);
      expect(result.warnings).toEqual([]);
      const keepHandle = spec.handle !== undefined || spec.kind === 'ingress' || spec.kind === 'clsact';
      const mine = view(ns, 'kk0', keepHandle);
      expect(mine).toEqual(view(ns, 'tc0', keepHandle));
      const q = mine.find((x) => x.kind === spec.kind);
      expect(q).toBeDefined();
      check(q as Record<string, unknown>);
    });
  }
});

/**
 * Every kind through add, replace, change and delete, each step also done by
 * tc on the twin: the kernel must answer both alike (the same state, or the
 * same refusal), in the style of the kernel's tc-testing cases.
 */
describe('qdisc lifecycle per kind: add, replace, change, delete', () => {
  type Step = { op: 'add' | 'replace' | 'change' | 'delete'; tc: string[]; spec: Record<string, unknown> };
  const lifecycles: Record<string, Step[]> = {
    pfifo: [
      { op: 'add', tc: ['root', 'handle', '1:', 'pfifo', 'limit', '10'], spec: { handle: '1:', kind: 'pfifo', options: { limit: 10 } } },
      { op: 'replace', tc: ['root', 'handle', '1:', 'pfifo', 'limit', '20'], spec: { handle: '1:', kind: 'pfifo', options: { limit: 20 } } },
      { op: 'change', tc: ['root', 'handle', '1:', 'pfifo', 'limit', '30'], spec: { handle: '1:', kind: 'pfifo', options: { limit: 30 } } },
      { op: 'delete', tc: ['root', 'handle', '1:'], spec: { handle: '1:' } },
    ],
    bfifo: [
      { op: 'add', tc: ['root', 'bfifo'], spec: { kind: 'bfifo' } },
      { op: 'change', tc: ['root', 'bfifo', 'limit', '64k'], spec: { kind: 'bfifo', options: { limit: '64k' } } },
      { op: 'replace', tc: ['root', 'bfifo', 'limit', '3000'], spec: { kind: 'bfifo', options: { limit: 3000 } } },
      { op: 'delete', tc: ['root'], spec: {} },
    ],
    tbf: [
      { op: 'add', tc: ['root', 'handle', '2:', 'tbf', 'rate', '1mbit', 'burst', '10k', 'latency', '50ms'], spec: { handle: '2:', kind: 'tbf', options: { rate: '1mbit', burst: '10k', latency: '50ms' } } },
      { op: 'replace', tc: ['root', 'handle', '2:', 'tbf', 'rate', '2mbit', 'burst', '20k', 'limit', '30k'], spec: { handle: '2:', kind: 'tbf', options: { rate: '2mbit', burst: '20k', limit: '30k' } } },
      { op: 'change', tc: ['root', 'handle', '2:', 'tbf', 'rate', '3mbit', 'burst', '20k', 'limit', '30k', 'peakrate', '4mbit', 'mtu', '1600'], spec: { handle: '2:', kind: 'tbf', options: { rate: '3mbit', burst: '20k', limit: '30k', peakrate: '4mbit', mtu: 1600 } } },
      { op: 'delete', tc: ['root', 'handle', '2:'], spec: { handle: '2:' } },
    ],
    htb: [
      { op: 'add', tc: ['root', 'handle', '1:', 'htb', 'default', '10'], spec: { handle: '1:', kind: 'htb', options: { default: '10' } } },
      { op: 'replace', tc: ['root', 'handle', '1:', 'htb', 'default', '20'], spec: { handle: '1:', kind: 'htb', options: { default: '20' } } },
      { op: 'replace', tc: ['root', 'handle', '3:', 'htb', 'r2q', '20'], spec: { handle: '3:', kind: 'htb', options: { r2q: 20 } } },
      { op: 'change', tc: ['root', 'handle', '3:', 'htb', 'r2q', '30'], spec: { handle: '3:', kind: 'htb', options: { r2q: 30 } } },
      { op: 'delete', tc: ['root', 'handle', '3:'], spec: { handle: '3:' } },
    ],
    ingress: [
      { op: 'add', tc: ['ingress'], spec: { kind: 'ingress' } },
      { op: 'replace', tc: ['ingress'], spec: { kind: 'ingress' } },
      { op: 'change', tc: ['ingress'], spec: { kind: 'ingress' } },
      { op: 'delete', tc: ['ingress'], spec: { parent: 'ingress' } },
    ],
    clsact: [
      { op: 'add', tc: ['clsact'], spec: { kind: 'clsact' } },
      { op: 'replace', tc: ['clsact'], spec: { kind: 'clsact' } },
      { op: 'change', tc: ['clsact'], spec: { kind: 'clsact' } },
      { op: 'delete', tc: ['clsact'], spec: { parent: 'clsact' } },
    ],
  };
  for (const [kind, steps] of Object.entries(lifecycles)) {
    ktest(kind, async () => {
      for (const step of steps) {
        const viaTc = ns.tryTc('qdisc', step.op === 'delete' ? 'del' : step.op, 'dev', 'tc0', ...step.tc);
        const mine = await tc.qdisc[step.op]({ dev: 'kk0', ...step.spec } as never).then(
          () => null,
          (e: KernkitError) => e,
        );
        const what = `${kind} ${step.op} ${step.tc.join(' ')}`;
        if (viaTc.status === 0) {
          expect([what, mine]).toEqual([what, null]);
        } else {
          // the same refusal, in the kernel's words (tc adds a full stop)
          expect([what, mine]).toEqual([what, expect.any(KernkitError)]);
          expect(viaTc.stderr).toContain((mine as KernkitError).extack ?? (mine as KernkitError).message.replace(/^.*?: /, ''));
        }
        const keep = kind !== 'bfifo'; // bfifo's steps let the kernel pick handles
        expect([what, view(ns, 'kk0', keep)]).toEqual([what, view(ns, 'tc0', keep)]);
      }
      expect(ns.tcJson('qdisc', 'dev', 'kk0').map((x) => x.kind)).toEqual(['noqueue']);
    });
  }
});

describe('qdisc operations', () => {
  ktest('list() decodes options and statistics back', async () => {
    await tc.qdisc.add({ dev: 'kk0', parent: 'root', handle: '1:', kind: 'tbf', options: { rate: '10mbit', burst: '15k', latency: '100ms', peakrate: '20mbit', mtu: 1600 } });
    await tc.qdisc.add({ dev: 'kk1', handle: '2:', kind: 'htb', options: { default: 0x20, r2q: 7, directQlen: 55 } });
    await tc.qdisc.add({ dev: 'tc0', kind: 'pfifo', options: { limit: 9 }, estimator: { interval: '1s', timeConstant: '8s' } });
    const all = await tc.qdisc.list();
    const tbf = all.find((q) => q.dev === 'kk0' && q.kind === 'tbf');
    expect(tbf).toMatchObject({ handle: '1:', parent: 'root', ifindex: ns.ifindex('kk0') });
    // tc's arithmetic gives back what was asked: 15k of burst at 10mbit, the limit from 100ms
    expect(tbf?.options).toEqual({ rate: 10000000, burst: 15360, limit: 140360, peakrate: 20000000, mtu: 1600, mpu: 0, overhead: 0, linklayer: 'ethernet' });
    expect(tbf?.stats).toMatchObject({ bytes: 0n, packets: 0n, drops: 0, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 });
    const htb = all.find((q) => q.dev === 'kk1');
    expect(htb).toMatchObject({ kind: 'htb', handle: '2:', options: { default: 0x20, r2q: 7, directQlen: 55, version: '3.17', offload: false } });
    const fifo = (await tc.qdisc.list({ dev: 'tc0' }))[0];
    expect(fifo).toMatchObject({ kind: 'pfifo', options: { limit: 9 } });
    expect(fifo.stats.rate).toEqual({ bytesPerSecond: expect.any(Number), packetsPerSecond: expect.any(Number) });
    expect(await tc.qdisc.list({ dev: 'kk0', handle: '1:' })).toHaveLength(1);
    expect(await tc.qdisc.list({ dev: 'kk0', handle: '7:' })).toHaveLength(0);
  });

  ktest('replace creates, then swaps the kind in place', async () => {
    await tc.qdisc.replace({ dev: 'kk0', kind: 'pfifo', options: { limit: 10 } });
    expect(ns.tcJson('qdisc', 'dev', 'kk0')[0]).toMatchObject({ kind: 'pfifo', root: true, options: { limit: 10 } });
    await tc.qdisc.replace({ dev: 'kk0', kind: 'tbf', options: { rate: '5mbit', burst: '5k', limit: '20k' } });
    const q = ns.tcJson('qdisc', 'dev', 'kk0')[0];
    expect(q).toMatchObject({ kind: 'tbf', root: true, options: { rate: 625000 } });
    expect((await tc.qdisc.list({ dev: 'kk0' }))[0].options).toMatchObject({ rate: 5000000, limit: 20480 });
  });

  ktest('change alters a tbf in place; htb has no change and the kernel says so', async () => {
    await tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'tbf', options: { rate: '1mbit', burst: '10k', latency: '50ms' } });
    await tc.qdisc.change({ dev: 'kk0', handle: '1:', kind: 'tbf', options: { rate: '3mbit', burst: '10k', latency: '50ms' } });
    expect(ns.tcJson('qdisc', 'dev', 'kk0')[0]).toMatchObject({ kind: 'tbf', handle: '1:', options: { rate: 375000 } });

    await tc.qdisc.add({ dev: 'kk1', handle: '1:', kind: 'htb' });
    const err = await tc.qdisc.change({ dev: 'kk1', handle: '1:', kind: 'htb', options: { default: 5 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernkitError);
    expect(err).toMatchObject({ code: 'EINVAL', extack: 'Change operation not supported by specified qdisc', op: 'qdisc change' });
    ns.tc('qdisc', 'add', 'dev', 'tc0', 'root', 'handle', '1:', 'htb');
    expect(ns.tryTc('qdisc', 'change', 'dev', 'tc0', 'root', 'handle', '1:', 'htb', 'default', '5').stderr).toContain((err as KernkitError).extack);
  });

  ktest('a duplicate add is EEXIST with the kernel’s words', async () => {
    await tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb' });
    await expect(tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb' })).rejects.toMatchObject({
      code: 'EEXIST',
      extack: 'Exclusivity flag on, cannot modify',
      message: 'qdisc add: Exclusivity flag on, cannot modify',
    });
    await tc.qdisc.add({ dev: 'kk0', kind: 'ingress' });
    await expect(tc.qdisc.add({ dev: 'kk0', kind: 'clsact' })).rejects.toMatchObject({ code: 'EEXIST' });
  });

  ktest('delete removes; deleting what is absent is the kernel’s error', async () => {
    await tc.qdisc.add({ dev: 'kk0', handle: '1:', kind: 'htb' });
    await tc.qdisc.delete({ dev: 'kk0', parent: 'root' });
    expect(ns.tcJson('qdisc', 'dev', 'kk0')[0]).toMatchObject({ kind: 'noqueue' });
    // the same deletions through tc fail with the same text
    const absentRoot = await tc.qdisc.delete({ dev: 'kk0' }).catch((e: KernkitError) => e);
    expect(absentRoot).toMatchObject({ code: 'ENOENT', extack: 'Cannot delete qdisc with handle of zero' });
    expect(ns.tryTc('qdisc', 'del', 'dev', 'tc0', 'root').stderr).toContain('Cannot delete qdisc with handle of zero.');

    await tc.qdisc.add({ dev: 'kk0', kind: 'ingress' });
    await tc.qdisc.delete({ dev: 'kk0', kind: 'ingress', parent: 'ingress' });
    expect(ns.tcJson('qdisc', 'dev', 'kk0').map((q) => q.kind)).toEqual(['noqueue']);
    const absentIngress = await tc.qdisc.delete({ dev: 'kk0', parent: 'ingress' }).catch((e: KernkitError) => e);
    expect(absentIngress).toMatchObject({ code: 'EINVAL', extack: 'Invalid handle' });
    ns.tc('qdisc', 'add', 'dev', 'tc0', 'ingress');
    ns.tc('qdisc', 'del', 'dev', 'tc0', 'ingress');
    expect(ns.tryTc('qdisc', 'del', 'dev', 'tc0', 'ingress').stderr).toContain('Invalid handle.');

    const noParent = await tc.qdisc.delete({ dev: 'kk0', parent: '1:1' }).catch((e: KernkitError) => e);
    expect(noParent).toMatchObject({ code: 'ENOENT', extack: 'Failed to find qdisc with specified classid' });
  });

  ktest('devices by index; an unknown name is ENODEV', async () => {
    const idx = ns.ifindex('kk1');
    await tc.qdisc.add({ dev: idx, kind: 'bfifo', options: { limit: 3000 } });
    expect(ns.tcJson('qdisc', 'dev', 'kk1')[0]).toMatchObject({ kind: 'bfifo', options: { limit: 3000 } });
    await expect(tc.qdisc.add({ dev: 'nosuchdev0', kind: 'pfifo' })).rejects.toMatchObject({ code: 'ENODEV', message: expect.stringContaining('nosuchdev0') });
    await expect(tc.qdisc.add({ dev: 999999, kind: 'pfifo' })).rejects.toMatchObject({ code: 'ENODEV' });
  });

  ktest('a device that is recreated under its name is looked up again', async () => {
    await tc.qdisc.add({ dev: 'tc0', kind: 'pfifo' });
    ns.ip('link', 'del', 'tc0');
    ns.addVethPair('tc0', 'tc1');
    await tc.qdisc.add({ dev: 'tc0', kind: 'pfifo', options: { limit: 4 } });
    expect(ns.tcJson('qdisc', 'dev', 'tc0')[0]).toMatchObject({ kind: 'pfifo', options: { limit: 4 } });
  });

  ktest('bad options are refused before anything is sent, naming the option and the range', async () => {
    const bad: Array<[QdiscSpec, string, RegExp]> = [
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '1mbit', latency: '1ms' } as never }, 'EINVAL', /tbf\.burst/],
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '1mbit', burst: '1k', limit: 1, latency: 1 } }, 'EINVAL', /tbf\.latency: 1 \(expected no latency with a limit/],
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '2mbit', burst: '1k', limit: 1, peakrate: '1mbit', mtu: 1500 } }, 'EINVAL', /tbf\.peakrate: "1mbit" \(expected a peak rate above the rate/],
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '1furlong', burst: '1k', limit: 1 } }, 'EINVAL', /tbf\.rate.*unknown unit "furlong"/],
      // tc refuses a zero limit; the kernel would take it and drop everything
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '1mbit', burst: '10k', limit: 0 } }, 'EINVAL', /tbf\.limit: 0 \(expected a non-zero limit/],
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '1mbit', burst: '10k', limit: '0kb' } }, 'EINVAL', /tbf\.limit/],
      // the kernel refuses a zero peak bucket with a bare EINVAL
      [{ dev: 'kk0', kind: 'tbf', options: { rate: '1mbit', burst: '10k', limit: '30k', peakrate: '2mbit', mtu: 0 } }, 'EINVAL', /tbf\.mtu: 0 \(expected a non-zero peak bucket with peakrate\)/],
      [{ dev: 'kk0', kind: 'pfifo', options: { limit: -1 } }, 'EINVAL', /pfifo\.limit/],
      [{ dev: 'kk0', kind: 'pfifo', options: { limit: '5gb' } }, 'ERANGE', /pfifo\.limit: "5gb" \(expected a size of at most/],
      [{ dev: 'kk0', kind: 'pfifo', options: { lmit: 5 } as never }, 'EINVAL', /pfifo\.lmit: unknown option/],
      [{ dev: 'kk0', kind: 'htb', options: { default: 'zz' } }, 'EINVAL', /htb\.default/],
      [{ dev: 'kk0', kind: 'nosuch' as never }, 'EINVAL', /^kind: "nosuch" \(expected one of /],
      [{ dev: 'kk0', kind: 'pfifo', handle: '1:2' }, 'EINVAL', /^handle: "1:2" \(expected /],
      [{ dev: 'kk0', kind: 'pfifo', estimator: { interval: '16s', timeConstant: '1m' as never } }, 'EINVAL', /estimator\.timeConstant/],
      [{ dev: 'kk0', kind: 'pfifo', estimator: { interval: '16s', timeConstant: '64s' } }, 'ERANGE', /estimator\.interval: "16s" \(expected an interval of at most 8s\)/],
    ];
    for (const [spec, code, message] of bad) {
      await expect(tc.qdisc.add(spec)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    }
    // a missing or wrong device is a rejection too, never a synchronous throw
    const missing = tc.qdisc.add({ kind: 'pfifo' } as never);
    await expect(missing).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^dev: undefined \(expected /) });
    await expect(tc.qdisc.delete(null as never)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(tc.qdisc.add({ dev: 'a-name-much-too-long', kind: 'pfifo' })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('1..15 characters') });
    expect(ns.tcJson('qdisc', 'dev', 'kk0').map((q) => q.kind)).toEqual(['noqueue']);
  });
});
