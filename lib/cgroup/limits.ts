/**
 * Limits in one shape for cgroup v1 and v2: validation with the kernel's own
 * ranges and errnos, the mapping onto each version's interface files, and the
 * reverse mapping when reading them back.
 * @module
 */
import { KernkitError, describeValue } from '../errors';
import { cString, integerIn, invalid, options } from '../validate';
import { parseCpuList } from '../cpu/cpulist';
import { type MemorySize, CPU_WEIGHT_MAX, CPU_WEIGHT_MIN, parseMemorySize, cpuSharesToWeight, cpuWeightToShares } from './units';

/** CFS bandwidth: at most `quota` µs of CPU time every `period` µs (20% of one CPU: `{ quota: 20000, period: 100000 }`). */
export interface CpuMax {
  /** Microseconds of CPU time per period, 1000 .. 2^44-1 (quota above period allows more than one CPU). */
  quota: number;
  /** Period in microseconds, 1000 .. 1000000; kept as it is when omitted (100000 on a new group). */
  period?: number;
}

/** The cpu controller. */
export interface CpuLimits {
  /** Bandwidth limit, or `'max'` for none. v2 `cpu.max`; v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`. */
  max?: CpuMax | 'max';
  /** Relative share, 1 .. 10000 (default 100). v2 `cpu.weight`; v1 `cpu.shares` through {@link cpuWeightToShares}. */
  weight?: number;
}

/** The cpuset controller. */
export interface CpusetLimits {
  /**
   * CPUs as a cpulist (`'0-3,8'`). On v1 they must lie within the parent's
   * CPUs (EACCES, as the kernel); v2 takes any and runs the group on their
   * intersection with the parent's effective CPUs (`cpuset.cpus.effective`).
   */
  cpus?: string;
  /** Memory nodes as a list (`'0'`, `'0-1'`). */
  mems?: string;
}

/** The memory controller. Sizes are bytes or strings such as `'512M'`; `'max'` removes the limit. */
export interface MemoryLimits {
  /** Hard limit: past it the group reclaims, then is OOM-killed. v2 `memory.max`; v1 `memory.limit_in_bytes`. */
  max?: MemorySize | 'max';
  /** Throttling threshold. v2 `memory.high`; v1 `memory.soft_limit_in_bytes` (v1's nearest: reclaimed first under global pressure, no throttling). */
  high?: MemorySize | 'max';
  /**
   * Swap the group may use on top of `max`. v2 `memory.swap.max`; v1
   * `memory.memsw.limit_in_bytes` = max + swapMax, so on v1 a finite swapMax
   * needs a finite `max` (EINVAL otherwise, also for a `max: 'max'` that would
   * drop a swap bound the group has).
   */
  swapMax?: MemorySize | 'max';
}

/** The pids controller. */
export interface PidsLimits {
  /** Most tasks (processes and threads) the group may hold, 0 .. 4194304, or `'max'`. Forks past it fail with EAGAIN. */
  max?: number | 'max';
}

/** Limits for any subset of the controllers kernkit manages. */
export interface CgroupLimits {
  /** CFS bandwidth and weight (v1 cpu controller, v2 cpu). */
  cpu?: CpuLimits;
  /** CPUs and memory nodes. */
  cpuset?: CpusetLimits;
  /** Memory and swap. */
  memory?: MemoryLimits;
  /** Task count. */
  pids?: PidsLimits;
}

/** A controller kernkit sets limits for. */
export type LimitController = keyof CgroupLimits;

/** The controllers {@link CgroupLimits} covers. */
export const LIMIT_CONTROLLERS: readonly LimitController[] = ['cpu', 'cpuset', 'memory', 'pids'];

/** Limits after validation: numbers in bytes and microseconds, `'max'` kept. @internal */
export interface ValidLimits {
  cpu?: { max?: { quota: number | 'max'; period?: number }; weight?: number };
  cpuset?: { cpus?: string; mems?: string };
  memory?: { max?: number | 'max'; high?: number | 'max'; swapMax?: number | 'max' };
  pids?: { max?: number | 'max' };
}

// kernel/sched/core.c: min_bw_quota_period_us, max_bw_quota_period_us, max_bw_runtime_us (MAX_BW, BW_SHIFT 20).
const MIN_BW_US = 1000;
const MAX_PERIOD_US = 1000000;
const MAX_RUNTIME_US = 2 ** 44 - 1;
// kernel/cgroup/pids.c: PIDS_MAX = PID_MAX_LIMIT + 1 on 64-bit (4 * 1024 * 1024 + 1); max must be below it.
const PIDS_LIMIT_MAX = 4 * 1024 * 1024;

const KEYS: { [C in LimitController]: readonly string[] } = {
  cpu: ['max', 'weight'],
  cpuset: ['cpus', 'mems'],
  memory: ['max', 'high', 'swapMax'],
  pids: ['max'],
};

// One controller's limits (or cpu.max): an object with known keys only.
function limitObject(field: string, value: unknown, keys: readonly string[] = KEYS[field as LimitController]): Record<string, unknown> {
  return options<Record<string, unknown>>(field, value, keys);
}

function sizeOrMax(value: unknown, field: string): number | 'max' {
  return value === 'max' ? 'max' : parseMemorySize(value, field);
}

// The kernel's nodelist syntax (bitmap_parselist without strides); ranges are checked by the kernel.
const NODELIST = /^\s*(?:[0-9]+(?:-[0-9]+)?(?:\s*,\s*[0-9]+(?:-[0-9]+)?)*)?\s*$/;

/**
 * Validates limits before anything is written: unknown controllers or fields,
 * malformed or negative values → EINVAL; cpu.weight outside 1..10000 → ERANGE
 * (cpu_weight_write_u64); CFS quota and period outside the kernel's bounds →
 * EINVAL (tg_set_bandwidth); pids.max outside 0..4194304 → EINVAL
 * (pids_max_write); a cpulist naming CPUs this machine cannot have → ERANGE.
 * @internal
 */
export function validateLimits(input: unknown): ValidLimits {
  if (input === undefined) return {};
  const top = options<Record<string, unknown>>('limits', input, LIMIT_CONTROLLERS);
  const out: ValidLimits = {};
  if (top.cpu !== undefined) {
    const cpu = limitObject('cpu', top.cpu);
    out.cpu = {};
    if (cpu.max !== undefined) {
      if (cpu.max === 'max') out.cpu.max = { quota: 'max' };
      else {
        const m = limitObject('cpu.max', cpu.max, ['quota', 'period']);
        const quota = m.quota === 'max' ? 'max' : integerIn('cpu.max.quota (µs)', m.quota, MIN_BW_US, MAX_RUNTIME_US, 'EINVAL');
        const period = m.period === undefined ? undefined : integerIn('cpu.max.period (µs)', m.period, MIN_BW_US, MAX_PERIOD_US, 'EINVAL');
        out.cpu.max = period === undefined ? { quota } : { quota, period };
      }
    }
    if (cpu.weight !== undefined) out.cpu.weight = integerIn('cpu.weight', cpu.weight, CPU_WEIGHT_MIN, CPU_WEIGHT_MAX);
  }
  if (top.cpuset !== undefined) {
    const cs = limitObject('cpuset', top.cpuset);
    out.cpuset = {};
    if (cs.cpus !== undefined) {
      const cpus = cString('cpuset.cpus', cs.cpus, { expected: 'a cpulist string such as "0-3,8"' });
      parseCpuList(cpus); // EINVAL / ERANGE as the kernel's bitmap_parselist
      out.cpuset.cpus = cpus.trim();
    }
    if (cs.mems !== undefined) {
      const nodes = 'a node list such as "0" or "0-1"';
      if (!NODELIST.test(cString('cpuset.mems', cs.mems, { expected: nodes }))) throw invalid('cpuset.mems', cs.mems, nodes);
      out.cpuset.mems = (cs.mems as string).trim();
    }
  }
  if (top.memory !== undefined) {
    const mem = limitObject('memory', top.memory);
    out.memory = {};
    if (mem.max !== undefined) out.memory.max = sizeOrMax(mem.max, 'memory.max');
    if (mem.high !== undefined) out.memory.high = sizeOrMax(mem.high, 'memory.high');
    if (mem.swapMax !== undefined) out.memory.swapMax = sizeOrMax(mem.swapMax, 'memory.swapMax');
  }
  if (top.pids !== undefined) {
    const pids = limitObject('pids', top.pids);
    out.pids = {};
    if (pids.max !== undefined) out.pids.max = pids.max === 'max' ? 'max' : integerIn('pids.max', pids.max, 0, PIDS_LIMIT_MAX, 'EINVAL');
  }
  return out;
}

/** The controllers validated limits touch. @internal */
export function controllersOf(limits: ValidLimits): LimitController[] {
  return LIMIT_CONTROLLERS.filter((c) => limits[c] !== undefined);
}

/** One interface file write. @internal */
export interface FileWrite {
  controller: LimitController;
  file: string;
  value: string;
  /** The limit it comes from, for error messages (`memory.max`). */
  field: string;
}

/** cgroup v2 writes for validated limits, in a safe order. @internal */
export function v2Writes(l: ValidLimits): FileWrite[] {
  const w: FileWrite[] = [];
  const bytes = (v: number | 'max'): string => String(v);
  if (l.cpu?.max) {
    const { quota, period } = l.cpu.max;
    w.push({ controller: 'cpu', file: 'cpu.max', value: period === undefined ? `${quota}` : `${quota} ${period}`, field: 'cpu.max' });
  }
  if (l.cpu?.weight !== undefined) w.push({ controller: 'cpu', file: 'cpu.weight', value: String(l.cpu.weight), field: 'cpu.weight' });
  if (l.cpuset?.cpus !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.cpus', value: l.cpuset.cpus || '\n', field: 'cpuset.cpus' });
  if (l.cpuset?.mems !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.mems', value: l.cpuset.mems || '\n', field: 'cpuset.mems' });
  if (l.memory?.max !== undefined) w.push({ controller: 'memory', file: 'memory.max', value: bytes(l.memory.max), field: 'memory.max' });
  if (l.memory?.high !== undefined) w.push({ controller: 'memory', file: 'memory.high', value: bytes(l.memory.high), field: 'memory.high' });
  if (l.memory?.swapMax !== undefined) {
    w.push({ controller: 'memory', file: 'memory.swap.max', value: bytes(l.memory.swapMax), field: 'memory.swapMax' });
  }
  if (l.pids?.max !== undefined) w.push({ controller: 'pids', file: 'pids.max', value: String(l.pids.max), field: 'pids.max' });
  return w;
}

/** What the v1 mapping needs to know about the group before writing. @internal */
export interface V1Current {
  /** cpu.cfs_period_us now. */
  period?: number;
  /** memory.limit_in_bytes now. */
  memoryLimit?: number | 'max';
  /** memory.memsw.limit_in_bytes now, or null without swap accounting. */
  memswLimit?: number | 'max' | null;
}

/** The values a freshly made v1 group starts with. @internal */
export const V1_DEFAULTS: V1Current = { period: 100000, memoryLimit: 'max', memswLimit: 'max' };

const inf = (v: number | 'max'): number => (v === 'max' ? Infinity : v);

// v1 has no swap limit of its own: memory.memsw.limit_in_bytes bounds memory + swap together.
function swapNeedsFiniteMax(what: string): KernkitError {
  return new KernkitError(
    `${what}: cgroup v1 can bound swap only together with a finite memory.max (memory.memsw.limit_in_bytes = max + swapMax); set memory.max too, or swapMax: "max"`,
    { code: 'EINVAL' },
  );
}
const v1Bytes = (v: number | 'max'): string => (v === 'max' ? '-1' : String(v));

/**
 * cgroup v1 writes for validated limits, ordered so that every intermediate
 * state is one the kernel accepts: the CFS quota/period pair never passes
 * through a larger ratio than the old or new one, and memory.limit_in_bytes
 * never exceeds memory.memsw.limit_in_bytes.
 * @internal
 */
export function v1Writes(l: ValidLimits, current: V1Current): FileWrite[] {
  const w: FileWrite[] = [];
  if (l.cpu?.max) {
    const { quota, period } = l.cpu.max;
    const quotaWrite: FileWrite = { controller: 'cpu', file: 'cpu.cfs_quota_us', value: quota === 'max' ? '-1' : String(quota), field: 'cpu.max.quota' };
    const periodWrite: FileWrite | null =
      period === undefined ? null : { controller: 'cpu', file: 'cpu.cfs_period_us', value: String(period), field: 'cpu.max.period' };
    // A longer period first shrinks the old quota's ratio; a shorter one goes last, after the new quota.
    if (periodWrite && quota !== 'max' && period! > (current.period ?? 100000)) w.push(periodWrite, quotaWrite);
    else w.push(quotaWrite, ...(periodWrite ? [periodWrite] : []));
  }
  if (l.cpu?.weight !== undefined) {
    w.push({ controller: 'cpu', file: 'cpu.shares', value: String(cpuWeightToShares(l.cpu.weight)), field: 'cpu.weight' });
  }
  if (l.cpuset?.cpus !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.cpus', value: l.cpuset.cpus || '\n', field: 'cpuset.cpus' });
  if (l.cpuset?.mems !== undefined) w.push({ controller: 'cpuset', file: 'cpuset.mems', value: l.cpuset.mems || '\n', field: 'cpuset.mems' });
  const mem = l.memory;
  if (mem?.max !== undefined || mem?.swapMax !== undefined) {
    const oldLimit = current.memoryLimit ?? 'max';
    const oldMemsw = current.memswLimit;
    const newLimit = mem.max ?? oldLimit;
    let newMemsw: number | 'max' | undefined;
    if (mem.swapMax !== undefined) {
      if (oldMemsw === null) {
        throw new KernkitError('memory.swapMax: this kernel has no swap accounting for cgroup v1 (no memory.memsw.limit_in_bytes)', { code: 'EOPNOTSUPP' });
      }
      if (mem.swapMax !== 'max' && newLimit === 'max') throw swapNeedsFiniteMax(`memory.swapMax ${describeValue(mem.swapMax)}`);
      newMemsw = mem.swapMax === 'max' ? 'max' : (newLimit as number) + mem.swapMax;
    } else if (oldMemsw !== null && oldMemsw !== undefined && oldMemsw !== 'max' && oldLimit !== 'max') {
      // A new max keeps the swap allowance (memsw - limit) as it was, as swapMax promises.
      if (newLimit === 'max') throw swapNeedsFiniteMax(`memory.max "max" (the group's swap bound, ${oldMemsw - oldLimit} bytes, would be lost)`);
      newMemsw = newLimit + (oldMemsw - oldLimit);
    }
    const limitWrite: FileWrite | null =
      mem.max === undefined ? null : { controller: 'memory', file: 'memory.limit_in_bytes', value: v1Bytes(mem.max), field: 'memory.max' };
    const memswWrite: FileWrite | null =
      newMemsw === undefined
        ? null
        : { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: v1Bytes(newMemsw), field: 'memory.swapMax' };
    // The kernel keeps limit <= memsw at every step: raise memsw first when the new limit passes the old memsw.
    const oldMemswBound = oldMemsw === null || oldMemsw === undefined ? Infinity : inf(oldMemsw);
    if (memswWrite && inf(newLimit) > oldMemswBound) w.push(memswWrite, ...(limitWrite ? [limitWrite] : []));
    else w.push(...(limitWrite ? [limitWrite] : []), ...(memswWrite ? [memswWrite] : []));
  }
  if (mem?.high !== undefined) {
    w.push({ controller: 'memory', file: 'memory.soft_limit_in_bytes', value: v1Bytes(mem.high), field: 'memory.high' });
  }
  if (l.pids?.max !== undefined) w.push({ controller: 'pids', file: 'pids.max', value: String(l.pids.max), field: 'pids.max' });
  return w;
}

/** Reads a byte count the kernel prints; PAGE_COUNTER_MAX-sized values (≥ 2^62) and "max" mean no limit. @internal */
export function parseBytesOrMax(text: string): number | 'max' {
  const t = text.trim();
  if (t === 'max' || t === '-1') return 'max';
  const n = BigInt(t);
  return n >= 2n ** 62n ? 'max' : Number(n);
}

/** The v1 files each controller's limits are read from. @internal */
export const V1_LIMIT_FILES: { [C in LimitController]: readonly string[] } = {
  cpu: ['cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.shares'],
  cpuset: ['cpuset.cpus', 'cpuset.mems'],
  memory: ['memory.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.memsw.limit_in_bytes'],
  pids: ['pids.max'],
};

/** The v2 files each controller's limits are read from. @internal */
export const V2_LIMIT_FILES: { [C in LimitController]: readonly string[] } = {
  cpu: ['cpu.max', 'cpu.weight'],
  cpuset: ['cpuset.cpus', 'cpuset.mems'],
  memory: ['memory.max', 'memory.high', 'memory.swap.max'],
  pids: ['pids.max'],
};

type Files = Record<string, string | null>;

/** Rebuilds one controller's limits from its v1 files (null: file absent). @internal */
export function limitsFromV1(controller: LimitController, f: Files): CgroupLimits[LimitController] {
  switch (controller) {
    case 'cpu': {
      const out: CpuLimits = {};
      const quota = f['cpu.cfs_quota_us'];
      const period = f['cpu.cfs_period_us'];
      if (quota != null && period != null) {
        const q = Number(quota.trim());
        out.max = q < 0 ? 'max' : { quota: q, period: Number(period.trim()) };
      }
      if (f['cpu.shares'] != null) out.weight = cpuSharesToWeight(Number(f['cpu.shares']!.trim()));
      return out;
    }
    case 'cpuset':
      return { cpus: (f['cpuset.cpus'] ?? '').trim(), mems: (f['cpuset.mems'] ?? '').trim() };
    case 'memory': {
      const out: MemoryLimits = {};
      const limit = f['memory.limit_in_bytes'] != null ? parseBytesOrMax(f['memory.limit_in_bytes']!) : undefined;
      if (limit !== undefined) out.max = limit;
      if (f['memory.soft_limit_in_bytes'] != null) out.high = parseBytesOrMax(f['memory.soft_limit_in_bytes']!);
      if (f['memory.memsw.limit_in_bytes'] != null && limit !== undefined) {
        const memsw = parseBytesOrMax(f['memory.memsw.limit_in_bytes']!);
        out.swapMax = memsw === 'max' || limit === 'max' ? 'max' : memsw - limit;
      }
      return out;
    }
    case 'pids':
      return f['pids.max'] != null ? { max: parsePidsMax(f['pids.max']!) } : {};
  }
}

function parsePidsMax(text: string): number | 'max' {
  const t = text.trim();
  return t === 'max' ? 'max' : Number(t);
}

/** Rebuilds one controller's limits from its v2 files (null: file absent). @internal */
export function limitsFromV2(controller: LimitController, f: Files): CgroupLimits[LimitController] {
  switch (controller) {
    case 'cpu': {
      const out: CpuLimits = {};
      if (f['cpu.max'] != null) {
        const [q, p] = f['cpu.max']!.trim().split(/\s+/);
        out.max = q === 'max' ? 'max' : { quota: Number(q), period: Number(p) };
      }
      if (f['cpu.weight'] != null) out.weight = Number(f['cpu.weight']!.trim());
      return out;
    }
    case 'cpuset':
      return { cpus: (f['cpuset.cpus'] ?? '').trim(), mems: (f['cpuset.mems'] ?? '').trim() };
    case 'memory': {
      const out: MemoryLimits = {};
      if (f['memory.max'] != null) out.max = parseBytesOrMax(f['memory.max']!);
      if (f['memory.high'] != null) out.high = parseBytesOrMax(f['memory.high']!);
      if (f['memory.swap.max'] != null) out.swapMax = parseBytesOrMax(f['memory.swap.max']!);
      return out;
    }
    case 'pids':
      return f['pids.max'] != null ? { max: parsePidsMax(f['pids.max']!) } : {};
  }
}
