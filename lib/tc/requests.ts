/**
 * tc requests as bytes: the rtnetlink message `tc qdisc|class|filter
 * add|replace|change|del` sends for a spec, built without any I/O (the device
 * is already an index), so that it can be compared with what iproute2 sends.
 * @module
 */
import { MessageWriter, nl } from '../netlink';
import { ETH_P_8021Q, ETH_P_ALL, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, TCA_CHAIN, TCA_DUMP_INVISIBLE, TCA_EGRESS_BLOCK, TCA_INGRESS_BLOCK, TCA_KIND, TCA_RATE, TC_H_INGRESS, TC_H_ROOT } from './constants';
import { estimatorBytes, setupEstimator, type TcEstimatorOptions } from './tca-rate';
import type { FifoOptions } from './kinds/fifo';
import type { FqOptions } from './kinds/fq';
import type { FqCodelOptions } from './kinds/fq_codel';
import type { HtbClassOptions, HtbQdiscOptions } from './kinds/htb';
import { FILTER_KINDS, QDISC_KINDS, type CodecContext, type QdiscCodec } from './kinds';
import type { NetemOptions } from './kinds/netem';
import type { TbfOptions } from './kinds/tbf';
import type { U32Options } from './filters/u32';
import { handleMajor, makeHandle, parseClassId, parseFilterParent, parseParent, parseQdiscHandle, type Handle } from './handle';
import { writeTcMsg } from './tcmsg';
import { cString, integerIn, invalid, oneOf, options } from '../validate';

/** A device: its name in the namespace, or its interface index. */
export type Device = string | number;

/** What every qdisc spec has. */
export interface QdiscTarget {
  /** The device. */
  dev: Device;
  /**
   * Where the qdisc attaches: `'root'` (the default), a class id (`'1:10'`),
   * or `'ingress'`/`'clsact'` (implied by those kinds).
   */
  parent?: Handle;
  /** The qdisc's handle (`'1:'`); the kernel picks one when absent. */
  handle?: Handle;
}

/** Options common to qdisc add/replace/change. */
export interface QdiscCommon extends QdiscTarget {
  /** A rate estimator (`estimator INTERVAL TIME_CONSTANT`). */
  estimator?: TcEstimatorOptions;
  /** Shared ingress filter block (`ingress_block`), for ingress/clsact. */
  ingressBlock?: number;
  /** Shared egress filter block (`egress_block`), for clsact. */
  egressBlock?: number;
}

/** A qdisc with its kind and that kind's options. */
export type QdiscSpec = QdiscCommon &
  (
    | { kind: 'pfifo' | 'bfifo' | 'pfifo_head_drop'; options?: FifoOptions }
    | { kind: 'tbf'; options: TbfOptions }
    | { kind: 'htb'; options?: HtbQdiscOptions }
    | { kind: 'fq'; options?: FqOptions }
    | { kind: 'fq_codel'; options?: FqCodelOptions }
    | { kind: 'netem'; options?: NetemOptions }
    | { kind: 'ingress' | 'clsact'; options?: Record<string, never> }
  );

/** Which qdisc to delete: by parent (`'root'` by default) and/or handle, optionally checking its kind. */
export interface QdiscDeleteSpec extends QdiscTarget {
  /** When given, sent along: the kernel refuses if the qdisc is of another kind. */
  kind?: string;
}

/** A class: its id, its parent and its kind's options. */
export interface ClassSpec {
  /** The device. */
  dev: Device;
  /** The class id (`'1:10'`). */
  classid: Handle;
  /** The parent class or qdisc (`'1:1'`, `'1:'`); defaults to the qdisc the class id names (`'1:'` for `'1:10'`). */
  parent?: Handle;
  /** A rate estimator. */
  estimator?: TcEstimatorOptions;
  /** The kind (the qdisc's). */
  kind: 'htb';
  /** The kind's class options. */
  options: HtbClassOptions;
}

/** Which class to delete. */
export interface ClassDeleteSpec {
  /** The device. */
  dev: Device;
  /** The class id (`'1:10'`). */
  classid: Handle;
  /** Its parent, if the kernel should check it. */
  parent?: Handle;
}

/** The protocol a filter applies to: `'all'`, `'ip'`, `'ipv6'`, `'arp'`, `'802.1q'`, or an ETH_P_* number. */
export type FilterProtocol = 'all' | 'ip' | 'ipv6' | 'arp' | '802.1q' | number;

/** What identifies a filter. */
export interface FilterTarget {
  /** The device. */
  dev: Device;
  /** The qdisc or class the filter is attached to (`'1:'`), or clsact's `'ingress'`/`'egress'`. Default: the root qdisc. */
  parent?: Handle;
  /** The priority (`pref`/`prio`), 1..65535; the kernel picks one when absent on add. */
  prio?: number;
  /** The protocol; `'all'` when absent on add/replace. */
  protocol?: FilterProtocol;
  /** The filter's handle in its kind's syntax (u32: `'800::1'`). */
  handle?: string | number;
  /** The filter chain (`chain`). */
  chain?: number;
}

/** A filter with its kind and options. */
export type FilterSpec = FilterTarget & { estimator?: TcEstimatorOptions } & { kind: 'u32'; options?: U32Options };

/** Which filter(s) to delete: a whole priority, or with kind and handle one filter. */
export type FilterDeleteSpec = FilterTarget & { kind?: 'u32' };

/** A modifying operation. */
export type Operation = 'add' | 'replace' | 'change' | 'delete';

/** Room for a request with two rate tables (tbf, htb classes) without regrowing. */
const REQUEST_CAPACITY = 2304;

/** The nlmsg flags tc uses for each qdisc operation. */
const QDISC_FLAGS: Record<Operation, number> = {
  add: nl.NLM_F_CREATE | nl.NLM_F_EXCL,
  replace: nl.NLM_F_CREATE | nl.NLM_F_REPLACE,
  change: 0,
  delete: 0,
};

/** For classes and filters `replace` is create-or-change (NLM_F_CREATE only), as in tc. */
const CLASS_FLAGS: Record<Operation, number> = {
  add: nl.NLM_F_CREATE | nl.NLM_F_EXCL,
  replace: nl.NLM_F_CREATE,
  change: 0,
  delete: 0,
};

/** The keys each kind of spec takes: any other is `EINVAL`, so that a misspelt option is not silently left out. */
const TARGET_KEYS = ['dev', 'parent', 'handle'] as const;
const QDISC_KEYS = [...TARGET_KEYS, 'kind', 'options', 'estimator', 'ingressBlock', 'egressBlock'] as const;
const QDISC_DELETE_KEYS = [...TARGET_KEYS, 'kind'] as const;
const CLASS_KEYS = ['dev', 'classid', 'parent', 'estimator', 'kind', 'options'] as const;
const CLASS_DELETE_KEYS = ['dev', 'classid', 'parent'] as const;
const FILTER_DELETE_KEYS = ['dev', 'parent', 'prio', 'protocol', 'handle', 'chain', 'kind'] as const;
const FILTER_KEYS = [...FILTER_DELETE_KEYS, 'estimator', 'options'] as const;

/** The spec of an operation (`qdisc add`, ...): a plain object with only the keys that operation takes. */
function checkSpec<T extends object>(op: string, value: unknown, known: readonly string[]): T {
  if (value === undefined) throw invalid(op, value, `an object with ${known.join(', ')}`);
  return options<T>(op, value, known) as T;
}

/** IFNAMSIZ - 1: the longest name TCA_KIND and device names take. */
const MAX_NAME = 15;

function kindCodec(kind: unknown): QdiscCodec {
  return QDISC_KINDS.get(oneOf('kind', kind, [...QDISC_KINDS.keys()])) as QdiscCodec;
}

function writeEstimator(w: MessageWriter, est: TcEstimatorOptions | undefined): void {
  if (est === undefined) return;
  w.attr(TCA_RATE, estimatorBytes(setupEstimator(est)), 'estimator');
}

/** The RTM_NEWQDISC/RTM_DELQDISC message for a qdisc operation. */
export function qdiscRequest(op: Operation, value: QdiscSpec | QdiscDeleteSpec, ifindex: number, ctx: CodecContext): MessageWriter {
  const spec = checkSpec<QdiscSpec | QdiscDeleteSpec>(`qdisc ${op}`, value, op === 'delete' ? QDISC_DELETE_KEYS : QDISC_KEYS);
  const w = new MessageWriter(op === 'delete' ? nl.RTM_DELQDISC : nl.RTM_NEWQDISC, QDISC_FLAGS[op], op === 'delete' ? 64 : REQUEST_CAPACITY);
  const hookKind = spec.kind === 'ingress' || spec.kind === 'clsact';
  const parent = spec.parent === undefined ? (hookKind ? TC_H_INGRESS : TC_H_ROOT) : parseParent(spec.parent);
  let handle = spec.handle === undefined ? 0 : parseQdiscHandle(spec.handle);
  if (hookKind && parent !== TC_H_INGRESS) throw invalid('parent', spec.parent, `"ingress": ${spec.kind} attaches there`);
  // tc's `ingress`/`clsact` keywords: the fixed parent with handle ffff:.
  if (parent === TC_H_INGRESS && spec.handle === undefined) handle = makeHandle(TC_H_INGRESS >>> 16, 0);
  writeTcMsg(w, { ifindex, handle, parent, info: 0 });
  if (op === 'delete') {
    if (spec.kind !== undefined) w.attrString(TCA_KIND, cString('kind', spec.kind, { nonEmpty: true, maxLength: MAX_NAME, expected: 'a qdisc kind' }), 'kind');
    return w;
  }
  const s = spec as QdiscSpec;
  const codec = kindCodec(s.kind);
  w.attrString(TCA_KIND, codec.kind, 'kind');
  writeEstimator(w, s.estimator);
  if (s.ingressBlock !== undefined) w.attrU32(TCA_INGRESS_BLOCK, integerIn('ingressBlock', s.ingressBlock, 1, 0xffffffff), 'ingressBlock');
  if (s.egressBlock !== undefined) w.attrU32(TCA_EGRESS_BLOCK, integerIn('egressBlock', s.egressBlock, 1, 0xffffffff), 'egressBlock');
  codec.encode(w, s.options, ctx);
  return w;
}

/** The RTM_NEWTCLASS/RTM_DELTCLASS message for a class operation. */
export function classRequest(op: Operation, value: ClassSpec | ClassDeleteSpec, ifindex: number, ctx: CodecContext): MessageWriter {
  const spec = checkSpec<ClassSpec | ClassDeleteSpec>(`class ${op}`, value, op === 'delete' ? CLASS_DELETE_KEYS : CLASS_KEYS);
  const w = new MessageWriter(op === 'delete' ? nl.RTM_DELTCLASS : nl.RTM_NEWTCLASS, CLASS_FLAGS[op], op === 'delete' ? 64 : REQUEST_CAPACITY);
  const classid = parseClassId(spec.classid, 'classid');
  const parent = spec.parent === undefined ? (op === 'delete' ? 0 : makeHandle(handleMajor(classid), 0)) : parseClassId(spec.parent, 'parent');
  writeTcMsg(w, { ifindex, handle: classid, parent, info: 0 });
  if (op === 'delete') return w;
  const s = spec as ClassSpec;
  const codec = kindCodec(s.kind);
  if (!codec.classes) throw invalid('kind', s.kind, `a classful kind (${s.kind} is classless)`);
  w.attrString(TCA_KIND, codec.kind, 'kind');
  writeEstimator(w, s.estimator);
  codec.classes.encode(w, s.options, ctx);
  return w;
}

const PROTOCOL_NUMBERS: Record<string, number> = { all: ETH_P_ALL, ip: ETH_P_IP, ipv6: ETH_P_IPV6, arp: ETH_P_ARP, '802.1q': ETH_P_8021Q };

/** An ETH_P_* protocol in network byte order, as tc puts it in tcm_info's low 16 bits. */
export function protocolValue(p: FilterProtocol): number {
  const n = typeof p === 'string' ? PROTOCOL_NUMBERS[p.toLowerCase()] : p;
  const expected = `one of ${Object.keys(PROTOCOL_NUMBERS).join(', ')}, or an ETH_P_* number from 0 to 65535`;
  if (n === undefined) throw invalid('protocol', p, expected);
  const v = integerIn('protocol', n, 0, 0xffff);
  return ((v & 0xff) << 8) | (v >>> 8);
}

/** The protocol name for tcm_info's network-order protocol, or the ETH_P_* number. */
export function protocolName(netOrder: number): FilterProtocol {
  const host = ((netOrder & 0xff) << 8) | (netOrder >>> 8);
  const name = Object.entries(PROTOCOL_NUMBERS).find(([, v]) => v === host)?.[0];
  return (name as FilterProtocol | undefined) ?? host;
}

/** The RTM_NEWTFILTER/RTM_DELTFILTER message for a filter operation. */
export function filterRequest(op: Operation, value: FilterSpec | FilterDeleteSpec, ifindex: number, ctx: CodecContext): MessageWriter {
  const spec = checkSpec<FilterSpec | FilterDeleteSpec>(`filter ${op}`, value, op === 'delete' ? FILTER_DELETE_KEYS : FILTER_KEYS);
  const w = new MessageWriter(op === 'delete' ? nl.RTM_DELTFILTER : nl.RTM_NEWTFILTER, CLASS_FLAGS[op]);
  const parent = spec.parent === undefined ? 0 : parseFilterParent(spec.parent);
  const prio = spec.prio === undefined ? 0 : integerIn('prio', spec.prio, 0, 0xffff);
  // tc fills in ETH_P_ALL only when creating.
  const protocol = spec.protocol !== undefined ? protocolValue(spec.protocol) : op === 'add' || op === 'replace' ? protocolValue('all') : 0;
  const codec = spec.kind === undefined ? undefined : FILTER_KINDS.get(oneOf('kind', spec.kind, [...FILTER_KINDS.keys()]));
  let handle = 0;
  if (spec.handle !== undefined) {
    if (!codec?.parseHandle) throw invalid('handle', spec.handle, 'no handle without the filter\'s kind, which gives it its syntax');
    handle = codec.parseHandle(spec.handle, 'handle');
  }
  writeTcMsg(w, { ifindex, handle, parent, info: ((prio << 16) | protocol) >>> 0 });
  if (spec.chain !== undefined) w.attrU32(TCA_CHAIN, integerIn('chain', spec.chain, 0, 0xffffffff), 'chain');
  if (codec) w.attrString(TCA_KIND, codec.kind, 'kind');
  if (op !== 'delete' && codec) codec.encode(w, (spec as FilterSpec).options, ctx);
  if (op !== 'delete') writeEstimator(w, (spec as FilterSpec).estimator);
  return w;
}

/** An RTM_GETQDISC dump for one device (0: all). */
export function qdiscDumpRequest(ifindex: number, invisible = false): MessageWriter {
  const w = new MessageWriter(nl.RTM_GETQDISC, 0);
  writeTcMsg(w, { ifindex, handle: 0, parent: 0, info: 0 });
  if (invisible) w.attrFlag(TCA_DUMP_INVISIBLE);
  return w;
}

/** An RTM_GETTCLASS dump of a device's classes (of one qdisc when `parent` names it). */
export function classDumpRequest(ifindex: number, parent: number): MessageWriter {
  const w = new MessageWriter(nl.RTM_GETTCLASS, 0);
  writeTcMsg(w, { ifindex, handle: 0, parent, info: 0 });
  return w;
}

/** An RTM_GETTFILTER dump of the filters attached at `parent`. */
export function filterDumpRequest(ifindex: number, parent: number, prio: number, protocol: number, chain?: number): MessageWriter {
  const w = new MessageWriter(nl.RTM_GETTFILTER, 0);
  writeTcMsg(w, { ifindex, handle: 0, parent, info: ((prio << 16) | protocol) >>> 0 });
  if (chain !== undefined) w.attrU32(TCA_CHAIN, chain);
  return w;
}
