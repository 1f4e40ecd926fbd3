/**
 * IP addresses as kernkit keys them (IPVS tables, per-IP tables, sock_diag):
 * IPv4 as one 32-bit word, IPv6 as four, most significant first (the first
 * word holds the first four bytes, as `ntohl` gives them), parsed from text
 * without allocating more than the words, and written back as `inet_ntop`
 * writes them (RFC 5952 for IPv6).
 * @module
 */
import { invalid } from './validate';

/** An address family of a table: 4 (`AF_INET`) or 6 (`AF_INET6`). */
export type IpFamily = 4 | 6;

/** Words of an address of `family`. */
export function wordsOf(family: IpFamily): number {
  return family === 4 ? 1 : 4;
}

/**
 * Parses the IPv4 text `s` into `out[at]`; false when it is not one
 * (four decimal parts 0..255, no leading zeros beyond a lone 0, as inet_pton).
 */
function parse4(s: string, start: number, end: number, out: Uint32Array | number[], at: number): boolean {
  let word = 0;
  let part = -1;
  let digits = 0;
  let parts = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : s.charCodeAt(i); // a virtual '.' closes the last part
    if (c === 46) {
      if (digits === 0) return false;
      word = ((word << 8) | part) >>> 0;
      parts++;
      part = -1;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return false; // a leading zero
      part = (part < 0 ? 0 : part) * 10 + (c - 48);
      if (part > 255) return false;
      digits++;
    } else {
      return false;
    }
  }
  if (parts !== 4) return false;
  out[at] = word;
  return true;
}

/** Parses IPv6 text into four words at `out[at..at+3]`; false when it is not one. No zone ids. */
function parse6(s: string, out: Uint32Array | number[], at: number): boolean {
  const groups = new Array<number>(8).fill(0);
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  const all = halves.length === 2 ? [...head, ...tail] : head;
  // An embedded IPv4 address counts as two groups and may only come last.
  const last = all.length > 0 ? all[all.length - 1] : '';
  const v4 = last.includes('.');
  const count = all.length + (v4 ? 1 : 0);
  if (halves.length === 2 ? count > 7 : count !== 8) return false;
  const values: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const g = all[i];
    if (v4 && i === all.length - 1) {
      const w = [0];
      if (!parse4(g, 0, g.length, w, 0)) return false;
      values.push(w[0] >>> 16, w[0] & 0xffff);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
      values.push(parseInt(g, 16));
    }
  }
  const headCount = head.length + (v4 && halves.length === 1 ? 1 : 0);
  const headValues = values.slice(0, headCount);
  const tailValues = values.slice(headCount);
  headValues.forEach((v, i) => (groups[i] = v));
  tailValues.forEach((v, i) => (groups[8 - tailValues.length + i] = v));
  for (let w = 0; w < 4; w++) out[at + w] = ((groups[2 * w] << 16) | groups[2 * w + 1]) >>> 0;
  return true;
}

/** Parses IPv4 text into `out[at]`; false when it is not one. */
export function readIpv4(s: string, out: Uint32Array | number[], at = 0): boolean {
  return parse4(s, 0, s.length, out, at);
}

/** Parses IPv6 text into `out[at..at+3]`; false when it is not one. */
export function readIpv6(s: string, out: Uint32Array | number[], at = 0): boolean {
  return parse6(s, out, at);
}

/**
 * Parses `value` as an address of `family` into `out` from `at`; `EINVAL`
 * naming `field` when it is not one (IPv6 zone ids are refused: the kernel's
 * address has none).
 */
export function parseAddress(field: string, value: unknown, family: IpFamily, out: Uint32Array | number[], at = 0): void {
  const ok = typeof value === 'string' && (family === 4 ? parse4(value, 0, value.length, out, at) : parse6(value, out, at));
  if (!ok) throw invalid(field, value, family === 4 ? 'an IPv4 address such as "192.0.2.1"' : 'an IPv6 address such as "2001:db8::1"');
}

/** The text of the address in `words[at..]`: dotted quad, or RFC 5952 IPv6 (longest zero run as `::`, lower case). */
export function formatAddress(family: IpFamily, words: ArrayLike<number>, at = 0): string {
  if (family === 4) {
    const w = words[at];
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
  }
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(words[at + i] >>> 16, words[at + i] & 0xffff);
  // IPv4-mapped addresses keep their dotted tail, as inet_ntop writes them.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatAddress(4, words, at + 3)}`;
  }
  let best = -1;
  let bestLen = 1; // a single zero group is not shortened (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Whether the address in `words[at..]` is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
export function isLoopback(family: IpFamily, words: ArrayLike<number>, at = 0): boolean {
  if (family === 4) return words[at] >>> 24 === 127;
  if (words[at] !== 0 || words[at + 1] !== 0) return false;
  if (words[at + 2] === 0 && words[at + 3] === 1) return true;
  return words[at + 2] === 0xffff && words[at + 3] >>> 24 === 127;
}
