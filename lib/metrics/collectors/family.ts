/**
 * Small builders the kind adapters share: a family from its parts, and the
 * seconds a microsecond or millisecond figure is worth.
 * @module
 */
import type { Labels, MetricFamily, MetricSample, MetricType } from '../types';

/** A family named `${base}_${suffix}` (or `base` for an empty suffix). */
export function family(base: string, suffix: string, type: MetricType, help: string, samples: MetricSample[], unit?: string): MetricFamily {
  const name = suffix === '' ? base : `${base}_${suffix}`;
  return unit === undefined ? { name, type, help, samples } : { name, type, help, unit, samples };
}

/** A one-sample list, or none when the figure is missing (`null`: not on this kernel or layout). */
export function maybe(value: number | bigint | null | undefined, labels?: Labels, scale = 1): MetricSample[] {
  if (value === null || value === undefined) return [];
  return [{ labels, value: typeof value === 'number' ? value * scale : value }];
}

/** `base_suffix` for every suffix: what {@link family} names for them. */
export function namesOf(base: string, suffixes: readonly string[]): string[] {
  return suffixes.map((s) => (s === '' ? base : `${base}_${s}`));
}
