/**
 * IP addresses as IPVS keeps them: the family, the 32-bit words in host order
 * (what `ntohl` gives the kernel's hash functions) and the canonical text,
 * parsed and written by the shared `lib/address.ts`.
 * @module
 */
import { formatAddress, readIpv4, readIpv6 } from '../address';
import { invalid } from '../validate';

/** An IPv4 or IPv6 address, parsed once. */
export interface IpAddress {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** The address as 1 (IPv4) or 4 (IPv6) unsigned 32-bit words, most significant first. */
  readonly words: readonly number[];
  /** The canonical text: dotted quad, or RFC 5952 compressed IPv6 as `inet_ntop` writes it. */
  readonly text: string;
  /** The words folded as the kernel's hashes fold them: IPv6 words XORed together. */
  readonly fold: number;
}

/** An address from its family and host-order words. */
export function makeAddress(family: 4 | 6, words: number[]): IpAddress {
  const fold = family === 4 ? words[0] : (words[0] ^ words[1] ^ words[2] ^ words[3]) >>> 0;
  return { family, words, text: formatAddress(family, words), fold };
}

function parseIpv4(text: string): number | undefined {
  const word = [0];
  return readIpv4(text, word) ? word[0] : undefined;
}

function parseIpv6(text: string): number[] | undefined {
  const words = [0, 0, 0, 0];
  return readIpv6(text, words) ? words : undefined;
}

/** Parses an IPv4 or IPv6 address; `EINVAL` naming `field` for anything else. */
export function parseAddress(field: string, value: unknown): IpAddress {
  if (typeof value === 'string') {
    const v4 = parseIpv4(value);
    if (v4 !== undefined) return makeAddress(4, [v4]);
    const v6 = value.includes(':') ? parseIpv6(value) : undefined;
    if (v6 !== undefined) return makeAddress(6, v6);
  }
  throw invalid(field, value, 'an IPv4 or IPv6 address');
}

/** The address as one word, as the kernel folds it for hashing: IPv6 words XORed together. */
export function foldAddress(a: IpAddress): number {
  return a.fold;
}

/** The address masked to a prefix length (the persistence granularity). */
export function maskAddress(a: IpAddress, prefixLength: number): IpAddress {
  const words = a.words.map((w, i) => {
    const bits = Math.max(0, Math.min(32, prefixLength - 32 * i));
    const mask = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    return (w & mask) >>> 0;
  });
  return makeAddress(a.family, words);
}

/** True when two addresses are the same family and value. */
export function sameAddress(a: IpAddress, b: IpAddress): boolean {
  if (a.family !== b.family) return false;
  for (let i = 0; i < a.words.length; i++) if (a.words[i] !== b.words[i]) return false;
  return true;
}

/**
 * The IPv4 netmask `255.255.255.0` as a prefix length; `undefined` for a mask
 * whose ones are not contiguous (the kernel masks with any u32, see docs).
 */
export function netmaskToPrefix(mask: number): number | undefined {
  let n = 0;
  while (n < 32 && (mask & (0x80000000 >>> n)) !== 0) n++;
  const rebuilt = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return rebuilt === mask >>> 0 ? n : undefined;
}

/** A prefix length's IPv4 netmask in dotted-quad text. */
export function prefixToNetmaskText(prefix: number): string {
  return formatAddress(4, [prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0]);
}

/** Parses a dotted-quad IPv4 address into its host-order word (`undefined` if it is not one). */
export function ipv4Word(text: string): number | undefined {
  return parseIpv4(text);
}

/** The kernel refuses a real server whose address is neither unicast nor local (`EINVAL`). */
export function isUnicastish(a: IpAddress): boolean {
  const w = a.words[0];
  if (a.family === 4) return !(w >>> 28 === 0xe || w === 0xffffffff || w >>> 28 === 0xf);
  if (a.words.every((x) => x === 0)) return false; // ::, the unspecified address
  if (w >>> 24 === 0xff) return false; // multicast
  return true;
}
