/**
 * NETLINK_SOCK_DIAG codecs for inet sockets (include/uapi/linux/sock_diag.h,
 * inet_diag.h, tcp.h): the `inet_diag_req_v2` dump request `ss` sends, the
 * `inet_diag_msg` replies and destroy notifications, and `struct tcp_info`
 * from `INET_DIAG_INFO`. Pure byte work, no socket: see `SockDiag` in
 * lib/perip for the reader.
 * @module
 */
import { arrayOf, boolean, integerIn, invalid, optional, options } from '../validate';
import { AttrTable, badMessage, StructReader } from './attributes';
import { NLM_F_DUMP, NLM_F_REQUEST } from './constants';
import { MessageWriter } from './message';
import { formatAddress, parseAddress } from '../address';

/** The netlink protocol of socket diagnostics. */
export const NETLINK_SOCK_DIAG = 4;
/** Message type of a dump request and of its replies (and of destroy notifications). */
export const SOCK_DIAG_BY_FAMILY = 20;
/** Message type that asks the kernel to close a socket. */
export const SOCK_DESTROY = 21;

/** Multicast group: IPv4 TCP sockets being destroyed (what `ss -E` joins). */
export const SKNLGRP_INET_TCP_DESTROY = 1;
/** Multicast group: IPv4 UDP sockets being destroyed. */
export const SKNLGRP_INET_UDP_DESTROY = 2;
/** Multicast group: IPv6 TCP sockets being destroyed. */
export const SKNLGRP_INET6_TCP_DESTROY = 3;
/** Multicast group: IPv6 UDP sockets being destroyed. */
export const SKNLGRP_INET6_UDP_DESTROY = 4;

/** `AF_INET`. */
export const AF_INET = 2;
/** `AF_INET6`. */
export const AF_INET6 = 10;
/** `IPPROTO_TCP`. */
export const IPPROTO_TCP = 6;

/** `INET_DIAG_*` attributes of a reply (and `idiag_ext` bits: attribute n is bit n-1). */
export const INET_DIAG_MEMINFO = 1;
/** `struct tcp_info` (ask with `1 << (INET_DIAG_INFO - 1)` in `idiag_ext`). */
export const INET_DIAG_INFO = 2;
/** Congestion control details (vegas; also the bit for DCTCP/BBR info). */
export const INET_DIAG_VEGASINFO = 3;
/** The congestion control algorithm's name. */
export const INET_DIAG_CONG = 4;
/** `sk_shutdown` (always sent). */
export const INET_DIAG_SHUTDOWN = 8;
/** The socket's protocol (destroy notifications carry it). */
export const INET_DIAG_PROTOCOL = 10;
/** The socket's cgroup v2 id. */
export const INET_DIAG_CGROUP_ID = 22;

/** `INET_DIAG_NOCOOKIE`: both cookie words all ones, "any socket". */
export const INET_DIAG_NOCOOKIE = 0xffffffff;

/** TCP states as `idiag_state` and `tcpi_state` number them (include/net/tcp_states.h). */
export const TCP_STATES = Object.freeze({
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  NEW_SYN_RECV: 12,
  BOUND_INACTIVE: 13,
} as const);

/** A TCP state's name. */
export type TcpStateName = keyof typeof TCP_STATES;

/** Every state bit (`TCPF_*`) up to BOUND_INACTIVE, with bit 0 as `ss` sets it. */
export const TCPF_ALL = (1 << 14) - 1;

/** Bytes of `struct inet_diag_req_v2`. */
export const INET_DIAG_REQ_V2_SIZE = 56;
/** Bytes of `struct inet_diag_msg`. */
export const INET_DIAG_MSG_SIZE = 72;

/** What a dump asks for (`struct inet_diag_req_v2`). */
export interface InetDiagRequest {
  /** 4 (`AF_INET`) or 6 (`AF_INET6`). */
  family: 4 | 6;
  /** The transport protocol (default `IPPROTO_TCP`). */
  protocol?: number;
  /** Extension attributes wanted, by number (`INET_DIAG_INFO`, ...; each 1..8). Default: `[INET_DIAG_INFO]`. */
  ext?: number[];
  /** States to dump, as state names or a `1 << state` mask (default: every state). */
  states?: TcpStateName[] | number;
  /** Exact socket id (for a one-socket lookup; a dump ignores it). */
  sport?: number;
  /** Exact socket id (for a one-socket lookup; a dump ignores it). */
  dport?: number;
}

function checkStates(value: unknown): number {
  if (typeof value === 'number') return integerIn('request.states', value, 0, 0xffffffff);
  const names = Object.keys(TCP_STATES);
  return arrayOf('request.states', value, (field, name) => {
    if (typeof name !== 'string' || !(name in TCP_STATES)) throw invalid(field, name, `a TCP state (${names.join(', ')})`);
    return 1 << TCP_STATES[name as TcpStateName];
  }).reduce((mask, bit) => mask | bit, 0);
}

/**
 * A `SOCK_DIAG_BY_FAMILY` dump request (`NLM_F_REQUEST | NLM_F_DUMP`, as
 * `ss` sends it): header then `inet_diag_req_v2`. Finish it with a sequence
 * number (`writer.finish(seq)`).
 */
export function inetDiagDumpRequest(request: InetDiagRequest, flags = NLM_F_REQUEST | NLM_F_DUMP): MessageWriter {
  const r = options<InetDiagRequest>('request', request, ['family', 'protocol', 'ext', 'states', 'sport', 'dport']);
  if (r.family !== 4 && r.family !== 6) throw invalid('request.family', r.family, '4 or 6');
  const protocol = optional(r.protocol, (v) => integerIn('request.protocol', v, 0, 255), IPPROTO_TCP);
  const ext = optional(r.ext, (v) => arrayOf('request.ext', v, (f, e) => integerIn(f, e, 1, 8, 'EINVAL')), [INET_DIAG_INFO]);
  const states = optional(r.states, checkStates, TCPF_ALL);
  const sport = optional(r.sport, (v) => integerIn('request.sport', v, 0, 65535), 0);
  const dport = optional(r.dport, (v) => integerIn('request.dport', v, 0, 65535), 0);
  const w = new MessageWriter(SOCK_DIAG_BY_FAMILY, flags, 16 + INET_DIAG_REQ_V2_SIZE);
  const at = w.zeros(INET_DIAG_REQ_V2_SIZE);
  const b = w.view();
  b.writeUInt8(r.family === 4 ? AF_INET : AF_INET6, at);
  b.writeUInt8(protocol, at + 1);
  b.writeUInt8(ext.reduce((mask, e) => mask | (1 << (e - 1)), 0), at + 2);
  b.writeUInt32LE(states >>> 0, at + 4);
  b.writeUInt16BE(sport, at + 8);
  b.writeUInt16BE(dport, at + 10);
  // Addresses, interface and cookie stay zero: a dump matches every socket.
  return w;
}

/**
 * `struct tcp_info` decoded (include/uapi/linux/tcp.h), named without the
 * `tcpi_` prefix in camelCase. Fields the kernel's struct is too short to
 * hold (an older kernel) are undefined; 64-bit fields are bigints. Times are
 * microseconds (`rtt`, `rttvar`, `minRtt`, `rcvRtt`, `rto`, `ato`) or
 * milliseconds (`last*`, `totalRtoTime`), as the kernel reports them.
 */
export interface TcpInfo {
  state: number;
  caState: number;
  retransmits: number;
  probes: number;
  backoff: number;
  options: number;
  sndWscale: number;
  rcvWscale: number;
  deliveryRateAppLimited: number;
  fastopenClientFail: number;
  rto: number;
  ato: number;
  sndMss: number;
  rcvMss: number;
  unacked: number;
  sacked: number;
  lost: number;
  retrans: number;
  fackets: number;
  lastDataSent: number;
  lastAckSent: number;
  lastDataRecv: number;
  lastAckRecv: number;
  pmtu: number;
  rcvSsthresh: number;
  rtt: number;
  rttvar: number;
  sndSsthresh: number;
  sndCwnd: number;
  advmss: number;
  reordering: number;
  rcvRtt: number;
  rcvSpace: number;
  totalRetrans: number;
  pacingRate?: bigint;
  maxPacingRate?: bigint;
  bytesAcked?: bigint;
  bytesReceived?: bigint;
  segsOut?: number;
  segsIn?: number;
  notsentBytes?: number;
  minRtt?: number;
  dataSegsIn?: number;
  dataSegsOut?: number;
  deliveryRate?: bigint;
  busyTime?: bigint;
  rwndLimited?: bigint;
  sndbufLimited?: bigint;
  delivered?: number;
  deliveredCe?: number;
  bytesSent?: bigint;
  bytesRetrans?: bigint;
  dsackDups?: number;
  reordSeen?: number;
  rcvOoopack?: number;
  sndWnd?: number;
  rcvWnd?: number;
  rehash?: number;
  totalRto?: number;
  totalRtoRecoveries?: number;
  totalRtoTime?: number;
}

type Kind = 'u8' | 'u16' | 'u32' | 'u64';
// Offsets in struct tcp_info after the eight leading u8 (bitfields decoded apart).
const TCP_INFO_LAYOUT: ReadonlyArray<readonly [keyof TcpInfo, number, Kind]> = [
  ['rto', 8, 'u32'], ['ato', 12, 'u32'], ['sndMss', 16, 'u32'], ['rcvMss', 20, 'u32'],
  ['unacked', 24, 'u32'], ['sacked', 28, 'u32'], ['lost', 32, 'u32'], ['retrans', 36, 'u32'], ['fackets', 40, 'u32'],
  ['lastDataSent', 44, 'u32'], ['lastAckSent', 48, 'u32'], ['lastDataRecv', 52, 'u32'], ['lastAckRecv', 56, 'u32'],
  ['pmtu', 60, 'u32'], ['rcvSsthresh', 64, 'u32'], ['rtt', 68, 'u32'], ['rttvar', 72, 'u32'], ['sndSsthresh', 76, 'u32'],
  ['sndCwnd', 80, 'u32'], ['advmss', 84, 'u32'], ['reordering', 88, 'u32'], ['rcvRtt', 92, 'u32'], ['rcvSpace', 96, 'u32'],
  ['totalRetrans', 100, 'u32'],
  ['pacingRate', 104, 'u64'], ['maxPacingRate', 112, 'u64'], ['bytesAcked', 120, 'u64'], ['bytesReceived', 128, 'u64'],
  ['segsOut', 136, 'u32'], ['segsIn', 140, 'u32'], ['notsentBytes', 144, 'u32'], ['minRtt', 148, 'u32'],
  ['dataSegsIn', 152, 'u32'], ['dataSegsOut', 156, 'u32'], ['deliveryRate', 160, 'u64'], ['busyTime', 168, 'u64'],
  ['rwndLimited', 176, 'u64'], ['sndbufLimited', 184, 'u64'], ['delivered', 192, 'u32'], ['deliveredCe', 196, 'u32'],
  ['bytesSent', 200, 'u64'], ['bytesRetrans', 208, 'u64'], ['dsackDups', 216, 'u32'], ['reordSeen', 220, 'u32'],
  ['rcvOoopack', 224, 'u32'], ['sndWnd', 228, 'u32'], ['rcvWnd', 232, 'u32'], ['rehash', 236, 'u32'],
  ['totalRto', 240, 'u16'], ['totalRtoRecoveries', 242, 'u16'], ['totalRtoTime', 244, 'u32'],
];
/** The shortest tcp_info any kernel with `tcpi_total_retrans` sends (Linux 2.6.x): up to offset 104. */
const TCP_INFO_MIN = 104;

const TCP_INFO_FIELDS = new Map(TCP_INFO_LAYOUT.map(([name, off, kind]) => [name, [off, kind] as const]));

/**
 * One field of a raw `struct tcp_info` as a number (a u64 is exact below
 * 2^53), without decoding the rest: `undefined` when the kernel's struct is
 * too short to hold it, or for a field of the leading bytes (use
 * {@link decodeTcpInfo} for those). What a reader of many sockets uses.
 */
export function tcpInfoNumber(data: Uint8Array, field: keyof TcpInfo): number | undefined {
  bytes('data', data);
  const where = TCP_INFO_FIELDS.get(field);
  if (where === undefined) return undefined;
  const [off, kind] = where;
  const b = data;
  const u32 = (at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  if (kind === 'u64') return off + 8 <= b.length ? u32(off) + u32(off + 4) * 4294967296 : undefined;
  if (kind === 'u32') return off + 4 <= b.length ? u32(off) : undefined;
  return off + 2 <= b.length ? b[off] | (b[off + 1] << 8) : undefined;
}

/** `value` as bytes: `EINVAL` for anything but a Uint8Array (a Buffer is one). */
function bytes(field: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(field, value, 'a Uint8Array or Buffer');
  return value;
}

/** Decodes `struct tcp_info` from an `INET_DIAG_INFO` payload; `EBADMSG` below its oldest size (104 bytes), `EINVAL` for a non-buffer. */
export function decodeTcpInfo(data: Uint8Array): TcpInfo {
  bytes('data', data);
  const r = new StructReader(data, TCP_INFO_MIN, 'tcp_info');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const wscale = r.u8(6);
  const flags = r.u8(7);
  const info: Record<string, number | bigint> = {
    state: r.u8(0),
    caState: r.u8(1),
    retransmits: r.u8(2),
    probes: r.u8(3),
    backoff: r.u8(4),
    options: r.u8(5),
    // Bitfields fill from the low bits on little-endian machines.
    sndWscale: wscale & 15,
    rcvWscale: wscale >> 4,
    deliveryRateAppLimited: flags & 1,
    fastopenClientFail: (flags >> 1) & 3,
  };
  for (const [name, off, kind] of TCP_INFO_LAYOUT) {
    const size = kind === 'u64' ? 8 : kind === 'u32' ? 4 : kind === 'u16' ? 2 : 1;
    if (off + size > data.length) break; // an older kernel's shorter struct
    info[name] = kind === 'u64' ? view.getBigUint64(off, true) : kind === 'u32' ? view.getUint32(off, true) : view.getUint16(off, true);
  }
  return info as unknown as TcpInfo;
}

/** One socket as a dump reply or a destroy notification reports it. */
export interface InetDiagMessage {
  /** 4 or 6. */
  family: 4 | 6;
  /** `idiag_state` (see {@link TCP_STATES}). */
  state: number;
  timer: number;
  retrans: number;
  sport: number;
  dport: number;
  /** Local address, as text (an IPv4-mapped IPv6 address keeps its `::ffff:` form). */
  src: string;
  /** Remote address, as text. */
  dst: string;
  ifindex: number;
  /** The kernel's socket cookie (`sock_gen_cookie`): tells sockets apart for their whole life. */
  cookie: bigint;
  expires: number;
  rqueue: number;
  wqueue: number;
  uid: number;
  inode: number;
  /** `INET_DIAG_INFO`, when asked for and sent. */
  info?: TcpInfo;
  /** The raw `INET_DIAG_INFO` bytes instead of {@link info}, when decoded with `rawInfo` (read with {@link tcpInfoNumber}). */
  infoBytes?: Uint8Array;
  /** `INET_DIAG_CONG`. */
  cong?: string;
  /** `INET_DIAG_SHUTDOWN`. */
  shutdown?: number;
  /** `INET_DIAG_PROTOCOL` (destroy notifications). */
  protocol?: number;
}

/**
 * Decodes the payload of a `SOCK_DIAG_BY_FAMILY` reply or notification.
 * `EBADMSG` for a short or foreign one. With `rawInfo`, `INET_DIAG_INFO` is
 * left as bytes (`infoBytes`, checked to hold the oldest tcp_info) rather than decoded.
 * `EINVAL` for a payload that is not a buffer or a `rawInfo` that is not a boolean.
 */
export function decodeInetDiagMessage(payload: Uint8Array, rawInfo = false): InetDiagMessage {
  bytes('payload', payload);
  boolean('rawInfo', rawInfo);
  const r = new StructReader(payload, INET_DIAG_MSG_SIZE, 'inet_diag_msg');
  const af = r.u8(0);
  if (af !== AF_INET && af !== AF_INET6) throw badMessage(`inet_diag_msg has family ${af}, not AF_INET or AF_INET6`);
  const family = af === AF_INET ? 4 : 6;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const words = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) words[i] = view.getUint32(8 + 4 * i, false); // __be32 idiag_src[4], idiag_dst[4]
  const attrs = new AttrTable(payload.subarray(INET_DIAG_MSG_SIZE), 'inet_diag_msg attributes');
  const msg: InetDiagMessage = {
    family,
    state: r.u8(1),
    timer: r.u8(2),
    retrans: r.u8(3),
    sport: view.getUint16(4, false),
    dport: view.getUint16(6, false),
    src: formatAddress(family, words, 0),
    dst: formatAddress(family, words, 4),
    ifindex: r.u32(40),
    // sock_diag_save_cookie: word 0 the low half, word 1 the high half.
    cookie: (BigInt(r.u32(48)) << 32n) | BigInt(r.u32(44)),
    expires: r.u32(52),
    rqueue: r.u32(56),
    wqueue: r.u32(60),
    uid: r.u32(64),
    inode: r.u32(68),
  };
  const info = attrs.get(INET_DIAG_INFO);
  if (info !== undefined && rawInfo) {
    if (info.length < TCP_INFO_MIN) throw badMessage(`tcp_info has ${info.length} bytes, needs ${TCP_INFO_MIN}`);
    msg.infoBytes = info;
  } else if (info !== undefined) msg.info = decodeTcpInfo(info);
  const cong = attrs.string(INET_DIAG_CONG, 'congestion control');
  if (cong !== undefined) msg.cong = cong;
  const shutdown = attrs.u8(INET_DIAG_SHUTDOWN, 'shutdown');
  if (shutdown !== undefined) msg.shutdown = shutdown;
  const protocol = attrs.u8(INET_DIAG_PROTOCOL, 'protocol');
  if (protocol !== undefined) msg.protocol = protocol;
  return msg;
}

/**
 * Encodes a socket id for {@link InetDiagMessage} round trips in tests and
 * tools: the `inet_diag_msg` bytes (no attributes) of `msg`.
 */
export function encodeInetDiagMessage(msg: Omit<InetDiagMessage, 'info' | 'cong' | 'shutdown' | 'protocol'>): Buffer {
  const b = Buffer.alloc(INET_DIAG_MSG_SIZE);
  b.writeUInt8(msg.family === 4 ? AF_INET : AF_INET6, 0);
  b.writeUInt8(msg.state, 1);
  b.writeUInt8(msg.timer, 2);
  b.writeUInt8(msg.retrans, 3);
  b.writeUInt16BE(msg.sport, 4);
  b.writeUInt16BE(msg.dport, 6);
  const words = [0, 0, 0, 0];
  parseAddress('src', msg.src, msg.family, words, 0);
  for (let i = 0; i < (msg.family === 4 ? 1 : 4); i++) b.writeUInt32BE(words[i], 8 + 4 * i);
  parseAddress('dst', msg.dst, msg.family, words, 0);
  for (let i = 0; i < (msg.family === 4 ? 1 : 4); i++) b.writeUInt32BE(words[i], 24 + 4 * i);
  b.writeUInt32LE(msg.ifindex, 40);
  b.writeUInt32LE(Number(msg.cookie & 0xffffffffn), 44);
  b.writeUInt32LE(Number(msg.cookie >> 32n), 48);
  b.writeUInt32LE(msg.expires, 52);
  b.writeUInt32LE(msg.rqueue, 56);
  b.writeUInt32LE(msg.wqueue, 60);
  b.writeUInt32LE(msg.uid, 64);
  b.writeUInt32LE(msg.inode, 68);
  return b;
}
