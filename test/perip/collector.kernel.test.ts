// TcpPeerCollector against real TCP between two network namespaces: per-peer totals equal
// what `ss -tin` reports for the live sockets plus what `ss -E` reported for the closed ones.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { IpStatsTable, SockDiag, TcpPeerCollector, tcpPeerMap, type IpStatsEntry } from '../../lib';
import { commandMissing, kernelTest } from '../helpers/kernel';
import { removeAllNamespaces, run, tcMissing, TestNetns } from '../helpers/tc';
import { parseSs, ssCounters, type SsSocket } from './ss';

const missing = tcMissing() ?? commandMissing('ss', ['-V']) ?? commandMissing('stdbuf', ['--version']);
const ktest = kernelTest(missing);
const FIXTURES = path.join(__dirname, 'fixtures');
const PORT = 5201;

/** A child process under `ip netns exec`, read line by line. */
class Child {
  readonly proc: ChildProcess;
  private out = '';
  private waiters: Array<() => void> = [];

  constructor(ns: TestNetns, args: string[]) {
    this.proc = spawn('ip', ['netns', 'exec', ns.name, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d) => {
      this.out += d;
      this.waiters.splice(0).forEach((w) => w());
    });
    let err = '';
    this.proc.stderr!.on('data', (d) => (err += d));
    this.proc.on('exit', (code) => {
      if (code) this.out += `\n[exit ${code}: ${err}]`;
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  get output(): string {
    return this.out;
  }

  /** Resolves once the output satisfies `done`. */
  async until(done: (out: string) => boolean): Promise<void> {
    while (!done(this.out)) {
      if (this.proc.exitCode !== null) throw new Error(`child exited: ${this.out}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Sends a command line and waits for its echo line. */
  async command(line: string): Promise<void> {
    const before = this.out.length;
    const word = line.split(' ')[0];
    this.proc.stdin!.write(`${line}\n`);
    await this.until((out) => out.slice(before).split('\n').includes(word));
  }

  stop(): void {
    this.proc.stdin!.end();
    if (this.proc.exitCode === null && this.proc.pid !== undefined) this.proc.kill();
  }
}

/** Client namespace `a` and server namespace `b` joined by a veth pair, with IPv4 and IPv6 addresses. */
function makePair(): { a: TestNetns; b: TestNetns; v4: [string, string]; v6: [string, string] } {
  const a = TestNetns.create('kk0', 'kk1');
  let b: TestNetns | undefined;
  try {
    b = TestNetns.createEmpty();
    a.ip('link', 'set', 'kk1', 'netns', b.name);
    b.ip('link', 'set', 'kk1', 'up');
    const r = randomBytes(2);
    const v4: [string, string] = [`10.${r[0]}.${r[1] & 0xfc}.1`, `10.${r[0]}.${r[1] & 0xfc}.2`];
    const v6: [string, string] = [`fd00:${r.toString('hex')}::1`, `fd00:${r.toString('hex')}::2`];
    a.ip('addr', 'add', `${v4[0]}/30`, 'dev', 'kk0');
    b.ip('addr', 'add', `${v4[1]}/30`, 'dev', 'kk1');
    a.ip('-6', 'addr', 'add', `${v6[0]}/64`, 'dev', 'kk0', 'nodad');
    b.ip('-6', 'addr', 'add', `${v6[1]}/64`, 'dev', 'kk1', 'nodad');
    return { a, b, v4, v6 };
  } catch (err) {
    a.remove();
    b?.remove();
    throw err;
  }
}

/** Sums ss counters per peer address. */
function sumByPeer(sockets: SsSocket[], into = new Map<string, Record<string, number>>()): Map<string, Record<string, number>> {
  for (const s of sockets) {
    const acc = into.get(s.peerAddr) ?? {};
    for (const [k, v] of Object.entries(ssCounters(s))) acc[k] = (acc[k] ?? 0) + v;
    acc.Sockets = (acc.Sockets ?? 0) + 1;
    into.set(s.peerAddr, acc);
  }
  return into;
}

function countersOf(entry: IpStatsEntry | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(entry?.counters ?? {}).map(([k, v]) => [k, Number(v)]));
}

/** The ESTABLISHED TCP sockets of a namespace, as `ss -tin` lists them. */
function established(ns: TestNetns): SsSocket[] {
  return parseSs(run('ip', ['netns', 'exec', ns.name, 'ss', '-tin'])).filter((s) => s.state === 'ESTAB');
}

/** NETLINK_SOCK_DIAG sockets of a namespace that joined multicast groups (/proc/net/netlink: Eth 4, Groups not 0). */
function destroyListeners(ns: TestNetns): number {
  const lines = run('ip', ['netns', 'exec', ns.name, 'cat', '/proc/net/netlink']).trim().split('\n').slice(1);
  return lines.map((l) => l.trim().split(/\s+/)).filter((c) => c[1] === '4' && /[1-9a-f]/.test(c[3])).length;
}

/** Polls `cond` every 20 ms, for at most 10 s. */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${cond.toString()}`);
}

afterAll(() => removeAllNamespaces());

describe('TcpPeerCollector in network namespaces', () => {
  ktest(
    'totals per peer equal ss -tin for live sockets plus ss -E for closed ones, IPv4 and IPv6, loopback excluded',
    async () => {
      const { a, b, v4, v6 } = makePair();
      const children: Child[] = [];
      let collector: TcpPeerCollector | undefined;
      try {
        const server = new Child(b, [process.execPath, path.join(FIXTURES, 'tcp-echo-server.js'), String(PORT), v4[1], v6[1]]);
        children.push(server);
        await server.until((o) => o.includes('ready'));
        // ss -E, the reference for closed sockets, subscribes before any traffic.
        const events = new Child(a, ['stdbuf', '-oL', 'ss', '-E', '-tin']);
        children.push(events);
        // ss prints nothing until an event: wait until its socket has joined the groups.
        await waitFor(() => destroyListeners(a) > 0);

        const map = tcpPeerMap();
        map.level = 1; // every field
        const t4 = new IpStatsTable(map, { family: 4 });
        const t6 = new IpStatsTable(map, { family: 6 });
        t4.start();
        t6.start();
        collector = new TcpPeerCollector([t4, t6], { netns: a.name, interval: 0 });
        await collector.start();

        const client = new Child(a, [process.execPath, path.join(FIXTURES, 'tcp-client.js'), String(PORT)]);
        children.push(client);
        await client.command(`long 2 ${v4[1]} ${v6[1]}`);
        await client.command('loopback');
        await collector.collect(); // the long connections live across this dump
        await client.command('more 20000');
        await client.command(`short 5 7000 ${v4[1]} ${v6[1]}`); // these live and die between dumps
        // Wait until ss -E and the collector have both seen the ten closes.
        const closedToServer = (): SsSocket[] => parseSs(events.output).filter((s) => s.peerPort === PORT);
        await events.until(() => closedToServer().length >= 10);
        await waitFor(() => collector!.stats().destroyed >= 10);
        await collector.collect();

        const live = established(a).filter((s) => s.peerPort === PORT);
        expect(live).toHaveLength(4);
        expect(closedToServer()).toHaveLength(10);
        const expected = sumByPeer(closedToServer(), sumByPeer(live));
        for (const [[src, dst], table] of [
          [v4, t4],
          [v6, t6],
        ] as const) {
          const entry = table.get(table.lookup(src, dst));
          const want = expected.get(dst)!;
          const got = countersOf(entry);
          for (const field of ['InSegs', 'OutSegs', 'RetransSegs', 'BytesAcked', 'BytesReceived', 'BytesSent', 'BytesRetrans', 'DataSegsIn', 'DataSegsOut']) {
            expect([field, got[field]]).toEqual([field, want[field]]);
          }
          expect(got.Sockets).toBe(7); // two long, five short
          expect(got.Closed).toBe(5);
          expect(got.BytesReceived).toBeGreaterThanOrEqual(2 * (3000 + 20000) + 5 * 7000);
          expect(entry!.gauges.rttUs).toBeGreaterThan(0);
        }
        // The loopback connection was seen and skipped: no entry names 127.0.0.1.
        expect([...t4.entries()].map((e) => e.dst)).toEqual([v4[1]]);
        expect(t4.stats().loopback).toBeGreaterThan(0);
        expect(collector.stats()).toMatchObject({ destroyed: 10, lostEvents: 0 });
      } finally {
        await collector?.stop();
        children.forEach((c) => c.stop());
        a.remove();
        b.remove();
      }
    },
    60_000,
  );

  ktest('SockDiag dumps what ss -tin lists, with the same counters', async () => {
    const { a, b, v4 } = makePair();
    const children: Child[] = [];
    let diag: SockDiag | undefined;
    try {
      const server = new Child(b, [process.execPath, path.join(FIXTURES, 'tcp-echo-server.js'), String(PORT), v4[1]]);
      children.push(server);
      await server.until((o) => o.includes('ready'));
      const client = new Child(a, [process.execPath, path.join(FIXTURES, 'tcp-client.js'), String(PORT)]);
      children.push(client);
      await client.command(`long 3 ${v4[1]}`);
      diag = await SockDiag.open({ netns: a.name });
      const dumped = await diag.dumpTcp({ family: 4, remotePorts: [PORT] });
      const listed = established(a);
      expect(dumped).toHaveLength(3);
      for (const s of dumped) {
        const twin = listed.find((l) => l.localPort === s.sport)!;
        expect([s.src, s.dst, s.dport]).toEqual([twin.localAddr, twin.peerAddr, twin.peerPort]);
        expect(s.info!.segsIn).toBe(Number(twin.kv.segs_in));
        expect(s.info!.bytesReceived).toBe(BigInt(twin.kv.bytes_received));
      }
      expect(await diag.dumpTcp({ family: 4, remotePorts: [PORT + 1] })).toHaveLength(0);
    } finally {
      await diag?.close();
      children.forEach((c) => c.stop());
      a.remove();
      b.remove();
    }
  });
});
