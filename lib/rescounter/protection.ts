/**
 * Effective min/low protection, as mm/page_counter.c's
 * page_counter_calculate_protection computes it for memcg reclaim. Pure
 * arithmetic on values read from the counters; bigint so that products of
 * large counts stay exact (the kernel's unsigned long could overflow there).
 * Internal: not part of the public API.
 * @module
 */

/** What one level of the walk needs to know about a counter and its parent. */
export interface ProtectionInputs {
  /** The counter's usage. */
  usage: bigint;
  /** Its parent's usage. */
  parentUsage: bigint;
  /** The counter's declared min (or low). */
  setting: bigint;
  /** The parent's effective min (or low), from the level above. */
  parentEffective: bigint;
  /** The parent's children_min_usage (or children_low_usage): Σ min(usage, setting) over its children. */
  siblingsProtected: bigint;
  /** memory_recursiveprot: hand unclaimed parental protection down in proportion to unprotected usage. */
  recursive: boolean;
}

/**
 * The kernel's effective_protection(): the declared protection as far as it is
 * used, scaled down proportionally when the siblings together claim more than
 * the parent's effective protection; with `recursive`, plus a usage-proportional
 * share of what the siblings leave unclaimed.
 */
export function effectiveProtection(p: ProtectionInputs): bigint {
  const used = p.usage < p.setting ? p.usage : p.setting;
  // Overcommitted: share the parent's protection in proportion to protected usage.
  if (p.siblingsProtected > p.parentEffective) return (used * p.parentEffective) / p.siblingsProtected;
  if (!p.recursive) return used;
  // Undercommitted with recursive protection: the floating remainder goes by unprotected usage.
  if (p.parentEffective > p.siblingsProtected && p.parentUsage > p.siblingsProtected && p.usage > used) {
    return used + ((p.parentEffective - p.siblingsProtected) * (p.usage - used)) / (p.parentUsage - p.siblingsProtected);
  }
  return used;
}
