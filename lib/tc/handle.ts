/**
 * tc handles: 32-bit `major:minor` ids written in hex as tc writes them
 * (`1:`, `1:10`, `:10`, `root`, `ingress`, `none`), or as plain numbers.
 * @module
 */
import { integerIn, invalid } from '../validate';
import { TC_H_CLSACT, TC_H_INGRESS, TC_H_MIN_EGRESS, TC_H_MIN_INGRESS, TC_H_ROOT, TC_H_UNSPEC } from './constants';

/** A handle as tc writes it (`'1:10'`, `'1:'`, `'root'`) or the 32-bit number. */
export type Handle = string | number;

/**
 * `TC_H_MAKE(major, minor)`: major is the top 16 bits. Both must be whole
 * numbers from 0 to 0xffff (`EINVAL` for anything else, `ERANGE` outside).
 */
export function makeHandle(major: number, minor: number): number {
  integerIn('major', major, 0, 0xffff);
  integerIn('minor', minor, 0, 0xffff);
  return ((major << 16) | minor) >>> 0;
}

/** The major part (top 16 bits, shifted down). */
export function handleMajor(h: number): number {
  return h >>> 16;
}

/** The minor part (low 16 bits). */
export function handleMinor(h: number): number {
  return h & 0xffff;
}

const HEX = /^(?:0[xX])?[0-9a-fA-F]+$/;

/** Reads a hex number as strtoul(…, 16) does for the whole string (an optional 0x prefix). */
function hex(s: string): number | undefined {
  return HEX.test(s) ? parseInt(s, 16) : undefined;
}

/** A handle given as a number: the whole 32-bit value (a fraction or a negative number is `EINVAL`, as no handle). */
function checkNumber(field: string, value: number): number {
  return integerIn(field, value, 0, 0xffffffff, 'EINVAL');
}

/**
 * A qdisc handle as `tc qdisc ... handle` reads it (`get_qdisc_handle`): `'1:'`
 * or `'1'` (the major in hex), `'none'`, or a number (the full 32-bit handle,
 * whose minor must be 0).
 */
export function parseQdiscHandle(value: Handle, field = 'handle'): number {
  if (typeof value === 'number') {
    const h = checkNumber(field, value);
    if (handleMinor(h) !== 0) throw invalid(field, value, 'a qdisc handle with minor 0, e.g. 0x10000 for "1:"');
    return h;
  }
  if (typeof value !== 'string') throw invalid(field, value, '"major:" in hex or a number');
  if (value === 'none') return TC_H_UNSPEC;
  const m = /^([^:]*)(:?)$/.exec(value);
  const major = m ? hex(m[1]) : undefined;
  if (major === undefined || major >= 0x10000) throw invalid(field, value, '"major:" with major 0..ffff in hex, e.g. "1:"');
  return makeHandle(major, 0);
}

/**
 * A class id or parent as tc reads it (`get_tc_classid`): `'1:10'`, `'1:'`,
 * `':10'`, `'1'` (a bare number is a whole handle in hex), `'root'`, `'none'`,
 * or a number.
 */
export function parseClassId(value: Handle, field = 'classid'): number {
  if (typeof value === 'number') return checkNumber(field, value);
  if (typeof value !== 'string') throw invalid(field, value, '"major:minor" in hex or a number');
  if (value === 'root') return TC_H_ROOT;
  if (value === 'none') return TC_H_UNSPEC;
  const colon = value.indexOf(':');
  const allowed = '"major:minor" with both parts 0..ffff in hex, e.g. "1:10"';
  if (colon < 0) {
    const whole = hex(value);
    if (whole === undefined || whole > 0xffffffff) throw invalid(field, value, allowed);
    return whole;
  }
  const majorText = value.slice(0, colon);
  const minorText = value.slice(colon + 1);
  const major = majorText === '' ? 0 : hex(majorText);
  const minor = minorText === '' ? 0 : hex(minorText);
  if (major === undefined || minor === undefined || major >= 0x10000 || minor >= 0x10000) throw invalid(field, value, allowed);
  return makeHandle(major, minor);
}

/**
 * A qdisc's parent: `'root'`, `'ingress'`, `'clsact'` (the ingress parent, as
 * tc sends for those kinds) or a class id.
 */
export function parseParent(value: Handle, field = 'parent'): number {
  if (value === 'ingress' || value === 'clsact') return TC_H_INGRESS;
  return parseClassId(value, field);
}

/**
 * A filter's parent: as {@link parseParent}, plus clsact's hooks `'ingress'`
 * and `'egress'` as `tc filter` reads them (`ffff:fff2`, `ffff:fff3`).
 */
export function parseFilterParent(value: Handle, field = 'parent'): number {
  if (value === 'ingress') return makeHandle(TC_H_CLSACT >>> 16, TC_H_MIN_INGRESS);
  if (value === 'egress') return makeHandle(TC_H_CLSACT >>> 16, TC_H_MIN_EGRESS);
  return parseClassId(value, field);
}

/** Writes a handle (a whole number, 0..0xffffffff) as tc prints it: `root`, `none`, `1:`, `:10`, `1:10` (hex). */
export function formatHandle(h: number): string {
  integerIn('handle', h, 0, 0xffffffff);
  if (h === TC_H_ROOT) return 'root';
  if (h === TC_H_UNSPEC) return 'none';
  const major = handleMajor(h);
  const minor = handleMinor(h);
  if (major === 0) return `:${minor.toString(16)}`;
  if (minor === 0) return `${major.toString(16)}:`;
  return `${major.toString(16)}:${minor.toString(16)}`;
}
