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
  /** Queues the bytes of one or more whole messages; `tag` comes back with a send error. */
  send(bytes: Uint8Array, tag: number): void;
  /** Keep the event loop alive (while replies are awaited). */
  ref(): void;
  /** Let the event loop exit (while idle). */
  unref(): void;
  /** Stops the I/O thread; a `closed` event follows. */
  close(): void;
}

/** The functions csrc/netlink.cc exports. */
export interface NetlinkNative {
  /** Opens a socket (in the namespace file `nsPath`, joining the multicast `groups`) on its own I/O thread. */
  Socket: new (nsPath: string | null, onEvent: (...event: NativeSocketEvent) => void, groups?: number[], protocol?: number) => NativeSocket;
  describeErrno(errno: number): [name: string, message: string];
}

/** The addon's netlink functions. */
export const netlinkNative = addon.netlink as NetlinkNative;
