/**
 * CPUs: the kernel's cpulist syntax (and, with the affinity work, pinning).
 * @module
 */
export { parseCpuList, formatCpuList, possibleCpuCount } from './cpulist';
