/**
 * `struct tcmsg`, the fixed header of every tc request and reply: family,
 * interface index, handle, parent and info (for filters: priority and protocol).
 * @module
 */
import { StructReader, type ByteWriter } from '../netlink';
import { TCMSG_LEN } from './constants';

/** The fields of a `struct tcmsg`. */
export interface TcMsg {
  /** `tcm_ifindex` (a block index's magic value for shared blocks). */
  ifindex: number;
  /** `tcm_handle`. */
  handle: number;
  /** `tcm_parent`. */
  parent: number;
  /** `tcm_info`: a qdisc's refcount in replies; a filter's `prio << 16 | protocol`. */
  info: number;
}

/** Appends a tcmsg (family AF_UNSPEC) to a message. */
export function writeTcMsg(w: ByteWriter, t: TcMsg): void {
  const at = w.zeros(TCMSG_LEN);
  w.setU32(at + 4, t.ifindex >>> 0);
  w.setU32(at + 8, t.handle >>> 0);
  w.setU32(at + 12, t.parent >>> 0);
  w.setU32(at + 16, t.info >>> 0);
}

/** Reads the tcmsg at the start of a payload; `EBADMSG` if it is short. */
export function readTcMsg(payload: Uint8Array): TcMsg {
  const r = new StructReader(payload, TCMSG_LEN, 'tcmsg');
  return { ifindex: r.s32(4), handle: r.u32(8), parent: r.u32(12), info: r.u32(16) };
}
