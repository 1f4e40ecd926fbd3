/**
 * A {@link Cgroup} as metrics, from `stats()` (file reads off the event
 * loop): CPU time and throttling, memory use, limit and failures, task counts,
 * and PSI stall totals where the kernel has them. Names follow cAdvisor and
 * node_exporter: seconds and bytes, `max` limits as `+Inf`, PSI `some` as
 * `waiting`, `full` as `stalled`. Every sample has a `cgroup` label (the path).
 * A figure this layout does not have (null) has no sample.
 * @module
 */
import type { Cgroup, CgroupPressure } from '../../cgroup';
import type { Collectable, Labels, MetricSample } from '../types';
import { family, maybe, namesOf } from './family';

const SUFFIXES = [
  'cpu_usage_seconds',
  'cpu_user_seconds',
  'cpu_system_seconds',
  'cpu_periods',
  'cpu_throttled_periods',
  'cpu_throttled_seconds',
  'memory_usage_bytes',
  'memory_peak_bytes',
  'memory_limit_bytes',
  'memory_failcnt',
  'memory_oom_kills',
  'pids_current',
  'pids_limit',
  'pids_rejected',
  'pressure_waiting_seconds',
  'pressure_stalled_seconds',
];

const limit = (v: number | 'max' | null): number | null => (v === 'max' ? Infinity : v);

function pressureSamples(
  pressure: { cpu: CgroupPressure | null; memory: CgroupPressure | null; io: CgroupPressure | null } | null,
  line: 'some' | 'full',
  labels: Labels,
): MetricSample[] {
  if (!pressure) return [];
  const out: MetricSample[] = [];
  for (const resource of ['cpu', 'memory', 'io'] as const) {
    const p = pressure[resource]?.[line];
    if (p) out.push({ labels: { ...labels, resource }, value: p.totalUsec / 1e6 });
  }
  return out;
}

/** The adapter of a {@link Cgroup}. */
export function cgroupCollector(cg: Cgroup): Collectable {
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: async ({ name, help }) => {
      const s = await cg.stats();
      const l: Labels = { cgroup: cg.path };
      const us = 1e-6;
      return [
        family(name, 'cpu_usage_seconds', 'counter', `${help}: CPU time used`, maybe(s.cpu.usageUsec, l, us), 'seconds'),
        family(name, 'cpu_user_seconds', 'counter', `${help}: CPU time in user mode`, maybe(s.cpu.userUsec, l, us), 'seconds'),
        family(name, 'cpu_system_seconds', 'counter', `${help}: CPU time in kernel mode`, maybe(s.cpu.systemUsec, l, us), 'seconds'),
        family(name, 'cpu_periods', 'counter', `${help}: CFS bandwidth periods with the group runnable`, maybe(s.cpu.periods, l)),
        family(name, 'cpu_throttled_periods', 'counter', `${help}: periods the group used up its quota`, maybe(s.cpu.throttledPeriods, l)),
        family(name, 'cpu_throttled_seconds', 'counter', `${help}: time spent throttled`, maybe(s.cpu.throttledUsec, l, us), 'seconds'),
        family(name, 'memory_usage_bytes', 'gauge', `${help}: memory in use`, maybe(s.memory.current, l), 'bytes'),
        family(name, 'memory_peak_bytes', 'gauge', `${help}: highest memory use seen`, maybe(s.memory.peak, l), 'bytes'),
        family(name, 'memory_limit_bytes', 'gauge', `${help}: memory limit (+Inf for max)`, maybe(limit(s.memory.limit), l), 'bytes'),
        family(name, 'memory_failcnt', 'counter', `${help}: times the memory limit was hit`, maybe(s.memory.failcnt, l)),
        family(name, 'memory_oom_kills', 'counter', `${help}: processes the OOM killer killed`, maybe(s.memory.oomKills, l)),
        family(name, 'pids_current', 'gauge', `${help}: tasks in the group`, maybe(s.pids.current, l)),
        family(name, 'pids_limit', 'gauge', `${help}: task limit (+Inf for max)`, maybe(limit(s.pids.limit), l)),
        family(name, 'pids_rejected', 'counter', `${help}: forks refused by the task limit`, maybe(s.pids.rejected, l)),
        family(name, 'pressure_waiting_seconds', 'counter', `${help}: time some tasks were stalled (PSI some)`, pressureSamples(s.pressure, 'some', l), 'seconds'),
        family(name, 'pressure_stalled_seconds', 'counter', `${help}: time all tasks were stalled (PSI full)`, pressureSamples(s.pressure, 'full', l), 'seconds'),
      ];
    },
  };
}
