/**
 * `Tc`: traffic control over rtnetlink, in the caller's or another network
 * namespace. `tc.qdisc`, `tc.class` and `tc.filter` add, replace, change,
 * delete and list; every request is built and validated here, sent over one
 * NETLINK_ROUTE socket and answered with the kernel's own errors.
 * @module
 */
import { KernkitError } from '../errors';
import { boolean, cString, integerIn, invalid, oneOf, options } from '../validate';
import { AttrTable, NetlinkSocket, nl, type MessageWriter, type NetlinkMessage, type NetlinkSocketOptions } from '../netlink';
import { TCA_CHAIN, TCA_HW_OFFLOAD, TCA_KIND, TCA_OPTIONS, TCMSG_LEN, TC_H_ROOT } from './constants';
import { DeviceTable, noSuchDevice } from './devices';
import { formatHandle, handleMajor, makeHandle, parseClassId, parseFilterParent, parseQdiscHandle, parseParent, type Handle } from './handle';
import { FILTER_KINDS, QDISC_KINDS, type CodecContext } from './kinds';
import { Psched, type BurstRounding } from './psched';
import {
  classDumpRequest,
  classRequest,
  filterDumpRequest,
  filterRequest,
  protocolName,
  protocolValue,
  qdiscDumpRequest,
  qdiscRequest,
  type ClassDeleteSpec,
  type ClassSpec,
  type Device,
  type FilterDeleteSpec,
  type FilterProtocol,
  type FilterSpec,
  type Operation,
  type QdiscDeleteSpec,
  type QdiscSpec,
} from './requests';
import type { U32Info } from './filters/u32';
import { decodeStats, type TcStats } from './stats';
import { readTcMsg, type TcMsg } from './tcmsg';

const OPEN_KEYS = ['netns', 'pid', 'psched', 'burstRounding'] as const;

/** Where to open tc: the caller's network namespace by default, or another by name, path or pid. */
export interface TcOpenOptions extends Pick<NetlinkSocketOptions, 'netns' | 'pid'> {
  /**
   * The scheduler clock to compute bursts with. By default `/proc/net/psched`
   * is read, as tc does; pass one to reproduce another machine's numbers.
   */
  psched?: Psched;
  /**
   * Which iproute2's burst and rate-table arithmetic to reproduce (overrides
   * that of `psched`). `'truncate'` (the default): iproute2 up to 6.14, e.g.
   * Debian 12's 6.1, truncating to whole microseconds and ticks, so a bucket
   * may hold less than asked (1gbit, burst 1600: 187 ticks, shown as 1375
   * bytes). `'round-up'`: iproute2 6.15 and later, rounding the ticks up, so
   * the bucket holds at least what was asked (200 ticks, shown as 1600).
   * Listings read bursts back with the same arithmetic.
   */
  burstRounding?: BurstRounding;
}

/** The outcome of a change the kernel accepted. */
export interface TcResult {
  /** Warnings the kernel attached (extended-ack text), e.g. htb's "quantum of class 10010 is small". */
  warnings: string[];
}

/** A qdisc as listed. */
export interface QdiscInfo {
  /** The device's name. */
  dev: string;
  /** The device's index. */
  ifindex: number;
  /** The kind (`htb`, `pfifo`, `noqueue`, ...). */
  kind: string;
  /** The handle, as tc prints it (`1:`). */
  handle: string;
  /** The parent: `root`, a class id, or `ffff:fff1` for ingress/clsact. */
  parent: string;
  /** References the kernel holds (`refcnt`). */
  refcnt: number;
  /** The kind's options decoded (see each kind's `*Info` type); absent for kinds kernkit does not decode. */
  options?: object;
  /** Counters. */
  stats: TcStats;
  /** The kind's extended statistics, where it has some (fq, fq_codel). */
  xstats?: object;
  /** True when offloaded to hardware. */
  offloaded?: boolean;
}

/** A class as listed. */
export interface ClassInfo {
  /** The device's name. */
  dev: string;
  /** The device's index. */
  ifindex: number;
  /** The kind (its qdisc's). */
  kind: string;
  /** The class id (`1:10`). */
  classid: string;
  /** The parent class or `root`. */
  parent: string;
  /** The handle of the leaf qdisc attached to the class, when it has one. */
  leaf?: string;
  /** The kind's class options decoded (htb: `HtbClassInfo`). */
  options?: object;
  /** Counters. */
  stats: TcStats;
  /** The kind's class statistics (htb: lends, borrows, giants, tokens, ctokens). */
  xstats?: object;
}

/** A filter as listed. */
export interface FilterInfo {
  /** The device's name. */
  dev: string;
  /** The device's index. */
  ifindex: number;
  /** The kind (`u32`, ...). */
  kind: string;
  /** Where the filter is attached. */
  parent: string;
  /** Its priority. */
  prio: number;
  /** Its protocol. */
  protocol: FilterProtocol;
  /** Its handle in its kind's syntax (u32: `800::800`). */
  handle: string;
  /** Its chain. */
  chain?: number;
  /** The kind's options decoded (u32: `U32Info`). */
  options?: object;
}

/** Where tcm_ifindex sits in a tc request: after the netlink header and tcmsg's family and padding. */
const TCM_IFINDEX_OFFSET = nl.NLMSG_HDRLEN + 4;

interface Decoded {
  msg: TcMsg;
  attrs: AttrTable;
  kind: string;
}

function decodeEntry(m: NetlinkMessage, what: string): Decoded {
  const msg = readTcMsg(m.payload);
  const attrs = new AttrTable(m.payload.subarray(TCMSG_LEN), `${what} attributes`);
  return { msg, attrs, kind: attrs.string(TCA_KIND, 'TCA_KIND') ?? '' };
}

/** Traffic control over rtnetlink. Open with {@link Tc.open}; close when done. */
export class Tc {
  /** Qdiscs: `add`, `replace`, `change`, `delete`, `list`. */
  readonly qdisc: TcQdiscs;
  /** Classes: `add`, `replace`, `change`, `delete`, `list`. */
  readonly class: TcClasses;
  /** Filters: `add`, `replace`, `change`, `delete`, `list`. */
  readonly filter: TcFilters;
  /** @internal */
  readonly devices: DeviceTable;

  private isClosed = false;

  private constructor(
    /** The netlink socket requests go through. @internal */
    readonly socket: NetlinkSocket,
    /** The scheduler clock bursts are computed with. */
    readonly psched: Psched,
  ) {
    this.devices = new DeviceTable(socket);
    this.qdisc = new TcQdiscs(this);
    this.class = new TcClasses(this);
    this.filter = new TcFilters(this);
  }

  /**
   * Opens tc in the caller's network namespace, or in another:
   * `{ netns: 'blue' }` (a name as `ip netns add` makes), `{ netns: '/proc/1234/ns/net' }`,
   * or `{ pid: 1234 }`. Options are checked before anything is opened:
   * anything but an object (or undefined), an unknown key, a netns with a NUL
   * byte, a `psched` that is not a {@link Psched} are `EINVAL`.
   */
  static async open(value?: TcOpenOptions): Promise<Tc> {
    const o = options<TcOpenOptions>('options', value, OPEN_KEYS);
    // A NUL would end the path early: the namespace opened would not be the one named.
    if (o.netns !== undefined) cString('netns', o.netns, { nonEmpty: true, expected: 'a namespace name or an absolute path' });
    if (o.psched !== undefined && !(o.psched instanceof Psched)) throw invalid('psched', o.psched, 'a Psched (from Psched.read() or Psched.parse())');
    if (o.burstRounding !== undefined) oneOf('burstRounding', o.burstRounding, ['truncate', 'round-up']);
    let psched = o.psched ?? (await Psched.read());
    if (o.burstRounding !== undefined) psched = psched.withRounding(o.burstRounding);
    // Link notifications keep the device-name cache true (see DeviceTable).
    const socket = await NetlinkSocket.open({ netns: o.netns, pid: o.pid, groups: [nl.RTNLGRP_LINK] });
    return new Tc(socket, psched);
  }

  /** True once {@link Tc.close} has been called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Closes the socket. Requests still waiting for their reply, and queued
   * listings, are rejected with `ECANCELED` at once; a cancelled change may
   * already have been carried out by the kernel.
   */
  close(): Promise<void> {
    this.isClosed = true;
    return this.socket.close();
  }

  /** `await using tc = await Tc.open()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  context(op: string): CodecContext {
    return { psched: this.psched, op };
  }

  /**
   * Builds (validating before anything is sent), resolves the device and
   * sends. With a known device nothing awaits before the send, so requests go
   * out in call order. A name whose cached index the kernel no longer knows is
   * looked up again once.
   * @internal
   */
  async modify(op: string, spec: unknown, build: (ifindex: number) => MessageWriter): Promise<TcResult> {
    const msg = build(0); // checks the whole spec first
    const dev = (spec as { dev: Device }).dev;
    const cached = this.devices.cached(dev);
    const ifindex = cached ?? (await this.devices.index(dev));
    msg.setU32(TCM_IFINDEX_OFFSET, ifindex);
    try {
      const reply = await this.socket.request(msg, op);
      return { warnings: reply.warnings };
    } catch (err) {
      if (!(err instanceof KernkitError && err.code === 'ENODEV' && typeof dev === 'string' && cached !== undefined)) throw err;
      this.devices.forget(dev);
      msg.setU32(TCM_IFINDEX_OFFSET, await this.devices.index(dev));
      const reply = await this.socket.request(msg, op);
      return { warnings: reply.warnings };
    }
  }

  /**
   * The decoded entries of a dump for one device (all devices when `dev` is
   * undefined) that `keep` selects. The kernel answers a dump for an index
   * it does not know with nothing, not an error: an empty answer is checked,
   * and a device that is gone is `ENODEV`. A cached name whose device is
   * gone is looked up again once, as for changes.
   * @internal
   */
  async dumpOf(dev: Device | undefined, op: string, what: string, request: (ifindex: number) => MessageWriter, keep: (e: Decoded, ifindex: number) => boolean): Promise<Decoded[]> {
    for (let attempt = 0; ; attempt++) {
      const ifindex = dev === undefined ? 0 : await this.devices.index(dev);
      const msgs = await this.socket.dump(request(ifindex), op);
      const entries = msgs.map((m) => decodeEntry(m, what)).filter((e) => keep(e, ifindex));
      if (entries.length > 0 || dev === undefined || (await this.devices.exists(ifindex))) return entries;
      if (typeof dev !== 'string' || attempt > 0) throw noSuchDevice(dev);
      this.devices.forget(dev); // its name may belong to another device now
    }
  }

  /** @internal */
  async names(entries: Decoded[]): Promise<Map<number, string>> {
    return this.devices.names(entries.map((e) => e.msg.ifindex));
  }
}

const LIST_KEYS = {
  qdisc: ['dev', 'handle', 'parent', 'invisible'],
  class: ['dev', 'parent', 'classid'],
  filter: ['dev', 'parent', 'prio', 'protocol', 'chain'],
} as const;

/** The filter of a listing: `undefined` (qdiscs only) or an object with only the keys that listing takes. */
function listFilter<T extends object>(what: keyof typeof LIST_KEYS, value: unknown, devRequired: boolean): Partial<T> & { dev?: Device } {
  const field = `${what} list`;
  if (devRequired && value === undefined) throw invalid(field, value, `an object with dev and optionally ${LIST_KEYS[what].slice(1).join(', ')}`);
  const o = options<T & { dev?: Device }>(field, value, LIST_KEYS[what]);
  if (devRequired && o.dev === undefined) throw invalid('dev', undefined, 'a device name or an interface index (required)');
  return o;
}

/** Qdisc operations; see {@link Tc.qdisc}. */
export class TcQdiscs {
  /** @internal */
  constructor(private readonly tc: Tc) {}

  private run(op: Operation, spec: QdiscSpec | QdiscDeleteSpec): Promise<TcResult> {
    const name = `qdisc ${op}`;
    return this.tc.modify(name, spec, (ifindex) => qdiscRequest(op, spec, ifindex, this.tc.context(name)));
  }

  /** `tc qdisc add`: creates the qdisc; `EEXIST` if one is there already. */
  add(spec: QdiscSpec): Promise<TcResult> {
    return this.run('add', spec);
  }

  /** `tc qdisc replace`: creates the qdisc, or replaces the one at that parent. */
  replace(spec: QdiscSpec): Promise<TcResult> {
    return this.run('replace', spec);
  }

  /** `tc qdisc change`: changes an existing qdisc's options (kinds without change support: `EOPNOTSUPP`). */
  change(spec: QdiscSpec): Promise<TcResult> {
    return this.run('change', spec);
  }

  /** `tc qdisc del`: deletes the qdisc at `parent` (default root) or with `handle`. */
  delete(spec: QdiscDeleteSpec): Promise<TcResult> {
    return this.run('delete', spec);
  }

  /** `tc -s qdisc show [dev D]`: qdiscs with options and statistics; filter by handle or parent. */
  async list(filter?: { dev?: Device; handle?: Handle; parent?: Handle; invisible?: boolean }): Promise<QdiscInfo[]> {
    const f = listFilter<NonNullable<typeof filter>>('qdisc', filter, false);
    const handle = f.handle === undefined ? undefined : parseQdiscHandle(f.handle);
    const parent = f.parent === undefined ? undefined : parseParent(f.parent);
    const invisible = f.invisible === undefined ? false : boolean('invisible', f.invisible);
    if (f.dev !== undefined) this.tc.devices.cached(f.dev); // checked before any request
    const ctx = this.tc.context('qdisc list');
    // A device has at least its root qdisc (noqueue): a device's empty list means the device is gone.
    const entries = await this.tc.dumpOf(
      f.dev,
      'qdisc list',
      'qdisc',
      (ifindex) => qdiscDumpRequest(ifindex, invisible),
      (e, ifindex) => (!ifindex || e.msg.ifindex === ifindex) && (handle === undefined || e.msg.handle === handle) && (parent === undefined || e.msg.parent === parent),
    );
    const names = await this.tc.names(entries);
    return entries.map(({ msg, attrs, kind }) => {
      const codec = QDISC_KINDS.get(kind);
      const { stats, app } = decodeStats(attrs);
      const info: QdiscInfo = {
        dev: names.get(msg.ifindex) as string,
        ifindex: msg.ifindex,
        kind,
        handle: formatHandle(makeHandle(handleMajor(msg.handle), 0)),
        parent: formatHandle(msg.parent),
        refcnt: msg.info,
        stats,
      };
      const options = codec?.decode(attrs.get(TCA_OPTIONS), ctx);
      if (options !== undefined) info.options = options;
      if (app && codec?.decodeXstats) info.xstats = codec.decodeXstats(app);
      const hw = attrs.u8(TCA_HW_OFFLOAD, 'TCA_HW_OFFLOAD');
      if (hw) info.offloaded = true;
      return info;
    });
  }
}

/**
 * Whether a listed class is under `parent`: any class for 0, top-level
 * classes for root, a qdisc's classes for `1:`, a class's children for `1:1`.
 */
function underParent(msg: TcMsg, parent: number): boolean {
  if (parent === 0) return true;
  if (parent === TC_H_ROOT) return msg.parent === TC_H_ROOT;
  if (handleMajor(msg.handle) !== handleMajor(parent)) return false;
  return (parent & 0xffff) === 0 || msg.parent === parent;
}

/** Class operations; see {@link Tc.class}. */
export class TcClasses {
  /** @internal */
  constructor(private readonly tc: Tc) {}

  private run(op: Operation, spec: ClassSpec | ClassDeleteSpec): Promise<TcResult> {
    const name = `class ${op}`;
    return this.tc.modify(name, spec, (ifindex) => classRequest(op, spec, ifindex, this.tc.context(name)));
  }

  /** `tc class add`: creates the class; `EEXIST` if it exists. */
  add(spec: ClassSpec): Promise<TcResult> {
    return this.run('add', spec);
  }

  /** `tc class replace`: creates the class or changes it. */
  replace(spec: ClassSpec): Promise<TcResult> {
    return this.run('replace', spec);
  }

  /** `tc class change`: changes an existing class (`ENOENT` if there is none). */
  change(spec: ClassSpec): Promise<TcResult> {
    return this.run('change', spec);
  }

  /** `tc class del`: deletes the class (`EBUSY` while it has children or filters point at it). */
  delete(spec: ClassDeleteSpec): Promise<TcResult> {
    return this.run('delete', spec);
  }

  /** `tc -s class show dev D [parent P]`: a device's classes with options and statistics. */
  async list(filter: { dev: Device; parent?: Handle; classid?: Handle }): Promise<ClassInfo[]> {
    const f = listFilter<typeof filter>('class', filter, true);
    const parent = f.parent === undefined ? 0 : parseClassId(f.parent, 'parent');
    const classid = f.classid === undefined ? undefined : parseClassId(f.classid, 'classid');
    this.tc.devices.cached(f.dev as Device);
    const dumpParent = parent === TC_H_ROOT ? 0 : makeHandle(handleMajor(parent), 0);
    const ctx = this.tc.context('class list');
    const entries = await this.tc.dumpOf(
      f.dev,
      'class list',
      'class',
      (ifindex) => classDumpRequest(ifindex, dumpParent),
      (e, ifindex) => e.msg.ifindex === ifindex && (classid === undefined || e.msg.handle === classid) && underParent(e.msg, parent),
    );
    const names = await this.tc.names(entries);
    return entries.map(({ msg, attrs, kind }) => {
      const cls = QDISC_KINDS.get(kind)?.classes;
      const { stats, app } = decodeStats(attrs);
      const info: ClassInfo = {
        dev: names.get(msg.ifindex) as string,
        ifindex: msg.ifindex,
        kind,
        classid: formatHandle(msg.handle),
        parent: formatHandle(msg.parent),
        stats,
      };
      if (msg.info) info.leaf = formatHandle(msg.info);
      const options = cls?.decode(attrs.get(TCA_OPTIONS), ctx);
      if (options !== undefined) info.options = options;
      if (app && cls?.decodeXstats) info.xstats = cls.decodeXstats(app);
      return info;
    });
  }
}

/** Filter operations; see {@link Tc.filter}. */
export class TcFilters {
  /** @internal */
  constructor(private readonly tc: Tc) {}

  private run(op: Operation, spec: FilterSpec | FilterDeleteSpec): Promise<TcResult> {
    const name = `filter ${op}`;
    return this.tc.modify(name, spec, (ifindex) => filterRequest(op, spec, ifindex, this.tc.context(name)));
  }

  /** `tc filter add`. */
  add(spec: FilterSpec): Promise<TcResult> {
    return this.run('add', spec);
  }

  /** `tc filter replace`: creates the filter or changes it. */
  replace(spec: FilterSpec): Promise<TcResult> {
    return this.run('replace', spec);
  }

  /** `tc filter change`: changes an existing filter (give prio, protocol and handle). */
  change(spec: FilterSpec): Promise<TcResult> {
    return this.run('change', spec);
  }

  /** `tc filter del`: deletes the filters of a priority, or with `kind` and `handle` one filter. */
  delete(spec: FilterDeleteSpec): Promise<TcResult> {
    return this.run('delete', spec);
  }

  /**
   * `tc filter show dev D [parent P]`: the filters attached at `parent` (by
   * default the root qdisc; `'ingress'`/`'egress'` for clsact), optionally of
   * one priority or protocol.
   */
  async list(filter: { dev: Device; parent?: Handle; prio?: number; protocol?: FilterProtocol; chain?: number }): Promise<FilterInfo[]> {
    const f = listFilter<typeof filter>('filter', filter, true);
    const parent = f.parent === undefined ? 0 : parseFilterParent(f.parent);
    const prio = f.prio === undefined ? 0 : integerIn('prio', f.prio, 0, 0xffff);
    const protocol = f.protocol === undefined ? 0 : protocolValue(f.protocol);
    const chain = f.chain === undefined ? undefined : integerIn('chain', f.chain, 0, 0xffffffff);
    this.tc.devices.cached(f.dev as Device);
    const ctx = this.tc.context('filter list');
    // Handle 0 is the priority's own entry (tc prints it as a bare header line), not a filter.
    const entries = await this.tc.dumpOf(
      f.dev,
      'filter list',
      'filter',
      (ifindex) => filterDumpRequest(ifindex, parent, prio, protocol, chain),
      (e, ifindex) => e.msg.ifindex === ifindex && e.kind !== '' && e.msg.handle !== 0,
    );
    const names = await this.tc.names(entries);
    return entries.map(({ msg, attrs, kind }) => {
      const codec = FILTER_KINDS.get(kind);
      const info: FilterInfo = {
        dev: names.get(msg.ifindex) as string,
        ifindex: msg.ifindex,
        kind,
        parent: formatHandle(msg.parent),
        prio: msg.info >>> 16,
        protocol: protocolName(msg.info & 0xffff),
        handle: codec?.formatHandle ? codec.formatHandle(msg.handle) : msg.handle.toString(16),
      };
      const c = attrs.u32(TCA_CHAIN, 'TCA_CHAIN');
      if (c !== undefined) info.chain = c;
      const options = codec?.decode(attrs.get(TCA_OPTIONS), ctx);
      if (options !== undefined) {
        if (kind === 'u32') (options as U32Info).handle = info.handle;
        info.options = options;
      }
      return info;
    });
  }
}
