/**
 * Bob Jenkins' lookup3 hash as the kernel has it (include/linux/jhash.h):
 * `jhash2` over 32-bit words and `jhash_2words`, the ones the seed's tables
 * use to pick a bucket for an address pair. Each table draws a random
 * `initval` (as the kernel's hash secrets), so a peer cannot choose addresses
 * that all land in one bucket without knowing it.
 * @module
 */

import { integer, integerIn, invalid } from '../validate';

/** The kernel's JHASH_INITVAL, an arbitrary value. */
const JHASH_INITVAL = 0xdeadbeef;

function rol32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// State of the mix, kept in module scope so a hash allocates nothing.
let a = 0;
let b = 0;
let c = 0;

function mix(): void {
  a = (a - c) | 0; a ^= rol32(c, 4); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol32(a, 6); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol32(b, 8); b = (b + a) | 0;
  a = (a - c) | 0; a ^= rol32(c, 16); c = (c + b) | 0;
  b = (b - a) | 0; b ^= rol32(a, 19); a = (a + c) | 0;
  c = (c - b) | 0; c ^= rol32(b, 4); b = (b + a) | 0;
}

function final(): void {
  c ^= b; c = (c - rol32(b, 14)) | 0;
  a ^= c; a = (a - rol32(c, 11)) | 0;
  b ^= a; b = (b - rol32(a, 25)) | 0;
  c ^= b; c = (c - rol32(b, 16)) | 0;
  a ^= c; a = (a - rol32(c, 4)) | 0;
  b ^= a; b = (b - rol32(a, 14)) | 0;
  c ^= b; c = (c - rol32(b, 24)) | 0;
}

/**
 * `jhash2(k, length, initval)`: the hash of `length` words of `k` from `at`, as an unsigned
 * 32-bit number. `EINVAL` for a `k` that is not an array or typed array, or an `initval` that
 * is not an integer; `ERANGE` for an `at`/`length` outside `k`.
 */
export function jhash2(k: ArrayLike<number>, length: number, initval: number, at = 0): number {
  if (!Array.isArray(k) && !(ArrayBuffer.isView(k) && !(k instanceof DataView))) throw invalid('k', k, 'an array or typed array of 32-bit words');
  integerIn('at', at, 0, k.length);
  integerIn('length', length, 0, k.length - at);
  integer('initval', initval);
  return jhash2Unchecked(k, length, initval, at);
}

/** {@link jhash2} without the argument checks, for the tables' own lookups. */
export function jhash2Unchecked(k: ArrayLike<number>, length: number, initval: number, at = 0): number {
  a = b = c = (JHASH_INITVAL + (length << 2) + initval) | 0;
  let i = at;
  let left = length;
  while (left > 3) {
    a = (a + k[i]) | 0;
    b = (b + k[i + 1]) | 0;
    c = (c + k[i + 2]) | 0;
    mix();
    left -= 3;
    i += 3;
  }
  if (left === 0) return c >>> 0;
  if (left === 3) c = (c + k[i + 2]) | 0;
  if (left >= 2) b = (b + k[i + 1]) | 0;
  a = (a + k[i]) | 0;
  final();
  return c >>> 0;
}

function jhashNwords(x: number, y: number, z: number, initval: number): number {
  a = (x + initval) | 0;
  b = (y + initval) | 0;
  c = (z + initval) | 0;
  final();
  return c >>> 0;
}

/** `jhash_3words(x, y, z, initval)`, as an unsigned 32-bit number. */
export function jhash3words(x: number, y: number, z: number, initval: number): number {
  return jhashNwords(x, y, z, (initval + JHASH_INITVAL + (3 << 2)) | 0);
}

/** `jhash_2words(x, y, initval)`: what the tables use for an IPv4 pair. */
export function jhash2words(x: number, y: number, initval: number): number {
  return jhashNwords(x, y, 0, (initval + JHASH_INITVAL + (2 << 2)) | 0);
}
