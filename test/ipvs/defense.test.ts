/**
 * Defense strategies: update_defense_level's mode transitions on the
 * available-memory signal, ip_vs_todrop's rate, and the sysctl's 0..3 range.
 */
import { Ipvs, IpvsManualClock } from '../../lib/ipvs';

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

  test('a mode outside 0..3 is EINVAL, as the sysctl handler says', () => {
    expect(() => new Ipvs({ defense: { dropEntry: 4 as 3 } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new Ipvs({ defense: { availableMemory: 5 as unknown as () => number } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
