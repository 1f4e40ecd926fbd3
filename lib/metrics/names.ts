/**
 * Naming rules of the Prometheus data model: metric names
 * `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` without the
 * reserved `__` prefix, label values any string. Every refusal is `EINVAL`
 * naming the field and the value, through lib/validate.ts.
 * @module
 */
import { invalid, plainObject, string } from '../validate';
import type { Labels } from './types';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** What may follow a base name: a suffix such as `_bytes_total` (no leading digit needed). */
const NAME_PART = /^[a-zA-Z0-9_:]*$/;

/** A metric name; `EINVAL` naming `field` otherwise. */
export function metricName(field: string, value: unknown): string {
  const s = string(field, value, { nonEmpty: true, expected: 'a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*' });
  if (!METRIC_NAME.test(s)) throw invalid(field, value, 'a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*');
  return s;
}

/** A registry prefix: empty, or the start of a metric name (`myapp_`). */
export function metricPrefix(field: string, value: unknown): string {
  const s = string(field, value, { expected: 'a metric name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]* or ""' });
  if (s !== '' && !METRIC_NAME.test(s)) throw invalid(field, value, 'a metric name prefix matching [a-zA-Z_:][a-zA-Z0-9_:]* or ""');
  return s;
}

/** A piece appended to a metric name (a CounterSet field): `[a-zA-Z0-9_:]+`. */
export function metricNamePart(field: string, value: unknown): string {
  const s = string(field, value, { nonEmpty: true });
  if (!NAME_PART.test(s)) throw invalid(field, value, 'a metric name part matching [a-zA-Z0-9_:]+');
  return s;
}

/** A label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus). */
export function labelName(field: string, value: unknown): string {
  const expected = 'a label name matching [a-zA-Z_][a-zA-Z0-9_]* not starting with __';
  const s = string(field, value, { nonEmpty: true, expected });
  if (!LABEL_NAME.test(s) || s.startsWith('__')) throw invalid(field, value, expected);
  return s;
}

/** A label set: a plain object of valid label names to strings. */
export function labelSet(field: string, value: unknown): Labels {
  const obj = plainObject(field, value, 'an object of label names to string values');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    labelName(`${field} name`, k);
    out[k] = string(`${field}.${k}`, v);
  }
  return out;
}

/** Merges label sets; `EINVAL` when a name appears in more than one of them. */
export function mergeLabels(field: string, ...sets: Array<Labels | undefined>): Labels {
  const out: Record<string, string> = {};
  for (const set of sets) {
    if (!set) continue;
    for (const [k, v] of Object.entries(set)) {
      if (k in out) throw invalid(field, k, 'a label name given once (it is also set by the registry or the registration)');
      out[k] = v;
    }
  }
  return out;
}

/** The family name of a counter: `name` without a trailing `_total` (the exposition adds it). */
export function counterFamilyName(name: string): string {
  return name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
}
