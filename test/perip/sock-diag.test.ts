// The netlink socket's protocol option and SockDiag's argument checks (no kernel objects made).
import { NetlinkSocket } from '../../lib/netlink';
import { SockDiag, TcpPeerCollector, IpStatsTable, tcpPeerMap } from '../../lib';
import { kernelTest, rootMissing } from '../helpers/kernel';

describe('NetlinkSocket protocol', () => {
  test('a protocol that is not a non-negative integer is EINVAL naming the field', async () => {
    await expect(NetlinkSocket.open({ protocol: -1 })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^protocol: -1/) });
    await expect(NetlinkSocket.open({ protocol: 4.5 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(NetlinkSocket.open({ protocol: '4' as unknown as number })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  test('a protocol the kernel lacks is what socket() says: EPROTONOSUPPORT', async () => {
    await expect(NetlinkSocket.open({ protocol: 77 })).rejects.toMatchObject({ code: 'EPROTONOSUPPORT' });
  });

  kernelTest(rootMissing())('NETLINK_SOCK_DIAG opens and joins the TCP destroy groups', async () => {
    const s = await NetlinkSocket.open({ protocol: 4, groups: [1, 3] });
    expect(s.portid).toBeGreaterThan(0);
    await s.close();
    expect(s.closed).toBe(true);
  });
});

describe('SockDiag and TcpPeerCollector options', () => {
  test('unknown keys and wrong types are EINVAL', async () => {
    await expect(SockDiag.open({ bogus: 1 } as never)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(SockDiag.open({ onDestroy: 3 } as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^options\.onDestroy: 3/) });
    const table = new IpStatsTable(tcpPeerMap());
    expect(() => new TcpPeerCollector(table, { interval: -1 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new TcpPeerCollector(table, { netns: 'a\0b' })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new TcpPeerCollector(table, { localPorts: [70000] })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => new TcpPeerCollector([table, new IpStatsTable(tcpPeerMap())])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new TcpPeerCollector([])).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('a start() whose socket fails to open leaves the collector as new: a retry opens again', async () => {
    const collector = new TcpPeerCollector(new IpStatsTable(tcpPeerMap()), { netns: '/nonexistent/kernkit-netns', interval: 0 });
    await expect(collector.start()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(collector.stopped).toBe(false);
    // Not EALREADY: the second start tries the open again (and fails the same way).
    await expect(collector.start()).rejects.toMatchObject({ code: 'ENOENT' });
    await collector.stop();
    expect(collector.stopped).toBe(true);
  });

  kernelTest(rootMissing())('dumpTcp checks its options; a closed reader is EBADF', async () => {
    const diag = await SockDiag.open();
    await expect(diag.dumpTcp({ family: 5 as 4 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(diag.dumpTcp({ states: ['NOPE' as 'CLOSE'] })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(diag.dumpTcp({ localPorts: [-1] })).rejects.toMatchObject({ code: 'ERANGE' });
    await diag.close();
    expect(diag.closed).toBe(true);
    await expect(diag.dumpTcp()).rejects.toMatchObject({ code: 'EBADF' });
  });
});
