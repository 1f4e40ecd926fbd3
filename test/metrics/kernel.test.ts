/**
 * The I/O kinds on the real kernel: a Cgroup's stats (files read off the
 * event loop) and a device's tc qdiscs and classes (a netlink dump), as
 * metrics that match what the objects report, accepted by promtool; a source
 * that fails (a closed Tc) is skipped and counted.
 */
import { Cgroup, Registry, Tc, type MetricFamily } from '../../lib';
import { GroupJanitor, cgroupMissing } from '../helpers/cgroup';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';
import { expectPromtoolClean, promtoolMissing } from './promtool';

const janitor = new GroupJanitor();
afterEach(() => janitor.cleanup());
afterAll(removeAllNamespaces);

function family(families: MetricFamily[], name: string): MetricFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name} in ${families.map((x) => x.name).join(', ')}`);
  return f;
}

describe('Cgroup', () => {
  const kernel = kernelTest(cgroupMissing({ controllers: ['memory', 'pids', 'cpuacct'] }) ?? promtoolMissing());

  kernel('memory and task limits, usage and CPU time, labelled with the group path', async () => {
    const cg = await Cgroup.create(janitor.name(), { memory: { max: 64 * 1024 * 1024 }, pids: { max: 32 } });
    const r = new Registry();
    r.register(cg, { name: 'job', help: 'The job group' });
    const fams = await r.collect();
    const stats = await cg.stats();
    const labels = { cgroup: cg.path };
    expect(family(fams, 'job_memory_limit_bytes')).toMatchObject({ type: 'gauge', unit: 'bytes', samples: [{ labels, value: 64 * 1024 * 1024 }] });
    expect(family(fams, 'job_pids_limit').samples).toEqual([{ labels, value: 32 }]);
    expect(family(fams, 'job_pids_current').samples).toEqual([{ labels, value: stats.pids.current }]);
    expect(family(fams, 'job_cpu_usage_seconds')).toMatchObject({ type: 'counter', unit: 'seconds', samples: [{ labels }] });
    expect(family(fams, 'job_memory_usage_bytes').samples).toHaveLength(1);
    // A figure the layout lacks has no sample, never a made-up zero.
    const nulls = [stats.pressure === null ? 'job_pressure_waiting_seconds' : null].filter((x): x is string => x !== null);
    for (const name of nulls) expect(family(fams, name).samples).toEqual([]);
    expectPromtoolClean(await r.metrics());
  });

  kernel('an unlimited group exposes its limits as +Inf', async () => {
    const cg = await Cgroup.create(janitor.name(), { memory: { max: 'max' }, pids: { max: 'max' } });
    const r = new Registry();
    r.register(cg, { name: 'job', help: 'The job group' });
    const text = await r.metrics();
    expect(text).toContain(`job_memory_limit_bytes{cgroup="${cg.path}"} +Inf\n`);
    expect(text).toContain(`job_pids_limit{cgroup="${cg.path}"} +Inf\n`);
    expectPromtoolClean(text);
  });
});

describe('Tc', () => {
  const kernel = kernelTest(tcMissing() ?? promtoolMissing());

  kernel('qdiscs and htb classes of one device, with their labels and htb statistics; a closed Tc is counted', async () => {
    const ns = TestNetns.create('kk0', 'kk1');
    let tc: Tc | undefined;
    try {
      ns.tc('qdisc', 'add', 'dev', 'kk0', 'root', 'handle', '1:', 'htb', 'default', '10');
      ns.tc('class', 'add', 'dev', 'kk0', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10mbit');
      tc = await Tc.open({ netns: ns.name });
      const r = new Registry();
      r.register(tc, { name: 'net', help: 'Traffic control', dev: 'kk0' });
      const listed = await tc.qdisc.list({ dev: 'kk0' });
      const fams = await r.collect();
      const root = { dev: 'kk0', kind: 'htb', handle: '1:', parent: 'root' };
      const packets = family(fams, 'net_qdisc_packets');
      expect(packets.type).toBe('counter');
      expect(packets.samples.map((s) => s.labels)).toEqual(listed.map((q) => ({ dev: q.dev, kind: q.kind, handle: q.handle, parent: q.parent })));
      expect(packets.samples.map((s) => s.labels)).toContainEqual(root);
      const rootListed = listed.find((q) => q.handle === '1:')!;
      const rootPackets = packets.samples.find((s) => s.labels?.handle === '1:')!.value as bigint;
      expect(rootPackets).toBeGreaterThanOrEqual(rootListed.stats.packets); // counters only grow between the two dumps
      const cls = { dev: 'kk0', kind: 'htb', classid: '1:10', parent: 'root' };
      expect(family(fams, 'net_class_bytes').samples.map((s) => s.labels)).toContainEqual(cls);
      expect(family(fams, 'net_class_tokens')).toMatchObject({ type: 'gauge', samples: [{ labels: cls, value: expect.any(Number) }] });
      expect(family(fams, 'net_class_lends').samples).toEqual([{ labels: cls, value: expect.any(Number) }]);
      expectPromtoolClean(await r.metrics());

      await tc.close();
      const after = await r.metrics();
      expect(after).toContain('kernkit_scrape_errors_total{collector="net",reason="error"} 1\n');
      expect(after).not.toContain('net_qdisc_packets_total{');
    } finally {
      await tc?.close();
      ns.remove();
    }
  });

  test('a Tc registration needs the device (EINVAL naming options.dev)', async () => {
    const r = new Registry();
    const fakeTc = Object.create(Tc.prototype) as Tc;
    expect(() => r.register(fakeTc, { name: 'net', help: 'x' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.dev: undefined/) }));
    expect(() => r.register(fakeTc, { name: 'net', help: 'x', dev: 'a\0b' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.dev: /) }));
    expect(() => r.register(fakeTc, { name: 'net', help: 'x', dev: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.dev: 0/) }));
  });
});
