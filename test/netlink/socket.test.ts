import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { KernkitError } from '../../lib';
import { AttrTable, MessageWriter, NetlinkSocket, namespacePath, nl } from '../../lib/netlink';
import { netlinkNative } from '../../lib/netlink/native';
import { receiving } from '../../lib/netlink/socket';
import { kernelTest } from '../helpers/kernel';
import { TestNetns, removeAllNamespaces, tcMissing } from '../helpers/tc';

const ktest = kernelTest(tcMissing());

/** Link names in the socket's namespace, via an RTM_GETLINK dump parsed here. */
async function linkNames(sock: NetlinkSocket): Promise<string[]> {
  const req = new MessageWriter(nl.RTM_GETLINK, 0);
  req.zeros(nl.IFINFOMSG_LEN);
  const msgs = await sock.dump(req, 'link dump');
  return msgs.map((m) => new AttrTable(m.payload.subarray(nl.IFINFOMSG_LEN)).string(nl.IFLA_IFNAME, 'IFLA_IFNAME') ?? '?').sort();
}

/** A qdisc request with a tcmsg for `ifindex`, parent root, and a kind. */
function qdiscRequest(ifindex: number, kind: string, flags = nl.NLM_F_CREATE | nl.NLM_F_EXCL): MessageWriter {
  const w = new MessageWriter(nl.RTM_NEWQDISC, flags);
  const at = w.zeros(20);
  w.setU32(at + 4, ifindex);
  w.setU32(at + 12, 0xffffffff);
  w.attrString(1, kind, 'kind');
  return w;
}

describe('namespacePath', () => {
  test('names, paths and pids', () => {
    expect(namespacePath({})).toBeNull();
    expect(namespacePath({ netns: 'blue' })).toBe('/var/run/netns/blue');
    expect(namespacePath({ netns: '/proc/1/ns/net' })).toBe('/proc/1/ns/net');
    expect(namespacePath({ pid: 42 })).toBe('/proc/42/ns/net');
  });

  test('bad input is EINVAL naming the field', () => {
    expect(() => namespacePath({ netns: '../etc' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^netns: "\.\.\/etc" \(expected /) }));
    expect(() => namespacePath({ netns: '' })).toThrow(KernkitError);
    expect(() => namespacePath({ pid: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^pid: 0 \(expected /) }));
    expect(() => namespacePath({ netns: 'a', pid: 1 })).toThrow(/not both/);
  });

  test('a NUL byte in a name or path is EINVAL: the path checked would not be the path opened', () => {
    for (const netns of ['x\0junk', '/var/run/netns/x\0junk']) {
      expect(() => namespacePath({ netns })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^netns: .*without NUL bytes/) }));
    }
  });
});

describe('NetlinkSocket.open options', () => {
  const code = (p: Promise<unknown>) => p.then(() => 'opened', (e: KernkitError) => e.code);

  test('a NUL byte in netns is refused before anything is opened', async () => {
    // The old code opened /var/run/netns/x (ENOENT, or a namespace of that name).
    await expect(NetlinkSocket.open({ netns: 'x\0junk' })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('netns') });
    await expect(NetlinkSocket.open({ netns: '/var/run/netns/x\0junk' })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  test('the native side refuses a NUL byte too', () => {
    expect(() => new netlinkNative.Socket('/proc/self/ns/net\0junk', () => undefined)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('options that are not a plain object of known, well-typed keys are EINVAL, and reject rather than throw', async () => {
    for (const bad of [null, 5, 'blue', [], () => undefined, { bogus: 1 }, { netns: 5 }, { pid: 1.5 }, { pid: '1' }, { groups: 'link' }, { groups: [1.5] }]) {
      const opening = NetlinkSocket.open(bad as never);
      await expect(code(opening)).resolves.toBe('EINVAL');
    }
    // NETLINK_ADD_MEMBERSHIP says EINVAL for a group out of range, and so does open().
    await expect(NetlinkSocket.open({ groups: [2 ** 32] })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^groups\[0\]: 4294967296 \(expected /) });
  });
});

describe('NetlinkSocket lifecycle', () => {
  test('closed is false while open and true once close() was called; requests are EBADF after', async () => {
    const sock = await NetlinkSocket.open();
    expect(sock.closed).toBe(false);
    const closing = sock.close();
    expect(sock.closed).toBe(true);
    await closing;
    expect(sock.closed).toBe(true);
    const req = new MessageWriter(nl.RTM_GETLINK, 0);
    req.zeros(nl.IFINFOMSG_LEN);
    await expect(sock.dump(req, 'link dump')).rejects.toMatchObject({ code: 'EBADF' });
  });

  test('await using closes the socket at the end of the scope, also when the scope throws', async () => {
    let kept: NetlinkSocket | undefined;
    {
      await using sock = await NetlinkSocket.open();
      kept = sock;
      expect(await linkNames(sock)).toContain('lo');
    }
    expect(kept.closed).toBe(true);

    const failing = async () => {
      await using sock = await NetlinkSocket.open();
      kept = sock;
      throw new Error('scope failed');
    };
    await expect(failing()).rejects.toThrow('scope failed');
    expect(kept.closed).toBe(true);
  });
});

describe('NetlinkSocket on the real kernel', () => {
  let ns: TestNetns | undefined;
  afterEach(() => {
    ns?.remove();
    ns = undefined;
  });
  afterAll(removeAllNamespaces);

  ktest('opens inside a named namespace and sees only its links; the event loop thread stays home', async () => {
    ns = TestNetns.create('kka', 'kkb');
    const before = readlinkSync('/proc/thread-self/ns/net');
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      expect(readlinkSync('/proc/thread-self/ns/net')).toBe(before);
      expect(await linkNames(sock)).toEqual(['kka', 'kkb', 'lo']);
      expect(sock.portid).toBeGreaterThan(0);
    } finally {
      await sock.close();
    }
  });

  ktest("opens in a process's namespace by pid, and by namespace path", async () => {
    ns = TestNetns.create('kkp', 'kkq');
    const child = spawn('ip', ['netns', 'exec', ns.name, 'sleep', '30'], { stdio: 'ignore' });
    try {
      // wait until the child has entered the namespace
      for (let i = 0; i < 100; i++) {
        try {
          if (readlinkSync(`/proc/${child.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net')) break;
        } catch {
          /* not started yet */
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const byPid = await NetlinkSocket.open({ pid: child.pid });
      const byPath = await NetlinkSocket.open({ netns: `/var/run/netns/${ns.name}` });
      try {
        expect(await linkNames(byPid)).toEqual(['kkp', 'kkq', 'lo']);
        expect(await linkNames(byPath)).toEqual(['kkp', 'kkq', 'lo']);
      } finally {
        await byPid.close();
        await byPath.close();
      }
    } finally {
      child.kill();
    }
  });

  ktest('a namespace that does not exist is ENOENT', async () => {
    await expect(NetlinkSocket.open({ netns: 'kernkit-test-absent-0000' })).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  ktest("kernel errors carry the errno as .code and the extended ack as the message", async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      const err = await sock.request(qdiscRequest(ns.ifindex('kk0'), 'no_such_kind'), 'qdisc add').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KernkitError);
      expect(err).toMatchObject({ code: 'ENOENT', errno: -2, extack: 'Specified qdisc kind is unknown', op: 'qdisc add' });
      expect((err as Error).message).toBe('qdisc add: Specified qdisc kind is unknown');
      // no extended ack: the errno's description
      const noDev = await sock.request(qdiscRequest(999999, 'pfifo'), 'qdisc add').catch((e: unknown) => e);
      expect(noDev).toMatchObject({ code: 'ENODEV' });
    } finally {
      await sock.close();
    }
  });

  ktest('the attribute the kernel points at (NLMSGERR_ATTR_OFFS) is named by its label', async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      const req = qdiscRequest(ns.ifindex('kk0'), 'pfifo');
      req.attrString(5, 'not a tc_estimator', 'estimator'); // TCA_RATE's policy wants 2 bytes
      await expect(sock.request(req, 'qdisc add')).rejects.toMatchObject({
        code: 'ERANGE',
        extack: 'Attribute failed policy validation',
        message: 'qdisc add: Attribute failed policy validation (the kernel refused estimator)',
      });
    } finally {
      await sock.close();
    }
  });

  ktest('overlapping requests are matched to their own replies', async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      const idx = ns.ifindex('kk0');
      const results = await Promise.allSettled(
        Array.from({ length: 300 }, (_, i) => sock.request(qdiscRequest(i % 2 ? idx : 999999, 'pfifo', nl.NLM_F_CREATE | nl.NLM_F_REPLACE), `req ${i}`)),
      );
      results.forEach((r, i) => {
        if (i % 2) expect(r.status).toBe('fulfilled');
        else expect(r).toMatchObject({ status: 'rejected', reason: { code: 'ENODEV', op: `req ${i}` } });
      });
      expect(ns.tcJson('qdisc', 'dev', 'kk0')[0]).toMatchObject({ kind: 'pfifo', root: true });
    } finally {
      await sock.close();
    }
  });

  ktest('dumps started together queue one behind another, and other requests overlap with them', async () => {
    ns = TestNetns.create();
    // qdiscs to dump: a dump with something in it takes the kernel more than one pass
    for (const dev of ['kk0', 'kk1']) ns.tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb');
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      const qdiscDump = () => {
        const w = new MessageWriter(nl.RTM_GETQDISC, 0);
        w.zeros(20);
        return sock.dump(w, 'qdisc dump').then((msgs) => msgs.length);
      };
      const getLink = () => {
        const w = new MessageWriter(nl.RTM_GETLINK, 0);
        w.zeros(nl.IFINFOMSG_LEN);
        w.attrString(nl.IFLA_IFNAME, 'kk0');
        return sock.request(w, 'link get').then((r) => r.messages.length);
      };
      // The kernel runs one dump per socket and refuses another meanwhile (EBUSY):
      // started in the same tick, they would meet in the kernel.
      for (let round = 0; round < 20; round++) {
        const outcomes = await Promise.allSettled([qdiscDump(), qdiscDump(), getLink(), qdiscDump(), linkNames(sock), qdiscDump(), getLink(), qdiscDump()]);
        // kk0's and kk1's htb and lo's noqueue; one link per get
        expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as KernkitError).code))).toEqual([3, 3, 1, 3, ['kk0', 'kk1', 'lo'], 3, 1, 3]);
      }
    } finally {
      await sock.close();
    }
  });

  ktest('a socket that joined RTNLGRP_LINK hands link notifications to its listener, apart from replies', async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name, groups: [nl.RTNLGRP_LINK] });
    const plain = await NetlinkSocket.open({ netns: ns.name });
    try {
      const seen: Array<{ type: number; index: number }> = [];
      sock.listener = { notify: (m) => seen.push({ type: m.type, index: new DataView(m.payload.buffer, m.payload.byteOffset).getInt32(4, true) }), lost: () => undefined };
      let plainHeard = 0;
      plain.listener = { notify: () => plainHeard++, lost: () => undefined };
      ns.ip('link', 'set', 'kk0', 'mtu', '1400');
      ns.addVethPair('kk2', 'kk3');
      const gone = ns.ifindex('kk2');
      ns.ip('link', 'del', 'kk2');
      // the notifications were queued before this dump's replies, and are not part of them
      expect(await linkNames(sock)).toEqual(['kk0', 'kk1', 'lo']);
      await linkNames(plain);
      expect(seen).toContainEqual({ type: nl.RTM_NEWLINK, index: ns.ifindex('kk0') });
      expect(seen).toContainEqual({ type: nl.RTM_DELLINK, index: gone });
      expect(plainHeard).toBe(0);
    } finally {
      await sock.close();
      await plain.close();
    }
  });

  /** RTM_GETLINK for lo (ifindex 1): the kernel answers with the link and an ack. */
  function getLo(): MessageWriter {
    const req = new MessageWriter(nl.RTM_GETLINK, 0);
    req.u8(0); // ifi_family
    req.u8(0);
    req.u16(0); // ifi_type
    req.u32(1); // ifi_index: lo
    req.u32(0); // ifi_flags
    req.u32(0); // ifi_change
    return req;
  }

  /** Queues `n` requests, keeps the event loop busy for `busyMs`, then counts how they ended. */
  async function burstWhileBusy(sock: NetlinkSocket, n: number, busyMs: number): Promise<{ ok: number; codes: Set<string> }> {
    const all = Array.from({ length: n }, () => sock.request(getLo(), 'link get'));
    const until = Date.now() + busyMs;
    while (Date.now() < until); // the loop reads nothing meanwhile
    const settled = await Promise.allSettled(all);
    const codes = new Set(settled.filter((r) => r.status === 'rejected').map((r) => String((r.reason as KernkitError).code)));
    return { ok: settled.filter((r) => r.status === 'fulfilled').length, codes };
  }

  ktest('request() refuses a message with the dump flags (a dump goes through dump())', async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      const req = new MessageWriter(nl.RTM_GETLINK, nl.NLM_F_DUMP);
      req.zeros(nl.IFINFOMSG_LEN);
      await expect(sock.request(req, 'link get')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/^link get: nlmsg_flags: 768 /) });
      expect(await sock.request(getLo(), 'link get')).toBeDefined(); // the socket is fine
    } finally {
      await sock.close();
    }
  });

  ktest('a burst of requests while the event loop is busy loses no reply: the I/O thread keeps draining the socket', async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name });
    try {
      expect(await burstWhileBusy(sock, 20000, 1500)).toEqual({ ok: 20000, codes: new Set() });
    } finally {
      await sock.close();
    }
  }, 60000);

  ktest('reading on the loop (receiving.onThread off): after the receive buffer overflowed, the socket still answers', async () => {
    ns = TestNetns.create();
    receiving.onThread = false;
    const sock = await NetlinkSocket.open({ netns: ns.name }).finally(() => {
      receiving.onThread = true;
    });
    try {
      const burst = await burstWhileBusy(sock, 20000, 1500);
      if (burst.ok < 20000) expect([...burst.codes]).toEqual(['ENOBUFS']);
      const next = await Promise.race([
        sock.request(getLo(), 'link get').then(() => 'answered'),
        new Promise((resolve) => setTimeout(() => resolve('no answer in 5 s'), 5000)),
      ]);
      expect(next).toBe('answered');
    } finally {
      await sock.close();
    }
  }, 60000);

  ktest('replies and notifications stay in order while receiving moves between the event loop and the I/O thread around dumps', async () => {
    // With receiving.onThread off, the loop reads the socket while no dump runs; a dump is read by the
    // I/O thread until its end has been seen.
    ns = TestNetns.create();
    receiving.onThread = false;
    const sock = await NetlinkSocket.open({ netns: ns.name, groups: [nl.RTNLGRP_LINK] }).finally(() => {
      receiving.onThread = true;
    });
    try {
      const mtus: number[] = [];
      sock.listener = {
        notify: (m) => {
          const mtu = m.type === nl.RTM_NEWLINK ? new AttrTable(m.payload.subarray(nl.IFINFOMSG_LEN)).u32(nl.IFLA_MTU, 'IFLA_MTU') : undefined;
          if (mtu !== undefined && mtu >= 1300 && mtu < 1400) mtus.push(mtu);
        },
        lost: () => undefined,
      };
      const getLink = () => {
        const w = new MessageWriter(nl.RTM_GETLINK, 0);
        w.zeros(nl.IFINFOMSG_LEN);
        w.attrString(nl.IFLA_IFNAME, 'kk0');
        return sock.request(w, 'link get').then((r) => new AttrTable(r.messages[0].payload.subarray(nl.IFINFOMSG_LEN)).u32(nl.IFLA_MTU, 'IFLA_MTU'));
      };
      for (let round = 0; round < 10; round++) {
        ns.ip('link', 'set', 'kk0', 'mtu', String(1300 + round));
        // The notification was queued before the reply: the listener has it once the reply is in.
        const [mtu, names, again] = await Promise.all([getLink(), linkNames(sock), getLink()]);
        expect([mtu, names, again]).toEqual([1300 + round, ['kk0', 'kk1', 'lo'], 1300 + round]);
        expect(mtus[mtus.length - 1]).toBe(1300 + round);
        // right after a dump's end, before the loop has the socket back
        expect(await getLink()).toBe(1300 + round);
      }
      expect([...new Set(mtus)]).toEqual(Array.from({ length: 10 }, (_, i) => 1300 + i));
    } finally {
      await sock.close();
    }
  });

  test('groups are checked', async () => {
    await expect(NetlinkSocket.open({ groups: [0] })).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('groups[0]') });
  });

  ktest('close() rejects every request and dump still waiting with ECANCELED, and refuses new ones', async () => {
    ns = TestNetns.create();
    const sock = await NetlinkSocket.open({ netns: ns.name });
    const idx = ns.ifindex('kk0');
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: KernkitError) => e.code);
    // Sent (or queued) in this tick: no reply can be read before close() runs, whatever the kernel has done by then.
    const requests = Array.from({ length: 50 }, () => code(sock.request(qdiscRequest(idx, 'pfifo', nl.NLM_F_CREATE | nl.NLM_F_REPLACE), 'qdisc replace')));
    const dumps = Array.from({ length: 3 }, () => code(linkNames(sock))); // one running, two waiting for their turn
    const closed = sock.close();
    expect(await Promise.all([...requests, ...dumps])).toEqual(Array(53).fill('ECANCELED'));
    await closed;
    await expect(sock.request(qdiscRequest(idx, 'pfifo'), 'qdisc add')).rejects.toMatchObject({ code: 'EBADF' });
    await expect(linkNames(sock)).rejects.toMatchObject({ code: 'EBADF' });
    await sock.close(); // idempotent
  });
});

describe('the I/O thread', () => {
  /** Thread ids of this process's netlink I/O threads. */
  const ioThreads = (): string[] =>
    readdirSync('/proc/self/task').filter((tid) => {
      try {
        return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'kernkit-netlink';
      } catch {
        return false; // exited meanwhile
      }
    });

  test('is named kernkit-netlink, and is gone once close() has resolved', async () => {
    const before = new Set(ioThreads());
    const sock = await NetlinkSocket.open();
    const mine = ioThreads().filter((tid) => !before.has(tid));
    expect(mine).toHaveLength(1);
    await sock.close();
    // close() resolves when the thread has released the socket; it is joined right after.
    for (let i = 0; i < 100 && ioThreads().includes(mine[0]); i++) await new Promise((r) => setTimeout(r, 10));
    expect(ioThreads()).not.toContain(mine[0]);
  });
});
