/**
 * kernkit: Linux kernel-style primitives for Node.js.
 * @module
 */
export { KernkitError, type KernkitErrorProps } from './errors';
export * from './percpu';
export * from './cpu';
export * from './pool';
export * from './cgroup';
export * from './tc';
export * from './estimator';
export * from './ipvs';
export * from './sched';
export * from './rescounter';
export * from './metrics';
export * from './perip';
