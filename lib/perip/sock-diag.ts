/**
 * `SockDiag`: the kernel's inet sockets through NETLINK_SOCK_DIAG, as `ss`
 * reads them: dumps of TCP sockets with their `struct tcp_info`, and the
 * socket-destroy notifications `ss -E` listens to. Two sockets of kernkit's
 * one netlink socket class: one for dumps, one joined to the destroy groups,
 * so that a burst of notifications the kernel cannot queue (ENOBUFS) never
 * costs a dump, and a dump never delays a notification.
 * @module
 */
import { KernkitError } from '../errors';
import { NetlinkSocket, type NetlinkSocketOptions } from '../netlink/socket';
import {
  decodeInetDiagMessage,
  inetDiagDumpRequest,
  INET_DIAG_INFO,
  IPPROTO_TCP,
  NETLINK_SOCK_DIAG,
  SKNLGRP_INET6_TCP_DESTROY,
  SKNLGRP_INET_TCP_DESTROY,
  SOCK_DIAG_BY_FAMILY,
  TCP_STATES,
  type InetDiagMessage,
  type TcpStateName,
} from '../netlink/sockdiag';
import { arrayOf, boolean, func, integerIn, oneOf, optional, options } from '../validate';

/** Options of {@link SockDiag.open}. */
export interface SockDiagOptions {
  /** A network namespace: a name as `ip netns add` makes, or a path such as `/proc/PID/ns/net`. */
  netns?: string;
  /** The network namespace of this process id. */
  pid?: number;
  /** Called for every TCP socket the kernel destroys (IPv4 and IPv6); joins the destroy groups. */
  onDestroy?: (socket: InetDiagMessage) => void;
  /** Called when the kernel dropped destroy notifications (ENOBUFS): some were lost. */
  onLost?: () => void;
}

/** What {@link SockDiag.dumpTcp} returns. */
export interface TcpDumpOptions {
  /** 4, 6, or both (default). An IPv6 dump includes dual-stack sockets with IPv4-mapped addresses. */
  family?: 4 | 6 | 'both';
  /** States to dump (default: every state but LISTEN, TIME_WAIT and NEW_SYN_RECV, which carry no tcp_info). */
  states?: TcpStateName[];
  /** Only sockets with one of these local ports (filtered here, after the kernel's dump). */
  localPorts?: number[];
  /** Only sockets with one of these remote ports (filtered here). */
  remotePorts?: number[];
  /** Ask for `INET_DIAG_INFO` (default true). */
  info?: boolean;
  /** Leave tcp_info as bytes (`infoBytes`, read with `tcpInfoNumber`): far fewer allocations for many sockets. */
  rawInfo?: boolean;
}

const DEFAULT_STATES: TcpStateName[] = ['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSING'];

function ports(field: string, value: unknown): Set<number> | undefined {
  return optional(value, (v) => new Set(arrayOf(field, v, (f, p) => integerIn(f, p, 0, 65535))), undefined);
}

/**
 * A reader of the kernel's TCP sockets, in this network namespace or another:
 *
 * ```ts
 * await using diag = await SockDiag.open({ netns: 'blue', onDestroy: (s) => console.log('closed', s.dst, s.info?.totalRetrans) });
 * for (const s of await diag.dumpTcp()) console.log(s.src, s.dst, s.info?.rtt);
 * ```
 */
export class SockDiag {
  private readonly dumps: NetlinkSocket;
  private readonly events: NetlinkSocket | undefined;
  private closing: Promise<void> | undefined;

  private constructor(dumps: NetlinkSocket, events: NetlinkSocket | undefined) {
    this.dumps = dumps;
    this.events = events;
  }

  /** Opens the dump socket and, with `onDestroy`, the notification socket (CAP_NET_ADMIN is needed to join). */
  static async open(opts?: SockDiagOptions): Promise<SockDiag> {
    const o = options<SockDiagOptions>('options', opts, ['netns', 'pid', 'onDestroy', 'onLost']);
    if (o.onDestroy !== undefined) func('options.onDestroy', o.onDestroy);
    if (o.onLost !== undefined) func('options.onLost', o.onLost);
    const where: NetlinkSocketOptions = { protocol: NETLINK_SOCK_DIAG };
    if (o.netns !== undefined) where.netns = o.netns;
    if (o.pid !== undefined) where.pid = o.pid;
    const dumps = await NetlinkSocket.open(where);
    if (!o.onDestroy) return new SockDiag(dumps, undefined);
    let events: NetlinkSocket;
    try {
      events = await NetlinkSocket.open({ ...where, groups: [SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY] });
    } catch (err) {
      await dumps.close(); // undo the first step
      throw err;
    }
    const onDestroy = o.onDestroy;
    const onLost = o.onLost;
    events.listener = {
      notify(msg) {
        if (msg.type !== SOCK_DIAG_BY_FAMILY) return;
        const socket = decodeInetDiagMessage(msg.payload);
        if (socket.protocol === undefined || socket.protocol === IPPROTO_TCP) onDestroy(socket);
      },
      lost() {
        onLost?.();
      },
    };
    return new SockDiag(dumps, events);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Dumps TCP sockets with their tcp_info (see {@link TcpDumpOptions}). */
  async dumpTcp(opts?: TcpDumpOptions): Promise<InetDiagMessage[]> {
    const o = options<TcpDumpOptions>('options', opts, ['family', 'states', 'localPorts', 'remotePorts', 'info', 'rawInfo']);
    const family = optional(o.family, (v) => oneOf('options.family', v, [4, 6, 'both'] as const), 'both' as const);
    const states = optional(o.states, (v) => arrayOf('options.states', v, (f, s) => oneOf(f, s, Object.keys(TCP_STATES) as TcpStateName[])), DEFAULT_STATES);
    const local = ports('options.localPorts', o.localPorts);
    const remote = ports('options.remotePorts', o.remotePorts);
    const info = optional(o.info, (v) => boolean('options.info', v), true);
    const rawInfo = optional(o.rawInfo, (v) => boolean('options.rawInfo', v), false);
    if (this.closing) throw new KernkitError('sockdiag: closed', { code: 'EBADF' });
    const out: InetDiagMessage[] = [];
    for (const f of family === 'both' ? ([4, 6] as const) : [family]) {
      const req = inetDiagDumpRequest({ family: f, protocol: IPPROTO_TCP, ext: info ? [INET_DIAG_INFO] : [], states });
      for (const msg of await this.dumps.dump(req, 'sockdiag.dump')) {
        if (msg.type !== SOCK_DIAG_BY_FAMILY) continue;
        const s = decodeInetDiagMessage(msg.payload, rawInfo);
        if ((local && !local.has(s.sport)) || (remote && !remote.has(s.dport))) continue;
        out.push(s);
      }
    }
    return out;
  }

  /** Closes both sockets; pending dumps reject with ECANCELED. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.dumps.close(), this.events?.close()]).then(() => undefined);
    return this.closing;
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
