/**
 * Netlink messages: `struct nlmsghdr` framing, building requests, splitting
 * datagrams into messages and decoding `NLMSG_ERROR` acks with their
 * extended-ack attributes. Every read is bounds-checked.
 * @module
 */
import { AttrTable, ByteWriter, align, badMessage } from './attributes';
import {
  NLMSGERR_ATTR_MISS_NEST,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLMSG_HDRLEN,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
} from './constants';

/** A received netlink message. */
export interface NetlinkMessage {
  /** `nlmsg_type`. */
  readonly type: number;
  /** `nlmsg_flags`. */
  readonly flags: number;
  /** `nlmsg_seq`: the request it answers. */
  readonly seq: number;
  /** `nlmsg_pid`: the sender's port (0: the kernel). */
  readonly pid: number;
  /** The bytes after the header, up to `nlmsg_len`. */
  readonly payload: Uint8Array;
}

/**
 * A request under construction: the 16-byte header, then a fixed body
 * (`tcmsg`, `ifinfomsg`, ...) and attributes, written through {@link ByteWriter}.
 */
export class MessageWriter extends ByteWriter {
  /** Starts a message of `type` with `flags`; seq and pid are set at send time. */
  constructor(
    readonly type: number,
    readonly flags: number,
    capacity = 256,
  ) {
    super(capacity);
    this.zeros(NLMSG_HDRLEN);
    this.setU16(4, type);
    this.setU16(6, flags);
  }

  /** The finished message with `seq` and `pid` filled in (a view, not a copy). */
  finish(seq: number, pid = 0): Buffer {
    const out = this.view();
    out.writeUInt32LE(out.length, 0);
    out.writeUInt32LE(seq >>> 0, 8);
    out.writeUInt32LE(pid >>> 0, 12);
    return out;
  }
}

/**
 * Splits a datagram into messages. A length below the header size or beyond
 * what remains is `EBADMSG`; the last message may omit its alignment padding.
 */
export function parseMessages(datagram: Uint8Array): NetlinkMessage[] {
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off < datagram.length) {
    if (datagram.length - off < NLMSG_HDRLEN) {
      throw badMessage(`${datagram.length - off} stray bytes after message ${out.length} (a header is ${NLMSG_HDRLEN})`);
    }
    const len = view.getUint32(off, true);
    if (len < NLMSG_HDRLEN || len > datagram.length - off) {
      throw badMessage(`message at offset ${off} claims ${len} bytes, ${datagram.length - off} available`);
    }
    out.push({
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
      pid: view.getUint32(off + 12, true),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align(len);
  }
  return out;
}

/** What the kernel said about a request: the errno and its extended ack. */
export interface NetlinkAck {
  /** 0 for success, else the positive errno. */
  readonly errno: number;
  /** The kernel's message: an error's explanation, or a warning on success. */
  readonly message?: string;
  /** Offset in the request of the attribute the kernel refused. */
  readonly offset?: number;
  /** Type of an attribute the kernel found missing. */
  readonly missingType?: number;
  /** Offset in the request of the nest missing that attribute. */
  readonly missingNest?: number;
}

function readExtack(tlvs: Uint8Array, errno: number): NetlinkAck {
  const t = new AttrTable(tlvs, 'extended ack');
  const ack: { -readonly [K in keyof NetlinkAck]: NetlinkAck[K] } = { errno };
  const message = t.string(NLMSGERR_ATTR_MSG, 'message');
  if (message !== undefined && message !== '') ack.message = message;
  const offset = t.u32(NLMSGERR_ATTR_OFFS, 'offset');
  if (offset !== undefined) ack.offset = offset;
  const missingType = t.u32(NLMSGERR_ATTR_MISS_TYPE, 'missing type');
  if (missingType !== undefined) ack.missingType = missingType;
  const missingNest = t.u32(NLMSGERR_ATTR_MISS_NEST, 'missing nest');
  if (missingNest !== undefined) ack.missingNest = missingNest;
  return ack;
}

/**
 * Decodes an `NLMSG_ERROR` message: `int error`, the request's header (and,
 * unless capped, its payload), then extended-ack attributes when flagged.
 */
export function decodeError(msg: NetlinkMessage): NetlinkAck {
  const p = msg.payload;
  if (p.length < 4 + NLMSG_HDRLEN) throw badMessage(`NLMSG_ERROR has ${p.length} bytes, needs ${4 + NLMSG_HDRLEN}`);
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const errno = 0 - view.getInt32(0, true) || 0; // never -0
  if (errno < 0) throw badMessage(`NLMSG_ERROR carries a positive error ${-errno}`);
  if (!(msg.flags & NLM_F_ACK_TLVS)) return { errno };
  let tlvStart = 4 + NLMSG_HDRLEN;
  if (!(msg.flags & NLM_F_CAPPED)) {
    const echoed = view.getUint32(4, true);
    if (echoed < NLMSG_HDRLEN) throw badMessage(`NLMSG_ERROR echoes a request of ${echoed} bytes`);
    tlvStart = 4 + align(echoed);
  }
  if (tlvStart > p.length) throw badMessage(`NLMSG_ERROR extended ack starts at ${tlvStart}, past its ${p.length} bytes`);
  return readExtack(p.subarray(tlvStart), errno);
}

/** Decodes an `NLMSG_DONE`: an `int error` (dumps only) and optional extended ack. */
export function decodeDone(msg: NetlinkMessage): NetlinkAck {
  const p = msg.payload;
  if (p.length < 4) return { errno: 0 }; // old kernels and some families send an empty DONE
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const errno = 0 - view.getInt32(0, true) || 0; // never -0
  if (errno < 0) throw badMessage(`NLMSG_DONE carries a positive error ${-errno}`);
  if (!(msg.flags & NLM_F_ACK_TLVS)) return { errno };
  return readExtack(p.subarray(4), errno);
}
