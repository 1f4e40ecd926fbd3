/**
 * Units of cgroup limits: memory sizes the way the kernel's memparse() reads
 * them (`512M`), and the conversion between cgroup v2's cpu.weight and cgroup
 * v1's cpu.shares.
 * @module
 */
import { integer, integerIn, invalid, outOfRange } from '../validate';

/** A size in bytes: a number, or a string with an optional binary suffix as the kernel's memparse reads it (`'512M'`, `'2g'`, `'4096'`). */
export type MemorySize = number | string;

const SUFFIX: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };

/**
 * Parses a size to bytes. Like memparse (lib/cmdline.c): an unsigned number
 * and one optional suffix K, M, G, T, P or E (powers of 1024, either case).
 * Deviation: only decimal numbers (memparse also takes `0x..` and octal), and
 * sizes must stay below 2^53 (ERANGE): use `'max'` for "no limit".
 */
export function parseMemorySize(value: unknown, field: string): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(field, value, 'a whole number of bytes >= 0, a size such as "512M", or "max"');
    }
    return value;
  }
  if (typeof value !== 'string') throw invalid(field, value, 'bytes, a size such as "512M", or "max"');
  const m = /^\s*([0-9]+)\s*([kKmMgGtTpPeE]?)\s*$/.exec(value);
  if (!m) throw invalid(field, value, 'a size such as 65536, "64K", "512M" or "2G" (suffixes K M G T P E, powers of 1024)');
  const bytes = Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()] : 1);
  if (!Number.isSafeInteger(bytes)) throw outOfRange(field, value, `at most ${Number.MAX_SAFE_INTEGER} bytes, or "max" for no limit`);
  return bytes;
}

/** cgroup v1 cpu.shares range (kernel MIN_SHARES, MAX_SHARES = 1 << 18). */
export const CPU_SHARES_MIN = 2;
/** Largest cgroup v1 cpu.shares value. */
export const CPU_SHARES_MAX = 262144;
/** cgroup v2 cpu.weight range (CGROUP_WEIGHT_MIN, CGROUP_WEIGHT_MAX); 100 is the default. */
export const CPU_WEIGHT_MIN = 1;
/** Largest cgroup v2 cpu.weight value. */
export const CPU_WEIGHT_MAX = 10000;

/**
 * cpu.shares → cpu.weight, as runc (opencontainers/cgroups, 2025), crun and
 * containerd convert today: a quadratic in log2(shares) that maps the minimum,
 * the default and the maximum onto each other (2 → 1, 1024 → 100,
 * 262144 → 10000): weight = ⌈10^((l² + 125·l)/612 − 7/34)⌉ with l = log2(shares).
 * (The kernel's own cpu.weight ↔ shares scaling is linear, weight·1024/100, but
 * covers only shares 10..102400; this mapping covers both full ranges.)
 */
export function cpuSharesToWeight(shares: number): number {
  integer('cpu shares', shares, { min: 0, rangeCode: 'EINVAL' });
  if (shares === 0) return 0; // "unset", as in runc
  if (shares <= CPU_SHARES_MIN) return CPU_WEIGHT_MIN;
  if (shares >= CPU_SHARES_MAX) return CPU_WEIGHT_MAX;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(Math.pow(10, exponent));
}

/**
 * cpu.weight → cpu.shares: the largest shares value that
 * {@link cpuSharesToWeight} maps to `weight` (every weight 1..10000 has one).
 * A weight written on v1 thus reads back as the same weight, and the fixed
 * points stay fixed: 1 → 2, 100 → 1024 (the v1 default), 10000 → 262144.
 */
export function cpuWeightToShares(weight: number): number {
  integerIn('cpu.weight', weight, CPU_WEIGHT_MIN, CPU_WEIGHT_MAX);
  // The first shares value whose weight is above `weight`, minus one.
  let lo = CPU_SHARES_MIN;
  let hi = CPU_SHARES_MAX + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (cpuSharesToWeight(mid) > weight) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}
