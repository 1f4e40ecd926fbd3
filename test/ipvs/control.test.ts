/**
 * The control plane: services and real servers with the kernel's validation,
 * errno and list order (ip_vs_ctl.c), zero, flush and the trash.
 */
import { Ipvs, IpvsManualClock, type DestInfo } from '../../lib/ipvs';
import fc from 'fast-check';
import { KernkitError } from '../../lib/errors';

const web = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;

function refused(fn: () => unknown, code: string, field: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KernkitError);
  expect((err as KernkitError).code).toBe(code);
  expect((err as KernkitError).message).toMatch(field);
}

const names = (ds: DestInfo[]) => ds.map((d) => `${d.address}:${d.port}`);

describe('services', () => {
  let ipvs: Ipvs;
  beforeEach(() => {
    ipvs = new Ipvs({ clock: 'manual', stats: false });
  });
  afterEach(() => ipvs.close());

  test('add, look up, edit, delete; IPv6 and fwmark keys', () => {
    const svc = ipvs.addService(web, { scheduler: 'rr' });
    expect(ipvs.service(web)).toBe(svc);
    expect(svc.schedulerName).toBe('rr');
    ipvs.addService({ protocol: 'udp', address: '2001:db8:0:0::1', port: 53 });
    ipvs.addService({ fwmark: 7 }, { scheduler: 'sh', flags: ['sh-port'] });
    expect(ipvs.services().map((s) => s.key)).toEqual([web, { protocol: 'udp', address: '2001:db8::1', port: 53 }, { fwmark: 7, family: 4 }]);
    ipvs.editService(web, { scheduler: 'wlc' });
    expect(svc.schedulerName).toBe('wlc');
    ipvs.deleteService(web);
    expect(svc.deleted).toBe(true);
    expect(ipvs.hasService(web)).toBe(false);
  });

  test("the kernel's errno: EEXIST, ESRCH, ENOENT scheduler, EINVAL IPv6 prefix, EFAULT protocol", () => {
    ipvs.addService(web);
    refused(() => ipvs.addService(web), 'EEXIST', /^key: tcp 10\.0\.0\.1:80 /);
    refused(() => ipvs.editService({ ...web, port: 81 }, {}), 'ESRCH', /^key: /);
    refused(() => ipvs.deleteService({ fwmark: 9 }), 'ESRCH', /fwmark 9/);
    refused(() => ipvs.addService({ ...web, port: 82 }, { scheduler: 'wlcx' as 'wlc' }), 'ENOENT', /^options\.scheduler: "wlcx"/);
    refused(() => ipvs.addService({ protocol: 'tcp', address: '::1', port: 80 }, { persistent: { prefixLength: 0 } }), 'EINVAL', /prefixLength: 0/);
    refused(() => ipvs.addService({ protocol: 'icmp' as 'tcp', address: '10.0.0.9', port: 1 }), 'EFAULT', /^key\.protocol: "icmp"/);
    refused(() => ipvs.addService({ ...web, port: 65536 }), 'ERANGE', /^key\.port: 65536/);
    refused(() => ipvs.addService({ ...web, address: '10.0.0' }), 'EINVAL', /^key\.address: "10\.0\.0"/);
    refused(() => ipvs.addService({ ...web, port: 83 }, { bogus: 1 } as object), 'EINVAL', /bogus/);
    refused(() => ipvs.addService({ ...web, port: 84 }, 'wlc' as never), 'EINVAL', /^options: "wlc"/);
    expect(ipvs.services()).toHaveLength(1); // nothing was added by the refused calls
  });

  test('a refused edit leaves the service as it was', () => {
    const svc = ipvs.addService(web, { scheduler: 'rr', persistent: { timeout: 60 } });
    refused(() => ipvs.editService(web, { scheduler: 'rr', persistent: { timeout: 0 } }), 'ERANGE', /timeout: 0/);
    refused(() => ipvs.editService(web, { scheduler: 'nope' as 'rr' }), 'ENOENT', /scheduler/);
    expect(svc.schedulerName).toBe('rr');
    expect(svc.settings.timeoutMs).toBe(60_000);
  });

  test('mh refuses more servers than table slots at bind time (EINVAL) and the old scheduler stays', () => {
    const t = new Ipvs({ clock: 'manual', stats: false, mhTableIndex: 8 });
    const svc = t.addService(web, { scheduler: 'rr' });
    for (let i = 0; i < 252; i++) t.addDest(svc, { address: `10.1.${i >> 8}.${(i & 255) + 1}` });
    refused(() => t.editService(svc, { scheduler: 'mh' }), 'EINVAL', /at most 251/);
    expect(svc.schedulerName).toBe('rr');
    t.close();
  });
});

describe('real servers', () => {
  let ipvs: Ipvs;
  beforeEach(() => {
    ipvs = new Ipvs({ clock: 'manual', stats: false });
    ipvs.addService(web, { scheduler: 'wlc' });
  });
  afterEach(() => ipvs.close());

  test('a new server goes to the head of the list', () => {
    ipvs.addDest(web, { address: '10.0.0.2', port: 8080 });
    ipvs.addDest(web, { address: '10.0.0.3' }); // port defaults to the service's
    ipvs.addDest(web, { address: '10.0.0.4', port: 8080, weight: 3, forwarding: 'masq' });
    expect(names(ipvs.dests(web))).toEqual(['10.0.0.4:8080', '10.0.0.3:80', '10.0.0.2:8080']);
    expect(ipvs.dests(web)[0]).toMatchObject({ weight: 3, forwarding: 'masq', activeConns: 0, inactConns: 0, available: true });
  });

  test("the kernel's errno: ERANGE weight and thresholds, EINVAL GUE port 0 and non-unicast, EEXIST, ENOENT", () => {
    ipvs.addDest(web, { address: '10.0.0.2', weight: 2 });
    refused(() => ipvs.addDest(web, { address: '10.0.0.3', weight: -1 }), 'ERANGE', /^dest\.weight: -1/);
    refused(() => ipvs.addDest(web, { address: '10.0.0.3', upperThreshold: 5, lowerThreshold: 6 }), 'ERANGE', /lowerThreshold: 6/);
    refused(() => ipvs.addDest(web, { address: '10.0.0.3', forwarding: 'tunnel', tunnel: { type: 'gue' } }), 'EINVAL', /tunnel\.port: 0/);
    refused(() => ipvs.addDest(web, { address: '224.0.0.1' }), 'EINVAL', /unicast/);
    refused(() => ipvs.addDest(web, { address: '10.0.0.2', weight: 5 }), 'EEXIST', /10\.0\.0\.2:80/);
    refused(() => ipvs.editDest(web, { address: '10.0.0.9', weight: 5 }), 'ENOENT', /10\.0\.0\.9:80/);
    refused(() => ipvs.deleteDest(web, { address: '10.0.0.9' }), 'ENOENT', /10\.0\.0\.9:80/);
    refused(() => ipvs.addDest({ ...web, port: 81 }, { address: '10.0.0.3' }), 'ESRCH', /^key: /);
    refused(() => ipvs.addDest(web, { address: '2001:db8::5' }), 'EINVAL', /tunnel/); // mixed family needs tunnel
    expect(ipvs.dests(web)).toEqual([expect.objectContaining({ address: '10.0.0.2', weight: 2 })]);
  });

  test('edit keeps what it is not given; a larger or zero upper threshold clears OVERLOAD', () => {
    const svc = ipvs.service(web);
    ipvs.addDest(web, { address: '10.0.0.2', weight: 2, upperThreshold: 1 });
    const c = svc.schedule({ address: '192.0.2.1', port: 1000 });
    expect(ipvs.dests(web)[0].overloaded).toBe(true); // 1 connection >= upper threshold 1
    ipvs.editDest(web, { address: '10.0.0.2', upperThreshold: 1 });
    expect(ipvs.dests(web)[0]).toMatchObject({ overloaded: true, weight: 2 }); // same threshold: flag stays
    ipvs.editDest(web, { address: '10.0.0.2', upperThreshold: 5 });
    expect(ipvs.dests(web)[0]).toMatchObject({ overloaded: false, upperThreshold: 5, weight: 2 });
    c?.close();
  });

  test('a deleted server with connections waits in the trash and is revived with its counts', () => {
    const clock = ipvs.clock as IpvsManualClock;
    const svc = ipvs.service(web);
    ipvs.addDest(web, { address: '10.0.0.2', weight: 1 });
    const conn = svc.schedule({ address: '192.0.2.1', port: 1000 });
    ipvs.deleteDest(web, { address: '10.0.0.2' });
    expect(ipvs.dests(web)).toEqual([]);
    expect(ipvs.trash()).toEqual([expect.objectContaining({ address: '10.0.0.2', inactConns: 1, available: false })]);
    ipvs.advance(10 * 60_000);
    expect(clock.now()).toBe(10 * 60_000);
    expect(ipvs.trash()).toHaveLength(1); // still referenced by the connection
    expect(() => new Ipvs({ stats: false }).advance(1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    ipvs.addDest(web, { address: '10.0.0.2', weight: 4 });
    expect(ipvs.trash()).toEqual([]);
    expect(ipvs.dests(web)[0]).toMatchObject({ inactConns: 1, weight: 4, available: true });
    conn?.close();
    expect(ipvs.dests(web)[0].inactConns).toBe(0);
  });

  test('the trash frees an unreferenced server after the timer saw it idle for 120 s', () => {
    const clock = ipvs.clock as IpvsManualClock;
    ipvs.addDest(web, { address: '10.0.0.2' });
    ipvs.deleteDest(web, { address: '10.0.0.2' });
    clock.advance(60_000); // first run: idle_start = now
    expect(ipvs.trash()).toHaveLength(1);
    clock.advance(60_000); // run at 120 s: 120 < 60 + 120
    expect(ipvs.trash()).toHaveLength(1);
    clock.advance(60_000); // run at 180 s: idle 120 s, freed
    expect(ipvs.trash()).toHaveLength(0);
    ipvs.addDest(web, { address: '10.0.0.2' }); // a fresh server now
    expect(ipvs.dests(web)[0].inactConns).toBe(0);
  });

  test('deleting a service trashes its servers; flush deletes every service', () => {
    ipvs.addDest(web, { address: '10.0.0.2' });
    ipvs.addService({ fwmark: 1 });
    ipvs.addDest({ fwmark: 1 }, { address: '10.0.0.3' });
    ipvs.flush();
    expect(ipvs.services()).toEqual([]);
    expect(ipvs.trash().map((d) => d.address).sort()).toEqual(['10.0.0.2', '10.0.0.3']);
  });
});

describe('bad input everywhere', () => {
  test('any refused call is a KernkitError and leaves the table as it was', () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false });
    ipvs.restore('-A -t 10.0.0.1:80 -s wrr -p 60\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 2 -x 10 -y 5\n');
    const before = ipvs.save();
    const junk = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer({ min: -5, max: 70000 }), fc.string(), fc.double(), fc.boolean(), fc.constant({}), fc.constant([]));
    const spec = fc.record({ address: fc.oneof(fc.constant('10.0.0.2'), fc.constant('10.0.0.3'), junk), port: junk, weight: junk, upperThreshold: junk, lowerThreshold: junk, forwarding: junk }, { requiredKeys: [] });
    const opts = fc.record({ scheduler: junk, persistent: fc.oneof(junk, fc.record({ timeout: junk, netmask: junk, prefixLength: junk }, { requiredKeys: [] })), onePacket: junk, flags: junk }, { requiredKeys: [] });
    fc.assert(
      fc.property(spec, opts, (d, o) => {
        const calls = [
          () => ipvs.addDest(web, d as never),
          () => ipvs.editService(web, o as never),
          () => ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 }, o as never),
        ];
        for (const call of calls) {
          try {
            call();
          } catch (e) {
            expect(e).toBeInstanceOf(KernkitError);
            expect((e as KernkitError).message).toMatch(/^[\w.[\]]+: /);
            continue;
          }
          // A call that was accepted: undo it so the next case starts from the same table.
          ipvs.flush();
          ipvs.restore(before);
        }
        expect(ipvs.save()).toBe(before);
      }),
      { numRuns: 200 },
    );
    ipvs.close();
  });
});
