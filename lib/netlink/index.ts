/**
 * rtnetlink plumbing: a NETLINK_ROUTE socket that can live in another network
 * namespace, and the codecs for messages and attributes.
 * @module
 */
export { NetlinkSocket, namespacePath, REQUEST_FLAGS, type NetlinkSocketOptions, type NetlinkReply, type NotificationListener } from './socket';
export { MessageWriter, parseMessages, decodeError, decodeDone, type NetlinkMessage, type NetlinkAck } from './message';
export { ByteWriter, AttrTable, StructReader, parseAttrs, align, badMessage, type Attr } from './attributes';
export { describeErrno } from './errors';
export * as nl from './constants';
