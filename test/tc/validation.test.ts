/**
 * Hostile input (issue 15): every tc entry point refuses what it cannot send
 * as given with a coded KernkitError, before anything reaches the kernel. A
 * NUL byte would cut a name short, a fraction would be truncated, a wrong
 * options object would be ignored or blow up later uncoded.
 */
import { KernkitError, Psched, Tc, formatHandle, formatRate, formatSize, formatTime, makeHandle, parseSize, parseTime, type QdiscSpec } from '../../lib';
import type { CodecContext } from '../../lib/tc/kinds';
import { classRequest, filterRequest, qdiscRequest } from '../../lib/tc/requests';
import { kernelTest } from '../helpers/kernel';
import { tcMissing } from '../helpers/tc';
import { useTestNetns } from './fixture';

const ktest = kernelTest(tcMissing());
const ctx: CodecContext = { psched: Psched.parse('000003e8 00000040 000f4240 3b9aca00'), op: 'test' };

/** The code of what `fn` throws (or of its rejection); fails if it is not a KernkitError. */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KernkitError);
    return (err as KernkitError).code;
  }
  throw new Error('expected a refusal');
}

const notObjects: unknown[] = [null, 5, 'x', Symbol('s'), () => {}, [], true, 1n];

describe('whole numbers for counts, sizes and times (issue 15 §3)', () => {
  const fractions: Array<[string, QdiscSpec]> = [
    ['pfifo limit', { dev: 1, kind: 'pfifo', options: { limit: 1.5 } }],
    ['bfifo limit', { dev: 1, kind: 'bfifo', options: { limit: 1000.5 } }],
    ['tbf burst', { dev: 1, kind: 'tbf', options: { rate: '1mbit', burst: 1.5, limit: 10000 } }],
    ['tbf latency', { dev: 1, kind: 'tbf', options: { rate: '1mbit', burst: 10000, latency: 1.5 } }],
    ['tbf limit', { dev: 1, kind: 'tbf', options: { rate: '1mbit', burst: 10000, limit: 10000.5 } }],
    ['tbf mtu', { dev: 1, kind: 'tbf', options: { rate: '1mbit', burst: 10000, limit: 10000, peakrate: '2mbit', mtu: 1.5 } }],
    ['tbf mpu', { dev: 1, kind: 'tbf', options: { rate: '1mbit', burst: 10000, limit: 10000, mpu: 64.5 } }],
    ['tbf rate in bits/s', { dev: 1, kind: 'tbf', options: { rate: 1000000.5, burst: 10000, limit: 10000 } }],
    ['netem limit', { dev: 1, kind: 'netem', options: { limit: 1.5 } }],
    ['netem delay', { dev: 1, kind: 'netem', options: { delay: 1.5 } }],
    ['netem jitter', { dev: 1, kind: 'netem', options: { delay: 100, jitter: 1.5 } }],
    ['netem gap', { dev: 1, kind: 'netem', options: { delay: 100, reorder: 10, gap: 1.5 } }],
    ['fq limit', { dev: 1, kind: 'fq', options: { limit: 1.5 } }],
    ['fq refillDelay', { dev: 1, kind: 'fq', options: { refillDelay: 1.5 } }],
    ['fq timerSlack', { dev: 1, kind: 'fq', options: { timerSlack: 1.5 } }],
    ['fq horizon', { dev: 1, kind: 'fq', options: { horizon: 1.5 } }],
    ['fq maxrate', { dev: 1, kind: 'fq', options: { maxrate: 1.5 } }],
    ['fq_codel target', { dev: 1, kind: 'fq_codel', options: { target: 1.5 } }],
    ['fq_codel memoryLimit', { dev: 1, kind: 'fq_codel', options: { memoryLimit: 1.5 } }],
    ['estimator interval', { dev: 1, kind: 'pfifo', estimator: { interval: 1.5, timeConstant: '8s' } }],
  ];
  for (const [name, spec] of fractions) {
    test(`${name}: a fraction is EINVAL`, async () => {
      expect(await codeOf(() => qdiscRequest('add', spec, 1, ctx))).toBe('EINVAL');
    });
  }

  test('htb class burst, cburst and rate: a fraction is EINVAL', async () => {
    for (const options of [{ rate: '1mbit', burst: 1.5 }, { rate: '1mbit', cburst: 1600.5 }, { rate: 1000000.5 }, { rate: '1mbit', mtu: 1.5 }]) {
      expect(await codeOf(() => classRequest('add', { dev: 1, classid: '1:10', kind: 'htb', options }, 1, ctx))).toBe('EINVAL');
    }
  });

  test('a fraction in a message names the field and the value', () => {
    expect(() => qdiscRequest('add', { dev: 1, kind: 'pfifo', options: { limit: 1.5 } }, 1, ctx)).toThrow('pfifo.limit: 1.5 (expected an integer from 0 to 4294967295)');
  });

  test('strings with units keep tc’s rounding; whole numbers are taken as they are', () => {
    expect(parseSize('1.5')).toBe(1);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseTime('1.5us')).toBe(1);
    expect(parseSize(4294967295)).toBe(4294967295);
    const limit = (spec: QdiscSpec) => {
      const bytes = qdiscRequest('add', spec, 1, ctx).view();
      return bytes.readUInt32LE(bytes.length - 4); // tc_fifo_qopt, the last attribute
    };
    expect(limit({ dev: 1, kind: 'pfifo', options: { limit: '1.5' } })).toBe(1);
    expect(limit({ dev: 1, kind: 'pfifo', options: { limit: 7 } })).toBe(7);
  });

  test('a negative count is EINVAL, a count beyond its field ERANGE', async () => {
    expect(await codeOf(() => parseSize(-1))).toBe('EINVAL');
    expect(await codeOf(() => parseSize(2 ** 32))).toBe('ERANGE');
    expect(await codeOf(() => parseTime(2 ** 32))).toBe('ERANGE');
  });
});

describe('option objects and specs (issue 15 §4)', () => {
  test('kind options that are not an object, or carry an unknown key, are EINVAL', async () => {
    for (const kind of ['pfifo', 'tbf', 'htb', 'fq', 'fq_codel', 'netem', 'ingress'] as const) {
      for (const options of [...notObjects, { nosuch: 1 }]) {
        expect(await codeOf(() => qdiscRequest('add', { dev: 1, kind, options } as never, 1, ctx))).toBe('EINVAL');
      }
    }
    for (const options of [...notObjects, { rate: '1mbit', nosuch: 1 }]) {
      expect(await codeOf(() => classRequest('add', { dev: 1, classid: '1:10', kind: 'htb', options } as never, 1, ctx))).toBe('EINVAL');
    }
    for (const options of [...notObjects, { nosuch: 1 }]) {
      expect(await codeOf(() => filterRequest('add', { dev: 1, kind: 'u32', options } as never, 1, ctx))).toBe('EINVAL');
    }
  });

  test('specs that are not objects, or carry a key the operation does not take, are EINVAL', async () => {
    for (const spec of [...notObjects, undefined]) {
      expect(await codeOf(() => qdiscRequest('add', spec as never, 1, ctx))).toBe('EINVAL');
      expect(await codeOf(() => classRequest('delete', spec as never, 1, ctx))).toBe('EINVAL');
      expect(await codeOf(() => filterRequest('add', spec as never, 1, ctx))).toBe('EINVAL');
    }
    // a misspelt key would otherwise be left out silently
    expect(() => qdiscRequest('add', { dev: 1, kind: 'pfifo', optoins: { limit: 5 } } as never, 1, ctx)).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^qdisc add\.optoins: unknown option/) }),
    );
    expect(await codeOf(() => qdiscRequest('delete', { dev: 1, options: {} } as never, 1, ctx))).toBe('EINVAL');
    expect(await codeOf(() => classRequest('delete', { dev: 1, classid: '1:10', kind: 'htb' } as never, 1, ctx))).toBe('EINVAL');
  });

  test('estimators, selectors and names are checked as objects and C strings', async () => {
    for (const estimator of [...notObjects, {}, { interval: '1s' }, { interval: '1s', timeConstant: '8s', extra: 1 }]) {
      expect(await codeOf(() => qdiscRequest('add', { dev: 1, kind: 'pfifo', estimator } as never, 1, ctx))).toBe('EINVAL');
    }
    for (const ceThresholdSelector of [null, 5, { value: 1 }, { value: 1, mask: 1, x: 1 }]) {
      expect(await codeOf(() => qdiscRequest('add', { dev: 1, kind: 'fq_codel', options: { ceThresholdSelector } } as never, 1, ctx))).toBe('EINVAL');
    }
    expect(await codeOf(() => filterRequest('add', { dev: 1, kind: 'u32', options: { indev: 'kk0\0junk' } }, 1, ctx))).toBe('EINVAL');
    for (const match of ['x', [null], [5], [{ ip: 'dport', value: 80, mak: 0xff }], [{ ip: 'dst', value: '10.0.0.0/8', mask: 1 }], [{ u32: 1, mask: 1, at: 0, x: 1 }], [{ at: 0 }]]) {
      expect(await codeOf(() => filterRequest('add', { dev: 1, kind: 'u32', options: { match } } as never, 1, ctx))).toBe('EINVAL');
    }
    expect(await codeOf(() => qdiscRequest('delete', { dev: 1, kind: 'pfifo\0junk' } as never, 1, ctx))).toBe('EINVAL');
  });

  test('Tc.open refuses options that are not an object, unknown keys, a bogus psched or burstRounding, before opening anything', async () => {
    for (const options of [...notObjects, { nosuch: 1 }, { psched: 'bogus' }, { psched: {} }, { burstRounding: 'nearest' }, { netns: 5 }, { netns: '' }]) {
      expect(await codeOf(() => Tc.open(options as never))).toBe('EINVAL');
    }
    await expect(Tc.open({ psched: 'bogus' as never })).rejects.toThrow('psched: "bogus" (expected a Psched');
  });

  test('Psched refuses what is not its four numbers', async () => {
    expect(await codeOf(() => new Psched(NaN, 64, 1000000, 1e9))).toBe('EINVAL');
    expect(await codeOf(() => new Psched(1000, 1.5, 1000000, 1e9))).toBe('EINVAL');
    expect(await codeOf(() => new Psched(1000, 0, 1000000, 1e9))).toBe('ERANGE');
    expect(await codeOf(() => new Psched(1000, 64, 1000000, 1e9, 'nearest' as never))).toBe('EINVAL');
    expect(await codeOf(() => Psched.parse('0 40 f4240 3b9aca00'))).toBe('EINVAL');
    expect(await codeOf(() => Psched.read('/proc/net/psched\0junk'))).toBe('EINVAL');
  });
});

describe('pure helpers (issue 15 §5)', () => {
  test('makeHandle takes two whole numbers from 0 to 0xffff', async () => {
    expect(makeHandle(1, 0x10)).toBe(0x10010);
    expect(makeHandle(0xffff, 0xffff)).toBe(0xffffffff);
    expect(await codeOf(() => makeHandle(-1, 0))).toBe('ERANGE');
    expect(await codeOf(() => makeHandle(0x10000, 0))).toBe('ERANGE');
    expect(await codeOf(() => makeHandle(1, 0x10000))).toBe('ERANGE');
    for (const bad of [1.5, NaN, Infinity, '1', {}, null, undefined, 1n, Symbol('s')]) {
      expect(await codeOf(() => makeHandle(bad as never, 0))).toBe('EINVAL');
      expect(await codeOf(() => makeHandle(0, bad as never))).toBe('EINVAL');
    }
    expect(() => makeHandle(1.5, 0)).toThrow('major: 1.5 (expected an integer from 0 to 65535)');
  });

  test('the formatters refuse what is not a whole number in their range, with a code', async () => {
    for (const bad of [1n, Symbol('s'), '1', NaN, 1.5, -1, {}, null]) {
      for (const format of [formatRate, formatSize, formatTime, formatHandle]) {
        expect(await codeOf(() => format(bad as never))).toMatch(/^(EINVAL|ERANGE)$/);
      }
    }
    expect(await codeOf(() => formatHandle(2 ** 32))).toBe('ERANGE');
    expect(await codeOf(() => formatSize(2 ** 32))).toBe('ERANGE');
    expect(formatHandle(0xffffffff)).toBe('root');
    expect(formatSize(1600)).toBe('1600b');
  });
});

describe('on the kernel', () => {
  const fx = useTestNetns();

  ktest('a netns name or path with a NUL byte is EINVAL, not the namespace before it (issue 15 §2)', async () => {
    for (const netns of [`${fx.ns.name}\0junk`, `/var/run/netns/${fx.ns.name}\0junk`]) {
      await expect(Tc.open({ netns })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^netns: .*without NUL bytes\)$/) });
    }
  });

  ktest('a device name with a NUL byte is EINVAL, not the device before it', async () => {
    await expect(fx.tc.qdisc.add({ dev: 'kk0\0junk', kind: 'pfifo' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(fx.tc.qdisc.list({ dev: 'kk0\0junk' })).rejects.toMatchObject({ code: 'EINVAL' });
    expect(fx.ns.tcJson('qdisc', 'dev', 'kk0').map((q) => q.kind)).toEqual(['noqueue']);
  });

  ktest('list filters that are not objects, or carry unknown keys, are EINVAL (issue 15 §4)', async () => {
    for (const filter of [...notObjects, { dev: 'kk0', nosuch: 1 }]) {
      expect(await codeOf(() => fx.tc.qdisc.list(filter as never))).toBe('EINVAL');
      expect(await codeOf(() => fx.tc.class.list(filter as never))).toBe('EINVAL');
      expect(await codeOf(() => fx.tc.filter.list(filter as never))).toBe('EINVAL');
    }
    for (const list of [() => fx.tc.class.list(undefined as never), () => fx.tc.filter.list({} as never), () => fx.tc.qdisc.list({ invisible: 1 as never })]) {
      expect(await codeOf(list)).toBe('EINVAL');
    }
    expect(await codeOf(() => fx.tc.filter.list({ dev: 'kk0', prio: 1.5 }))).toBe('EINVAL');
    expect((await fx.tc.qdisc.list()).length).toBeGreaterThan(0);
  });

  ktest('listing a device that is gone is ENODEV, by index and by a cached name (issue 15 §6)', async () => {
    fx.ns.addVethPair('kk2', 'kk3');
    const index = fx.ns.ifindex('kk2');
    expect(await fx.tc.class.list({ dev: 'kk2' })).toEqual([]); // the name is cached now
    fx.ns.ip('link', 'del', 'kk2');
    for (const dev of [index, 'kk2']) {
      await expect(fx.tc.class.list({ dev })).rejects.toMatchObject({ code: 'ENODEV', message: expect.stringContaining('no such device') });
      await expect(fx.tc.filter.list({ dev })).rejects.toMatchObject({ code: 'ENODEV' });
      await expect(fx.tc.qdisc.list({ dev })).rejects.toMatchObject({ code: 'ENODEV' });
    }
    // a device with nothing on it still lists as empty
    expect(await fx.tc.class.list({ dev: 'kk0' })).toEqual([]);
    expect(await fx.tc.filter.list({ dev: fx.ns.ifindex('kk0') })).toEqual([]);
  });

  ktest('a name whose device was replaced lists the new device', async () => {
    fx.ns.addVethPair('kk2', 'kk3');
    expect(await fx.tc.class.list({ dev: 'kk2' })).toEqual([]);
    fx.ns.ip('link', 'del', 'kk2');
    fx.ns.addVethPair('kk2', 'kk3');
    fx.ns.tc('qdisc', 'add', 'dev', 'kk2', 'root', 'handle', '1:', 'htb');
    fx.ns.tc('class', 'add', 'dev', 'kk2', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '1mbit');
    expect(await fx.tc.class.list({ dev: 'kk2' })).toEqual([expect.objectContaining({ classid: '1:1', ifindex: fx.ns.ifindex('kk2') })]);
  });

  ktest('closed, and Symbol.asyncDispose closes', async () => {
    const other = await Tc.open({ netns: fx.ns.name });
    expect(other.closed).toBe(false);
    await other[Symbol.asyncDispose]();
    expect(other.closed).toBe(true);
    await expect(other.qdisc.list({ dev: 'kk0' })).rejects.toBeInstanceOf(KernkitError);
    await other.close(); // twice is fine
  });
});
