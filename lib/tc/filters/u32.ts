/**
 * u32, the universal 32-bit key classifier (net/sched/cls_u32.c), encoded as
 * tc/f_u32.c does: each match becomes a 32-bit value/mask key at a 4-byte
 * aligned offset from the network header, keys at the same offset merge, and
 * a flowid makes the selector terminal.
 * @module
 */
import { isIPv4 } from 'node:net';
import { AttrTable, StructReader, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { formatHandle, parseClassId, type Handle } from '../handle';
import { arrayOf, cString, integerIn, invalid, knownKeys, oneOf, options, plainObject } from '../../validate';
import { U32_MAX } from '../units';
import type { FilterCodec } from '../kinds/codec';

const TCA_U32_CLASSID = 1;
const TCA_U32_HASH = 2;
const TCA_U32_LINK = 3;
const TCA_U32_DIVISOR = 4;
const TCA_U32_SEL = 5;
const TCA_U32_INDEV = 8;
const TCA_U32_FLAGS = 11;
/** TC_U32_TERMINAL: a match ends classification. */
const TC_U32_TERMINAL = 1;
const SEL_LEN = 16;
const KEY_LEN = 16;
const MAX_KEYS = 128;

/** One match, as `match ...` in tc. Offsets are from the IP header. */
export type U32Match =
  /** `match ip src|dst PREFIX`: an IPv4 address or prefix ("10.0.0.0/8"). */
  | { ip: 'src' | 'dst'; value: string }
  /** `match ip sport|dport VALUE MASK` (assumes a 20-byte IP header, as tc does). */
  | { ip: 'sport' | 'dport'; value: number; mask?: number }
  /** `match ip protocol VALUE MASK`: a number or `'tcp'`, `'udp'`, `'icmp'`. */
  | { ip: 'protocol'; value: number | 'tcp' | 'udp' | 'icmp'; mask?: number }
  /** `match ip tos|dsfield VALUE MASK`. */
  | { ip: 'tos'; value: number; mask?: number }
  /** `match u32 VALUE MASK at OFFSET`. */
  | { u32: number; mask: number; at: number }
  /** `match u16 VALUE MASK at OFFSET`. */
  | { u16: number; mask: number; at: number }
  /** `match u8 VALUE MASK at OFFSET`. */
  | { u8: number; mask: number; at: number };

/** Options of a u32 filter. */
export interface U32Options {
  /** The matches, all of which must hold. */
  match?: U32Match[];
  /** The class matching packets go to (`flowid`/`classid`). */
  classid?: Handle;
  /** Only packets received on this device (`indev`). */
  indev?: string;
  /** Create a hash table of this many buckets instead of a rule (`divisor`, a power of two up to 256). */
  divisor?: number;
  /** Do not offload (`skip_hw`) or do not run in software (`skip_sw`). */
  skip?: 'hw' | 'sw';
}

/** A key of a u32 selector as the kernel holds it (network byte order values as numbers). */
export interface U32Key {
  /** The value, as the 32-bit big-endian word at the offset. */
  value: number;
  /** The mask. */
  mask: number;
  /** Byte offset from the network header. */
  at: number;
  /** Offset mask for next-header relative keys (0 for plain keys). */
  offmask: number;
}

/** What a u32 filter dumps. */
export interface U32Info {
  /** The filter's handle as tc prints it (`800::800`). */
  handle: string;
  /** The class matched packets go to. */
  classid?: string;
  /** A hash table's bucket count. */
  divisor?: number;
  /** The hash table this filter lives in. */
  hash?: number;
  /** The hash table this filter links to. */
  link?: number;
  /** The selector's keys. */
  keys: U32Key[];
  /** True when a match ends classification. */
  terminal: boolean;
  /** Receiving device filter. */
  indev?: string;
  /** TCA_CLS_FLAGS_* bits. */
  flags?: number;
}

interface Key {
  val: number; // host-order view of the big-endian word, unsigned
  mask: number;
  off: number;
  offmask: number;
}

/** pack_key(): merges keys at the same offset, refuses contradictions and unaligned offsets. */
function packKey(keys: Key[], val: number, mask: number, off: number, field: string): void {
  val = (val & mask) >>> 0;
  for (const k of keys) {
    if (k.off === off && k.offmask === 0) {
      if (((val ^ k.val) & mask & k.mask) >>> 0) throw invalid(field, val, 'a match that agrees with the earlier ones at the same offset');
      k.val = (k.val | val) >>> 0;
      k.mask = (k.mask | mask) >>> 0;
      return;
    }
  }
  if (keys.length >= MAX_KEYS) throw invalid(field, keys.length, `at most ${MAX_KEYS} keys`);
  if (off % 4) throw invalid(field, off, 'an offset that is a multiple of 4');
  keys.push({ val, mask: mask >>> 0, off, offmask: 0 });
}

/** pack_key16(): a 16-bit value at a 2-byte offset within a word. */
function packKey16(keys: Key[], val: number, mask: number, off: number, field: string): void {
  if (val > 0xffff || mask > 0xffff) throw invalid(field, val, 'a 16-bit value and mask');
  if ((off & 3) === 0) {
    val = val * 0x10000;
    mask = mask * 0x10000;
  }
  packKey(keys, val >>> 0, mask >>> 0, off & ~3, field);
}

/** pack_key8(): an 8-bit value at any byte of a word. */
function packKey8(keys: Key[], val: number, mask: number, off: number, field: string): void {
  if (val > 0xff || mask > 0xff) throw invalid(field, val, 'an 8-bit value and mask');
  const shift = [24, 16, 8, 0][off & 3];
  packKey(keys, (val * 2 ** shift) >>> 0, (mask * 2 ** shift) >>> 0, off & ~3, field);
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

function ipv4Word(addr: string, field: string): number {
  if (!isIPv4(addr)) throw invalid(field, addr, 'an IPv4 address or prefix, e.g. "10.1.0.0/16"');
  return addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) >>> 0;
}

const MATCH_FORMS = '{ ip: ... }, { u32 }, { u16 } or { u8 }';

function addMatch(keys: Key[], field: string, value: unknown): void {
  const m = plainObject(field, value, `a match object: ${MATCH_FORMS}`) as U32Match;
  if ('ip' in m) {
    // src and dst take a prefix, which is their mask
    knownKeys(field, m, m.ip === 'src' || m.ip === 'dst' ? ['ip', 'value'] : ['ip', 'value', 'mask']);
    switch (m.ip) {
      case 'src':
      case 'dst': {
        if (typeof m.value !== 'string') throw invalid(`${field}.value`, m.value, 'an IPv4 address or prefix');
        const [addr, lenText] = m.value.split('/');
        const bits = lenText === undefined ? 32 : /^\d+$/.test(lenText) ? Number(lenText) : NaN;
        if (!(bits >= 0 && bits <= 32)) throw invalid(`${field}.value`, m.value, 'an IPv4 address with a prefix length from 0 to 32');
        const mask = bits === 0 ? 0 : (0xffffffff * 2 ** (32 - bits)) % 2 ** 32;
        packKey(keys, ipv4Word(addr, `${field}.value`), mask >>> 0, m.ip === 'src' ? 12 : 16, field);
        return;
      }
      case 'sport':
      case 'dport':
        packKey16(keys, integerIn(`${field}.value`, m.value, 0, 0xffff), m.mask === undefined ? 0xffff : integerIn(`${field}.mask`, m.mask, 0, 0xffff), m.ip === 'sport' ? 20 : 22, field);
        return;
      case 'protocol': {
        const v = typeof m.value === 'string' ? PROTOCOLS[m.value] : m.value;
        if (v === undefined) throw invalid(`${field}.value`, m.value, 'a protocol number or "tcp", "udp", "icmp"');
        packKey8(keys, integerIn(`${field}.value`, v, 0, 0xff), m.mask === undefined ? 0xff : integerIn(`${field}.mask`, m.mask, 0, 0xff), 9, field);
        return;
      }
      case 'tos':
        packKey8(keys, integerIn(`${field}.value`, m.value, 0, 0xff), m.mask === undefined ? 0xff : integerIn(`${field}.mask`, m.mask, 0, 0xff), 1, field);
        return;
      default:
        throw invalid(`${field}.ip`, (m as { ip: unknown }).ip, 'one of src, dst, sport, dport, protocol, tos');
    }
  }
  const width = (['u32', 'u16', 'u8'] as const).find((k) => k in m);
  if (width === undefined) throw invalid(field, m, MATCH_FORMS);
  knownKeys(field, m, [width, 'mask', 'at']);
  const at = integerIn(`${field}.at`, (m as { at: unknown }).at, 0, 0x7fffffff);
  if ('u32' in m) packKey(keys, integerIn(`${field}.u32`, m.u32, 0, U32_MAX), integerIn(`${field}.mask`, m.mask, 0, U32_MAX), at, field);
  else if ('u16' in m) packKey16(keys, integerIn(`${field}.u16`, m.u16, 0, 0xffff), integerIn(`${field}.mask`, m.mask, 0, 0xffff), at, field);
  else if ('u8' in m) packKey8(keys, integerIn(`${field}.u8`, m.u8, 0, 0xff), integerIn(`${field}.mask`, m.mask, 0, 0xff), at, field);
}

const KEYS = ['match', 'classid', 'indev', 'divisor', 'skip'] as const;

function encode(w: ByteWriter, value: unknown): void {
  const o = options<U32Options>('u32', value, KEYS);
  const keys: Key[] = [];
  if (o.match !== undefined) arrayOf('u32.match', o.match, (field, m) => addMatch(keys, field, m));
  const classid = o.classid === undefined ? undefined : parseClassId(o.classid, 'u32.classid');
  let divisor: number | undefined;
  if (o.divisor !== undefined) {
    divisor = integerIn('u32.divisor', o.divisor, 1, 0x100);
    if ((divisor - 1) & divisor) throw invalid('u32.divisor', o.divisor, 'a power of two from 1 to 256');
  }
  // A NUL would end the name early: the kernel would match another device.
  if (o.indev !== undefined) cString('u32.indev', o.indev, { nonEmpty: true, maxLength: 15, expected: 'a device name of 1..15 characters' });
  if (o.skip !== undefined) oneOf('u32.skip', o.skip, ['hw', 'sw']);
  // An empty option set sends no TCA_OPTIONS, as tc does for a bare `u32`.
  if (Object.keys(o).length === 0) return;

  w.nest(TCA_OPTIONS, () => {
    // Attributes in the order tc's argument loop would emit them for this spelling:
    // classid, divisor and indev as they come, the selector and flags at the end.
    if (classid !== undefined) w.attrU32(TCA_U32_CLASSID, classid, 'u32.classid');
    if (divisor !== undefined) w.attrU32(TCA_U32_DIVISOR, divisor, 'u32.divisor');
    if (o.indev !== undefined) w.attrString(TCA_U32_INDEV, o.indev, 'u32.indev');
    if (keys.length) {
      const at = w.beginAttr(TCA_U32_SEL, 'u32.match');
      w.u8(classid !== undefined ? TC_U32_TERMINAL : 0); // flags
      w.u8(0); // offshift
      w.u8(keys.length);
      w.u8(0);
      w.u16(0); // offmask
      w.u16(0); // off
      w.u16(0); // offoff
      w.u16(0); // hoff
      w.u32(0); // hmask
      for (const k of keys) {
        w.u32(swap32(k.mask));
        w.u32(swap32(k.val));
        w.s32(k.off);
        w.s32(k.offmask);
      }
      w.endAttr(at);
    }
    if (o.skip !== undefined) w.attrU32(TCA_U32_FLAGS, o.skip === 'hw' ? 1 : 2, 'u32.skip');
  });
}

/** The 32-bit word in network byte order, as a little-endian writer must lay it out. */
function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function decode(options: Uint8Array | undefined): U32Info | undefined {
  if (!options) return undefined;
  const t = new AttrTable(options, 'u32 options');
  const info: U32Info = { handle: '', keys: [], terminal: false };
  const classid = t.u32(TCA_U32_CLASSID, 'TCA_U32_CLASSID');
  if (classid !== undefined) info.classid = formatHandle(classid);
  const divisor = t.u32(TCA_U32_DIVISOR, 'TCA_U32_DIVISOR');
  if (divisor !== undefined) info.divisor = divisor;
  const hash = t.u32(TCA_U32_HASH, 'TCA_U32_HASH');
  if (hash !== undefined) info.hash = hash;
  const link = t.u32(TCA_U32_LINK, 'TCA_U32_LINK');
  if (link !== undefined) info.link = link;
  const indev = t.string(TCA_U32_INDEV, 'TCA_U32_INDEV');
  if (indev !== undefined) info.indev = indev;
  const flags = t.u32(TCA_U32_FLAGS, 'TCA_U32_FLAGS');
  if (flags !== undefined) info.flags = flags;
  const sel = t.get(TCA_U32_SEL);
  if (sel) {
    const head = new StructReader(sel, SEL_LEN, 'tc_u32_sel');
    const nkeys = head.u8(2);
    const r = new StructReader(sel, SEL_LEN + nkeys * KEY_LEN, 'tc_u32_sel keys');
    info.terminal = (head.u8(0) & TC_U32_TERMINAL) !== 0;
    for (let i = 0; i < nkeys; i++) {
      const o = SEL_LEN + i * KEY_LEN;
      info.keys.push({ mask: swap32(r.u32(o)), value: swap32(r.u32(o + 4)), at: r.s32(o + 8), offmask: r.s32(o + 12) });
    }
  }
  return info;
}

/** get_u32_handle(): `htid:hash:node` in hex (`800::1`), or a `0x` number. */
function parseHandle(value: string | number, field: string): number {
  if (typeof value === 'number') return integerIn(field, value, 0, U32_MAX);
  if (typeof value !== 'string') throw invalid(field, value, 'a u32 handle such as "800::1"');
  const allowed = 'a u32 handle "htid:hash:node" in hex (htid < 1000, hash < 100, node < 1000), e.g. "800::1"';
  if (!value.includes(':')) {
    if (/^0x[0-9a-fA-F]+$/.test(value)) return integerIn(field, parseInt(value, 16), 0, U32_MAX);
    throw invalid(field, value, allowed);
  }
  const parts = value.split(':');
  if (parts.length > 3 || parts.some((p) => p !== '' && !/^[0-9a-fA-F]+$/.test(p))) throw invalid(field, value, allowed);
  const [htid, hash, node] = [0, 1, 2].map((i) => (parts[i] ? parseInt(parts[i], 16) : 0));
  if (htid >= 0x1000 || hash >= 0x100 || node >= 0x1000) throw invalid(field, value, allowed);
  return ((htid << 20) | (hash << 12) | node) >>> 0;
}

/** sprint_u32_handle(): as tc prints a u32 handle (`800:`, `800::800`). */
function formatU32Handle(h: number): string {
  if (h === 0) return 'none';
  const htid = h >>> 20;
  const hash = (h >>> 12) & 0xff;
  const node = h & 0xfff;
  let out = htid ? `${htid.toString(16)}:` : '';
  if (hash) out += hash.toString(16);
  if (node) out += `:${node.toString(16)}`;
  return out;
}

/** u32: classification by 32-bit keys at offsets. */
export const u32: FilterCodec = { kind: 'u32', encode, decode, parseHandle, formatHandle: formatU32Handle };
