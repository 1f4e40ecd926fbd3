/**
 * The kernel's cpulist syntax (lib/bitmap.c, bitmap_parselist and %*pbl):
 * `0-3,8,10-11`, the stride form `0-15:2/4` (2 CPUs used out of every group
 * of 4: 0,1,4,5,8,9,12,13), `N` for the last possible CPU and `all`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { KernkitError, describeValue } from '../errors';

let possibleCache: number | undefined;

/** How many CPU numbers this machine can have (one past the highest in /sys/devices/system/cpu/possible). */
export function possibleCpuCount(): number {
  if (possibleCache === undefined) {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    const cpus = parseRegions(text, 1 << 22, 'possible CPUs');
    possibleCache = cpus.length ? cpus[cpus.length - 1] + 1 : 1;
  }
  return possibleCache;
}

function malformed(list: string, pos: number, what: string): KernkitError {
  return new KernkitError(
    `invalid cpulist ${describeValue(list)} at position ${pos}: ${what} (expected e.g. "0-3,8" or "0-15:2/4")`,
    { code: 'EINVAL' },
  );
}

// Parses the list against nbits possible CPUs; returns sorted unique CPU numbers.
function parseRegions(list: string, nbits: number, field: string): number[] {
  const selected = new Set<number>();
  const lastbit = nbits - 1;
  let pos = 0;
  const isSep = (c: string | undefined): boolean => c === ',' || (c !== undefined && /\s/.test(c));
  const atRegionEnd = (): boolean => pos >= list.length || isSep(list[pos]);

  const number = (): number => {
    if (list[pos] === 'N') {
      pos++;
      return lastbit;
    }
    const m = /^[0-9]+/.exec(list.slice(pos));
    if (!m) throw malformed(list, pos, list[pos] === undefined ? 'a number is missing' : `unexpected ${JSON.stringify(list[pos])}`);
    pos += m[0].length;
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n) || n > 0xffffffff) throw malformed(list, pos - m[0].length, 'number too large');
    return n;
  };

  for (;;) {
    while (isSep(list[pos])) pos++;
    if (pos >= list.length) break;
    const regionStart = pos;
    let start: number;
    let end: number;
    if (list.slice(pos, pos + 3).toLowerCase() === 'all') {
      pos += 3;
      start = 0;
      end = lastbit;
    } else {
      start = number();
      end = start;
      if (!atRegionEnd()) {
        if (list[pos] !== '-') throw malformed(list, pos, `unexpected ${JSON.stringify(list[pos])}`);
        pos++;
        end = number();
      }
    }
    let used = end + 1;
    let group = end + 1;
    if (!atRegionEnd()) {
      if (list[pos] !== ':') throw malformed(list, pos, `unexpected ${JSON.stringify(list[pos])}`);
      pos++;
      used = number();
      if (list[pos] !== '/') throw malformed(list, pos, 'expected "/" in used/group');
      pos++;
      group = number();
      if (!atRegionEnd()) throw malformed(list, pos, `unexpected ${JSON.stringify(list[pos])}`);
    }
    // The kernel's bitmap_check_region: a start past the end, an empty group, or more used than the group.
    if (start > end) throw malformed(list, regionStart, `range ${start}-${end} runs backwards`);
    if (group === 0) throw malformed(list, regionStart, 'group size 0');
    if (used > group) throw malformed(list, regionStart, `uses ${used} of a group of ${group}`);
    if (end > lastbit) {
      throw new KernkitError(
        `${field} out of range: ${describeValue(list)} names CPU ${end} (this machine's CPUs are 0-${lastbit})`,
        { code: 'ERANGE' },
      );
    }
    for (let base = start; base <= end; base += group) {
      for (let cpu = base; cpu < base + used && cpu <= end; cpu++) selected.add(cpu);
    }
  }
  return [...selected].sort((a, b) => a - b);
}

/**
 * Parses a cpulist into sorted, unique CPU numbers. `EINVAL` (with the position)
 * for a malformed list, `ERANGE` for a CPU this machine cannot have. An empty
 * string is an empty list.
 */
export function parseCpuList(list: string): number[] {
  if (typeof list !== 'string') throw new KernkitError(`invalid cpulist: ${describeValue(list)} (expected a string such as "0-3,8")`, { code: 'EINVAL' });
  return parseRegions(list, possibleCpuCount(), 'cpulist');
}

/** Formats CPU numbers as the kernel prints a cpulist (`0-3,8,10-11`); the inverse of {@link parseCpuList}. */
export function formatCpuList(cpus: Iterable<number>): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  for (const c of sorted) {
    if (!Number.isInteger(c) || c < 0) throw new KernkitError(`invalid CPU number: ${describeValue(c)} (expected an integer >= 0)`, { code: 'EINVAL' });
  }
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
