/**
 * `NetlinkSocket`: requests and dumps over a netlink socket (NETLINK_ROUTE by
 * default, or any protocol), matched to their replies by sequence number. The
 * socket and its I/O thread are native (csrc/netlink.cc); every byte is built
 * and parsed here.
 * @module
 */
import { KernkitError } from '../errors';
import { arrayOf, cString, integer, integerIn, invalid, options as checkOptions, optional } from '../validate';
import { badMessage, type ByteWriter } from './attributes';
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
} from './constants';
import { kernelError } from './errors';
import { decodeDone, decodeError, parseMessages, type MessageWriter, type NetlinkMessage } from './message';
import { netlinkNative, type NativeSocket, type NativeSocketEvent } from './native';

/** Where to open the socket. Without either field: the caller's own network namespace. */
export interface NetlinkSocketOptions {
  /**
   * A network namespace: a name as `ip netns add` creates it (the file
   * `/var/run/netns/NAME`), or an absolute path to a namespace file such as
   * `/proc/1234/ns/net`. A NUL byte in it is `EINVAL`.
   */
  netns?: string;
  /** The network namespace of this process id (`/proc/PID/ns/net`). */
  pid?: number;
  /**
   * Multicast groups to join (`RTNLGRP_*`, e.g. `nl.RTNLGRP_LINK`):
   * their notifications go to {@link NetlinkSocket.listener}.
   */
  groups?: number[];
  /**
   * The netlink protocol (default 0, `NETLINK_ROUTE`); e.g. 4,
   * `NETLINK_SOCK_DIAG`, whose groups are `SKNLGRP_*`. One the kernel lacks
   * is `EPROTONOSUPPORT`, as `socket()` says.
   */
  protocol?: number;
}

/** Receives the notifications of the groups a socket joined. */
export interface NotificationListener {
  /** A notification: a message the kernel multicast, not a reply to this socket. */
  notify(msg: NetlinkMessage): void;
  /** The kernel dropped messages for this socket (ENOBUFS): notifications may have been lost. */
  lost(): void;
}

/** The replies to one request. */
export interface NetlinkReply {
  /** Messages the kernel sent before its ack (the object asked for by a GET, for instance). */
  readonly messages: NetlinkMessage[];
  /** Warnings the kernel attached to a successful ack (extended-ack text). */
  readonly warnings: string[];
}

interface Pending {
  readonly op: string;
  readonly dump: boolean;
  readonly labels: ByteWriter['labels'];
  messages: NetlinkMessage[];
  warnings: string[];
  interrupted: boolean;
  resolve(reply: NetlinkReply): void;
  reject(err: Error): void;
}

/** The flags {@link NetlinkSocket.request} adds to a request: it wants an ack, as tc does. */
export const REQUEST_FLAGS = NLM_F_REQUEST | NLM_F_ACK;

/** How often a dump the kernel flags as interrupted (NLM_F_DUMP_INTR) is retried. */
const DUMP_RETRIES = 3;

/**
 * Who receives replies on sockets opened from now on. By default the I/O
 * thread receives everything and posts it to the loop (`onThread`). With
 * `onThread: false` the event loop reads the socket itself while no dump runs
 * (one thread hop less, 0-5% per awaited request in A/B runs), but a burst of
 * requests sent while the loop is busy can then overflow the receive buffer
 * and lose every reply (ENOBUFS), where a reading thread keeps draining it; so
 * that mode is kept for benchmarks and tests only.
 * @internal
 */
export const receiving = { onThread: true };

/** Sockets with requests or dumps under way, or closing: held here so that they stay reachable. */
const busySockets = new Set<NetlinkSocket>();

/** The keys {@link NetlinkSocket.open} takes. */
const OPEN_KEYS = ['netns', 'pid', 'groups', 'protocol'] as const;

/** The largest process id a `pid_t` holds. */
const PID_MAX = 0x7fffffff;

/**
 * Checks open options: `undefined` means defaults; anything else must be a
 * plain object of known keys, each of the right type and range (`EINVAL`
 * otherwise, the kernel's answer to a bad pid or group too).
 */
function openOptions(value: unknown): NetlinkSocketOptions {
  const o = checkOptions<NetlinkSocketOptions>('options', value, OPEN_KEYS);
  return {
    netns: optional(o.netns, (v) => cString('netns', v, { nonEmpty: true, expected: 'a namespace name or an absolute path' })),
    // The kernel says EINVAL for a pid <= 0 (pidfd_open, kill); /proc has no such directory.
    pid: optional(o.pid, (v) => integer('pid', v, { min: 1, max: PID_MAX, rangeCode: 'EINVAL' })),
    // NETLINK_ADD_MEMBERSHIP refuses group 0 with EINVAL.
    groups: optional(o.groups, (v) => arrayOf('groups', v, (field, g) => integerIn(field, g, 1, 0xffffffff, 'EINVAL'))),
    protocol: optional(o.protocol, (v) => integerIn('protocol', v, 0, 0x7fffffff, 'EINVAL')),
  };
}

/**
 * Resolves the options to the namespace file the native side opens, or null.
 * Checks them as {@link NetlinkSocket.open} does (`EINVAL` naming the field).
 */
export function namespacePath(options?: NetlinkSocketOptions): string | null {
  return namespaceFile(openOptions(options));
}

/** The namespace file for checked options, or null for the caller's own namespace. */
function namespaceFile({ netns, pid }: NetlinkSocketOptions): string | null {
  if (netns !== undefined && pid !== undefined) throw invalid('netns', netns, 'netns or pid, not both');
  if (pid !== undefined) return `/proc/${pid}/ns/net`;
  if (netns === undefined) return null;
  if (netns.startsWith('/')) return netns;
  if (netns.includes('/') || netns === '.' || netns === '..' || netns.length > 255) {
    throw invalid('netns', netns, 'a name as `ip netns add` takes (no "/", at most 255 characters), or an absolute path');
  }
  return `/var/run/netns/${netns}`;
}

/**
 * A netlink socket (NETLINK_ROUTE unless `protocol` says otherwise) with
 * extended acks. Requests are sent in call order and may overlap: each is matched to its replies by sequence number. Dumps
 * are the exception the kernel makes: a socket runs one dump at a time
 * (`EBUSY` otherwise), so {@link NetlinkSocket.dump} queues them and starts
 * the next once the kernel has finished the previous one; other requests
 * still overlap with a running dump. The socket keeps the process alive only
 * while replies are awaited.
 */
export class NetlinkSocket {
  /** The port id the kernel bound the socket to. */
  readonly portid: number;
  private readonly native: NativeSocket;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  /** Settles when the last dump queued so far has finished: the next dump waits for it. */
  private dumpQueue: Promise<void> = Promise.resolve();
  /** The dump the kernel is producing for this socket, until its NLMSG_DONE (or error) arrives. */
  private kernelDump: { seq: number; ended: Promise<void>; end: () => void } | undefined;
  /** Requests awaiting replies and dumps under way: while any, the socket is busy. */
  private activity = 0;
  private closing: Promise<void> | undefined;
  /** The I/O thread has finished and closed the socket. */
  private threadDone = false;
  private onClosed: (() => void) | undefined;
  /** True if the socket joined multicast groups: messages not addressed to it are notifications. */
  private readonly joined: boolean;
  /** Where notifications of the joined groups go. */
  listener: NotificationListener | undefined;

  private constructor(native: NativeSocket, portid: number, joined: boolean) {
    this.native = native;
    this.portid = portid;
    this.joined = joined;
  }

  /**
   * Opens a socket, inside another network namespace if asked. A socket that
   * becomes unreachable without {@link NetlinkSocket.close} while nothing is
   * awaited is collected, and its I/O thread and socket are closed then.
   * Rejects with `EINVAL` for options that are not a plain object of known
   * keys, a `netns` that is empty or holds a NUL byte, both `netns` and
   * `pid`, a `pid` that is not a positive integer, or a group that is not
   * one from 1 to 2^32-1; with the errno of `open`/`setns`/`socket` otherwise
   * (`ENOENT` for a namespace that does not exist).
   */
  static async open(options?: NetlinkSocketOptions): Promise<NetlinkSocket> {
    const checked = openOptions(options);
    const path = namespaceFile(checked);
    const groups = checked.groups ?? [];
    return new Promise((resolve, reject) => {
      // The native side keeps this callback alive for as long as its thread runs, so
      // once open it refers to the socket only weakly (busy sockets are held by
      // `busySockets`), and it lets go of everything it needed while opening.
      let opening: { native: NativeSocket; resolve: typeof resolve; reject: typeof reject } | undefined;
      let socket: WeakRef<NetlinkSocket> | undefined;
      const onEvent = (...event: NativeSocketEvent): void => {
        if (socket) {
          socket.deref()?.handle(event);
          return;
        }
        if (!opening) return;
        const { native } = opening;
        if (event[0] === 'open') {
          const opened = new NetlinkSocket(native, event[1], groups.length > 0);
          socket = new WeakRef(opened);
          native.unref(); // idle until the first request
          opening.resolve(opened);
          opening = undefined;
        } else if (event[0] === 'closed') {
          opening.reject(event[1] ?? new KernkitError('netlink: socket closed while opening', { code: 'ECONNABORTED' }));
          opening = undefined;
        }
      };
      opening = { native: new netlinkNative.Socket(path, onEvent, groups, receiving.onThread, checked.protocol), resolve, reject };
    });
  }

  /** True once {@link NetlinkSocket.close} was called (requests are refused from then on). */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** @deprecated Use {@link NetlinkSocket.closed}. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends a request (NLM_F_REQUEST | NLM_F_ACK are added) and resolves with
   * what the kernel sent before its ack, or rejects with the kernel's error
   * (`.code` the errno name, the message its extended-ack text). A message
   * that carries the dump flags is `EINVAL`: the kernel would start a dump,
   * which goes through {@link dump} (one at a time, read to its end).
   */
  request(msg: MessageWriter, op: string): Promise<NetlinkReply> {
    if ((msg.flags & NLM_F_DUMP) === NLM_F_DUMP) {
      return Promise.reject(invalid(`${op}: nlmsg_flags`, msg.flags, 'no NLM_F_DUMP in a request: send dumps with dump()'));
    }
    return this.send(msg, op, REQUEST_FLAGS);
  }

  /**
   * Sends a dump request (NLM_F_REQUEST | NLM_F_DUMP) and resolves with every
   * message of the reply. Dumps queue behind one another (the kernel runs one
   * per socket); a dump the kernel flags as interrupted is retried.
   */
  async dump(msg: MessageWriter, op: string): Promise<NetlinkMessage[]> {
    if (this.closing) throw new KernkitError(`${op}: the netlink socket is closed`, { code: 'EBADF' });
    this.busy();
    const previous = this.dumpQueue;
    let finished!: () => void;
    this.dumpQueue = new Promise<void>((resolve) => (finished = resolve));
    try {
      await previous;
      if (this.closing) {
        finished();
        throw cancelled();
      }
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            return (await this.send(msg, op, NLM_F_REQUEST | NLM_F_DUMP)).messages;
          } catch (err) {
            if (!(err instanceof KernkitError && err.code === 'EINTR' && attempt < DUMP_RETRIES)) throw err;
          }
        }
      } finally {
        // The next dump may start once the kernel has ended this one, which a
        // rejection on this side (lost replies, say) does not imply.
        this.kernelDumpEnded().then(finished);
      }
    } finally {
      this.idle();
    }
  }

  /** Resolves once the kernel is not producing a dump for this socket. */
  private kernelDumpEnded(): Promise<void> {
    return this.kernelDump?.ended ?? Promise.resolve();
  }

  /** The kernel ended the dump with this sequence number (or the socket is gone): let the next one start. */
  private endKernelDump(seq?: number): void {
    const running = this.kernelDump;
    if (!running || (seq !== undefined && running.seq !== seq)) return;
    this.kernelDump = undefined;
    // No dump runs: reading the socket cannot make the kernel work, so the loop may again.
    if (!this.threadDone) this.native.receiveOnLoop();
    running.end();
  }

  private send(msg: MessageWriter, op: string, flags: number): Promise<NetlinkReply> {
    if (this.closing) return Promise.reject(new KernkitError(`${op}: the netlink socket is closed`, { code: 'EBADF' }));
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    msg.setU16(6, msg.flags | flags);
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    const seq = this.seq;
    const bytes = msg.finish(seq, 0);
    return new Promise<NetlinkReply>((resolve, reject) => {
      const entry: Pending = { op, dump, labels: msg.labels, messages: [], warnings: [], interrupted: false, resolve, reject };
      this.busy();
      this.pending.set(seq, entry);
      if (dump) {
        let end!: () => void;
        const ended = new Promise<void>((r) => (end = r));
        this.kernelDump = { seq, ended, end };
      }
      try {
        this.native.send(bytes, seq, dump);
      } catch (err) {
        this.settle(seq);
        if (dump) this.endKernelDump(seq);
        reject(err);
      }
    });
  }

  /**
   * Something awaits the kernel: keep the event loop alive, and keep the
   * socket reachable (its callback holds it only weakly).
   */
  private busy(): void {
    if (this.activity++ === 0) {
      this.native.ref();
      busySockets.add(this);
    }
  }

  /** The counterpart of {@link NetlinkSocket.busy}: idle, the socket lets the process exit and can be collected. */
  private idle(): void {
    if (--this.activity === 0 && !this.closing) {
      this.native.unref();
      busySockets.delete(this);
    }
  }

  /** Forgets a pending request. */
  private settle(seq: number): Pending | undefined {
    const entry = this.pending.get(seq);
    if (!entry) return undefined;
    this.pending.delete(seq);
    this.idle();
    return entry;
  }

  private failAll(err: Error): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq)?.reject(err);
  }

  private handle(event: NativeSocketEvent): void {
    switch (event[0]) {
      case 'data':
        if (this.closing) break; // every request has been answered with ECANCELED
        for (const datagram of event[1]) this.receive(datagram);
        break;
      case 'senderror':
        for (const tag of event[1]) {
          this.endKernelDump(tag); // it never reached the kernel
          const entry = this.settle(tag);
          entry?.reject(new KernkitError(`${entry.op}: ${event[2].message}`, { code: event[2].code, errno: event[2].errno, syscall: 'sendmsg', op: entry.op }));
        }
        break;
      case 'error':
        // ENOBUFS: the kernel could not queue replies; which ones is unknown.
        this.failAll(new KernkitError(`netlink: replies were lost (${event[1].message})`, { code: event[1].code, errno: event[1].errno }));
        this.listener?.lost();
        break;
      case 'closed':
        this.threadDone = true;
        busySockets.delete(this);
        this.endKernelDump();
        this.failAll(cancelled());
        this.onClosed?.();
        break;
      case 'open':
        break;
    }
  }

  private receive(datagram: Uint8Array): void {
    let messages: NetlinkMessage[];
    try {
      messages = parseMessages(datagram);
    } catch (err) {
      // A reply whose framing is garbled cannot be attributed: fail everything
      // waiting, and stop waiting for the end of a dump that may never be seen.
      this.endKernelDump();
      this.failAll(err as Error);
      return;
    }
    for (const msg of messages) {
      // Replies carry this socket's port id; a notification carries 0 or the port
      // of whoever caused it, and a sequence number that means nothing here.
      if (this.joined && msg.pid !== this.portid) {
        this.listener?.notify(msg);
        continue;
      }
      // NLMSG_DONE, or an error instead of a dump, ends the kernel's dump even
      // when the caller has already been answered.
      if (msg.type === NLMSG_DONE || msg.type === NLMSG_ERROR) this.endKernelDump(msg.seq);
      const entry = this.pending.get(msg.seq);
      if (!entry) continue; // a late reply to a request that already failed
      try {
        this.dispatch(msg, entry);
      } catch (err) {
        this.settle(msg.seq);
        entry.reject(err as Error);
      }
    }
  }

  private dispatch(msg: NetlinkMessage, entry: Pending): void {
    const labelAt = (offset: number): string | undefined => entry.labels.find((l) => l.offset === offset)?.label;
    switch (msg.type) {
      case NLMSG_NOOP:
        return;
      case NLMSG_OVERRUN:
        this.settle(msg.seq);
        entry.reject(new KernkitError(`${entry.op}: the kernel reported a netlink overrun`, { code: 'ENOBUFS', op: entry.op }));
        return;
      case NLMSG_ERROR: {
        const ack = decodeError(msg);
        this.settle(msg.seq);
        if (ack.errno !== 0) {
          entry.reject(kernelError(entry.op, ack, labelAt));
          return;
        }
        if (ack.message) entry.warnings.push(ack.message);
        entry.resolve({ messages: entry.messages, warnings: entry.warnings });
        return;
      }
      case NLMSG_DONE: {
        if (!entry.dump) throw badMessage(`${entry.op}: NLMSG_DONE answers a request that is not a dump`);
        const done = decodeDone(msg);
        this.settle(msg.seq);
        if (done.errno !== 0) {
          entry.reject(kernelError(entry.op, done, labelAt));
        } else if (entry.interrupted) {
          entry.reject(new KernkitError(`${entry.op}: the dump was interrupted by a concurrent change`, { code: 'EINTR', op: entry.op }));
        } else {
          if (done.message) entry.warnings.push(done.message);
          entry.resolve({ messages: entry.messages, warnings: entry.warnings });
        }
        return;
      }
      default:
        if (msg.flags & NLM_F_DUMP_INTR) entry.interrupted = true;
        entry.messages.push(msg);
    }
  }

  /**
   * Closes the socket. Requests still waiting for a reply, and dumps waiting
   * for their turn, are rejected with `ECANCELED` at once (the kernel may
   * already have carried out a request whose reply had not been read);
   * replies arriving afterwards are dropped. Resolves once the I/O thread has
   * closed the socket.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = new Promise<void>((resolve) => {
        if (this.threadDone) {
          resolve();
          return;
        }
        this.onClosed = resolve;
        this.native.ref(); // keep the loop alive, and the socket, until "closed" arrives
        busySockets.add(this);
        this.native.close();
      });
      this.endKernelDump();
      this.failAll(cancelled());
    }
    return this.closing;
  }

  /** `await using sock = await NetlinkSocket.open()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The error of a request the socket was closed under. */
function cancelled(): KernkitError {
  return new KernkitError('netlink: the socket was closed before the reply came', { code: 'ECANCELED' });
}
