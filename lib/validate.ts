/**
 * The one place where kernkit checks what callers pass in. Every subsystem
 * validates through these functions, so every refusal has the same shape:
 *
 *     <field>: <value> (expected <what is allowed>)
 *
 * with `.code` `EINVAL` for a value of the wrong kind or form, and `ERANGE`
 * for a well-formed value outside its range. Argument order is always
 * `(field, value, ...constraints)`.
 * @module
 */
import { KernkitError, describeValue } from './errors';

/** An `EINVAL` (or another code) in the shared shape: `<field>: <value> (expected <expected>)`. */
export function invalid(field: string, value: unknown, expected: string, code = 'EINVAL'): KernkitError {
  return new KernkitError(`${field}: ${describeValue(value)} (expected ${expected})`, { code });
}

/** An `ERANGE` in the shared shape: `<field>: <value> (expected <range>)`. */
export function outOfRange(field: string, value: unknown, range: string): KernkitError {
  return invalid(field, value, range, 'ERANGE');
}

/** How a range is worded in messages: `an integer from 0 to 7`, `an integer >= 1`. */
function integerRange(min: number | bigint, max: number | bigint): string {
  const noTop = Number(max) >= Number.MAX_SAFE_INTEGER;
  const noBottom = Number(min) <= Number.MIN_SAFE_INTEGER;
  if (noTop && noBottom) return 'a safe integer';
  if (noTop) return `an integer >= ${min}`;
  if (noBottom) return `an integer <= ${max}`;
  return `an integer from ${min} to ${max}`;
}

/** Options of {@link integer}. */
export interface IntegerRange {
  /** Smallest allowed value (default `Number.MIN_SAFE_INTEGER`). */
  min?: number;
  /** Largest allowed value (default `Number.MAX_SAFE_INTEGER`). */
  max?: number;
  /** The code for a value outside min..max: `ERANGE` (default) or `EINVAL` where the kernel says so. */
  rangeCode?: 'ERANGE' | 'EINVAL';
}

/**
 * An integer number in `min..max`: `EINVAL` for anything that is not an
 * integer (fractions, NaN, Infinity, strings, bigints), `ERANGE` (or
 * `rangeCode`) for one outside the range.
 */
export function integer(field: string, value: unknown, range: IntegerRange = {}): number {
  const min = range.min ?? Number.MIN_SAFE_INTEGER;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(field, value, integerRange(min, max));
  if (value < min || value > max) throw invalid(field, value, integerRange(min, max), range.rangeCode ?? 'ERANGE');
  return value;
}

/** {@link integer} with the bounds as arguments: `integerIn('weight', w, 1, 10000)`. */
export function integerIn(field: string, value: unknown, min: number, max: number, rangeCode: 'ERANGE' | 'EINVAL' = 'ERANGE'): number {
  return integer(field, value, { min, max, rangeCode });
}

/** An integer given as a number or a bigint, in `min..max` (both bigint); returned as a bigint. */
export function bigInteger(field: string, value: unknown, min: bigint, max: bigint, rangeCode: 'ERANGE' | 'EINVAL' = 'ERANGE'): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw invalid(field, value, integerRange(min, max));
  if (v < min || v > max) throw invalid(field, value, integerRange(min, max), rangeCode);
  return v;
}

/** A finite number (fractions allowed) in `min..max`: `EINVAL` for NaN, ±Infinity and non-numbers, `ERANGE` outside. */
export function finite(field: string, value: unknown, min = -Number.MAX_VALUE, max = Number.MAX_VALUE): number {
  const range = min === -Number.MAX_VALUE && max === Number.MAX_VALUE ? 'a finite number' : `a number from ${min} to ${max}`;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(field, value, range);
  if (value < min || value > max) throw outOfRange(field, value, range);
  return value;
}

/** `true` or `false`, nothing else. */
export function boolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(field, value, 'true or false');
  return value;
}

/** One of a fixed set of values (compared with `===`). */
export function oneOf<T extends string | number | boolean>(field: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw invalid(field, value, `one of ${allowed.map((a) => describeValue(a)).join(', ')}`);
  return value as T;
}

/** Options of {@link string}. */
export interface StringRule {
  /** Refuse `''` (default false). */
  nonEmpty?: boolean;
  /** Longest allowed length in UTF-16 units. */
  maxLength?: number;
  /** What the message says is expected, instead of "a string". */
  expected?: string;
}

/** A string, optionally non-empty and bounded in length. */
export function string(field: string, value: unknown, rule: StringRule = {}): string {
  const expected = rule.expected ?? (rule.nonEmpty ? 'a non-empty string' : 'a string');
  if (typeof value !== 'string') throw invalid(field, value, expected);
  if (rule.nonEmpty && value === '') throw invalid(field, value, expected);
  if (rule.maxLength !== undefined && value.length > rule.maxLength) {
    throw invalid(field, value, `${expected} of at most ${rule.maxLength} characters`);
  }
  return value;
}

/**
 * A string that reaches a syscall as a C string (a path, a name, an argument):
 * a NUL byte would end it early, so that what was checked is not what is used.
 * `EINVAL` for one, as the kernel's own `strncpy_from_user` paths cannot see it.
 */
export function cString(field: string, value: unknown, rule: StringRule = {}): string {
  const s = string(field, value, rule);
  if (s.includes('\0')) throw invalid(field, value, `${rule.expected ?? 'a string'} without NUL bytes`);
  return s;
}

/** A function (a callback option); `expected` says what it is for, e.g. `a function (item) => classid`. */
export function func<T extends (...args: never[]) => unknown>(field: string, value: unknown, expected = 'a function'): T {
  if (typeof value !== 'function') throw invalid(field, value, expected);
  return value as T;
}

/** A plain object (not null, not an array, not a function): the shape of every options argument. */
export function plainObject(field: string, value: unknown, expected = 'an object'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, value, expected);
  return value as Record<string, unknown>;
}

/** Throws `EINVAL` naming the first key of `obj` that is not in `known`. */
export function knownKeys(field: string, obj: object, known: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      const where = field === '' ? key : `${field}.${key}`;
      throw new KernkitError(`${where}: unknown option (expected one of ${known.join(', ')})`, { code: 'EINVAL' });
    }
  }
}

/**
 * An options argument: `undefined` means all defaults (returns `{}`),
 * anything that is not a plain object is `EINVAL`, and so is an unknown key.
 * The caller then checks each known key with the functions above.
 */
export function options<T extends object = Record<string, unknown>>(field: string, value: unknown, known: readonly string[]): Partial<T> {
  if (value === undefined) return {};
  const obj = plainObject(field, value, `an object with ${known.length === 0 ? 'no options' : `options among ${known.join(', ')}`}`);
  knownKeys(field, obj, known);
  return obj as Partial<T>;
}

/** Runs `check` on a value that may be `undefined`, returning `fallback` for `undefined`. */
export function optional<V, F = undefined>(value: unknown, check: (value: unknown) => V, fallback?: F): V | F {
  return value === undefined ? (fallback as F) : check(value);
}

/** An array, each element checked with `check(\`${field}[i]\`, element)`. */
export function arrayOf<V>(field: string, value: unknown, check: (field: string, element: unknown) => V): V[] {
  if (!Array.isArray(value)) throw invalid(field, value, 'an array');
  return value.map((element, i) => check(`${field}[${i}]`, element));
}

/**
 * A duration in milliseconds: a non-negative integer (or `Infinity` when
 * `allowInfinity`), at most `max`. Used for timeouts and intervals.
 */
export function durationMs(field: string, value: unknown, max = 2 ** 31 - 1, allowInfinity = false): number {
  if (allowInfinity && value === Infinity) return value;
  const expected = `a whole number of milliseconds from 0 to ${max}${allowInfinity ? ', or Infinity' : ''}`;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(field, value, expected);
  if (value < 0 || value > max) throw outOfRange(field, value, expected);
  return value;
}
