/**
 * CPUs: the kernel's cpulist syntax, affinity (pinning threads to CPUs),
 * thread ids and per-thread nice values.
 * @module
 */
export { parseCpuList, formatCpuList, possibleCpuCount } from './cpulist';
export {
  type CpuSpec,
  MIN_NICE,
  MAX_NICE,
  getAffinity,
  setAffinity,
  currentCpu,
  gettid,
  onlineCpus,
  getNice,
  setNice,
} from './affinity';
