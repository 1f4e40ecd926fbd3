/**
 * Usage statistics in one shape for cgroup v1 and v2, and the parsers of the
 * kernel's stat files (flat-keyed `key value` lines, PSI pressure lines).
 * @module
 */
import { parseBytesOrMax } from './limits';

/** CPU time the group used, and how often CFS bandwidth control stopped it. */
export interface CgroupCpuStats {
  /** Total CPU time, µs. v2 `cpu.stat usage_usec`; v1 `cpuacct.usage` / 1000. */
  usageUsec: number | null;
  /** User-mode time, µs. v2 `user_usec`; v1 `cpuacct.usage_user` / 1000. */
  userUsec: number | null;
  /** Kernel-mode time, µs. v2 `system_usec`; v1 `cpuacct.usage_sys` / 1000. */
  systemUsec: number | null;
  /** Enforcement periods that elapsed with the group runnable (`nr_periods`). */
  periods: number | null;
  /** Periods in which the group used up its quota (`nr_throttled`). */
  throttledPeriods: number | null;
  /** Time spent throttled, µs. v2 `throttled_usec`; v1 `throttled_time` / 1000. */
  throttledUsec: number | null;
}

/** Memory use, its limit and its failures. */
export interface CgroupMemoryStats {
  /** Bytes in use now. v2 `memory.current`; v1 `memory.usage_in_bytes`. */
  current: number | null;
  /** Highest use seen. v2 `memory.peak`; v1 `memory.max_usage_in_bytes`. */
  peak: number | null;
  /** The hard limit, or `'max'`. */
  limit: number | 'max' | null;
  /** Times the limit was hit. v1 `memory.failcnt`; v2 `memory.events` `max`. */
  failcnt: number | null;
  /** Processes the OOM killer killed in the group. `oom_kill` of v2 `memory.events` / v1 `memory.oom_control`. */
  oomKills: number | null;
}

/** Task counts. */
export interface CgroupPidsStats {
  /** Tasks (processes and threads) in the group. */
  current: number | null;
  /** `pids.max`, or `'max'`. */
  limit: number | 'max' | null;
  /** Forks refused because of the limit (`pids.events` `max`). */
  rejected: number | null;
}

/** One PSI line: share of time some (or all) tasks were stalled. */
export interface CgroupPressureLine {
  /** Percent of the last 10 s. */
  avg10: number;
  /** Percent of the last 60 s. */
  avg60: number;
  /** Percent of the last 300 s. */
  avg300: number;
  /** Total stall time, µs. */
  totalUsec: number;
}

/** PSI for one resource: `some` tasks stalled, and `full` (all non-idle tasks stalled; null where the kernel has no such line). */
export interface CgroupPressure {
  /** Some tasks stalled. */
  some: CgroupPressureLine;
  /** All non-idle tasks stalled at once. */
  full: CgroupPressureLine | null;
}

/** What a cgroup used. Every field is present; `null` where this kernel or layout does not provide it. */
export interface CgroupStats {
  /** CPU time and throttling. */
  cpu: CgroupCpuStats;
  /** Memory use and failures. */
  memory: CgroupMemoryStats;
  /** Task counts. */
  pids: CgroupPidsStats;
  /** Pressure stall information (v2 `cpu.pressure`, `memory.pressure`, `io.pressure`), or null when there is none. */
  pressure: { cpu: CgroupPressure | null; memory: CgroupPressure | null; io: CgroupPressure | null } | null;
}

/** Parses `key value` lines (cpu.stat, memory.events, memory.stat, oom_control) into numbers. @internal */
export function parseFlatKeyed(text: string | null): Map<string, number> {
  const out = new Map<string, number>();
  if (text === null) return out;
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?[0-9]+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** Parses a PSI file (`some avg10=0.00 avg60=0.00 avg300=0.00 total=0`). @internal */
export function parsePressure(text: string | null): CgroupPressure | null {
  if (text === null) return null;
  const lines = new Map<string, CgroupPressureLine>();
  for (const line of text.split('\n')) {
    const [kind, ...pairs] = line.trim().split(/\s+/);
    if (kind !== 'some' && kind !== 'full') continue;
    const v = Object.fromEntries(pairs.map((p) => p.split('=')).map(([k, n]) => [k, Number(n)]));
    lines.set(kind, { avg10: v.avg10, avg60: v.avg60, avg300: v.avg300, totalUsec: v.total });
  }
  const some = lines.get('some');
  return some ? { some, full: lines.get('full') ?? null } : null;
}

/** A single number from a file, or null. @internal */
export function parseNumber(text: string | null): number | null {
  if (text === null) return null;
  const t = text.trim();
  return /^-?[0-9]+$/.test(t) ? Number(t) : null;
}

/** A limit file that may say "max". @internal */
export function parseLimit(text: string | null): number | 'max' | null {
  return text === null ? null : parseBytesOrMax(text);
}

/** ns → µs, keeping null. @internal */
export function nsToUsec(ns: number | null | undefined): number | null {
  return ns === null || ns === undefined ? null : Math.floor(ns / 1000);
}
