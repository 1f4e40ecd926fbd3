import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { KernkitError, formatCpuList, parseCpuList, possibleCpuCount } from '../../lib';
import { parseCpuListWithBits } from '../../lib/cpu/cpulist';
import { kernelTest } from '../helpers/kernel';
import { cpusetMissing, makeCpuset, writeCgroupFile, codeOf } from '../helpers/cpu';

/** The CPUs of a stride region, computed independently of the parser. */
function strideCpus(start: number, end: number, used: number, group: number): number[] {
  const out: number[] = [];
  for (let cpu = start; cpu <= end; cpu++) if ((cpu - start) % group < used) out.push(cpu);
  return out;
}

describe('parseCpuList', () => {
  const NBITS = 4096;
  const parse = (s: string) => parseCpuListWithBits(s, NBITS);

  test('plain lists, ranges and separators', () => {
    expect(parse('0-3,8,10-11')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parse('7')).toEqual([7]);
    expect(parse('3,1,2,1')).toEqual([1, 2, 3]);
    expect(parse(' 0 ,\t1\r, 5 ')).toEqual([0, 1, 5]); // whitespace separates regions like a comma
    expect(parse('0-1 4-5')).toEqual([0, 1, 4, 5]);
    expect(parse('')).toEqual([]);
    expect(parse(' , ,')).toEqual([]);
    expect(parse('0-3\n')).toEqual([0, 1, 2, 3]); // as /sys files end
  });

  test('the stride form used/group', () => {
    expect(parse('0-15:2/4')).toEqual([0, 1, 4, 5, 8, 9, 12, 13]);
    // The kernel's own example: 9-38:4/10 sets 9-12, 19-22, 29-32.
    expect(parse('9-38:4/10')).toEqual([9, 10, 11, 12, 19, 20, 21, 22, 29, 30, 31, 32]);
    expect(parse('0-7:1/1')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(parse('0-7:0/4')).toEqual([]); // nothing used per group is allowed
    expect(parse('0-6:3/4')).toEqual([0, 1, 2, 4, 5, 6]); // the last group is cut at the end
    expect(parse('100-4095:1/1000')).toEqual([100, 1100, 2100, 3100]); // beyond 64 and 1024 CPUs
  });

  test('N is the last CPU and all is every CPU, also with a stride', () => {
    expect(parseCpuListWithBits('N', 8)).toEqual([7]);
    expect(parseCpuListWithBits('4-N', 8)).toEqual([4, 5, 6, 7]);
    expect(parseCpuListWithBits('N-N', 8)).toEqual([7]);
    expect(parseCpuListWithBits('all', 4)).toEqual([0, 1, 2, 3]);
    expect(parseCpuListWithBits('ALL', 4)).toEqual([0, 1, 2, 3]); // strncasecmp
    expect(parseCpuListWithBits('all:1/2', 8)).toEqual([0, 2, 4, 6]);
    expect(parseCpuListWithBits('0-N:1/N', 8)).toEqual([0, 7]);
  });

  test('the kernel quirks: a newline ends the list after a plain region, and so does NUL', () => {
    expect(parse('0\n1')).toEqual([0]);
    expect(parse('0,\n1')).toEqual([0, 1]);
    expect(parse('0-3:1/2\n5')).toEqual([0, 2, 5]);
    expect(parse('1\u00000')).toEqual([1]);
  });

  test('matches an independent expansion of random stride regions', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: NBITS - 1 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 64 }),
        (start, span, group, usedRaw) => {
          const end = Math.min(NBITS - 1, start + span);
          const used = usedRaw % (group + 1);
          expect(parse(`${start}-${end}:${used}/${group}`)).toEqual(strideCpus(start, end, used, group));
        },
      ),
    );
  });

  test('malformed lists are EINVAL and say where', () => {
    const cases: Array<[string, number]> = [
      ['x', 0],
      ['0-3,8-x', 6],
      ['0-', 2],
      ['0-3:1', 5], // "/" missing
      ['0-3:/2', 4],
      ['0-3:1/', 6],
      ['0--1', 2],
      ['+1', 0],
      ['0x1', 1],
      ['0-3x', 3],
      ['0 -1', 2], // whitespace ends the region; "-1" starts the next one
      ['0-3:1/2x', 7], // junk after a stride fails as the next region
      ['1-0', 0], // bitmap_check_region errors point at the region
      ['0,3-1', 2],
      ['0-7:1/0', 0],
      ['0-7:3/2', 0],
      ['allx', 3],
      // The kernel parses bytes: the UTF-8 a string is written as puts 0xC2 here, which its
      // isspace() does not take (a lone Latin-1 0xA0 it would; see the kernel test below).
      ['0\u00a01', 1],
      ['\u00a00', 0],
    ];
    for (const [list, pos] of cases) {
      let err: unknown;
      try {
        parse(list);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KernkitError);
      expect(err).toMatchObject({ code: 'EINVAL' });
      expect((err as Error).message).toContain(`at position ${pos}:`);
      expect((err as Error).message.startsWith(`cpulist: ${JSON.stringify(list)} (expected `)).toBe(true);
    }
  });

  test('CPUs past the possible set are ERANGE; numbers past an unsigned int are EOVERFLOW', () => {
    expect(codeOf(() => parseCpuListWithBits('8', 8))).toBe('ERANGE');
    expect(codeOf(() => parseCpuListWithBits('0-8', 8))).toBe('ERANGE');
    expect(codeOf(() => parseCpuListWithBits('0-7,2-9:1/2', 8))).toBe('ERANGE');
    expect(() => parseCpuListWithBits('0,12', 8)).toThrow(/^cpulist: "0,12" \(expected CPUs of this machine, 0-7; the list names CPU 12 at position 2\)$/);
    // The checks run in the kernel's order: a backwards range is EINVAL even when out of range.
    expect(codeOf(() => parseCpuListWithBits('20-10', 8))).toBe('EINVAL');
    expect(codeOf(() => parseCpuListWithBits('4294967296', 8))).toBe('EOVERFLOW');
    expect(codeOf(() => parseCpuListWithBits('0-99999999999999999999', 8))).toBe('EOVERFLOW');
    // u32 wrap in the kernel: end + 1 = 0 gives an empty group, so EINVAL, not ERANGE.
    expect(codeOf(() => parseCpuListWithBits('4294967295', 8))).toBe('EINVAL');
    expect(codeOf(() => parseCpuList(String(possibleCpuCount())))).toBe('ERANGE');
  });

  test('a non-string is EINVAL', () => {
    expect(codeOf(() => parseCpuList(7 as unknown as string))).toBe('EINVAL');
    expect(() => parseCpuList(7 as unknown as string)).toThrow(/^cpulist: 7 \(expected a cpulist string/);
    expect(codeOf(() => parseCpuList(undefined as unknown as string))).toBe('EINVAL');
  });

  test('a NUL byte in a list given by the caller is EINVAL, not the end of the list as in the kernel', () => {
    expect(codeOf(() => parseCpuList('0\u0000junk'))).toBe('EINVAL');
    expect(() => parseCpuList('0\u0000junk')).toThrow(/^cpulist: "0\\u0000junk" \(expected a cpulist string such as "0-3,8" without NUL bytes\)/);
  });

  test('possibleCpuCount agrees with /sys', () => {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    const last = Number(text.split(/[,-]/).pop());
    expect(possibleCpuCount()).toBe(last + 1);
    expect(parseCpuList('all')).toEqual(parseCpuList(text));
  });
});

describe('formatCpuList', () => {
  test('prints runs like %*pbl', () => {
    expect(formatCpuList([0, 1, 2, 3, 8, 10, 11])).toBe('0-3,8,10-11');
    expect(formatCpuList([5])).toBe('5');
    expect(formatCpuList([1, 0])).toBe('0-1');
    expect(formatCpuList([3, 3, 1])).toBe('1,3');
    expect(formatCpuList([])).toBe('');
    expect(formatCpuList(new Set([64, 65, 66, 1023, 1024]))).toBe('64-66,1023-1024');
  });

  test('rejects what is not a CPU number', () => {
    for (const bad of [[-1], [1.5], [Number.NaN], [2 ** 32], ['1' as unknown as number]]) {
      expect(codeOf(() => formatCpuList(bad))).toBe('EINVAL');
    }
    expect(codeOf(() => formatCpuList(3 as unknown as number[]))).toBe('EINVAL');
    expect(() => formatCpuList([0, 2 ** 32])).toThrow(/^cpus\[1\]: 4294967296 \(expected an integer from 0 to 4294967295\)$/);
  });

  test('round trips: parse(format(cpus)) is the sorted set, format(parse(list)) is canonical', () => {
    const NBITS = 8192;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: NBITS - 1 }), { maxLength: 200 }), (cpus) => {
        const sorted = [...new Set(cpus)].sort((a, b) => a - b);
        const text = formatCpuList(cpus);
        expect(parseCpuListWithBits(text, NBITS)).toEqual(sorted);
        expect(formatCpuList(parseCpuListWithBits(text, NBITS))).toBe(text);
      }),
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 9 }), fc.nat(9)),
          { minLength: 1, maxLength: 6 },
        ),
        (regions) => {
          const list = regions.map(([s, span, g, u]) => `${s}-${s + span}:${u % (g + 1)}/${g}`).join(',');
          const cpus = parseCpuListWithBits(list, NBITS);
          expect(parseCpuListWithBits(formatCpuList(cpus), NBITS)).toEqual(cpus);
        },
      ),
    );
  });

  test('round trips on this machine', () => {
    const all = parseCpuList('all');
    expect(parseCpuList(formatCpuList(all))).toEqual(all);
  });
});

describe('the kernel agrees (cpuset.cpus of a test cpuset parses with bitmap_parselist)', () => {
  const missing = cpusetMissing();
  const ktest = kernelTest(missing);
  let cg: ReturnType<typeof makeCpuset> | undefined;
  afterEach(() => {
    cg?.remove();
    cg = undefined;
  });

  ktest('same CPUs and same errno for each list', () => {
    cg = makeCpuset();
    const file = path.join(cg.dir, 'cpuset.cpus');
    const parentCpus = parseCpuList(readFileSync(path.join(cg.dir, '..', 'cpuset.cpus'), 'utf8'));
    const n = possibleCpuCount();
    const samples = [
      '0', 'N', 'all', 'ALL', `0-${n - 1}`, `0-${n - 1}:1/2`, 'all:1/2', '0-N:1/N', ' 0 , N ', '0,\nN', `0\n${n - 1}`,
      `0-${n - 1}:1/2\nN`, String(n), `0-${n}`, '4294967296', '4294967295', '1-0', 'x', '0-', '0-1:1', '0-1:1/0', '0-1:2/1',
      '0-1:1/2x', '0--1', '+1', '0x1', 'allx', '0 -1', `0,${n + 5}`, '0\u00a0N', '\u00a00', '0\u00e9',
    ];
    let compared = 0;
    for (const list of samples) {
      let ours: number[] | string;
      try {
        ours = parseCpuList(list);
      } catch (err) {
        ours = (err as KernkitError).code;
      }
      // cpuset accepts only its parent's CPUs; skip lists that parse but name others.
      if (Array.isArray(ours) && !ours.every((c) => parentCpus.includes(c))) continue;
      // cpuset strips the buffer first and treats an empty one as "no CPUs": compare only lists we parse the same way.
      let kernel: number[] | string;
      try {
        writeCgroupFile(file, list);
        kernel = parseCpuList(readFileSync(file, 'utf8'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === undefined) throw err;
        kernel = code;
      }
      expect({ list, result: ours }).toEqual({ list, result: kernel });
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(samples.length - 4);
  });

  ktest('the kernel reads bytes: a lone Latin-1 no-break space (0xA0) separates, its UTF-8 form does not', () => {
    cg = makeCpuset();
    const file = path.join(cg.dir, 'cpuset.cpus');
    const cpu = String(parseCpuList(readFileSync(path.join(cg.dir, '..', 'cpuset.cpus'), 'utf8'))[0]);
    // isspace(0xA0) is true in the kernel's Latin-1 ctype table (lib/ctype.c).
    writeFileSync(file, Buffer.from(`${cpu}\u00a0${cpu}`, 'latin1'));
    expect(readFileSync(file, 'utf8').trim()).toBe(cpu);
    // A JS string reaches the kernel as UTF-8 (0xC2 0xA0): malformed there, as parseCpuList says.
    expect(() => writeCgroupFile(file, `${cpu}\u00a0${cpu}`)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => parseCpuList(`${cpu}\u00a0${cpu}`)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
