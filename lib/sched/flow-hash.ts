/**
 * Which bucket a flow key falls in, as sch_fq's `hash_ptr(sk, log)` picks a
 * tree: a 32-bit hash of the key times the golden ratio, top `log` bits.
 * The kernel hashes a socket pointer; here a key is a string (FNV-1a), a
 * number, or an object (a per-object serial number, so identity decides).
 * @module
 */

/** `GOLDEN_RATIO_32` of include/linux/hash.h. */
const GOLDEN_RATIO_32 = 0x61c88647;

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A 32-bit hash of a flow key. */
export function keyHash(key: unknown): number {
  switch (typeof key) {
    case 'number':
      return Number.isInteger(key) && Math.abs(key) <= 0xffffffff ? key >>> 0 : fnv1a(String(key));
    case 'string':
      return fnv1a(key);
    case 'object':
    case 'function': {
      const o = key as object;
      let id = objectIds.get(o);
      if (id === undefined) {
        id = nextObjectId++;
        objectIds.set(o, id);
      }
      return id;
    }
    default:
      return fnv1a(String(key));
  }
}

/** `hash_32(h, log)`: the top `log` bits of `h` times the golden ratio (log 1..18). */
export function bucketOf(hash: number, log: number): number {
  return Math.imul(hash, GOLDEN_RATIO_32) >>> (32 - log);
}
