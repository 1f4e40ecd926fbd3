/**
 * cgroup control over v1, v2 and hybrid hierarchies: {@link Cgroup} (limits,
 * membership, freeze, kill, stats), {@link spawn} (a child that starts inside a
 * group), {@link attachThreadToCgroup} and {@link CgroupLayout} (where the
 * hierarchies are).
 * @module
 */
export { Cgroup, cgroupsOf, type CgroupOptions, type CgroupCreateOptions, type CgroupWaitOptions, type CgroupDeleteOptions } from './cgroup';
export { CgroupLayout, type CgroupMode, type CgroupHierarchy, type LayoutSources } from './layout';
export {
  type CgroupLimits,
  type CpuLimits,
  type CpuMax,
  type CpusetLimits,
  type MemoryLimits,
  type PidsLimits,
  type LimitController,
} from './limits';
export { type CgroupStats, type CgroupCpuStats, type CgroupMemoryStats, type CgroupPidsStats, type CgroupPressure, type CgroupPressureLine } from './stats';
export { type MemorySize, parseMemorySize, cpuSharesToWeight, cpuWeightToShares } from './units';
export { spawn, CgroupChild, type SpawnOptions, type SpawnStdio, type ChildExit } from './spawn';
export { attachThreadToCgroup } from './thread';
