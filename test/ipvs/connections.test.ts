/**
 * Connections bind as ip_vs_bind_dest does (inactive first), the OVERLOAD
 * threshold rules of ip_vs_bind_dest/ip_vs_unbind_dest, and persistence
 * templates as ip_vs_sched_persist keys and expires them.
 */
import { Ipvs, IpvsManualClock, type Connection } from '../../lib/ipvs';
import { CounterSet, type CounterSetHandle } from '../../lib/percpu';

const web = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;

function table(opts: ConstructorParameters<typeof Ipvs>[0] = {}) {
  const ipvs = new Ipvs({ clock: 'manual', stats: false, ...opts });
  return { ipvs, clock: ipvs.clock as IpvsManualClock };
}

describe('binding and state', () => {
  test('a connection starts inactive; established() makes TCP active, closing() inactive, close() unbinds', () => {
    const { ipvs } = table();
    const svc = ipvs.addService(web);
    ipvs.addDest(web, { address: '10.0.0.2' });
    const c = svc.schedule({ address: '192.0.2.1', port: 1000 }) as Connection;
    expect(c.dest).toEqual({ address: '10.0.0.2', port: 80 });
    expect(ipvs.dests(web)[0]).toMatchObject({ activeConns: 0, inactConns: 1 });
    c.established();
    expect(ipvs.dests(web)[0]).toMatchObject({ activeConns: 1, inactConns: 0 });
    c.closing();
    expect(ipvs.dests(web)[0]).toMatchObject({ activeConns: 0, inactConns: 1 });
    c.established();
    c.close();
    c.close();
    expect(c.closed).toBe(true);
    expect(ipvs.dests(web)[0]).toMatchObject({ activeConns: 0, inactConns: 0 });
    expect(() => c.established()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    ipvs.close();
  });

  test('UDP stays inactive; one-packet applies to UDP; client port 20 is never scheduled', () => {
    const { ipvs } = table();
    const dns = ipvs.addService({ protocol: 'udp', address: '10.0.0.1', port: 53 }, { onePacket: true, scheduler: 'rr' });
    ipvs.addDest(dns, { address: '10.0.0.2' });
    const c = dns.schedule({ address: '192.0.2.1', port: 5353 }) as Connection;
    c.established();
    expect(c.state).toBe('inactive');
    expect(c.onePacket).toBe(true);
    expect(dns.schedule({ address: '192.0.2.1', port: 20 })).toBeNull();
    ipvs.close();
  });

  test('a deleted service schedules nothing (ESRCH); a client of the other family is EINVAL', () => {
    const { ipvs } = table();
    const svc = ipvs.addService(web);
    expect(() => svc.schedule({ address: '2001:db8::1', port: 1 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    ipvs.deleteService(svc);
    expect(() => svc.schedule({ address: '192.0.2.1', port: 1 })).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    ipvs.close();
  });
});

describe('thresholds', () => {
  function overloadRun(upper: number, lower: number) {
    const { ipvs } = table();
    const svc = ipvs.addService(web, { scheduler: 'wlc' });
    ipvs.addDest(web, { address: '10.0.0.2', upperThreshold: upper, lowerThreshold: lower });
    const conns: Connection[] = [];
    const flags: boolean[] = [];
    for (let i = 0; i < upper; i++) {
      conns.push(svc.schedule({ address: '192.0.2.1', port: 1000 + i }) as Connection);
      flags.push(ipvs.dests(web)[0].overloaded);
    }
    const blocked = svc.schedule({ address: '192.0.2.1', port: 2000 });
    const after: boolean[] = [];
    for (const c of conns) {
      c.close();
      after.push(ipvs.dests(web)[0].overloaded);
    }
    ipvs.close();
    return { flags, blocked, after };
  }

  test('OVERLOAD at total >= upper; with a lower threshold it clears below it', () => {
    const r = overloadRun(3, 1);
    expect(r.flags).toEqual([false, false, true]);
    expect(r.blocked).toBeNull(); // every server OVERLOAD
    expect(r.after).toEqual([true, true, false]); // totals 2, 1 stay >= 1; 0 < 1 clears
  });
  test('without a lower threshold it clears when total * 4 < upper * 3', () => {
    const r = overloadRun(4, 0);
    expect(r.flags).toEqual([false, false, false, true]);
    expect(r.after).toEqual([true, false, false, false]); // 3*4 < 12 is false; 2*4 < 12 clears
  });
});

describe('persistence', () => {
  function persistent(opts: object, extra: ConstructorParameters<typeof Ipvs>[0] = {}) {
    const t = table(extra);
    const svc = t.ipvs.addService(web, { scheduler: 'rr', persistent: { timeout: 60, ...opts } });
    t.ipvs.addDest(web, { address: '10.0.0.2' });
    t.ipvs.addDest(web, { address: '10.0.0.3' });
    const pick = (address: string, port = 1000) => {
      const c = svc.schedule({ address, port }) as Connection;
      return c;
    };
    return { ...t, svc, pick };
  }

  test('one client keeps its server; the netmask groups clients', () => {
    const { ipvs, pick } = persistent({ netmask: '255.255.255.0' });
    const a = pick('192.0.2.1');
    expect(pick('192.0.2.1', 2000).dest).toEqual(a.dest);
    expect(pick('192.0.2.200').dest).toEqual(a.dest); // same /24
    expect(pick('198.51.100.1').dest).not.toEqual(a.dest); // rr moved on for a new network
    expect(ipvs.dests(web).map((d) => d.persistConns)).toEqual([1, 1]);
    ipvs.close();
  });

  test('IPv6 persistence masks the client to the prefix length', () => {
    const { ipvs } = table();
    const key = { protocol: 'tcp', address: '2001:db8::80', port: 443 } as const;
    const svc = ipvs.addService(key, { scheduler: 'rr', persistent: { prefixLength: 64 } });
    ipvs.addDest(key, { address: '2001:db8::a' });
    ipvs.addDest(key, { address: '2001:db8::b' });
    const a = svc.schedule({ address: '2001:db8:1::1', port: 1000 }) as Connection;
    expect((svc.schedule({ address: '2001:db8:1::ffff', port: 1001 }) as Connection).dest).toEqual(a.dest);
    expect((svc.schedule({ address: '2001:db8:2::1', port: 1002 }) as Connection).dest).not.toEqual(a.dest);
    ipvs.close();
  });

  test('a template expires after its timeout unless used; each use restarts it', () => {
    const { ipvs, clock, pick } = persistent({});
    const first = pick('192.0.2.1');
    first.close();
    clock.advance(59_000);
    const again = pick('192.0.2.1');
    expect(again.dest).toEqual(first.dest);
    again.close();
    clock.advance(60_000); // 60 s after the last use: expired
    expect(ipvs.dests(web).map((d) => d.persistConns)).toEqual([0, 0]);
    expect(pick('192.0.2.1').dest).not.toEqual(first.dest); // rr's next server
    ipvs.close();
  });

  test('a template never expires while it controls connections', () => {
    const { ipvs, clock, pick } = persistent({});
    const c = pick('192.0.2.1');
    clock.advance(10 * 60_000);
    expect(ipvs.dests(web).reduce((n, d) => n + d.persistConns, 0)).toBe(1);
    expect(pick('192.0.2.1', 3000).dest).toEqual(c.dest);
    ipvs.close();
  });

  test('a template whose server is gone, or quiesced with expireQuiescentTemplate, forces a new pick', () => {
    const q = persistent({}, { expireQuiescentTemplate: true });
    const c = q.pick('192.0.2.1');
    q.ipvs.editDest(web, { address: c.dest.address, weight: 0 });
    expect(q.pick('192.0.2.1', 2000).dest).not.toEqual(c.dest);
    q.ipvs.close();

    const k = persistent({});
    const d = k.pick('192.0.2.1');
    k.ipvs.editDest(web, { address: d.dest.address, weight: 0 });
    expect(k.pick('192.0.2.1', 2000).dest).toEqual(d.dest); // the sysctl is off: quiesced still serves the template
    k.ipvs.deleteDest(web, { address: d.dest.address });
    expect(k.pick('192.0.2.1', 3000).dest).not.toEqual(d.dest);
    k.ipvs.close();
  });

  test('fwmark templates ignore the virtual address and port; port-0 services need persistence', () => {
    const { ipvs } = table();
    const fw = ipvs.addService({ fwmark: 5 }, { scheduler: 'rr', persistent: {} });
    ipvs.addDest(fw, { address: '10.0.0.2', port: 0 });
    ipvs.addDest(fw, { address: '10.0.0.3', port: 0 });
    const a = fw.schedule({ address: '192.0.2.1', port: 1000, virtualAddress: '10.0.0.1', virtualPort: 80 }) as Connection;
    const b = fw.schedule({ address: '192.0.2.1', port: 1001, virtualAddress: '10.0.0.9', virtualPort: 443, protocol: 'udp' }) as Connection;
    expect(b.dest).toEqual(a.dest);

    const any = ipvs.addService({ protocol: 'tcp', address: '10.0.0.5', port: 0 }, { scheduler: 'rr' });
    ipvs.addDest(any, { address: '10.0.0.2' });
    expect(any.schedule({ address: '192.0.2.1', port: 1000, virtualPort: 443 })).toBeNull();
    ipvs.editService(any, { persistent: { timeout: 10 } });
    ipvs.addDest(any, { address: '10.0.0.3' });
    const x = any.schedule({ address: '192.0.2.1', port: 1000, virtualPort: 443 }) as Connection;
    const y = any.schedule({ address: '192.0.2.1', port: 1001, virtualPort: 22 }) as Connection;
    expect(y.dest).toEqual(x.dest);
    ipvs.close();
  });
});

describe('statistics', () => {
  test('connections and traffic count into server and service; zero keeps connection counts', () => {
    const ipvs = new Ipvs({ clock: 'manual' });
    const svc = ipvs.addService(web);
    ipvs.addDest(web, { address: '10.0.0.2' });
    const c = svc.schedule({ address: '192.0.2.1', port: 1000 }) as Connection;
    c.count({ inPackets: 3, inBytes: 180, outPackets: 2, outBytes: 3000 });
    const [entry] = ipvs.stats();
    expect(entry.stats).toMatchObject({ conns: 1n, inpkts: 3n, inbytes: 180n, outpkts: 2n, outbytes: 3000n });
    expect(entry.dests[0].stats).toMatchObject({ conns: 1n, inpkts: 3n });
    expect(ipvs.totals()).toMatchObject({ conns: 1n, outbytes: 3000n });
    expect(() => c.count({ inPackets: -1 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    // A worker thread would attach these handles; attaching here counts into the same sets.
    CounterSet.attach(svc.counters as CounterSetHandle).add(1, 4);
    CounterSet.attach(svc.destCounters('10.0.0.2') as CounterSetHandle).add(1, 4);
    expect(ipvs.stats()[0].stats.inpkts).toBe(7n);
    expect(ipvs.stats()[0].dests[0].stats.inpkts).toBe(7n);
    expect(() => svc.destCounters('10.0.0.9')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    ipvs.zero();
    expect(ipvs.stats()[0].stats).toMatchObject({ conns: 0n, inpkts: 0n });
    expect(ipvs.dests(web)[0].inactConns).toBe(1);
    ipvs.close();
  });
});
