/**
 * The kernel's cpulist syntax, parsed as lib/bitmap-str.c's bitmap_parselist
 * does and printed as `%*pbl` prints it: `0-3,8,10-11`, the stride form
 * `0-15:2/4` (2 CPUs used out of every group of 4: 0,1,4,5,8,9,12,13), `N`
 * for the last possible CPU and `all` for every possible CPU.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { KernkitError } from '../errors';
import { cString, integerIn, invalid, outOfRange } from '../validate';

const POSSIBLE_FILE = '/sys/devices/system/cpu/possible';
/** Bits allowed when parsing the possible-CPU file itself (far above CONFIG_NR_CPUS's 8192). */
const POSSIBLE_PARSE_BITS = 1 << 22;
const UINT_MAX = 0xffffffff;

let possibleCache: number | undefined;

/**
 * How many CPU numbers this machine can have: one past the highest CPU in
 * `/sys/devices/system/cpu/possible` (the kernel's `nr_cpu_ids`). Cpulists are
 * checked against it.
 */
export function possibleCpuCount(): number {
  if (possibleCache === undefined) {
    const cpus = parseWithBits(readFileSync(POSSIBLE_FILE, 'utf8'), POSSIBLE_PARSE_BITS, 'possible CPUs');
    possibleCache = cpus.length ? cpus[cpus.length - 1] + 1 : 1;
  }
  return possibleCache;
}

/** One region of a cpulist, as the kernel's `struct region`. */
interface Region {
  start: number;
  end: number;
  /** CPUs used at the start of each group (the kernel's `off`). */
  used: number;
  /** Group length: the stride from one group to the next. */
  group: number;
  /** Where the region starts in the list, for messages. */
  pos: number;
  /** True for a region without the `:used/group` part. */
  plain: boolean;
}

/** A list the kernel's parser refuses: `<field>: "<list>" (expected a cpulist ...; at position <pos>: <what>)`. */
function malformed(field: string, list: string, pos: number, what: string, code = 'EINVAL'): KernkitError {
  return invalid(field, list, `a cpulist such as "0-3,8" or "0-15:2/4"; at position ${pos}: ${what}`, code);
}

// The kernel's character classes: end_of_str is NUL or newline; a region ends at
// whitespace, a comma or the end of the string. The kernel's isspace() works on bytes with a
// Latin-1 table: space, \t, \n, \v, \f, \r and 0xA0. A string reaches the kernel as UTF-8, where
// every non-ASCII character starts with a byte from 0xC2 to 0xF4 (a letter or punctuation in that
// table), so only the ASCII ones separate; U+00A0 is malformed, as its bytes C2 A0 are there.
const isEndOfStr = (c: string | undefined): boolean => c === undefined || c === '\0' || c === '\n';
const isRegionSeparator = (c: string | undefined): boolean =>
  c === ',' || c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
const isEndOfRegion = (c: string | undefined): boolean => isRegionSeparator(c) || isEndOfStr(c);

/** Reads a list region by region, exactly as bitmap_parselist: same grammar, same quirks. */
class RegionReader {
  pos = 0;

  constructor(
    private readonly field: string,
    private readonly list: string,
    private readonly lastbit: number,
  ) {}

  /** The next region, or undefined at the end of the list (bitmap_find_region + bitmap_parse_region). */
  next(): Region | undefined {
    const s = this.list;
    while (this.pos < s.length && isRegionSeparator(s[this.pos])) this.pos++;
    if (isEndOfStr(s[this.pos])) return undefined;

    const r: Region = { start: 0, end: 0, used: 0, group: 0, pos: this.pos, plain: false };
    if (s.slice(this.pos, this.pos + 3).toLowerCase() === 'all') {
      r.start = 0;
      r.end = this.lastbit;
      this.pos += 3;
    } else {
      r.start = this.number();
      if (isEndOfRegion(s[this.pos])) {
        r.end = r.start;
        return this.noPattern(r);
      }
      this.expect('-');
      r.end = this.number();
    }
    if (isEndOfRegion(s[this.pos])) return this.noPattern(r);
    this.expect(':');
    r.used = this.number();
    this.expect('/');
    // Like the kernel, nothing checks what follows the group length here: trailing
    // junk fails as the start of the next region, after this one was checked.
    r.group = this.number();
    return r;
  }

  private noPattern(r: Region): Region {
    // u32 arithmetic as in the kernel: end + 1 wraps to 0 for end = 4294967295.
    r.used = (r.end + 1) >>> 0;
    r.group = r.used;
    r.plain = true;
    // The kernel stops the whole list at a newline or NUL that ends a plain region.
    if (isEndOfStr(this.list[this.pos])) this.pos = this.list.length;
    return r;
  }

  private expect(c: string): void {
    const got = this.list[this.pos];
    if (got !== c) {
      throw malformed(this.field, this.list, this.pos, got === undefined ? `"${c}" is missing` : `"${c}" expected, found ${JSON.stringify(got)}`);
    }
    this.pos++;
  }

  /** bitmap_getnum: `N` (the last CPU) or decimal digits that fit an unsigned int. */
  private number(): number {
    const s = this.list;
    const at = this.pos;
    if (s[at] === 'N') {
      this.pos++;
      return this.lastbit;
    }
    let end = at;
    while (end < s.length && s.charCodeAt(end) >= 48 && s.charCodeAt(end) <= 57) end++;
    if (end === at) {
      throw malformed(this.field, s, at, s[at] === undefined ? 'a number is missing' : `a number expected, found ${JSON.stringify(s[at])}`);
    }
    this.pos = end;
    const n = Number(s.slice(at, end));
    if (n > UINT_MAX) throw malformed(this.field, s, at, `${s.slice(at, end)} does not fit an unsigned int`, 'EOVERFLOW');
    return n;
  }
}

function parseWithBits(list: string, nbits: number, field: string): number[] {
  const reader = new RegionReader(field, list, nbits - 1);
  const regions: Region[] = [];
  let highest = -1;
  for (let r = reader.next(); r; r = reader.next()) {
    // bitmap_check_region: EINVAL for a backwards range, an empty group or more used than the group, then ERANGE.
    if (r.start > r.end) throw malformed(field, list, r.pos, `range ${r.start}-${r.end} runs backwards`);
    if (r.group === 0) throw malformed(field, list, r.pos, r.plain ? `CPU ${r.end} is past the largest cpumask` : 'group length 0');
    if (r.used > r.group) throw malformed(field, list, r.pos, `${r.used} used CPUs do not fit a group of ${r.group}`);
    if (r.end >= nbits) {
      throw outOfRange(field, list, `CPUs of this machine, 0-${nbits - 1}; the list names CPU ${r.end} at position ${r.pos}`);
    }
    regions.push(r);
    if (r.end > highest) highest = r.end;
  }
  const bitmap = new Uint8Array(highest + 1);
  for (const r of regions) {
    // bitmap_set_region: `used` CPUs at the start of every group, up to `end`.
    for (let base = r.start; base <= r.end; base += r.group) {
      const last = Math.min(r.end, base + r.used - 1);
      bitmap.fill(1, base, last + 1);
    }
  }
  const cpus: number[] = [];
  for (let cpu = 0; cpu <= highest; cpu++) if (bitmap[cpu]) cpus.push(cpu);
  return cpus;
}

/**
 * Parses a cpulist into sorted, unique CPU numbers, with bitmap_parselist's
 * grammar and errors: `EINVAL` for a malformed list (the message gives the
 * position), `EOVERFLOW` for a number beyond an unsigned int, `ERANGE` for a
 * CPU this machine cannot have (at or above {@link possibleCpuCount}). An empty
 * or blank string is an empty list; regions may be separated by commas or
 * whitespace; as in the kernel, a newline after a plain region ends the list.
 *
 * The kernel parses bytes; this parses the string as the kernel parses its
 * UTF-8 encoding (how Node writes a string to a sysfs or cgroup file): the
 * whitespace that separates is ASCII only, and any other character is
 * malformed at its position. The kernel also takes a lone Latin-1 no-break
 * space byte (0xA0) as whitespace; no string written as UTF-8 produces that
 * byte, and U+00A0 here is malformed, as its bytes C2 A0 are in the kernel.
 * Positions count UTF-16 code units; they match the kernel's byte offsets up to
 * the first non-ASCII character, which is where such a list fails.
 */
export function parseCpuList(list: string): number[] {
  return parseCpuListField('cpulist', list);
}

/** {@link parseCpuList} with the name errors give the list (`cpus`, `options.cpus`, ...). @internal */
export function parseCpuListField(field: string, list: unknown): number[] {
  return parseWithBits(cString(field, list, { expected: 'a cpulist string such as "0-3,8"' }), possibleCpuCount(), field);
}

/** True for an array, a Set or any other iterable object (not a string). @internal */
export function isIterable(value: unknown): value is Iterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/**
 * Formats CPU numbers as the kernel prints a cpulist (`%*pbl`: `0-3,8,10-11`),
 * in ascending order without duplicates; `parseCpuList(formatCpuList(cpus))`
 * gives the sorted unique CPUs back. `EINVAL` for anything but integers from 0
 * to 4294967295. An empty list formats as `""`.
 */
export function formatCpuList(cpus: Iterable<number>): string {
  if (!isIterable(cpus)) throw invalid('cpus', cpus, 'an array of CPU numbers');
  const given = [...cpus];
  // EINVAL past an unsigned int too: no CPU number is that large.
  given.forEach((cpu, i) => integerIn(`cpus[${i}]`, cpu, 0, UINT_MAX, 'EINVAL'));
  const sorted = [...new Set(given)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Parses a cpulist against `nbits` possible CPUs instead of this machine's (for tests). @internal */
export function parseCpuListWithBits(list: string, nbits: number): number[] {
  return parseWithBits(list, nbits, 'cpulist');
}
