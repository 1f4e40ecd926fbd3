/**
 * The kernel's hash helpers the schedulers use: `hash_32` (include/linux/hash.h),
 * 64-bit `hsiphash` of one u32 (SipHash-1-3, lib/siphash.c on 64-bit kernels),
 * `gcd` and `fls`. Plain 32-bit arithmetic, no BigInt: these run on every pick.
 * @module
 */

/** `hash_32(v, bits)`: `(v * 0x61C88647 mod 2^32) >> (32 - bits)`. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v, 0x61c88647) >>> (32 - bits);
}

/** A 64-bit hsiphash key (`key[0]`, `key[1]`), each split into high and low 32-bit halves. */
export interface SipKey {
  k0hi: number;
  k0lo: number;
  k1hi: number;
  k1lo: number;
}

/** The key the kernel's mh scheduler uses for both words: `2654435761UL` (hash1) or `2654446892UL` (hash2). */
export function sipKey(k0hi: number, k0lo: number, k1hi = k0hi, k1lo = k0lo): SipKey {
  return { k0hi: k0hi | 0, k0lo: k0lo | 0, k1hi: k1hi | 0, k1lo: k1lo | 0 };
}

/**
 * `hsiphash(&v, 4, key)` on a 64-bit kernel: SipHash-1-3 of the four
 * little-endian bytes of the u32 `v`, truncated to its low 32 bits. The four
 * 64-bit state words are (high, low) pairs of int32 locals: V8 keeps those in
 * registers; a carry is an unsigned compare of the low halves.
 */
export function hsiphashU32(v: number, key: SipKey): number {
  // PREAMBLE: the "somepseudorandomlygeneratedbytes" constants xor the key.
  let v0h = 0x736f6d65 ^ key.k0hi;
  let v0l = 0x70736575 ^ key.k0lo;
  let v1h = 0x646f7261 ^ key.k1hi;
  let v1l = 0x6e646f6d ^ key.k1lo;
  let v2h = 0x6c796765 ^ key.k0hi;
  let v2l = 0x6e657261 ^ key.k0lo;
  let v3h = 0x74656462 ^ key.k1hi;
  let v3l = 0x79746573 ^ key.k1lo;
  // b = (len << 56) | the four message bytes.
  const bh = 0x04000000;
  const bl = v | 0;
  v3h ^= bh;
  v3l ^= bl;
  // One compression round, then the finalization's three.
  for (let round = 0; round < 4; round++) {
    if (round === 1) {
      v0h ^= bh;
      v0l ^= bl;
      v2l ^= 0xff;
    }
    let lo: number, t: number;
    // v0 += v1; v1 = rol(v1, 13); v1 ^= v0; v0 = rol(v0, 32)
    lo = (v0l + v1l) | 0;
    v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
    v0l = lo;
    t = v1h;
    v1h = ((v1h << 13) | (v1l >>> 19)) ^ v0h;
    v1l = ((v1l << 13) | (t >>> 19)) ^ v0l;
    t = v0h;
    v0h = v0l;
    v0l = t;
    // v2 += v3; v3 = rol(v3, 16); v3 ^= v2
    lo = (v2l + v3l) | 0;
    v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
    v2l = lo;
    t = v3h;
    v3h = ((v3h << 16) | (v3l >>> 16)) ^ v2h;
    v3l = ((v3l << 16) | (t >>> 16)) ^ v2l;
    // v0 += v3; v3 = rol(v3, 21); v3 ^= v0
    lo = (v0l + v3l) | 0;
    v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
    v0l = lo;
    t = v3h;
    v3h = ((v3h << 21) | (v3l >>> 11)) ^ v0h;
    v3l = ((v3l << 21) | (t >>> 11)) ^ v0l;
    // v2 += v1; v1 = rol(v1, 17); v1 ^= v2; v2 = rol(v2, 32)
    lo = (v2l + v1l) | 0;
    v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
    v2l = lo;
    t = v1h;
    v1h = ((v1h << 17) | (v1l >>> 15)) ^ v2h;
    v1l = ((v1l << 17) | (t >>> 15)) ^ v2l;
    t = v2h;
    v2h = v2l;
    v2l = t;
  }
  return (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** Greatest common divisor of two positive integers (lib/math/gcd.c). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/** `fls(x)`: the 1-based position of the most significant set bit, 0 for 0. */
export function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}
