/**
 * `Tc`: traffic control over rtnetlink, in the caller's or another network
 * namespace. `tc.qdisc`, `tc.class` and `tc.filter` add, replace, change,
 * delete and list; every request is built and validated here, sent over one
 * NETLINK_ROUTE socket and answered with the kernel's own errors.
 * @module
 */
import { invalidArgument, KernkitError } from '../errors';
import { AttrTable, NetlinkSocket, nl, type MessageWriter, type NetlinkMessage, type NetlinkSocketOptions } from '../netlink';
import { TCA_CHAIN, TCA_HW_OFFLOAD, TCA_KIND, TCA_OPTIONS, TCMSG_LEN, TC_H_ROOT } from './constants';
import { DeviceTable } from './devices';
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
import { parseUint } from './units';

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
   * or `{ pid: 1234 }`.
   */
  static async open(options: TcOpenOptions = {}): Promise<Tc> {
    let psched = options.psched ?? (await Psched.read());
    if (options.burstRounding !== undefined) psched = psched.withRounding(options.burstRounding);
    // Link notifications keep the device-name cache true (see DeviceTable).
    const socket = await NetlinkSocket.open({ netns: options.netns, pid: options.pid, groups: [nl.RTNLGRP_LINK] });
    return new Tc(socket, psched);
  }

  /**
   * Closes the socket. Requests still waiting for their reply, and queued
   * listings, are rejected with `ECANCELED` at once; a cancelled change may
   * already have been carried out by the kernel.
   */
  close(): Promise<void> {
    return this.socket.close();
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
    const dev = requireDev(spec, op);
    const msg = build(0);
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

  /** @internal */
  async names(entries: Decoded[]): Promise<Map<number, string>> {
    return this.devices.names(entries.map((e) => e.msg.ifindex));
  }
}

function requireDev(spec: unknown, op: string): Device {
  if (typeof spec !== 'object' || spec === null) throw invalidArgument(op, spec, 'expected an object with at least dev');
  const dev = (spec as { dev?: unknown }).dev;
  if (typeof dev !== 'string' && typeof dev !== 'number') throw invalidArgument('dev', dev, 'a device name or interface index');
  return dev;
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
  async list(filter: { dev?: Device; handle?: Handle; parent?: Handle; invisible?: boolean } = {}): Promise<QdiscInfo[]> {
    const handle = filter.handle === undefined ? undefined : parseQdiscHandle(filter.handle);
    const parent = filter.parent === undefined ? undefined : parseParent(filter.parent);
    const ifindex = filter.dev === undefined ? 0 : await this.tc.devices.index(filter.dev);
    const msgs = await this.tc.socket.dump(qdiscDumpRequest(ifindex, filter.invisible === true), 'qdisc list');
    const ctx = this.tc.context('qdisc list');
    const entries = msgs
      .map((m) => decodeEntry(m, 'qdisc'))
      .filter((e) => (!ifindex || e.msg.ifindex === ifindex) && (handle === undefined || e.msg.handle === handle) && (parent === undefined || e.msg.parent === parent));
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
    const dev = requireDev(filter, 'class list');
    const parent = filter.parent === undefined ? 0 : parseClassId(filter.parent, 'parent');
    const classid = filter.classid === undefined ? undefined : parseClassId(filter.classid, 'classid');
    const ifindex = await this.tc.devices.index(dev);
    const msgs = await this.tc.socket.dump(classDumpRequest(ifindex, parent === TC_H_ROOT ? 0 : makeHandle(handleMajor(parent), 0)), 'class list');
    const ctx = this.tc.context('class list');
    const entries = msgs
      .map((m) => decodeEntry(m, 'class'))
      .filter((e) => e.msg.ifindex === ifindex && (classid === undefined || e.msg.handle === classid) && underParent(e.msg, parent));
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
    const dev = requireDev(filter, 'filter list');
    const parent = filter.parent === undefined ? 0 : parseFilterParent(filter.parent);
    const prio = filter.prio === undefined ? 0 : parseUint(filter.prio, 'prio', 0xffff);
    const protocol = filter.protocol === undefined ? 0 : protocolValue(filter.protocol);
    const chain = filter.chain === undefined ? undefined : parseUint(filter.chain, 'chain');
    const ifindex = await this.tc.devices.index(dev);
    const msgs = await this.tc.socket.dump(filterDumpRequest(ifindex, parent, prio, protocol, chain), 'filter list');
    const ctx = this.tc.context('filter list');
    // Handle 0 is the priority's own entry (tc prints it as a bare header line), not a filter.
    const entries = msgs.map((m) => decodeEntry(m, 'filter')).filter((e) => e.msg.ifindex === ifindex && e.kind !== '' && e.msg.handle !== 0);
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
