/**
 * Cookies: how a holder reaches its table entry without hashing (the seed's
 * `struct stat_hash_cookie { u16 family; u16 bucket; atomic_t seq; }`).
 *
 * A cookie is one safe-integer number, so that storing and passing it costs
 * nothing: the low 32 bits are the entry's sequence number, above them the
 * bucket (20 bits) and the family (1 bit, set for IPv6). Sequence numbers
 * are never reused by a table, so a cookie names one entry forever: once
 * `flush()` drops the entries, their cookies are *polluted* and a write
 * through one is a counted no-op. Cookie 0 (sequence 0) names no entry, as the
 * seed's zero sequence: what `insert` returns for a skipped loopback peer.
 * @module
 */
import type { IpFamily } from './address';

/** The cookie that names no entry. */
export const NO_COOKIE = 0;
/** Most buckets a table can have: the bucket must fit its 20 bits of a cookie. */
export const MAX_BUCKETS = 1 << 20;
/** Last sequence number a table hands out. */
export const MAX_SEQUENCE = 0xffffffff;

const SEQ_SPAN = 2 ** 32;

/** The parts of a cookie. */
export interface CookieParts {
  readonly family: IpFamily;
  readonly bucket: number;
  readonly seq: number;
}

/** The cookie of the entry with sequence `seq` in `bucket` of a table of `family`. */
export function makeCookie(family: IpFamily, bucket: number, seq: number): number {
  return ((family === 6 ? MAX_BUCKETS : 0) + bucket) * SEQ_SPAN + seq;
}

/** The sequence number of a cookie: its low 32 bits (`>>> 0` takes them exactly for any safe integer). */
export function cookieSeq(cookie: number): number {
  return cookie >>> 0;
}

/** Splits a cookie into family, bucket and sequence; `undefined` for a value that is not a cookie's shape. */
export function parseCookie(cookie: number): CookieParts | undefined {
  if (!Number.isSafeInteger(cookie) || cookie < 0) return undefined;
  const high = Math.floor(cookie / SEQ_SPAN);
  return { family: high >= MAX_BUCKETS ? 6 : 4, bucket: high % MAX_BUCKETS, seq: cookie >>> 0 };
}
