/**
 * Cookies: how a holder reaches its table entry without hashing (the seed's
 * `struct stat_hash_cookie { u16 family; u16 bucket; atomic_t seq; }`).
 *
 * A cookie is a small frozen object made once, when its entry is inserted:
 * `count(cookie, ...)` indexes the table's dense entry array by `seq` and
 * checks that the entry there holds this very cookie (one pointer compare).
 * Sequence numbers are never reused by a table, so once `flush()` drops the
 * entries every older cookie is *polluted* (the seed assigns them INT_MAX;
 * here the table no longer knows them), and a write through one is a counted
 * no-op. {@link NO_COOKIE} (sequence 0, as the seed's zero cookie) names no
 * entry: what `insert` returns for a skipped loopback peer.
 * @module
 */
import type { IpFamily } from './address';

/** A cookie: which table family, which bucket, which entry (see the module notes). */
export interface IpStatsCookie {
  readonly family: IpFamily;
  readonly bucket: number;
  readonly seq: number;
}

/** The cookie that names no entry. */
export const NO_COOKIE: IpStatsCookie = Object.freeze({ family: 4, bucket: 0, seq: 0 });
/** Most buckets a table can have (the seed's u16 bucket is 65536; kernkit allows more). */
export const MAX_BUCKETS = 1 << 20;
/** Last sequence number a table hands out: it stays a small integer, so `count` indexes with it directly. */
export const MAX_SEQUENCE = 0x7fffffff;

/** The cookie of the entry with sequence `seq` in `bucket` of a table of `family`. */
export function makeCookie(family: IpFamily, bucket: number, seq: number): IpStatsCookie {
  return Object.freeze({ family, bucket, seq });
}
