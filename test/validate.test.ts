import {
  arrayOf, bigInteger, boolean, cString, durationMs, finite, func, integer, integerIn, invalid, knownKeys, oneOf, optional, options, outOfRange,
  plainObject, string,
} from '../lib/validate';

function codeAndMessage(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    const err = e as { code: string; message: string };
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a throw');
}

describe('validate', () => {
  test('one message shape: <field>: <value> (expected ...)', () => {
    expect(invalid('a.b', 'x', 'a number').message).toBe('a.b: "x" (expected a number)');
    expect(invalid('a.b', 'x', 'a number').code).toBe('EINVAL');
    expect(outOfRange('n', 9, 'an integer from 0 to 7')).toMatchObject({ code: 'ERANGE', message: 'n: 9 (expected an integer from 0 to 7)' });
  });

  test('integer: EINVAL for a non-integer, ERANGE outside the range', () => {
    expect(integer('n', 5, { min: 0, max: 7 })).toBe(5);
    for (const bad of [1.5, NaN, Infinity, '5', 5n, null, undefined, {}, Symbol('s')]) {
      expect(codeAndMessage(() => integer('n', bad, { min: 0, max: 7 })).code).toBe('EINVAL');
    }
    expect(codeAndMessage(() => integer('n', 8, { min: 0, max: 7 }))).toEqual({ code: 'ERANGE', message: 'n: 8 (expected an integer from 0 to 7)' });
    expect(codeAndMessage(() => integer('n', -1, { min: 0 }))).toEqual({ code: 'ERANGE', message: 'n: -1 (expected an integer >= 0)' });
    expect(codeAndMessage(() => integerIn('n', 8, 0, 7, 'EINVAL')).code).toBe('EINVAL');
    expect(integerIn('n', 0, 0, 7)).toBe(0);
    expect(codeAndMessage(() => integer('n', 0.5)).message).toBe('n: 0.5 (expected a safe integer)');
    expect(codeAndMessage(() => integer('n', 9, { max: 8 })).message).toBe('n: 9 (expected an integer <= 8)');
  });

  test('bigInteger takes numbers and bigints', () => {
    expect(bigInteger('x', 3, 0n, 10n)).toBe(3n);
    expect(bigInteger('x', 2n ** 62n, 0n, 2n ** 63n - 1n)).toBe(2n ** 62n);
    expect(codeAndMessage(() => bigInteger('x', 11n, 0n, 10n)).code).toBe('ERANGE');
    expect(codeAndMessage(() => bigInteger('x', 1.5, 0n, 10n)).code).toBe('EINVAL');
    expect(codeAndMessage(() => bigInteger('x', 2 ** 60, 0n, 2n ** 63n)).code).toBe('EINVAL');
  });

  test('finite, boolean, oneOf, string', () => {
    expect(finite('f', 0.5, 0, 1)).toBe(0.5);
    expect(codeAndMessage(() => finite('f', NaN)).code).toBe('EINVAL');
    expect(codeAndMessage(() => finite('f', 2, 0, 1)).code).toBe('ERANGE');
    expect(boolean('b', false)).toBe(false);
    expect(codeAndMessage(() => boolean('b', 0)).message).toBe('b: 0 (expected true or false)');
    expect(oneOf('k', 'fq', ['fq', 'htb'] as const)).toBe('fq');
    expect(codeAndMessage(() => oneOf('k', 'x', ['fq', 'htb']))).toEqual({ code: 'EINVAL', message: 'k: "x" (expected one of "fq", "htb")' });
    expect(string('s', '')).toBe('');
    expect(codeAndMessage(() => string('s', '', { nonEmpty: true })).code).toBe('EINVAL');
    expect(codeAndMessage(() => string('s', 'abcd', { maxLength: 3 })).code).toBe('EINVAL');
  });

  test('cString refuses a NUL byte anywhere', () => {
    expect(cString('path', '/var/run/netns/x')).toBe('/var/run/netns/x');
    expect(codeAndMessage(() => cString('netns', 'x\0junk'))).toEqual({ code: 'EINVAL', message: 'netns: "x\\u0000junk" (expected a string without NUL bytes)' });
    expect(codeAndMessage(() => cString('netns', '\0')).code).toBe('EINVAL');
  });

  test('options: undefined is defaults, non-objects and unknown keys are EINVAL', () => {
    expect(options('options', undefined, ['a'])).toEqual({});
    expect(options('options', { a: 1 }, ['a'])).toEqual({ a: 1 });
    for (const bad of [null, 1, 'x', Symbol('s'), () => 1, [], true, 1n]) {
      expect(codeAndMessage(() => options('options', bad, ['a'])).code).toBe('EINVAL');
    }
    expect(codeAndMessage(() => options('options', { b: 1 }, ['a']))).toEqual({
      code: 'EINVAL',
      message: 'options.b: unknown option (expected one of a)',
    });
    expect(() => knownKeys('', { z: 1 }, ['a'])).toThrow(/^z: unknown option/);
    expect(codeAndMessage(() => plainObject('o', null)).code).toBe('EINVAL');
  });

  test('func: a function, or EINVAL saying what it is for', () => {
    const f = (x: number) => x;
    expect(func('cb', f)).toBe(f);
    expect(codeAndMessage(() => func('cb', 1))).toEqual({ code: 'EINVAL', message: 'cb: 1 (expected a function)' });
    expect(codeAndMessage(() => func('run', null, 'a function (payload) => result')).message).toBe('run: null (expected a function (payload) => result)');
  });

  test('optional, arrayOf, durationMs', () => {
    expect(optional(undefined, (v) => integer('x', v), 7)).toBe(7);
    expect(optional(3, (v) => integer('x', v), 7)).toBe(3);
    expect(arrayOf('cpus', [1, 2], (f, v) => integer(f, v, { min: 0 }))).toEqual([1, 2]);
    expect(codeAndMessage(() => arrayOf('cpus', [1, -2], (f, v) => integer(f, v, { min: 0 }))).message).toBe('cpus[1]: -2 (expected an integer >= 0)');
    expect(codeAndMessage(() => arrayOf('cpus', 'x', (f, v) => v)).code).toBe('EINVAL');
    expect(durationMs('timeout', 100)).toBe(100);
    expect(durationMs('timeout', Infinity, 1000, true)).toBe(Infinity);
    for (const bad of [NaN, -1, Infinity, '5', {}, 1.5, 5n, Symbol('t')]) expect(codeAndMessage(() => durationMs('timeout', bad)).code).toMatch(/^E(INVAL|RANGE)$/);
    expect(codeAndMessage(() => durationMs('timeout', -1)).code).toBe('ERANGE');
  });
});
