/**
 * ipvsadm compatibility: restore/save round trips and the -Ln listing
 * (see fixtures/README.md for where the fixture comes from).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ipvs } from '../../lib/ipvs';

const saved = readFileSync(path.join(__dirname, 'fixtures', 'ipvsadm-save.txt'), 'utf8');

describe('ipvsadm', () => {
  test('restore then save gives back ipvsadm-save text, sorted as ipvsadm sorts', () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false });
    ipvs.restore(saved);
    expect(ipvs.save()).toBe(saved);
    expect(ipvs.service({ fwmark: 7 }).settings.netmask).toBe(0xffffff00);
    expect(ipvs.dests({ protocol: 'tcp', address: '10.0.0.1', port: 80 })[1]).toMatchObject({ address: '10.0.0.2', weight: 3, forwarding: 'masq' });
    expect(ipvs.dests({ protocol: 'sctp', address: '10.0.0.7', port: 9899 })[0].tunnel).toEqual({ type: 'gue', port: 6080, checksum: 'csum' });
    expect(ipvs.service({ protocol: 'udp', address: '10.0.0.1', port: 53 }).flags & 0x4).toBe(0x4); // ops
    ipvs.close();
  });

  test('restore takes -x/-y (ipvsadm options); save leaves them out, as ipvsadm-save does', () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false });
    ipvs.restore('-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3 -x 100 -y 10\n');
    expect(ipvs.dests({ protocol: 'tcp', address: '10.0.0.1', port: 80 })[0]).toMatchObject({ upperThreshold: 100, lowerThreshold: 10 });
    expect(ipvs.save()).toBe('-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3\n');
    // The dry run starts from the table itself, thresholds included: lowering the lower one is fine.
    ipvs.restore('-e -t 10.0.0.1:80 -r 10.0.0.2:8080 -y 5\n');
    expect(ipvs.dests({ protocol: 'tcp', address: '10.0.0.1', port: 80 })[0]).toMatchObject({ upperThreshold: 100, lowerThreshold: 5 });
    ipvs.close();
  });

  test('a refused rule leaves the table unchanged, naming the rule and keeping the errno', () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false });
    ipvs.restore('-A -t 10.0.0.1:80 -s rr\n');
    const before = ipvs.save();
    expect(() => ipvs.restore('-A -t 10.0.0.9:80 -s rr\n-a -t 10.0.0.9:80 -r 10.0.0.2 -w 1 -x 1 -y 2\n')).toThrow(
      expect.objectContaining({ code: 'ERANGE', message: expect.stringMatching(/^rule 2 \(add-server\): dest\.lowerThreshold/) }),
    );
    expect(() => ipvs.restore('-A -t 10.0.0.1:80 -s rr\n')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => ipvs.restore('-Q\n')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^rules line 1: "-Q"/) }));
    expect(ipvs.save()).toBe(before);
    ipvs.close();
  });

  test('-Ln lists services and servers with ipvsadm columns', () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false });
    ipvs.restore('-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 10.0.0.3:8080 -m -w 1\n-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3\n');
    ipvs.service({ protocol: 'tcp', address: '10.0.0.1', port: 80 }).schedule({ address: '192.0.2.1', port: 1000 })?.established();
    expect(ipvs.format()).toBe(
      [
        'IP Virtual Server version 1.2.1 (size=4096)',
        'Prot LocalAddress:Port Scheduler Flags',
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
        'TCP  10.0.0.1:80 wlc persistent 300',
        '  -> 10.0.0.2:8080                Masq    3      1          0         ',
        '  -> 10.0.0.3:8080                Masq    1      0          0         ',
        '',
      ].join('\n'),
    );
    ipvs.close();
  });

  test('--stats prints counters with print_largenum widths', () => {
    const ipvs = new Ipvs({ clock: 'manual' });
    ipvs.restore('-A -u 10.0.0.1:53 -s rr\n-a -u 10.0.0.1:53 -r 10.0.0.4:53 -m -w 1\n');
    const c = ipvs.service({ protocol: 'udp', address: '10.0.0.1', port: 53 }).schedule({ address: '192.0.2.1', port: 5353 });
    c?.count({ inPackets: 2, inBytes: 150_000_000, outPackets: 1, outBytes: 512 });
    const lines = ipvs.format({ stats: true }).split('\n');
    expect(lines[1]).toBe('Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes');
    expect(lines[3]).toBe('UDP  10.0.0.1:53                         1        2        1  150000K      512');
    expect(lines[4]).toBe('  -> 10.0.0.4:53                         1        2        1  150000K      512');
    ipvs.close();
  });

  test('--rate prints the estimator rates (zero before its first estimation)', () => {
    const ipvs = new Ipvs({ clock: 'manual' });
    ipvs.restore('-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n');
    expect(ipvs.format({ rate: true }).split('\n').slice(1, 5)).toEqual(['Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS', '  -> RemoteAddress:Port', 'TCP  10.0.0.1:80                         0        0        0        0        0', '  -> 10.0.0.2:80                         0        0        0        0        0']);
    expect(() => ipvs.format({ rate: 1 } as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    ipvs.close();
  });
});
