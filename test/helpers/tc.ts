/**
 * Network namespaces for tc tests: each test works in its own
 * `kernkit-test-<random>` namespace with a veth pair made inside it, never on
 * the host's interfaces, and removes it afterwards (also when the test fails).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { KernkitError, Tc } from '../../lib';
import { commandMissing, rootMissing } from './kernel';

/** Why tc kernel tests cannot run here, or null. */
export function tcMissing(): string | null {
  return rootMissing() ?? commandMissing('ip', ['-V']) ?? commandMissing('tc', ['-V']);
}

/** A fresh `kernkit-test-<random>` name. */
export function testName(): string {
  return `kernkit-test-${randomBytes(5).toString('hex')}`;
}

/** Runs a command and returns its stdout (throws with stderr on failure). */
export function run(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** Runs a command and returns its exit status and output (never throws). */
export function tryRun(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const live = new Set<string>();

/** Deletes every namespace a test file made and has not removed yet (for afterAll). */
export function removeAllNamespaces(): void {
  for (const name of [...live]) removeNamespace(name);
}

function removeNamespace(name: string): void {
  tryRun('ip', ['netns', 'del', name]);
  live.delete(name);
}

/** A network namespace made for one test. */
export class TestNetns {
  private constructor(readonly name: string) {}

  /** Creates an empty namespace (loopback up). */
  static createEmpty(): TestNetns {
    const ns = new TestNetns(testName());
    run('ip', ['netns', 'add', ns.name]);
    live.add(ns.name);
    try {
      ns.ip('link', 'set', 'lo', 'up');
    } catch (err) {
      ns.remove();
      throw err;
    }
    return ns;
  }

  /** Creates a namespace with a veth pair `a`/`b` inside it (both up), loopback up. */
  static create(a = 'kk0', b = 'kk1'): TestNetns {
    const ns = TestNetns.createEmpty();
    try {
      ns.ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      ns.ip('link', 'set', a, 'up');
      ns.ip('link', 'set', b, 'up');
    } catch (err) {
      ns.remove();
      throw err;
    }
    return ns;
  }

  /** Adds another veth pair `a`/`b` (both up) inside the namespace. */
  addVethPair(a: string, b: string): void {
    this.ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    this.ip('link', 'set', a, 'up');
    this.ip('link', 'set', b, 'up');
  }

  /** `ip -n NS ...` */
  ip(...args: string[]): string {
    return run('ip', ['-n', this.name, ...args]);
  }

  /** `tc -n NS ...` */
  tc(...args: string[]): string {
    return run('tc', ['-n', this.name, ...args]);
  }

  /** `tc -n NS ...`, never throwing: status and output. */
  tryTc(...args: string[]): { status: number; stdout: string; stderr: string } {
    return tryRun('tc', ['-n', this.name, ...args]);
  }

  /** `tc -s -j -n NS <what> show [args]` parsed; a leading '-d' in args adds details. */
  tcJson(what: 'qdisc' | 'class' | 'filter', ...args: string[]): Array<Record<string, unknown>> {
    const details = args[0] === '-d' ? ['-d'] : [];
    const out = this.tc('-s', '-j', ...details, what, 'show', ...args.slice(details.length));
    return out.trim() === '' ? [] : (JSON.parse(out) as Array<Record<string, unknown>>);
  }

  /** The interface index of `dev` in this namespace. */
  ifindex(dev: string): number {
    const links = JSON.parse(this.ip('-j', 'link', 'show', 'dev', dev)) as Array<{ ifindex: number }>;
    return links[0].ifindex;
  }

  /** Deletes the namespace (and the devices in it). */
  remove(): void {
    removeNamespace(this.name);
  }
}

/**
 * Two namespaces joined by a veth pair: `left` holds `dev` (10.a.b.1/30),
 * `right` its peer (10.a.b.2/30). Traffic between them stays inside them.
 */
export class VethLink {
  readonly leftAddr: string;
  readonly rightAddr: string;

  private constructor(
    readonly left: TestNetns,
    readonly right: TestNetns,
    readonly dev: string,
    readonly peer: string,
  ) {
    const b = randomBytes(2);
    this.leftAddr = `10.${b[0]}.${b[1] & 0xfc}.1`;
    this.rightAddr = `10.${b[0]}.${b[1] & 0xfc}.2`;
  }

  /** Creates both namespaces and the pair, with addresses and static neighbours. */
  static create(dev = 'kk0', peer = 'kk1'): VethLink {
    const left = TestNetns.create(dev, peer);
    let right: TestNetns | undefined;
    try {
      right = TestNetns.createEmpty();
      left.ip('link', 'set', peer, 'netns', right.name);
      const link = new VethLink(left, right, dev, peer);
      // No IPv6: nothing but the test's own packets crosses the link.
      for (const ns of [left, right]) {
        const conf = '/proc/sys/net/ipv6/conf';
        run('ip', ['netns', 'exec', ns.name, 'sh', '-c', `echo 1 > ${conf}/all/disable_ipv6 && echo 1 > ${conf}/default/disable_ipv6`]);
      }
      left.ip('addr', 'add', `${link.leftAddr}/30`, 'dev', dev);
      right.ip('addr', 'add', `${link.rightAddr}/30`, 'dev', peer);
      right.ip('link', 'set', peer, 'up');
      left.ip('link', 'set', dev, 'up');
      // Static neighbours: no ARP in the measured traffic.
      const mac = (ns: TestNetns, d: string): string =>
        (JSON.parse(ns.ip('-j', 'link', 'show', 'dev', d)) as Array<{ address: string }>)[0].address;
      left.ip('neigh', 'replace', link.rightAddr, 'lladdr', mac(right, peer), 'dev', dev, 'nud', 'permanent');
      right.ip('neigh', 'replace', link.leftAddr, 'lladdr', mac(left, dev), 'dev', peer, 'nud', 'permanent');
      return link;
    } catch (err) {
      left.remove();
      right?.remove();
      throw err;
    }
  }

  /** Removes both namespaces. */
  remove(): void {
    this.left.remove();
    this.right.remove();
  }
}

/** What a traffic test sees: the veth link between two test namespaces, and a Tc in the left one. */
export interface LinkFixture {
  readonly link: VethLink;
  readonly tc: Tc;
}

/**
 * Registers the hooks of a traffic test (in the calling file or describe block): before each test
 * a fresh link kk0/kk1 between two namespaces and a Tc opened in the left one; after it both are
 * closed and removed, also when the test failed.
 */
export function useVethLink(): LinkFixture {
  const current: { link?: VethLink; tc?: Tc } = {};
  beforeEach(async () => {
    if (tcMissing()) return;
    current.link = VethLink.create('kk0', 'kk1');
    current.tc = await Tc.open({ netns: current.link.left.name });
  });
  afterEach(async () => {
    await current.tc?.close();
    current.link?.remove();
    current.tc = undefined;
    current.link = undefined;
  });
  afterAll(removeAllNamespaces);
  return {
    get link() {
      return current.link as VethLink;
    },
    get tc() {
      return current.tc as Tc;
    },
  };
}

/** Result of {@link sendUdp}. */
export interface UdpResult {
  sent: number;
  bytes: number;
  elapsedMs: number;
}

const SENDER = path.join(__dirname, '..', 'tc', 'udp-sender.js');

/**
 * Sends UDP datagrams from inside `ns` (a child process run with
 * `ip netns exec`) to `to:port`, at most `count` of them and for at most
 * `durationMs`. Only addresses inside the test's namespaces are used.
 */
export function sendUdp(
  ns: TestNetns,
  to: string,
  port: number,
  opts: { count: number; durationMs: number; size?: number },
): Promise<UdpResult> {
  if (!existsSync(SENDER)) throw new Error(`missing ${SENDER}`);
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns.name, process.execPath, SENDER, to, String(port), String(opts.count), String(opts.durationMs), String(opts.size ?? 1000)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`udp sender exited with ${code}: ${err}`));
      else resolve(JSON.parse(out) as UdpResult);
    });
  });
}

/** Runs a decoder on garbled input: it may return a value or throw EBADMSG, nothing else. */
export function decodesOrRefuses(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof KernkitError)) throw err;
    expect(err.code).toBe('EBADMSG');
  }
}
