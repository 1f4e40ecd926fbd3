/**
 * Hierarchical resource counters: the kernel's page_counter (and the older
 * res_counter's view of it) over native memory shared by every thread.
 * @module
 */
export {
  ResourceCounter,
  type ProtectionOptions,
  type ResCounterView,
  type ResourceCounterHandle,
  type ResourceCounterOptions,
  type ResourceCounterStats,
} from './counter';
