/**
 * Defense strategies: update_defense_level's mode transitions on the
 * available-memory signal, ip_vs_todrop's rate, and the sysctl's 0..3 range.
 */
import { Ipvs, IpvsManualClock, type Connection } from '../../lib/ipvs';
import { ResourceCounter } from '../../lib/rescounter';

describe('defense', () => {
  test('mode 1 turns on (and becomes 2) when memory is low, 2 returns to 1 when it recovers', () => {
    let avail = 2000;
    const ipvs = new Ipvs({ clock: 'manual', stats: false, defense: { dropPacket: 1, dropEntry: 1, secureTcp: 1, amemthresh: 1024, availableMemory: () => avail } });
    const clock = ipvs.clock as IpvsManualClock;
    clock.advance(1000);
    expect(ipvs.defense).toMatchObject({ dropPacket: 1, dropEntry: 1, secureTcp: 1, dropRate: 0, dropEntryActive: false, secureTcpActive: false });
    avail = 768; // rate = 1024 / (1024 - 768) = 4
    clock.advance(1000);
    expect(ipvs.defense).toMatchObject({ dropPacket: 2, dropEntry: 2, secureTcp: 2, dropRate: 4, dropEntryActive: true, secureTcpActive: true });
    avail = 4096;
    clock.advance(1000);
    expect(ipvs.defense).toMatchObject({ dropPacket: 1, dropEntry: 1, secureTcp: 1, dropRate: 0, dropEntryActive: false });
    ipvs.close();
  });

  test('drop_packet drops one new connection in `rate`; mode 3 uses am_droprate', () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false, defense: { dropPacket: 3, amDroprate: 3, availableMemory: () => 1e9 } });
    const svc = ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
    ipvs.addDest(svc, { address: '10.0.0.2' });
    (ipvs.clock as IpvsManualClock).advance(1000);
    const got = Array.from({ length: 6 }, (_, i) => svc.schedule({ address: '192.0.2.1', port: 1000 + i }) !== null);
    // drop_counter starts at 0 in mode 3: the first connection is dropped, then every third
    expect(got).toEqual([false, true, true, false, true, true]);
    ipvs.close();
  });

  test('a ResourceCounter as the memory signal: max − usage is the available pages amemthresh is compared with', () => {
    const pages = new ResourceCounter({ name: 'conn-memory', max: 2000 });
    const ipvs = new Ipvs({ clock: 'manual', stats: false, defense: { dropPacket: 1, dropEntry: 1, amemthresh: 1024, availableMemory: pages } });
    try {
      const clock = ipvs.clock as IpvsManualClock;
      pages.charge(976); // available 1024: not below amemthresh
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 1, dropEntry: 1, dropRate: 0, dropEntryActive: false });
      pages.charge(256); // available 768: rate = 1024 / (1024 - 768) = 4
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 2, dropEntry: 2, dropRate: 4, dropEntryActive: true });
      pages.charge(1000); // usage above max (charge ignores it): available is 0, every new connection drops
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 2, dropRate: 1 });
      pages.uncharge(pages.usage);
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 1, dropEntry: 1, dropRate: 0, dropEntryActive: false });
    } finally {
      ipvs.close();
      pages.close();
    }
  });

  test('a ResourceCounter without a limit never signals low memory', () => {
    const unlimited = new ResourceCounter();
    const ipvs = new Ipvs({ clock: 'manual', stats: false, defense: { dropPacket: 1, amemthresh: 1024, availableMemory: unlimited } });
    try {
      unlimited.charge(1e12);
      (ipvs.clock as IpvsManualClock).advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 1, dropRate: 0 });
    } finally {
      ipvs.close();
      unlimited.close();
    }
  });

  test('availableMemory is a function or an open ResourceCounter', () => {
    const closed = new ResourceCounter({ name: 'gone' });
    closed.close();
    expect(() => new Ipvs({ defense: { availableMemory: closed } })).toThrow(
      expect.objectContaining({ code: 'EBADF', message: expect.stringMatching(/^defense\.availableMemory: \{"name":"gone"\} \(expected an open ResourceCounter, not a closed one\)$/) }),
    );
    expect(() => new Ipvs({ defense: { availableMemory: { max: 1, usage: 0 } as unknown as ResourceCounter } })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^defense\.availableMemory: .*\(expected a function returning available pages, or a ResourceCounter\)$/) }),
    );
  });

  test('a failing memory signal keeps the previous level, keeps the timer running and is counted', () => {
    let avail: () => number = () => 768;
    const ipvs = new Ipvs({ clock: 'manual', stats: false, defense: { dropPacket: 1, amemthresh: 1024, availableMemory: () => avail() } });
    const clock = ipvs.clock as IpvsManualClock;
    try {
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 2, dropRate: 4, errors: 0, lastError: null });
      avail = () => NaN;
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 2, dropRate: 4, errors: 1, lastError: expect.objectContaining({ code: 'EINVAL' }) });
      const boom = new Error('boom');
      avail = () => {
        throw boom;
      };
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 2, dropRate: 4, errors: 2, lastError: boom });
      avail = () => 4096; // the timer is still armed: the next good reading applies
      clock.advance(1000);
      expect(ipvs.defense).toMatchObject({ dropPacket: 1, dropRate: 0, errors: 2 });
    } finally {
      ipvs.close();
    }
  });

  test('a ResourceCounter closed while the table runs is EBADF in lastError, not a throw from the timer', () => {
    const pages = new ResourceCounter({ name: 'closing', max: 2000 });
    const ipvs = new Ipvs({ clock: 'manual', stats: false, defense: { dropEntry: 1, amemthresh: 1024, availableMemory: pages } });
    try {
      pages.close();
      expect(() => (ipvs.clock as IpvsManualClock).advance(1000)).not.toThrow();
      expect(ipvs.defense).toMatchObject({ dropEntry: 1, errors: 1, lastError: expect.objectContaining({ code: 'EBADF' }) });
    } finally {
      ipvs.close();
    }
  });

  test('a mode outside 0..3 is EINVAL, as the sysctl handler says', () => {
    expect(() => new Ipvs({ defense: { dropEntry: 4 as 3 } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new Ipvs({ defense: { availableMemory: 5 as unknown as () => number } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('drop_entry drops connections that never got established, and idle ones by their packet count', () => {
    // random() = 0: every connection hashes to bucket 0 and every draw scans it
    const ipvs = new Ipvs({ clock: 'manual', stats: false, random: () => 0, defense: { dropEntry: 3, availableMemory: () => 1e9 } });
    const clock = ipvs.clock as IpvsManualClock;
    const web = ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
    const dns = ipvs.addService({ protocol: 'udp', address: '10.0.0.1', port: 53 });
    ipvs.addDest(web, { address: '10.0.0.2' });
    ipvs.addDest(dns, { address: '10.0.0.2' });
    const syn = web.schedule({ address: '192.0.2.1', port: 1000 }) as Connection;
    const est = web.schedule({ address: '192.0.2.1', port: 1001 }) as Connection;
    est.established();
    const one = dns.schedule({ address: '192.0.2.1', port: 1002 }) as Connection;
    one.count({ inPackets: 1 });
    const nine = dns.schedule({ address: '192.0.2.1', port: 1003 }) as Connection;
    nine.count({ inPackets: 9 });
    clock.advance(1000);
    expect([syn.closed, est.closed, one.closed, nine.closed]).toEqual([true, false, false, false]); // SYN_RECV goes at once
    clock.advance(60_000);
    // idle 60 s: one packet in -> dropped (todrop_rate[1]); 9 packets -> never; established with 0 packets -> never
    expect([est.closed, one.closed, nine.closed]).toEqual([false, true, false]);
    ipvs.close();
  });
});
