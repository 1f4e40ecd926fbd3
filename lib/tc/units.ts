/**
 * Units as tc reads and prints them (iproute2's `get_rate`, `get_size`,
 * `get_time`, `get_time64`, `parse_percent` and their printers). A string
 * takes tc's suffixes; a plain number means what a bare number means to tc:
 * bits per second for a rate, bytes for a size, microseconds for a time
 * (nanoseconds for the few 64-bit times). A string is rounded as tc rounds it
 * (`'1.5'` bytes is 1); a number must be a whole count (`1.5` is `EINVAL`),
 * since nothing in between can be sent.
 * @module
 */
import { finite, integerIn, invalid, outOfRange } from '../validate';

/** A rate: `'10mbit'`, `'1.5gbit'`, `'100KBps'`, or bits per second. */
export type Rate = string | number;
/** A size: `'15k'`, `'1mb'`, `'64kbit'`, or bytes. */
export type Size = string | number;
/** A time: `'100ms'`, `'40us'`, `'1.5s'`, or microseconds. */
export type Time = string | number;
/** A percentage: `'0.5%'`, `'12'`, or a number of percent. */
export type Percent = string | number;

/** The largest value of the kernel's 32-bit fields. */
export const U32_MAX = 0xffffffff;
const TWO_64 = 18446744073709551616;

// iproute2's rate suffixes (lib/utils_math.c), matched ignoring case, first match wins.
const RATE_SUFFIXES: Array<[string, number]> = [
  ['bit', 1],
  ['Kibit', 1024],
  ['kbit', 1000],
  ['mibit', 1024 * 1024],
  ['mbit', 1000000],
  ['gibit', 1024 * 1024 * 1024],
  ['gbit', 1000000000],
  ['tibit', 1024 * 1024 * 1024 * 1024],
  ['tbit', 1000000000000],
  ['Bps', 8],
  ['KiBps', 8 * 1024],
  ['KBps', 8000],
  ['MiBps', 8 * 1024 * 1024],
  ['MBps', 8000000],
  ['GiBps', 8 * 1024 * 1024 * 1024],
  ['GBps', 8000000000],
  ['TiBps', 8 * 1024 * 1024 * 1024 * 1024],
  ['TBps', 8000000000000],
].map(([name, scale]) => [(name as string).toLowerCase(), scale as number]);

// The decimal number strtod() would read at the start of a string (kernkit
// refuses the hex, inf and nan forms strtod also takes).
const LEADING_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;

/** Splits "10mbit" into 10 and "mbit", as strtod leaves it. */
function splitNumber(field: string, text: string, allowed: string): [number, string] {
  const m = LEADING_NUMBER.exec(text);
  if (!m) throw invalid(field, text, allowed);
  const n = Number(m[0]);
  if (n < 0) throw invalid(field, text, `${allowed}, not negative`);
  return [n, text.slice(m[0].length)];
}

/**
 * A bare number: a whole count (of bytes, packets, bits per second, time
 * units) from 0 to `max`. A fraction or a negative number is `EINVAL` (tc
 * reads neither as a count), a larger one `ERANGE`.
 */
function wholeCount(field: string, value: number, max: number): number {
  if (value < 0) throw invalid(field, value, `an integer from 0 to ${max}`);
  return integerIn(field, value, 0, max);
}

/** The refusal of a suffix tc does not know. */
function unknownUnit(field: string, value: string, suffix: string, allowed: string) {
  return invalid(field, value, `${allowed}; unknown unit "${suffix}"`);
}

/**
 * A 64-bit rate in bytes per second, as `get_rate64` computes it: bits times
 * the suffix's scale, divided by 8, truncated.
 */
export function parseRate(value: Rate, field = 'rate'): number {
  const allowed = 'a rate such as "10mbit", "1.5gbit", "100kbps", or bits per second';
  let bits: number;
  if (typeof value === 'number') {
    bits = wholeCount(field, value, Number.MAX_SAFE_INTEGER);
  } else if (typeof value === 'string') {
    const [n, suffix] = splitNumber(field, value, allowed);
    let scale = 1;
    if (suffix !== '') {
      const found = RATE_SUFFIXES.find(([name]) => name === suffix.toLowerCase());
      if (!found) throw unknownUnit(field, value, suffix, allowed);
      scale = found[1];
    }
    bits = n * scale;
  } else {
    throw invalid(field, value, allowed);
  }
  const bytes = Math.trunc(bits / 8);
  if (bytes >= TWO_64) throw outOfRange(field, value, 'a rate of at most 2^64-1 bytes per second');
  if (bytes > Number.MAX_SAFE_INTEGER) throw outOfRange(field, value, 'a rate of at most 2^53-1 bytes per second (kernkit\'s limit)');
  return bytes;
}

/** A rate that must fit the kernel's 32-bit field (iproute2's `get_rate`), in bytes per second. */
export function parseRate32(value: Rate, field = 'rate'): number {
  const bytes = parseRate(value, field);
  if (bytes > U32_MAX) throw outOfRange(field, value, 'a rate of at most 34.36gbit (2^32-1 bytes per second) for this option');
  return bytes;
}

/**
 * A size in bytes, as `get_size` reads it: `k`/`kb` are 1024 bytes, `m`/`mb`
 * 1024², `g`/`gb` 1024³, `kbit`/`mbit`/`gbit` those in bits; truncated; at
 * most 2^32-1.
 */
export function parseSize(value: Size, field = 'size'): number {
  const allowed = 'a size such as "15k", "1.5mb", "64kbit", or bytes';
  let bytes: number;
  if (typeof value === 'number') {
    bytes = wholeCount(field, value, U32_MAX);
  } else if (typeof value === 'string') {
    const [n, suffix] = splitNumber(field, value, allowed);
    const scale: Record<string, number> = {
      '': 1,
      b: 1,
      k: 1024,
      kb: 1024,
      m: 1024 * 1024,
      mb: 1024 * 1024,
      g: 1024 * 1024 * 1024,
      gb: 1024 * 1024 * 1024,
      kbit: 1024 / 8,
      mbit: (1024 * 1024) / 8,
      gbit: (1024 * 1024 * 1024) / 8,
    };
    const s = scale[suffix.toLowerCase()];
    if (s === undefined) throw unknownUnit(field, value, suffix, allowed);
    bytes = n * s;
  } else {
    throw invalid(field, value, allowed);
  }
  const out = Math.trunc(bytes);
  if (out > U32_MAX) throw outOfRange(field, value, 'a size of at most 4294967295 bytes (4gb)');
  return out;
}

/** A size with an optional cell size, as `get_size_and_cell` reads `"10kb/8"`. */
export function parseSizeAndCell(value: Size, field = 'burst'): { size: number; cellLog?: number } {
  if (typeof value !== 'string' || !value.includes('/')) return { size: parseSize(value, field) };
  const [sizeText, cellText] = value.split('/', 2);
  const size = parseSize(sizeText, field);
  const cell = /^\d+$/.test(cellText) ? Number(cellText) : NaN;
  for (let i = 0; i < 32; i++) if (2 ** i === cell) return { size, cellLog: i };
  throw invalid(field, value, 'a size with a cell after "/" that is a power of two, e.g. "10kb/8"');
}

const TIME_SCALE_US: Record<string, number> = { '': 1, s: 1e6, sec: 1e6, secs: 1e6, ms: 1e3, msec: 1e3, msecs: 1e3, us: 1, usec: 1, usecs: 1 };
const TIME_SCALE_NS: Record<string, number> = {
  '': 1,
  s: 1e9,
  sec: 1e9,
  secs: 1e9,
  ms: 1e6,
  msec: 1e6,
  msecs: 1e6,
  us: 1e3,
  usec: 1e3,
  usecs: 1e3,
  ns: 1,
  nsec: 1,
  nsecs: 1,
};

/** A time in microseconds, as `get_time` reads it (`s`, `ms`, `us`; truncated; at most 2^32-1). */
export function parseTime(value: Time, field = 'time'): number {
  const allowed = 'a time such as "100ms", "40us", "1.5s", or microseconds';
  let us: number;
  if (typeof value === 'number') {
    us = wholeCount(field, value, U32_MAX);
  } else if (typeof value === 'string') {
    const [n, suffix] = splitNumber(field, value, allowed);
    const s = TIME_SCALE_US[suffix.toLowerCase()];
    if (s === undefined) throw unknownUnit(field, value, suffix, allowed);
    us = n * s;
  } else {
    throw invalid(field, value, allowed);
  }
  const out = Math.trunc(us);
  if (out > U32_MAX) throw outOfRange(field, value, 'a time of at most 4294967295us (about 71 minutes)');
  return out;
}

/** A time in nanoseconds, as `get_time64` reads it (`s`, `ms`, `us`, `ns`; a plain number is nanoseconds). */
export function parseTime64(value: Time, field = 'time'): number {
  const allowed = 'a time such as "10us", "1ms", "500ns", or nanoseconds';
  let ns: number;
  if (typeof value === 'number') {
    ns = wholeCount(field, value, Number.MAX_SAFE_INTEGER);
  } else if (typeof value === 'string') {
    const [n, suffix] = splitNumber(field, value, allowed);
    const s = TIME_SCALE_NS[suffix.toLowerCase()];
    if (s === undefined) throw unknownUnit(field, value, suffix, allowed);
    ns = n * s;
  } else {
    throw invalid(field, value, allowed);
  }
  const out = Math.trunc(ns);
  if (out > Number.MAX_SAFE_INTEGER) throw outOfRange(field, value, 'a time of at most 2^53-1 nanoseconds');
  return out;
}

/** A fraction 0..1 from a percentage, as `parse_percent` reads `"12.5%"` or `"12.5"`. */
export function parsePercent(value: Percent, field = 'percent'): number {
  const allowed = 'a percentage from 0 to 100, e.g. "0.5%" or 0.5';
  let per: number;
  if (typeof value === 'number') {
    per = finite(field, value, 0, 100) / 100;
  } else if (typeof value === 'string') {
    const m = LEADING_NUMBER.exec(value);
    if (!m) throw invalid(field, value, allowed);
    const rest = value.slice(m[0].length);
    if (rest !== '' && rest !== '%') throw invalid(field, value, allowed);
    per = Number(m[0]) / 100;
  } else {
    throw invalid(field, value, allowed);
  }
  if (per > 1 || per < 0) throw outOfRange(field, value, 'a percentage from 0 to 100');
  return per;
}

/**
 * Formats bytes per second as tc prints a rate (`print_rate`, SI units):
 * `1Mbit`, `1500Kbit`, `12Gbit`. `EINVAL` for anything but a whole number,
 * `ERANGE` beyond 0..2^53-1.
 */
export function formatRate(bytesPerSecond: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let rate = integerIn('bytesPerSecond', bytesPerSecond, 0, Number.MAX_SAFE_INTEGER) * 8;
  let i = 0;
  for (; i < units.length - 1; i++) {
    if (rate < 1000) break;
    if (rate % 1000 !== 0 && rate < 1000 * 1000) break;
    rate = Math.floor(rate / 1000);
  }
  return `${rate.toFixed(0)}${units[i]}bit`;
}

/** `%g` with 3 significant digits, as C prints it. */
function g3(v: number): string {
  const s = Number(v.toPrecision(3));
  return String(s);
}

/** C's rint(): round to nearest, ties to even. */
function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Formats bytes (a whole number, 0..2^32-1) as tc prints a size (`sprint_size`): `1600b`, `10Kb`, `1Mb`. */
export function formatSize(bytes: number): string {
  integerIn('bytes', bytes, 0, U32_MAX);
  const kilo = 1024;
  const mega = kilo * kilo;
  if (bytes >= mega && Math.abs(mega * rint(bytes / mega) - bytes) < 1024) return `${rint(bytes / mega)}Mb`;
  if (bytes >= kilo && Math.abs(kilo * rint(bytes / kilo) - bytes) < 16) return `${rint(bytes / kilo)}Kb`;
  return `${bytes}b`;
}

/** Formats microseconds (a whole number, 0..2^32-1) as tc prints a time (`sprint_time`): `40us`, `100ms`, `1.5s`. */
export function formatTime(us: number): string {
  integerIn('us', us, 0, U32_MAX);
  if (us >= 1e6) return `${g3(us / 1e6)}s`;
  if (us >= 1e3) return `${g3(us / 1e3)}ms`;
  return `${us}us`;
}

