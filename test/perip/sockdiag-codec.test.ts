// sock_diag codecs against what `ss -tein` sent and received (strace capture in vectors/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import {
  decodeInetDiagMessage,
  decodeTcpInfo,
  encodeInetDiagMessage,
  inetDiagDumpRequest,
  INET_DIAG_CONG,
  INET_DIAG_INFO,
  INET_DIAG_VEGASINFO,
  SOCK_DIAG_BY_FAMILY,
  IPPROTO_TCP,
  TCP_STATES,
  tcpInfoNumber,
} from '../../lib/netlink/sockdiag';
import { parseMessages } from '../../lib/netlink';
import { parseSs } from './ss';
import { straceBuffers } from './strace-vectors';

const buffers = straceBuffers('ss-tein.strace');
const ssText = fs.readFileSync(path.join(__dirname, 'vectors', 'ss-tein.out'), 'utf8');

/** `ss -tein` lines: the socket line's ino/addresses and the info line's key:value pairs. */
function ssSockets(): Array<{ inode: number; cookie: string; local: string; peer: string; kv: Record<string, string> }> {
  const lines = ssText.split('\n');
  const out = [];
  for (let i = 1; i < lines.length; i++) {
    const m = /^ESTAB\s+\d+\s+\d+\s+(\S+)\s+(\S+)\s+ino:(\d+) sk:([0-9a-f]+)/.exec(lines[i]);
    if (!m) continue;
    const kv: Record<string, string> = {};
    for (const tok of lines[i + 1].trim().split(/\s+/)) {
      const c = tok.indexOf(':');
      if (c > 0) kv[tok.slice(0, c)] = tok.slice(c + 1);
    }
    out.push({ inode: Number(m[3]), cookie: m[4], local: m[1], peer: m[2], kv });
  }
  return out;
}

describe('inet_diag_req_v2', () => {
  // ss -tein asks for INFO, VEGASINFO and CONG, in every state but LISTEN, TIME_WAIT, SYN_RECV
  // and CLOSE, plus bit 0 (0xb37): exactly the bytes strace saw, seq 123456.
  const ssStates = ['ESTABLISHED', 'SYN_SENT', 'FIN_WAIT1', 'FIN_WAIT2', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSING'] as const;
  test.each([
    [4, 0],
    [6, 1],
  ] as const)('the IPv%s request equals the one ss sent', (family, index) => {
    const sent = buffers.filter((b) => b.syscall === 'sendmsg')[index].bytes;
    const mask = ssStates.reduce((m, s) => m | (1 << TCP_STATES[s]), 1);
    const req = inetDiagDumpRequest({ family, ext: [INET_DIAG_INFO, INET_DIAG_VEGASINFO, INET_DIAG_CONG], states: mask }).finish(123456);
    expect(req.toString('hex')).toBe(sent.toString('hex'));
    // States by name: the same mask without ss's bit 0.
    const byName = inetDiagDumpRequest({ family, ext: [INET_DIAG_INFO, INET_DIAG_VEGASINFO, INET_DIAG_CONG], states: [...ssStates] }).finish(123456);
    expect(byName.readUInt32LE(20)).toBe(mask & ~1);
  });

  test('bad requests are EINVAL/ERANGE naming the field', () => {
    expect(() => inetDiagDumpRequest({ family: 5 as 4 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^request\.family: 5/) }));
    expect(() => inetDiagDumpRequest({ family: 4, ext: [9] })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^request\.ext\[0\]: 9/) }));
    expect(() => inetDiagDumpRequest({ family: 4, states: ['OPEN' as 'CLOSE'] })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => inetDiagDumpRequest({ family: 4, sport: 70000 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => inetDiagDumpRequest({ family: 4, bogus: 1 } as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('inet_diag_msg and tcp_info', () => {
  const replies = buffers
    .filter((b) => b.syscall === 'recvmsg')
    .flatMap((b) => parseMessages(b.bytes))
    .filter((m) => m.type === SOCK_DIAG_BY_FAMILY)
    .map((m) => decodeInetDiagMessage(m.payload));

  test('every socket ss printed decodes to the same addresses, counters and RTT', () => {
    const sockets = ssSockets();
    expect(sockets).toHaveLength(4);
    expect(replies).toHaveLength(4);
    for (const s of sockets) {
      const msg = replies.find((r) => r.inode === s.inode)!;
      expect(msg).toBeDefined();
      const host = (addr: string) => addr.replace(/^\[(.*)\]:(\d+)$/, '$1 $2').replace(/^([\d.]+):(\d+)$/, '$1 $2');
      expect(`${msg.src} ${msg.sport}`).toBe(host(s.local));
      expect(`${msg.dst} ${msg.dport}`).toBe(host(s.peer));
      expect(msg.cookie.toString(16)).toBe(s.cookie); // ss -e prints the cookie as sk:<hex>
      expect(msg.state).toBe(TCP_STATES.ESTABLISHED);
      expect(msg.cong).toBe('bbr');
      const info = msg.info!;
      expect(info.segsIn).toBe(Number(s.kv.segs_in));
      expect(info.segsOut).toBe(Number(s.kv.segs_out));
      expect(info.bytesAcked).toBe(BigInt(s.kv.bytes_acked));
      expect(info.bytesReceived).toBe(BigInt(s.kv.bytes_received));
      expect(info.bytesSent).toBe(BigInt(s.kv.bytes_sent));
      expect(info.dataSegsIn).toBe(Number(s.kv.data_segs_in));
      expect(info.sndMss).toBe(Number(s.kv.mss));
      expect(info.pmtu).toBe(Number(s.kv.pmtu));
      expect(info.rto).toBe(Number(s.kv.rto) * 1000);
      const [rtt, rttvar] = s.kv.rtt.split('/').map(Number);
      expect(info.rtt / 1000).toBe(rtt); // ss prints microseconds as milliseconds
      expect(info.rttvar / 1000).toBe(rttvar);
      expect(`${info.sndWscale},${info.rcvWscale}`).toBe(s.kv.wscale);
      expect(info.minRtt! / 1000).toBe(Number(s.kv.minrtt));
      expect(info.sndWnd).toBe(Number(s.kv.snd_wnd));
      expect(info.totalRetrans).toBe(0);
    }
  });

  test('rawInfo leaves the bytes, and tcpInfoNumber reads each field as decodeTcpInfo does', () => {
    const raw = buffers
      .filter((b) => b.syscall === 'recvmsg')
      .flatMap((b) => parseMessages(b.bytes))
      .filter((m) => m.type === SOCK_DIAG_BY_FAMILY)
      .map((m) => decodeInetDiagMessage(m.payload, true));
    expect(raw).toHaveLength(4);
    raw.forEach((msg, i) => {
      expect(msg.info).toBeUndefined();
      const decoded = replies[i].info!;
      for (const [key, value] of Object.entries(decoded)) {
        if (['state', 'caState', 'retransmits', 'probes', 'backoff', 'options', 'sndWscale', 'rcvWscale', 'deliveryRateAppLimited', 'fastopenClientFail'].includes(key)) continue;
        expect([key, tcpInfoNumber(msg.infoBytes!, key as keyof typeof decoded)]).toEqual([key, Number(value)]);
      }
    });
    expect(tcpInfoNumber(new Uint8Array(104), 'segsIn')).toBeUndefined(); // too short for it
  });

  test('short or foreign messages are EBADMSG; an old kernel\'s shorter tcp_info leaves the newer fields undefined', () => {
    expect(() => decodeInetDiagMessage(new Uint8Array(71))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    const foreign = new Uint8Array(72);
    foreign[0] = 1; // AF_UNIX
    expect(() => decodeInetDiagMessage(foreign)).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    expect(() => decodeTcpInfo(new Uint8Array(100))).toThrow(expect.objectContaining({ code: 'EBADMSG' }));
    const old = decodeTcpInfo(new Uint8Array(104).fill(1));
    expect(old.totalRetrans).toBe(0x01010101);
    expect(old.segsIn).toBeUndefined();
  });

  test('the decoders refuse what is not a buffer with EINVAL, naming the argument', () => {
    expect(() => tcpInfoNumber(null as never, 'rtt')).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'data: null (expected a Uint8Array or Buffer)' }));
    expect(() => decodeTcpInfo('abc' as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^data: "abc" /) }));
    expect(() => decodeInetDiagMessage(undefined as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^payload: undefined /) }));
    expect(() => decodeInetDiagMessage(Buffer.alloc(72), 'yes' as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^rawInfo: "yes" /) }));
  });

  test('inet_diag_msg round-trips any socket id', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
    const u32 = fc.nat(0xffffffff);
    fc.assert(
      fc.property(v4, v4, fc.nat(65535), fc.nat(65535), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), u32, u32, (src, dst, sport, dport, cookie, inode, uid) => {
        const msg = { family: 4 as const, state: 1, timer: 0, retrans: 0, sport, dport, src, dst, ifindex: 3, cookie, expires: 0, rqueue: 1, wqueue: 2, uid, inode };
        expect(decodeInetDiagMessage(encodeInetDiagMessage(msg))).toEqual(msg);
      }),
    );
  });
});

describe('socket-destroy notifications', () => {
  // What ss -E received while one connection closed (vectors/capture-destroy.sh): both ends and
  // the listener, each a SOCK_DIAG_BY_FAMILY message from the kernel (port 0, sequence 0).
  const messages = straceBuffers('ss-E.strace')
    .filter((b) => b.syscall === 'recvmsg')
    .flatMap((b) => parseMessages(b.bytes));
  const printed = parseSs(fs.readFileSync(path.join(__dirname, 'vectors', 'ss-E.out'), 'utf8'));

  test('decode to what ss -E printed: closed state, protocol, final counters', () => {
    expect(messages).toHaveLength(3);
    expect(printed).toHaveLength(3);
    messages.forEach((m, i) => {
      expect([m.type, m.pid, m.seq]).toEqual([SOCK_DIAG_BY_FAMILY, 0, 0]);
      const msg = decodeInetDiagMessage(m.payload);
      const ss = printed[i];
      expect(msg.state).toBe(TCP_STATES.CLOSE); // ss prints UNCONN
      expect(msg.protocol).toBe(IPPROTO_TCP);
      expect([msg.src, msg.sport, msg.dst, msg.dport]).toEqual([ss.localAddr, ss.localPort, ss.peerAddr, ss.peerPort]);
      expect(msg.info!.segsIn ?? 0).toBe(Number(ss.kv.segs_in ?? 0));
      expect(msg.info!.segsOut ?? 0).toBe(Number(ss.kv.segs_out ?? 0));
      expect(Number(msg.info!.bytesAcked)).toBe(Number(ss.kv.bytes_acked ?? 0));
      expect(Number(msg.info!.bytesReceived)).toBe(Number(ss.kv.bytes_received ?? 0));
    });
    // The listener's notification has no peer: the collector skips it by its port 0.
    expect(decodeInetDiagMessage(messages[2].payload).dport).toBe(0);
  });
});

