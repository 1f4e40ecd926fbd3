/**
 * Validation of what callers pass to the IPVS table: service keys, service
 * options and real-server specs, with the kernel's errno where the kernel
 * checks (ip_vs_ctl.c) and `EINVAL` for malformed input.
 * @module
 */
import { KernkitError } from '../errors';
import { boolean, integer, integerIn, invalid, oneOf, options, plainObject, knownKeys, arrayOf, string } from '../validate';
import { ipv4Word, parseAddress, type IpAddress } from './address';
import type { Forwarding, TunnelOptions } from './real-server';
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHEDULERS, type SchedulerName } from './schedulers';

/** A transport protocol IPVS balances. */
export type Protocol = 'tcp' | 'udp' | 'sctp';
/** The protocols, with their IP protocol numbers (for ipvsadm's sort order). */
export const PROTOCOL_NUMBERS: Readonly<Record<Protocol, number>> = { tcp: 6, udp: 17, sctp: 132 };

/** A virtual service by address: `{ protocol: 'tcp', address: '10.0.0.1', port: 80 }`. */
export interface AddressServiceKey {
  /** `tcp`, `udp` or `sctp`. */
  protocol: Protocol;
  /** The virtual IPv4 or IPv6 address. */
  address: string;
  /** The virtual port, 0..65535 (0: every port, persistent services only). */
  port: number;
}

/** A virtual service by firewall mark: `{ fwmark: 1 }` (`family: 6` for IPv6). */
export interface FwmarkServiceKey {
  /** The mark, 1..4294967295. */
  fwmark: number;
  /** 4 (default) or 6. */
  family?: 4 | 6;
}

/** Either kind of service key. */
export type ServiceKey = AddressServiceKey | FwmarkServiceKey;

/** A service key, validated. */
export interface ResolvedKey {
  /** `tcp|10.0.0.1|80` or `fwm|4|1`: the table's map key. */
  readonly id: string;
  readonly protocol: Protocol;
  readonly family: 4 | 6;
  readonly addr: IpAddress | null;
  readonly port: number;
  readonly fwmark: number;
}

/** Persistence of a service (ipvsadm `-p timeout -M netmask`). */
export interface PersistenceOptions {
  /** Template timeout in seconds, 1..2678400 (default 300, ipvsadm's). */
  timeout?: number;
  /** IPv4 only: the client netmask as a dotted quad (default `255.255.255.255`). */
  netmask?: string;
  /** The client prefix length: 0..32 for IPv4, 1..128 for IPv6 (`EINVAL` outside, as the kernel). Default: the whole address. */
  prefixLength?: number;
}

/** A scheduler flag by name (ipvsadm `-b`). */
export type SchedulerFlag = 'sh-fallback' | 'sh-port' | 'mh-fallback' | 'mh-port';

/** Options of `addService`/`editService`. */
export interface ServiceOptions {
  /** One of the 14 schedulers, or `'none'` (default `'wlc'`, ipvsadm's default). */
  scheduler?: SchedulerName | 'none';
  /** Persistence, or `false` for none (default). */
  persistent?: PersistenceOptions | false;
  /** One-packet scheduling (applies to UDP connections only, as in the kernel). */
  onePacket?: boolean;
  /** Scheduler flags. */
  flags?: SchedulerFlag[];
}

/** A real server of a service. */
export interface DestSpec {
  /** Its IPv4 or IPv6 address. */
  address: string;
  /** Its port (default: the service's port). */
  port?: number;
  /** Weight 0..2147483647 (default 1); 0 quiesces; negative is `ERANGE` as in the kernel. */
  weight?: number;
  /** Upper connection threshold, 0 (none) .. 4294967295. */
  upperThreshold?: number;
  /** Lower connection threshold; above the upper one is `ERANGE`. */
  lowerThreshold?: number;
  /** `direct` (default, ipvsadm's gatewaying), `masq` or `tunnel`. */
  forwarding?: Forwarding;
  /** Tunnel options, for `tunnel` servers. */
  tunnel?: TunnelOptions;
}

/** Flag bits of a service (include/uapi/linux/ip_vs.h). */
export const SVC_PERSISTENT = 0x1;
/** IP_VS_SVC_F_ONEPACKET. */
export const SVC_ONEPACKET = 0x4;
/** Scheduler flag names to bits. */
export const SCHED_FLAG_BITS: Readonly<Record<SchedulerFlag, number>> = {
  'sh-fallback': SCHED_FLAG_1,
  'sh-port': SCHED_FLAG_2,
  'mh-fallback': SCHED_FLAG_1,
  'mh-port': SCHED_FLAG_2,
};

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];
const U32_MAX = 0xffffffff;

/** Validates a service key. An unknown protocol is `EFAULT`, the sockopt path's answer (see docs). */
export function resolveKey(field: string, value: unknown): ResolvedKey {
  const obj = plainObject(field, value, 'a service key { protocol, address, port } or { fwmark }');
  if ('fwmark' in obj) {
    knownKeys(field, obj, ['fwmark', 'family']);
    const fwmark = integerIn(`${field}.fwmark`, obj.fwmark, 1, U32_MAX);
    const family = obj.family === undefined ? 4 : oneOf(`${field}.family`, obj.family, [4, 6] as const);
    return { id: `fwm|${family}|${fwmark}`, protocol: 'tcp', family, addr: null, port: 0, fwmark };
  }
  knownKeys(field, obj, ['protocol', 'address', 'port']);
  if (typeof obj.protocol !== 'string') throw invalid(`${field}.protocol`, obj.protocol, "'tcp', 'udp' or 'sctp'");
  if (!PROTOCOLS.includes(obj.protocol as Protocol)) {
    throw invalid(`${field}.protocol`, obj.protocol, "'tcp', 'udp' or 'sctp'", 'EFAULT');
  }
  const protocol = obj.protocol as Protocol;
  const addr = parseAddress(`${field}.address`, obj.address);
  const port = integerIn(`${field}.port`, obj.port, 0, 65535);
  return { id: `${protocol}|${addr.text}|${port}`, protocol, family: addr.family, addr, port, fwmark: 0 };
}

/** Service options, validated against the service's family. */
export interface ResolvedServiceOptions {
  readonly scheduler: SchedulerName | 'none';
  readonly flags: number;
  /** Template timeout, ms. */
  readonly timeoutMs: number;
  /** IPv4: the netmask word; IPv6: the prefix length. */
  readonly netmask: number;
}

/** The defaults of a service of `family` (ipvsadm's: wlc, not persistent, full-address netmask, 300 s). */
export function defaultServiceOptions(family: 4 | 6): ResolvedServiceOptions {
  return { scheduler: 'wlc', flags: 0, timeoutMs: 300_000, netmask: family === 4 ? U32_MAX : 128 };
}

/**
 * Validates service options; keys left out keep `base` (the current settings
 * on edit, the defaults on add). `ENOENT` for an unknown scheduler, as the kernel.
 */
export function resolveServiceOptions(field: string, value: unknown, family: 4 | 6, base: ResolvedServiceOptions): ResolvedServiceOptions {
  const o = options<ServiceOptions>(field, value, ['scheduler', 'persistent', 'onePacket', 'flags']);
  let { scheduler, flags, timeoutMs, netmask } = base;
  if (o.scheduler !== undefined) {
    const name = string(`${field}.scheduler`, o.scheduler, { expected: 'a scheduler name' });
    if (name !== 'none' && !(SCHEDULERS as readonly string[]).includes(name)) {
      throw invalid(`${field}.scheduler`, name, `one of ${SCHEDULERS.join(', ')} or 'none'`, 'ENOENT');
    }
    scheduler = name as SchedulerName | 'none';
  }
  if (o.persistent !== undefined) {
    if (o.persistent === false) {
      flags &= ~SVC_PERSISTENT;
    } else {
      const p = options<PersistenceOptions>(`${field}.persistent`, o.persistent, ['timeout', 'netmask', 'prefixLength']);
      flags |= SVC_PERSISTENT;
      timeoutMs = (p.timeout === undefined ? 300 : integerIn(`${field}.persistent.timeout`, p.timeout, 1, 2678400)) * 1000;
      netmask = resolveNetmask(`${field}.persistent`, p, family);
    }
  }
  if (o.onePacket !== undefined) {
    flags = boolean(`${field}.onePacket`, o.onePacket) ? flags | SVC_ONEPACKET : flags & ~SVC_ONEPACKET;
  }
  if (o.flags !== undefined) {
    const names = arrayOf(`${field}.flags`, o.flags, (f, v) => oneOf(f, v, Object.keys(SCHED_FLAG_BITS) as SchedulerFlag[]));
    flags &= ~(SCHED_FLAG_1 | SCHED_FLAG_2);
    for (const n of names) flags |= SCHED_FLAG_BITS[n];
  }
  return { scheduler, flags, timeoutMs, netmask };
}

function resolveNetmask(field: string, p: Partial<PersistenceOptions>, family: 4 | 6): number {
  if (p.netmask !== undefined && p.prefixLength !== undefined) {
    throw new KernkitError(`${field}: netmask and prefixLength both given (expected one of them)`, { code: 'EINVAL' });
  }
  if (family === 6) {
    if (p.netmask !== undefined) throw invalid(`${field}.netmask`, p.netmask, 'a prefixLength for an IPv6 service');
    // ip_vs_add_service: an IPv6 prefix outside 1..128 is EINVAL.
    return p.prefixLength === undefined ? 128 : integer(`${field}.prefixLength`, p.prefixLength, { min: 1, max: 128, rangeCode: 'EINVAL' });
  }
  if (p.netmask !== undefined) {
    const w = typeof p.netmask === 'string' ? ipv4Word(p.netmask) : undefined;
    if (w === undefined) throw invalid(`${field}.netmask`, p.netmask, 'an IPv4 netmask such as "255.255.255.0"');
    return w;
  }
  if (p.prefixLength === undefined) return U32_MAX;
  const n = integer(`${field}.prefixLength`, p.prefixLength, { min: 0, max: 32, rangeCode: 'EINVAL' });
  return n === 0 ? 0 : (U32_MAX << (32 - n)) >>> 0;
}

/** A real-server spec, validated. */
export interface ResolvedDest {
  readonly addr: IpAddress;
  readonly port: number;
  readonly weight: number;
  readonly upperThreshold: number;
  readonly lowerThreshold: number;
  readonly forwarding: Forwarding;
  readonly tunnel: Required<TunnelOptions>;
}

const DEST_KEYS = ['address', 'port', 'weight', 'upperThreshold', 'lowerThreshold', 'forwarding', 'tunnel'];

/** The address and port identifying a real server (`port` defaults to `defaultPort`). */
export function resolveDestId(field: string, value: unknown, defaultPort: number): { addr: IpAddress; port: number } {
  const o = plainObject(field, value, 'a real server { address, port, ... }');
  knownKeys(field, o, DEST_KEYS);
  const addr = parseAddress(`${field}.address`, o.address);
  const port = o.port === undefined ? defaultPort : integerIn(`${field}.port`, o.port, 0, 65535);
  return { addr, port };
}

/**
 * Validates a real-server spec; keys left out keep `base` (the current
 * settings on edit). The kernel's checks and codes: weight < 0 is `ERANGE`,
 * `lowerThreshold > upperThreshold` is `ERANGE`, a GUE tunnel with port 0 is
 * `EINVAL`.
 */
export function resolveDest(field: string, value: unknown, defaultPort: number, base?: ResolvedDest): ResolvedDest {
  const { addr, port } = resolveDestId(field, value, defaultPort);
  const o = value as Partial<DestSpec>;
  // Weight is an int in the kernel: negative (or above INT_MAX via a u32) is ERANGE.
  const weight = o.weight === undefined ? (base?.weight ?? 1) : integerIn(`${field}.weight`, o.weight, 0, 0x7fffffff);
  const upperThreshold = o.upperThreshold === undefined ? (base?.upperThreshold ?? 0) : integerIn(`${field}.upperThreshold`, o.upperThreshold, 0, U32_MAX);
  const lowerThreshold = o.lowerThreshold === undefined ? (base?.lowerThreshold ?? 0) : integerIn(`${field}.lowerThreshold`, o.lowerThreshold, 0, U32_MAX);
  if (lowerThreshold > upperThreshold) {
    throw new KernkitError(`${field}.lowerThreshold: ${lowerThreshold} (expected at most upperThreshold ${upperThreshold})`, { code: 'ERANGE' });
  }
  const forwarding = o.forwarding === undefined ? (base?.forwarding ?? 'direct') : oneOf(`${field}.forwarding`, o.forwarding, ['masq', 'tunnel', 'direct'] as const);
  let tunnel: Required<TunnelOptions> = base?.tunnel ?? { type: 'ipip', port: 0, checksum: 'nocsum' };
  if (o.tunnel !== undefined) {
    const t = options<TunnelOptions>(`${field}.tunnel`, o.tunnel, ['type', 'port', 'checksum']);
    tunnel = {
      type: t.type === undefined ? 'ipip' : oneOf(`${field}.tunnel.type`, t.type, ['ipip', 'gue', 'gre'] as const),
      port: t.port === undefined ? 0 : integerIn(`${field}.tunnel.port`, t.port, 0, 65535),
      checksum: t.checksum === undefined ? 'nocsum' : oneOf(`${field}.tunnel.checksum`, t.checksum, ['nocsum', 'csum', 'remcsum'] as const),
    };
  }
  if (tunnel.type === 'gue' && tunnel.port === 0) {
    throw invalid(`${field}.tunnel.port`, 0, 'a GUE port from 1 to 65535');
  }
  return { addr, port, weight, upperThreshold, lowerThreshold, forwarding, tunnel };
}
