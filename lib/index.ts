/**
 * kernkit: Linux kernel-style primitives for Node.js.
 * @module
 */
export { KernkitError, type KernkitErrorProps } from './errors';
export * from './percpu';
export * from './cpu';
export * from './estimator';
