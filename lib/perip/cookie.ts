/**
 * Cookies: how a holder reaches its table entry without hashing (the seed's
 * `struct stat_hash_cookie { u16 family; u16 bucket; atomic_t seq; }`).
 *
 * A cookie is a small frozen object made once, when its entry is inserted.
 * It holds its entry (hidden, see {@link COOKIE_ENTRY}): `count(cookie, ...)`
 * loads it and checks that the entry is still in this table (one pointer
 * compare). `flush()` takes every entry out, so every older cookie is
 * *polluted* (the seed assigns them INT_MAX; here their entries no longer
 * belong to the table), and a write through one is a counted no-op; so is a
 * write through a cookie of another table, or a copy of a cookie. Sequence
 * numbers are never reused by a table. {@link NO_COOKIE} (sequence 0, as the seed's zero cookie) names no
 * entry: what `insert` returns for a skipped loopback peer.
 * @module
 */
import type { IpFamily } from '../address';

/** A cookie: which table family, which bucket, which entry (see the module notes). */
export interface IpStatsCookie {
  readonly family: IpFamily;
  readonly bucket: number;
  readonly seq: number;
}

/**
 * @internal Where a cookie keeps its table entry, so `count` reaches it with one
 * load (no array index, no bounds check). Non-enumerable and keyed by a symbol:
 * a copy or a structured clone of a cookie lacks it, and so names no entry.
 */
export const COOKIE_ENTRY: unique symbol = Symbol('kernkit.perip.cookie.entry');

/** The cookie that names no entry. */
export const NO_COOKIE: IpStatsCookie = makeCookie(4, 0, 0, undefined);
/** Most buckets a table can have (the seed's u16 bucket is 65536; kernkit allows more). */
export const MAX_BUCKETS = 1 << 20;
/** Last sequence number a table hands out (the seed's cookies carry a 32-bit one). */
export const MAX_SEQUENCE = 0x7fffffff;

/**
 * @internal The cookie of `entry` (the table's own record), with sequence `seq`
 * in `bucket` of a table of `family`. Every cookie gets the same hidden class,
 * NO_COOKIE too, so `count` reads them all through one monomorphic load.
 */
export function makeCookie(family: IpFamily, bucket: number, seq: number, entry: object | undefined): IpStatsCookie {
  // In the literal, so the entry sits inside the object (a property added later lives in
  // a separate store: one more load per count); then hidden, and frozen with the rest.
  const cookie = { family, bucket, seq, [COOKIE_ENTRY]: entry };
  Object.defineProperty(cookie, COOKIE_ENTRY, { enumerable: false });
  return Object.freeze(cookie);
}
