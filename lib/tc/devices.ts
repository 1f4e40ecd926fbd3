/**
 * Device names and interface indexes in the socket's network namespace,
 * resolved over the same netlink socket (RTM_GETLINK) and cached. The socket
 * is subscribed to link notifications (RTNLGRP_LINK): a rename or a deletion
 * drops what the cache knew of that device as soon as its notification is
 * read, so that a name another device takes over leads to the new device.
 * @module
 */
import { describeValue, KernkitError } from '../errors';
import { cString, integerIn } from '../validate';
import { AttrTable, MessageWriter, StructReader, nl, type NetlinkMessage, type NetlinkSocket } from '../netlink';
import type { Device } from './requests';

/** IFNAMSIZ - 1. */
const MAX_NAME = 15;
/** RTEXT_FILTER_SKIP_STATS: links without their statistics (smaller replies). */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

function linkOf(msg: NetlinkMessage): { index: number; name?: string } {
  const r = new StructReader(msg.payload, nl.IFINFOMSG_LEN, 'ifinfomsg');
  const attrs = new AttrTable(msg.payload.subarray(nl.IFINFOMSG_LEN), 'link attributes');
  return { index: r.s32(4), name: attrs.string(nl.IFLA_IFNAME, 'IFLA_IFNAME') };
}

/** Name ↔ index lookups for one namespace. */
export class DeviceTable {
  private readonly byName = new Map<string, number>();
  private readonly byIndex = new Map<number, string>();
  private readonly inflight = new Map<string, Promise<number>>();

  /**
   * Uses `socket` for lookups, and its link notifications (if it joined
   * RTNLGRP_LINK) to keep the cache true.
   */
  constructor(private readonly socket: NetlinkSocket) {
    socket.listener = {
      notify: (msg) => this.linkChanged(msg),
      lost: () => this.clear(),
    };
  }

  /** A link notification: forget whatever it contradicts. */
  private linkChanged(msg: NetlinkMessage): void {
    if (msg.type !== nl.RTM_NEWLINK && msg.type !== nl.RTM_DELLINK) return;
    let link: { index: number; name?: string };
    try {
      link = linkOf(msg);
    } catch {
      this.clear(); // a notification that cannot be read: trust nothing cached
      return;
    }
    const known = this.byIndex.get(link.index);
    if (msg.type === nl.RTM_DELLINK || link.name === undefined) {
      this.forget(link.index);
      return;
    }
    if (known !== undefined && known !== link.name) this.forget(link.index); // renamed
    const holder = this.byName.get(link.name);
    if (holder !== undefined && holder !== link.index) this.forget(link.name); // its name now belongs to another device
  }

  private clear(): void {
    this.byName.clear();
    this.byIndex.clear();
  }

  private remember(index: number, name: string): void {
    this.byName.set(name, index);
    this.byIndex.set(index, name);
  }

  /** The index for `dev` if it is a number or already known; undefined otherwise. */
  cached(dev: Device): number | undefined {
    if (typeof dev === 'number') return integerIn('dev', dev, 1, 0x7fffffff, 'EINVAL');
    const name = cString('dev', dev, { nonEmpty: true, maxLength: MAX_NAME, expected: 'a device name of 1..15 characters, or an interface index' });
    return this.byName.get(name);
  }

  /** The index of `dev`, asking the kernel for names not yet known (`ENODEV` if there is none). */
  index(dev: Device): number | Promise<number> {
    const known = this.cached(dev);
    if (known !== undefined) return known;
    const name = dev as string;
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = this.lookup(name).finally(() => this.inflight.delete(name));
      this.inflight.set(name, pending);
    }
    return pending;
  }

  private async lookup(name: string): Promise<number> {
    const req = new MessageWriter(nl.RTM_GETLINK, 0);
    req.zeros(nl.IFINFOMSG_LEN);
    req.attrString(nl.IFLA_IFNAME, name, 'dev');
    req.attrU32(nl.IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    let reply;
    try {
      reply = await this.socket.request(req, `dev ${JSON.stringify(name)}`);
    } catch (err) {
      if (err instanceof KernkitError && err.code === 'ENODEV') throw noSuchDevice(name, err);
      throw err;
    }
    const link = reply.messages.find((m) => m.type === nl.RTM_NEWLINK);
    if (!link) throw new KernkitError(`dev ${JSON.stringify(name)}: the kernel sent no link`, { code: 'EBADMSG' });
    const { index } = linkOf(link);
    this.remember(index, name);
    return index;
  }

  /**
   * Whether the namespace has a device with this index now (asked of the
   * kernel). A dump for an index the kernel does not know answers with
   * nothing rather than an error: this tells "none" from "no such device".
   */
  async exists(index: number): Promise<boolean> {
    const req = new MessageWriter(nl.RTM_GETLINK, 0);
    const at = req.zeros(nl.IFINFOMSG_LEN);
    req.setU32(at + 4, index);
    req.attrU32(nl.IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    try {
      await this.socket.request(req, `dev ${index}`);
      return true;
    } catch (err) {
      if (err instanceof KernkitError && err.code === 'ENODEV') {
        this.forget(index);
        return false;
      }
      throw err;
    }
  }

  /** Forgets what is known about `dev` (after the kernel said it is gone). */
  forget(dev: Device): void {
    if (typeof dev === 'string') {
      const index = this.byName.get(dev);
      this.byName.delete(dev);
      if (index !== undefined) this.byIndex.delete(index);
    } else {
      const name = this.byIndex.get(dev);
      this.byIndex.delete(dev);
      if (name !== undefined) this.byName.delete(name);
    }
  }

  /** Names for interface indexes, refreshing from a link dump when one is unknown. */
  async names(indexes: Iterable<number>): Promise<Map<number, string>> {
    const wanted = [...new Set(indexes)];
    if (wanted.some((i) => !this.byIndex.has(i))) await this.refresh();
    return new Map(wanted.map((i) => [i, this.byIndex.get(i) ?? `if${i}`]));
  }

  /** Reloads every link of the namespace. */
  async refresh(): Promise<void> {
    const req = new MessageWriter(nl.RTM_GETLINK, 0);
    req.zeros(nl.IFINFOMSG_LEN);
    req.attrU32(nl.IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    const msgs = await this.socket.dump(req, 'link dump');
    this.clear();
    for (const m of msgs) {
      if (m.type !== nl.RTM_NEWLINK) continue;
      const { index, name } = linkOf(m);
      if (name !== undefined) this.remember(index, name);
    }
  }
}

/** The `ENODEV` for a device the namespace does not have (`cause`: the kernel's own error). */
export function noSuchDevice(dev: Device, cause?: KernkitError): KernkitError {
  return new KernkitError(`dev ${describeValue(dev)}: no such device in this network namespace`, { code: 'ENODEV', errno: cause?.errno ?? -19, op: cause?.op });
}
