/**
 * u32 filters through kernkit on the real kernel, checked against the same
 * filters made by tc on a twin device (`tc filter show` text: iproute2 6.1's
 * JSON for u32 repeats keys and is not valid JSON).
 */
import { KernkitError, Tc, type FilterSpec, type U32Info } from '../../lib';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

let ns: TestNetns;
let tc: Tc;

function filterText(dev: string, parent = '1:'): string {
  return ns.tc('filter', 'show', 'dev', dev, 'parent', parent);
}

beforeEach(async () => {
  if (tcMissing()) return;
  ns = TestNetns.create('kk0', 'kk1');
  ns.addVethPair('tc0', 'tc1');
  tc = await Tc.open({ netns: ns.name });
  for (const dev of ['kk0', 'tc0']) {
    ns.tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '20');
    ns.tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '1mbit');
    ns.tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '1mbit');
  }
});

afterEach(async () => {
  await tc?.close();
  ns?.remove();
});

afterAll(removeAllNamespaces);

type Case = [string, string[], Omit<FilterSpec, 'dev'>];

const cases: Case[] = [
  [
    'ip dst prefix and dport to a class',
    ['protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', '10.1.0.0/16', 'match', 'ip', 'dport', '5001', '0xffff', 'flowid', '1:10'],
    { parent: '1:', protocol: 'ip', prio: 1, kind: 'u32', options: { match: [{ ip: 'dst', value: '10.1.0.0/16' }, { ip: 'dport', value: 5001, mask: 0xffff }], classid: '1:10' } },
  ],
  [
    'ip src host, sport and protocol share words',
    ['protocol', 'ip', 'prio', '2', 'u32', 'match', 'ip', 'src', '192.168.7.9', 'match', 'ip', 'sport', '53', '0xffff', 'match', 'ip', 'protocol', '17', '0xff', 'flowid', '1:20'],
    {
      parent: '1:',
      protocol: 'ip',
      prio: 2,
      kind: 'u32',
      options: { match: [{ ip: 'src', value: '192.168.7.9' }, { ip: 'sport', value: 53 }, { ip: 'protocol', value: 'udp' }], classid: '1:20' },
    },
  ],
  [
    'sport and dport merge into one key',
    ['protocol', 'ip', 'prio', '3', 'u32', 'match', 'ip', 'sport', '1024', '0xfc00', 'match', 'ip', 'dport', '80', '0xffff', 'classid', '1:10'],
    { parent: '1:', protocol: 'ip', prio: 3, kind: 'u32', options: { match: [{ ip: 'sport', value: 1024, mask: 0xfc00 }, { ip: 'dport', value: 80 }], classid: '1:10' } },
  ],
  [
    'raw u32, u16, u8 and tos',
    ['protocol', 'ip', 'prio', '4', 'u32', 'match', 'u32', '0x45000000', '0xff000000', 'at', '0', 'match', 'u16', '0x0800', '0xffff', 'at', '6', 'match', 'u8', '0x40', '0xf0', 'at', '8', 'match', 'ip', 'tos', '0x10', '0xff', 'flowid', '1:20'],
    {
      parent: '1:',
      protocol: 'ip',
      prio: 4,
      kind: 'u32',
      options: { match: [{ u32: 0x45000000, mask: 0xff000000, at: 0 }, { u16: 0x0800, mask: 0xffff, at: 6 }, { u8: 0x40, mask: 0xf0, at: 8 }, { ip: 'tos', value: 0x10 }], classid: '1:20' },
    },
  ],
  ['protocol all by default, a hash table', ['prio', '5', 'handle', '2:', 'u32', 'divisor', '16'], { parent: '1:', prio: 5, handle: '2:', kind: 'u32', options: { divisor: 16 } }],
];

describe('u32 filter add: the kernel holds what tc would make', () => {
  for (const [name, tcArgs, spec] of cases) {
    ktest(name, async () => {
      ns.tc('filter', 'add', 'dev', 'tc0', 'parent', '1:', ...tcArgs);
      const r = await tc.filter.add({ dev: 'kk0', ...spec } as FilterSpec);
      expect(r.warnings).toEqual([]);
      const mine = filterText('kk0');
      expect(mine).toBe(filterText('tc0'));
      expect(mine).toContain(`pref ${spec.prio} u32`);
    });
  }
});

describe('u32 filter operations', () => {
  ktest('list() decodes handles, keys and the class', async () => {
    await tc.filter.add({ dev: 'kk0', parent: '1:', protocol: 'ip', prio: 1, kind: 'u32', options: { match: [{ ip: 'dst', value: '10.1.0.0/16' }, { ip: 'dport', value: 5001 }], classid: '1:10' } });
    const filters = await tc.filter.list({ dev: 'kk0', parent: '1:' });
    // the hash table u32 makes for the priority, then the rule
    expect(filters.map((f) => f.handle)).toEqual(['800:', '800::800']);
    const rule = filters[1];
    expect(rule).toMatchObject({ dev: 'kk0', kind: 'u32', parent: '1:', prio: 1, protocol: 'ip', chain: 0 });
    const options = rule.options as U32Info;
    expect(options).toMatchObject({ handle: '800::800', classid: '1:10', terminal: true });
    expect(options.keys).toEqual([
      { value: 0x0a010000, mask: 0xffff0000, at: 16, offmask: 0 },
      { value: 5001, mask: 0xffff, at: 20, offmask: 0 },
    ]);
    expect((filters[0].options as U32Info).divisor).toBe(1);
    expect(await tc.filter.list({ dev: 'kk0', parent: '1:', prio: 9 })).toEqual([]);
  });

  ktest('delete one filter by handle, a whole priority, and what is absent', async () => {
    const base = { dev: 'kk0', parent: '1:', protocol: 'ip', prio: 1, kind: 'u32' } as const;
    await tc.filter.add({ ...base, handle: '800::10', options: { match: [{ ip: 'dport', value: 1 }], classid: '1:10' } });
    await tc.filter.add({ ...base, handle: '800::11', options: { match: [{ ip: 'dport', value: 2 }], classid: '1:10' } });
    await expect(tc.filter.add({ ...base, handle: '800::11', options: { match: [{ ip: 'dport', value: 2 }], classid: '1:10' } })).rejects.toMatchObject({ code: 'EEXIST' });
    await tc.filter.delete({ ...base, handle: '800::10' });
    expect((await tc.filter.list({ dev: 'kk0', parent: '1:' })).map((f) => f.handle)).toEqual(['800:', '800::11']);
    const absent = await tc.filter.delete({ ...base, handle: '800::99' }).catch((e: KernkitError) => e);
    expect(absent).toMatchObject({ code: 'ENOENT', extack: 'Specified filter handle not found' });
    const noPrio = await tc.filter.delete({ dev: 'kk0', parent: '1:', prio: 7 }).catch((e: KernkitError) => e);
    expect(noPrio).toMatchObject({ code: 'ENOENT', extack: 'Filter with specified priority/protocol not found' });
    await tc.filter.delete({ dev: 'kk0', parent: '1:', prio: 1 });
    expect(filterText('kk0')).toBe('');
    // with the last filter gone, so is the chain
    const noChain = await tc.filter.delete({ dev: 'kk0', parent: '1:', prio: 1 }).catch((e: KernkitError) => e);
    expect(noChain).toMatchObject({ code: 'ENOENT', extack: 'Cannot find specified filter chain' });
    expect(ns.tryTc('filter', 'del', 'dev', 'tc0', 'parent', '1:', 'prio', '1').stderr).toContain((noChain as KernkitError).extack);
  });

  ktest('replace changes a filter in place, as the kernel allows (u32 keeps its keys)', async () => {
    const base = { dev: 'kk0', parent: '1:', protocol: 'ip', prio: 1, kind: 'u32', handle: '800::5' } as const;
    await tc.filter.add({ ...base, options: { match: [{ ip: 'dport', value: 80 }], classid: '1:10' } });
    await tc.filter.replace({ ...base, options: { match: [{ ip: 'dport', value: 443 }], classid: '1:20' } });
    const tail = ['protocol', 'ip', 'prio', '1', 'handle', '800::5', 'u32', 'match', 'ip', 'dport'];
    ns.tc('filter', 'add', 'dev', 'tc0', 'parent', '1:', ...tail, '80', '0xffff', 'flowid', '1:10');
    ns.tc('filter', 'replace', 'dev', 'tc0', 'parent', '1:', ...tail, '443', '0xffff', 'flowid', '1:20');
    const text = filterText('kk0');
    expect(text).toBe(filterText('tc0'));
    expect(text).toMatch(/fh 800::5 .*flowid 1:20/);
    expect(text).toMatch(/match 00000050\/0000ffff at 20/);
  });

  ktest('filters on clsact ingress and egress', async () => {
    await tc.qdisc.add({ dev: 'kk1', kind: 'clsact' });
    await tc.filter.add({ dev: 'kk1', parent: 'ingress', protocol: 'ip', prio: 10, kind: 'u32', options: { match: [{ ip: 'protocol', value: 'icmp' }] } });
    await tc.filter.add({ dev: 'kk1', parent: 'egress', protocol: 'ip', prio: 20, kind: 'u32', options: { match: [{ ip: 'dst', value: '10.0.0.0/8' }] } });
    expect(ns.tc('filter', 'show', 'dev', 'kk1', 'ingress')).toMatch(/pref 10 u32 .*\n.*\n.*match 00010000\/00ff0000 at 8/);
    expect(ns.tc('filter', 'show', 'dev', 'kk1', 'egress')).toMatch(/pref 20 u32/);
    expect((await tc.filter.list({ dev: 'kk1', parent: 'ingress' })).map((f) => [f.prio, f.handle])).toEqual([
      [10, '800:'],
      [10, '800::800'],
    ]);
  });

  ktest('bad matches are refused before sending', async () => {
    const bad: Array<[FilterSpec['options'], RegExp]> = [
      [{ match: [{ ip: 'dst', value: '10.0.0.0/33' }] }, /u32\.match\[0\]\.value.*prefix length/],
      [{ match: [{ ip: 'src', value: '::1' }] }, /IPv4/],
      [{ match: [{ ip: 'dport', value: 70000 }] }, /u32\.match\[0\]\.value: 70000 \(expected an integer from 0 to 65535\)/],
      [{ match: [{ ip: 'dport', value: 80 }, { ip: 'dport', value: 81 }] }, /u32\.match\[1\].*agrees with the earlier ones/],
      [{ match: [{ u32: 1, mask: 1, at: 2 }] }, /multiple of 4/],
      [{ divisor: 3 }, /u32\.divisor.*power of two/],
      [{ classid: '1:x' }, /u32\.classid/],
      [{ match: [{ ip: 'ttl', value: 1 } as never] }, /one of src, dst/],
    ];
    for (const [options, message] of bad) {
      await expect(tc.filter.add({ dev: 'kk0', parent: '1:', protocol: 'ip', prio: 1, kind: 'u32', options })).rejects.toMatchObject({ code: expect.stringMatching(/EINVAL|ERANGE/), message: expect.stringMatching(message) });
    }
    expect(filterText('kk0')).toBe('');
  });
});
