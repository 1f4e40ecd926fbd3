/**
 * Types of the addon's netlink part (csrc/netlink.cc).
 * @internal
 * @module
 */
import { addon } from '../native';
import type { KernkitError } from '../errors';

/** Events the socket's I/O thread delivers, in order. */
export type NativeSocketEvent =
  | ['open', number]
  | ['data', Buffer[]]
  | ['senderror', number[], KernkitError]
  | ['error', KernkitError]
  | ['closed', KernkitError | null];

/** One NETLINK_ROUTE socket with its I/O thread. */
export interface NativeSocket {
  /**
   * Queues the bytes of one or more whole messages; `tag` comes back with a
   * send error. A `dump` moves receiving to the I/O thread until {@link NativeSocket.receiveOnLoop}.
   */
  send(bytes: Uint8Array, tag: number, dump?: boolean): void;
  /** The dump sent last has ended: the event loop receives again (once the thread has delivered what it read). */
  receiveOnLoop(): void;
  /** Keep the event loop alive (while replies are awaited). */
  ref(): void;
  /** Let the event loop exit (while idle). */
  unref(): void;
  /** Stops the I/O thread; a `closed` event follows. */
  close(): void;
}

/** The functions csrc/netlink.cc exports. */
export interface NetlinkNative {
  /**
   * Opens a socket (in the namespace file `nsPath`, joining the multicast
   * `groups`) on its own I/O thread. The event loop receives while no dump
   * runs, unless `threadReceives` (the I/O thread receives everything; kept
   * for comparison in benchmarks). `protocol` is the netlink protocol
   * (default NETLINK_ROUTE).
   */
  Socket: new (
    nsPath: string | null,
    onEvent: (...event: NativeSocketEvent) => void,
    groups?: number[],
    threadReceives?: boolean,
    protocol?: number,
  ) => NativeSocket;
  describeErrno(errno: number): [name: string, message: string];
}

/** The addon's netlink functions. */
export const netlinkNative = addon.netlink as NetlinkNative;
