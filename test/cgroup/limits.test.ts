import fc from 'fast-check';
import { cpuSharesToWeight, cpuWeightToShares, parseMemorySize } from '../../lib';
import {
  type ValidLimits,
  limitsFromV1,
  limitsFromV2,
  v1Writes,
  V1_DEFAULTS,
  v2Writes,
  validateLimits,
} from '../../lib/cgroup/limits';
import { parseFlatKeyed, parsePressure } from '../../lib/cgroup/stats';

const files = (w: { file: string; value: string }[]): string[] => w.map((x) => `${x.file}=${x.value}`);

describe('memory sizes (memparse)', () => {
  test.each([
    [0, 0],
    [4096, 4096],
    ['4096', 4096],
    ['64K', 65536],
    ['64k', 65536],
    ['512M', 512 * 2 ** 20],
    [' 2G ', 2 * 2 ** 30],
    ['1t', 2 ** 40],
    ['3P', 3 * 2 ** 50],
  ])('%j is %d bytes', (input, bytes) => {
    expect(parseMemorySize(input, 'memory.max')).toBe(bytes);
  });

  test.each([[-1], [1.5], [NaN], ['-1'], ['12X'], ['M'], ['1 2'], ['0x10'], [null], [{}]])('%j is EINVAL, naming the field', (input) => {
    expect(() => parseMemorySize(input, 'memory.max')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('memory.max') }));
  });

  test('a size past 2^53 bytes is ERANGE', () => {
    expect(() => parseMemorySize('16E', 'memory.max')).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });
});

describe('cpu.weight <-> cpu.shares (runc/crun conversion)', () => {
  test('the fixed points: minimum, default and maximum', () => {
    expect(cpuSharesToWeight(2)).toBe(1);
    expect(cpuSharesToWeight(1024)).toBe(100);
    expect(cpuSharesToWeight(262144)).toBe(10000);
    expect(cpuWeightToShares(1)).toBe(2);
    expect(cpuWeightToShares(100)).toBe(1024);
    expect(cpuWeightToShares(10000)).toBe(262144);
  });

  test('values opencontainers/cgroups documents for the quadratic', () => {
    // shares 512 → 59, 2048 → 174 (ceil(10^((l^2+125l)/612 - 7/34)))
    expect(cpuSharesToWeight(512)).toBe(59);
    expect(cpuSharesToWeight(2048)).toBe(174);
    expect(cpuSharesToWeight(1)).toBe(1);
    expect(cpuSharesToWeight(300000)).toBe(10000);
  });

  test('every weight maps to the largest shares that maps back to it', () => {
    for (let w = 1; w <= 10000; w++) {
      const s = cpuWeightToShares(w);
      expect(cpuSharesToWeight(s)).toBe(w);
      if (s < 262144) expect(cpuSharesToWeight(s + 1)).toBeGreaterThan(w);
    }
  });

  test('shares -> weight is monotonic', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 262143 }), (s) => {
        expect(cpuSharesToWeight(s + 1)).toBeGreaterThanOrEqual(cpuSharesToWeight(s));
      }),
    );
  });

  test('a weight outside 1..10000 is ERANGE (cpu_weight_write_u64)', () => {
    expect(() => cpuWeightToShares(0)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => cpuWeightToShares(10001)).toThrow(expect.objectContaining({ code: 'ERANGE' }));
  });
});

describe('limit validation', () => {
  test.each([
    [{ blkio: {} }, 'EINVAL', 'limits.blkio: unknown option'],
    [{ cpu: { shares: 5 } }, 'EINVAL', 'cpu.shares: unknown option'],
    [{ cpu: null }, 'EINVAL', 'cpu: null'],
    [{ cpu: { weight: 1.5 } }, 'EINVAL', 'cpu.weight: 1.5'],
    [{ cpuset: { cpus: '0\0' } }, 'EINVAL', 'cpuset.cpus'],
    [{ cpuset: { mems: '0\0' } }, 'EINVAL', 'cpuset.mems'],
    [{ cpu: { max: { quota: 999, period: 100000 } } }, 'EINVAL', 'cpu.max.quota'],
    [{ cpu: { max: { quota: 2 ** 44, period: 100000 } } }, 'EINVAL', 'cpu.max.quota'],
    [{ cpu: { max: { quota: 20000, period: 999 } } }, 'EINVAL', 'cpu.max.period'],
    [{ cpu: { max: { quota: 20000, period: 1000001 } } }, 'EINVAL', 'cpu.max.period'],
    [{ cpu: { max: { quota: -5 } } }, 'EINVAL', 'cpu.max.quota'],
    [{ cpu: { max: { quota: 1.5 } } }, 'EINVAL', 'cpu.max.quota'],
    [{ cpu: { max: 'unlimited' } }, 'EINVAL', 'cpu.max'],
    [{ cpu: { weight: 0 } }, 'ERANGE', 'cpu.weight'],
    [{ cpu: { weight: 10001 } }, 'ERANGE', 'cpu.weight'],
    [{ cpuset: { cpus: '0-' } }, 'EINVAL', 'cpulist'],
    [{ cpuset: { cpus: '4096' } }, 'ERANGE', 'cpulist'],
    [{ cpuset: { mems: 'zero' } }, 'EINVAL', 'cpuset.mems'],
    [{ memory: { max: -1 } }, 'EINVAL', 'memory.max'],
    [{ memory: { high: '1Q' } }, 'EINVAL', 'memory.high'],
    [{ memory: { swapMax: 'lots' } }, 'EINVAL', 'memory.swapMax'],
    [{ pids: { max: -1 } }, 'EINVAL', 'pids.max'],
    [{ pids: { max: 4194305 } }, 'EINVAL', 'pids.max'],
    [{ pids: 5 }, 'EINVAL', 'pids'],
    [[], 'EINVAL', 'limits'],
    [null, 'EINVAL', 'limits: null'],
    [5, 'EINVAL', 'limits: 5'],
  ])('%j → %s naming %s', (limits, code, word) => {
    expect(() => validateLimits(limits)).toThrow(expect.objectContaining({ code, message: expect.stringContaining(word) }));
  });

  test('the kernel bounds themselves are accepted', () => {
    expect(validateLimits({ cpu: { max: { quota: 1000, period: 1000 }, weight: 1 }, pids: { max: 4194304 } })).toEqual({
      cpu: { max: { quota: 1000, period: 1000 }, weight: 1 },
      pids: { max: 4194304 },
    });
    expect(validateLimits({ cpu: { max: { quota: 2 ** 44 - 1, period: 1000000 } }, pids: { max: 0 } }).cpu!.max).toEqual({
      quota: 2 ** 44 - 1,
      period: 1000000,
    });
  });
});

describe('mapping onto interface files', () => {
  const limits = validateLimits({
    cpu: { max: { quota: 20000, period: 100000 }, weight: 100 },
    cpuset: { cpus: '1', mems: '0' },
    memory: { max: '64M', high: '48M', swapMax: 0 },
    pids: { max: 5 },
  });

  test('v2', () => {
    expect(files(v2Writes(limits))).toEqual([
      'cpu.max=20000 100000',
      'cpu.weight=100',
      'cpuset.cpus=1',
      'cpuset.mems=0',
      'memory.max=67108864',
      'memory.high=50331648',
      'memory.swap.max=0',
      'pids.max=5',
    ]);
    expect(files(v2Writes(validateLimits({ cpu: { max: 'max' }, memory: { max: 'max' }, pids: { max: 'max' } })))).toEqual([
      'cpu.max=max',
      'memory.max=max',
      'pids.max=max',
    ]);
  });

  test('v1 on a fresh group', () => {
    expect(files(v1Writes(limits, V1_DEFAULTS))).toEqual([
      'cpu.cfs_quota_us=20000',
      'cpu.cfs_period_us=100000',
      'cpu.shares=1024',
      'cpuset.cpus=1',
      'cpuset.mems=0',
      'memory.limit_in_bytes=67108864',
      'memory.memsw.limit_in_bytes=67108864',
      'memory.soft_limit_in_bytes=50331648',
      'pids.max=5',
    ]);
  });

  test('v1 CFS: a longer period goes first, a shorter one last, so the ratio never passes old or new', () => {
    const longer = validateLimits({ cpu: { max: { quota: 100000, period: 500000 } } });
    expect(files(v1Writes(longer, { period: 100000 }))).toEqual(['cpu.cfs_period_us=500000', 'cpu.cfs_quota_us=100000']);
    const shorter = validateLimits({ cpu: { max: { quota: 2000, period: 10000 } } });
    expect(files(v1Writes(shorter, { period: 100000 }))).toEqual(['cpu.cfs_quota_us=2000', 'cpu.cfs_period_us=10000']);
    expect(files(v1Writes(validateLimits({ cpu: { max: 'max' } }), { period: 100000 }))).toEqual(['cpu.cfs_quota_us=-1']);
  });

  test('v1 memory: limit <= memsw at every step, and a new max keeps the swap allowance', () => {
    const raise = validateLimits({ memory: { max: 1 << 30 } });
    // old: 256M + 64M swap; new max 1G passes the old memsw, so memsw goes first.
    expect(files(v1Writes(raise, { memoryLimit: 256 << 20, memswLimit: 320 << 20 }))).toEqual([
      `memory.memsw.limit_in_bytes=${(1 << 30) + (64 << 20)}`,
      `memory.limit_in_bytes=${1 << 30}`,
    ]);
    const lower = validateLimits({ memory: { max: 128 << 20 } });
    expect(files(v1Writes(lower, { memoryLimit: 256 << 20, memswLimit: 320 << 20 }))).toEqual([
      `memory.limit_in_bytes=${128 << 20}`,
      `memory.memsw.limit_in_bytes=${(128 << 20) + (64 << 20)}`,
    ]);
    // Unlimited memory and unlimited swap together are fine.
    expect(files(v1Writes(validateLimits({ memory: { max: 'max', swapMax: 'max' } }), { memoryLimit: 256 << 20, memswLimit: 320 << 20 }))).toEqual([
      'memory.memsw.limit_in_bytes=-1',
      'memory.limit_in_bytes=-1',
    ]);
    expect(() => v1Writes(validateLimits({ memory: { swapMax: 0 } }), { memoryLimit: 'max', memswLimit: null })).toThrow(
      expect.objectContaining({ code: 'EOPNOTSUPP' }),
    );
  });

  test('v1 memory: a swap bound needs a finite max (memsw = max + swap); it is never dropped silently', () => {
    const finite = expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('finite memory.max') });
    // A new group (max unlimited) asked for a swap bound alone.
    expect(() => v1Writes(validateLimits({ memory: { swapMax: '1G' } }), { memoryLimit: 'max', memswLimit: 'max' })).toThrow(finite);
    expect(() => v1Writes(validateLimits({ memory: { swapMax: 0 } }), { memoryLimit: 'max', memswLimit: 'max' })).toThrow(finite);
    expect(() => v1Writes(validateLimits({ memory: { max: 'max', swapMax: 0 } }), { memoryLimit: 64 << 20, memswLimit: 64 << 20 })).toThrow(finite);
    // An unlimited max would drop the 64M swap bound the group has.
    expect(() => v1Writes(validateLimits({ memory: { max: 'max' } }), { memoryLimit: 256 << 20, memswLimit: 320 << 20 })).toThrow(finite);
    // Without a swap bound, an unlimited max is just that.
    expect(files(v1Writes(validateLimits({ memory: { max: 'max' } }), { memoryLimit: 256 << 20, memswLimit: 'max' }))).toEqual(['memory.limit_in_bytes=-1']);
    expect(files(v1Writes(validateLimits({ memory: { swapMax: 'max' } }), { memoryLimit: 'max', memswLimit: 'max' }))).toEqual([
      'memory.memsw.limit_in_bytes=-1',
    ]);
  });

  test('reading back: v1 files become the same shape', () => {
    expect(
      limitsFromV1('cpu', { 'cpu.cfs_quota_us': '20000\n', 'cpu.cfs_period_us': '100000\n', 'cpu.shares': '1024\n' }),
    ).toEqual({ max: { quota: 20000, period: 100000 }, weight: 100 });
    expect(limitsFromV1('cpu', { 'cpu.cfs_quota_us': '-1\n', 'cpu.cfs_period_us': '100000\n', 'cpu.shares': '2\n' })).toEqual({
      max: 'max',
      weight: 1,
    });
    expect(
      limitsFromV1('memory', {
        'memory.limit_in_bytes': '67108864\n',
        'memory.soft_limit_in_bytes': '9223372036854771712\n',
        'memory.memsw.limit_in_bytes': '75497472\n',
      }),
    ).toEqual({ max: 67108864, high: 'max', swapMax: 8388608 });
    expect(limitsFromV1('pids', { 'pids.max': 'max\n' })).toEqual({ max: 'max' });
  });

  test('reading back: v2 files become the same shape', () => {
    expect(limitsFromV2('cpu', { 'cpu.max': 'max 100000\n', 'cpu.weight': '250\n' })).toEqual({ max: 'max', weight: 250 });
    expect(limitsFromV2('memory', { 'memory.max': '67108864\n', 'memory.high': 'max\n', 'memory.swap.max': '0\n' })).toEqual({
      max: 67108864,
      high: 'max',
      swapMax: 0,
    });
    expect(limitsFromV2('cpuset', { 'cpuset.cpus': '0-1\n', 'cpuset.mems': '\n' })).toEqual({ cpus: '0-1', mems: '' });
  });

  test('a limit written and read back is the limit (v1 and v2)', () => {
    const cases: ValidLimits[] = [
      validateLimits({ cpu: { max: { quota: 50000, period: 250000 }, weight: 777 } }),
      validateLimits({ pids: { max: 42 } }),
      validateLimits({ memory: { max: 1 << 26, high: 1 << 25, swapMax: 1 << 24 } }),
    ];
    for (const l of cases) {
      const v1 = Object.fromEntries(v1Writes(l, V1_DEFAULTS).map((w) => [w.file, w.value]));
      const v2 = Object.fromEntries(v2Writes(l).map((w) => [w.file, w.value]));
      const c = Object.keys(l)[0] as 'cpu' | 'pids' | 'memory';
      expect(limitsFromV1(c, v1)).toEqual(limitsFromV2(c, v2));
    }
  });
});

describe('stat file parsers', () => {
  test('flat keyed files', () => {
    const m = parseFlatKeyed('usage_usec 123\nuser_usec 100\nsystem_usec 23\nnr_periods 7\n');
    expect(Object.fromEntries(m)).toEqual({ usage_usec: 123, user_usec: 100, system_usec: 23, nr_periods: 7 });
  });

  test('PSI', () => {
    expect(parsePressure('some avg10=1.50 avg60=0.20 avg300=0.00 total=1234\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=99\n')).toEqual({
      some: { avg10: 1.5, avg60: 0.2, avg300: 0, totalUsec: 1234 },
      full: { avg10: 0, avg60: 0, avg300: 0, totalUsec: 99 },
    });
    expect(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n')!.full).toBeNull();
    expect(parsePressure(null)).toBeNull();
  });
});
