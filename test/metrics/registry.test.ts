/**
 * Registry and exposition: both formats exactly, exact bigints, escaping,
 * NaN/Inf, name and label validation, EEXIST, unregister/clear/close, and
 * collectors that throw, hang, or return garbage.
 */
import { Counter, CounterSet, KernkitError, Registry, type Collectable, type MetricFamily } from '../../lib';
import { expectPromtoolClean, promtoolTest } from './promtool';

const gauge = (value: number | bigint, labels?: Record<string, string>): Collectable => ({
  metricNames: (name) => [name],
  collectMetrics: ({ name, help }) => [{ name, help, type: 'gauge', samples: [{ labels, value }] }],
});

function counterAt(n: bigint): Counter {
  const c = new Counter('c');
  while (n > 0n) {
    const step = n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
    c.add(step);
    n -= BigInt(step);
  }
  return c;
}

describe('exposition', () => {
  test('text 0.0.4: counters named with _total, registry and registration labels, errors family last', async () => {
    const registry = new Registry({ prefix: 'app_', labels: { host: 'a' } });
    const requests = new Counter('requests');
    requests.add(3);
    registry.register(requests, { name: 'requests_total', help: 'Requests served' });
    registry.register(gauge(1.5), { name: 'load', help: 'Load', labels: { cpu: '0' } });
    expect(await registry.metrics()).toBe(
      [
        '# HELP app_requests_total Requests served',
        '# TYPE app_requests_total counter',
        'app_requests_total{host="a"} 3',
        '# HELP app_load Load',
        '# TYPE app_load gauge',
        'app_load{host="a",cpu="0"} 1.5',
        '# HELP kernkit_scrape_errors_total Collectors left out of a scrape: they threw, timed out, or returned invalid or clashing families',
        '# TYPE kernkit_scrape_errors_total counter',
        '',
      ].join('\n'),
    );
  });

  test('OpenMetrics 1.0: family names without _total, TYPE/UNIT/HELP, # EOF', async () => {
    const registry = new Registry();
    const c = new Counter('x');
    c.add(7);
    registry.register(c, { name: 'jobs', help: 'Jobs' });
    registry.register(
      { collectMetrics: ({ name, help }) => [{ name: `${name}_seconds`, help, type: 'counter', unit: 'seconds', samples: [{ value: 0.25 }] }] },
      { name: 'busy', help: 'Busy time' },
    );
    expect(await registry.metrics({ format: 'openmetrics' })).toBe(
      [
        '# TYPE jobs counter',
        '# HELP jobs Jobs',
        'jobs_total 7',
        '# TYPE busy_seconds counter',
        '# UNIT busy_seconds seconds',
        '# HELP busy_seconds Busy time',
        'busy_seconds_total 0.25',
        '# TYPE kernkit_scrape_errors counter',
        '# HELP kernkit_scrape_errors Collectors left out of a scrape: they threw, timed out, or returned invalid or clashing families',
        '# EOF',
        '',
      ].join('\n'),
    );
  });

  test('a counter past 2^53 prints its exact digits in both formats', async () => {
    const big = 2n ** 53n + 3n;
    const c = counterAt(big);
    expect(c.sum()).toBe(big);
    const registry = new Registry();
    registry.register(c, { name: 'big', help: 'Big' });
    expect(await registry.metrics()).toContain('\nbig_total 9007199254740995\n');
    expect(await registry.metrics({ format: 'openmetrics' })).toContain('\nbig_total 9007199254740995\n');
  });

  test('label values and HELP are escaped per format', async () => {
    const registry = new Registry();
    registry.register(gauge(1, { path: 'C:\\dir\n"quoted"' }), { name: 'odd', help: 'a \\ b\nc "d"' });
    const text = await registry.metrics();
    expect(text).toContain('# HELP odd a \\\\ b\\nc "d"\n');
    expect(text).toContain('odd{path="C:\\\\dir\\n\\"quoted\\""} 1\n');
    const om = await registry.metrics({ format: 'openmetrics' });
    expect(om).toContain('# HELP odd a \\\\ b\\nc \\"d\\"\n');
    expect(om).toContain('odd{path="C:\\\\dir\\n\\"quoted\\""} 1\n');
  });

  test('NaN and ±Inf gauges, -0 and exponents', async () => {
    const registry = new Registry();
    registry.register(
      {
        collectMetrics: ({ name, help }) => [
          {
            name,
            help,
            type: 'gauge',
            samples: [NaN, Infinity, -Infinity, -0, 1e21, 1.5e-7].map((value, i) => ({ labels: { i: String(i) }, value })),
          },
        ],
      },
      { name: 'edge', help: 'Edges' },
    );
    const lines = (await registry.metrics()).split('\n').filter((l) => l.startsWith('edge{'));
    expect(lines).toEqual(['edge{i="0"} NaN', 'edge{i="1"} +Inf', 'edge{i="2"} -Inf', 'edge{i="3"} 0', 'edge{i="4"} 1e+21', 'edge{i="5"} 1.5e-7']);
  });

  promtoolTest('promtool accepts the text exposition of escaped labels, NaN/Inf and exact bigints', async () => {
    const registry = new Registry({ labels: { instance_role: 'x"\\\ny' } });
    registry.register(counterAt(2n ** 60n), { name: 'big_total', help: 'Big "count" \\ with\nnewline' });
    registry.register(gauge(NaN, { v: 'a\nb' }), { name: 'nan_value', help: 'Not a number' });
    registry.register(gauge(-Infinity), { name: 'low_value', help: 'Minus infinity' });
    registry.register({ collectMetrics: async () => Promise.reject(new Error('no')) }, { name: 'failing', help: 'Fails' });
    await registry.metrics(); // one scrape error counted: the family has a sample now
    expectPromtoolClean(await registry.metrics());
  });
});

describe('validation', () => {
  const registry = new Registry();
  const c = new Counter('v');

  test.each([['1abc'], ['a-b'], [''], ['a b'], [42]])('metric name %p is EINVAL naming options.name', (name) => {
    expect(() => registry.register(c, { name: name as string, help: 'x' })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.name: /) }),
    );
  });

  test.each([['__reserved'], ['a-b'], ['1x'], ['']])('label name %p is EINVAL naming it', (label) => {
    expect(() => registry.register(c, { name: 'ok', help: 'x', labels: { [label]: 'v' } })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining(JSON.stringify(label)) }),
    );
    expect(() => new Registry({ labels: { [label]: 'v' } })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('options: shapes, unknown keys, another kind’s option, values', () => {
    expect(() => registry.register(c, undefined as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options: /) }));
    expect(() => registry.register(c, { name: 'a', help: 'x', colour: 1 } as never)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.colour: unknown option/) }));
    expect(() => registry.register(c, { name: 'a', help: 'x', fieldLabel: 'f' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.fieldLabel: unknown option/) }));
    expect(() => registry.register(c, { name: 'a', help: 1 as never })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.help: 1 /) }));
    expect(() => registry.register(c, { name: 'a', help: 'x', labels: { a: 1 as never } })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.labels\.a: 1 /) }));
    expect(() => registry.register(c, { name: 'a', help: 'x', timeout: -1 })).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(() => registry.register(c, { name: 'a', help: 'x', type: 'histogram' as never })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.type: "histogram"/) }));
    expect(() => registry.register({} as never, { name: 'a', help: 'x' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^source: "a plain object" \(expected a Counter, /) }));
    expect(() => registry.register(new Map([[1, 'x'.repeat(1000)]]) as never, { name: 'a', help: 'x' })).toThrow(expect.objectContaining({ message: expect.stringMatching(/^source: "a Map" /) }));
    expect(() => new Registry({ prefix: '9x' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.prefix: "9x"/) }));
    expect(() => new Registry([] as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => new Registry({ labels: { a: 'x' } }).register(c, { name: 'a', help: 'x', labels: { a: 'y' } })).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^options\.labels: "a"/) }),
    );
  });

  test('a CounterSet field that cannot be part of a metric name is EINVAL naming it', () => {
    const set = new CounterSet(['ok', 'not-ok']);
    expect(() => registry.register(set, { name: 's', help: 'x' })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/^fields\[1\]: "not-ok"/) }));
    expect(() => registry.register(set, { name: 's', help: 'x', fieldLabel: 'field' })).not.toThrow();
  });

  test('EEXIST: same name and labels, same name as another kind or help, a clashing family, the errors family', () => {
    const r = new Registry();
    r.register(new Counter('a'), { name: 'hits', help: 'Hits', labels: { route: '/a' } });
    r.register(new Counter('b'), { name: 'hits_total', help: 'Hits', labels: { route: '/b' } }); // same family, other labels
    expect(() => r.register(new Counter('c'), { name: 'hits', help: 'Hits', labels: { route: '/a' } })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => r.register(new Counter('c'), { name: 'hits', help: 'Other help', labels: { route: '/c' } })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => r.register(gauge(1), { name: 'hits', help: 'Hits', labels: { route: '/c' } })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    r.register(new Counter('d'), { name: 'svc_conns', help: 'Conns' });
    expect(() => r.register(new CounterSet(['conns', 'bytes']), { name: 'svc', help: 'Service' })).toThrow(
      expect.objectContaining({ code: 'EEXIST', message: expect.stringContaining('svc_conns') }),
    );
    expect(() => r.register(new Counter('e'), { name: 'kernkit_scrape_errors_total', help: 'x' })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  test('registrations sharing a name form one family', async () => {
    const r = new Registry();
    const a = new Counter('a');
    const b = new Counter('b');
    a.add(1);
    b.add(2);
    r.register(a, { name: 'hits', help: 'Hits', labels: { route: '/a' } });
    r.register(b, { name: 'hits', help: 'Hits', labels: { route: '/b' } });
    const text = await r.metrics();
    expect(text.match(/# TYPE hits_total counter/g)).toHaveLength(1);
    expect(text).toContain('hits_total{route="/a"} 1\nhits_total{route="/b"} 2\n');
  });
});

describe('lifecycle', () => {
  test('unregister by object or name, clear, close', async () => {
    const r = new Registry({ prefix: 'p_' });
    const a = new Counter('a');
    const set = new CounterSet(['x', 'y']);
    r.register(a, { name: 'a', help: 'A', labels: { n: '1' } });
    r.register(a, { name: 'a', help: 'A', labels: { n: '2' } });
    r.register(set, { name: 's', help: 'S' });
    expect(r.unregister(a)).toBe(2);
    expect(r.unregister(a)).toBe(0);
    expect(await r.metrics()).not.toContain('p_a_total');
    r.register(a, { name: 'a', help: 'A again' }); // the name is free again, with new help
    expect(r.unregister('s')).toBe(1);
    expect(await r.metrics()).not.toContain('p_s_x_total');
    r.register(new Counter('x'), { name: 's_x', help: 'freed family' });
    r.clear();
    expect((await r.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([]);
    expect(() => r.unregister(5 as never)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(r.closed).toBe(false);
    r[Symbol.dispose]();
    expect(r.closed).toBe(true);
    expect(() => r.register(a, { name: 'a', help: 'A' })).toThrow(expect.objectContaining({ code: 'ESHUTDOWN' }));
    await expect(r.metrics()).rejects.toMatchObject({ code: 'ESHUTDOWN' });
    await expect(r.collect()).rejects.toMatchObject({ code: 'ESHUTDOWN' });
  });
});

describe('collectors that fail', () => {
  const errorLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('kernkit_scrape_errors_total{'));

  test('a throwing, a rejecting and a hanging collector are skipped and counted; the rest is served', async () => {
    const r = new Registry({ timeout: 50 });
    let aborted: unknown;
    r.register(gauge(1), { name: 'fine', help: 'Fine' });
    r.register({ collectMetrics: () => { throw new Error('sync'); } }, { name: 'throws', help: 'x' });
    r.register({ collectMetrics: async () => { throw new Error('async'); } }, { name: 'rejects', help: 'x' });
    r.register(
      {
        collectMetrics: ({ signal }) =>
          new Promise<MetricFamily[]>(() => signal.addEventListener('abort', () => (aborted = signal.reason))),
      },
      { name: 'hangs', help: 'x' },
    );
    const first = await r.metrics();
    expect(first).toContain('\nfine 1\n');
    expect(errorLines(first)).toEqual([
      'kernkit_scrape_errors_total{collector="throws",reason="error"} 1',
      'kernkit_scrape_errors_total{collector="rejects",reason="error"} 1',
      'kernkit_scrape_errors_total{collector="hangs",reason="timeout"} 1',
    ]);
    expect(aborted).toBeInstanceOf(KernkitError);
    expect((aborted as KernkitError).code).toBe('ETIMEDOUT');
    expect(errorLines(await r.metrics())).toEqual([
      'kernkit_scrape_errors_total{collector="throws",reason="error"} 2',
      'kernkit_scrape_errors_total{collector="rejects",reason="error"} 2',
      'kernkit_scrape_errors_total{collector="hangs",reason="timeout"} 2',
    ]);
  });

  test.each<[string, unknown]>([
    ['a family outside its name', [{ name: 'other', help: 'x', type: 'gauge', samples: [{ value: 1 }] }]],
    ['a bad type', [{ name: 'bad', help: 'x', type: 'histogram', samples: [{ value: 1 }] }]],
    ['a string value', [{ name: 'bad', help: 'x', type: 'gauge', samples: [{ value: '1' }] }]],
    ['an invalid label name', [{ name: 'bad', help: 'x', type: 'gauge', samples: [{ labels: { 'a-b': 'x' }, value: 1 }] }]],
    ['a label the registration sets', [{ name: 'bad', help: 'x', type: 'gauge', samples: [{ labels: { job: 'x' }, value: 1 }] }]],
    ['a unit that does not end the name', [{ name: 'bad', help: 'x', type: 'gauge', unit: 'seconds', samples: [{ value: 1 }] }]],
    ['not an array', { name: 'bad' }],
  ])('%s is skipped and counted invalid', async (_what, families) => {
    const r = new Registry();
    r.register({ collectMetrics: () => families as MetricFamily[] }, { name: 'bad', help: 'x', labels: { job: 'j' } });
    const text = await r.metrics();
    expect(text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual(['kernkit_scrape_errors_total{collector="bad",reason="invalid"} 1']);
  });

  test('a family that differs in type from the same-named family of another registration is counted a conflict', async () => {
    const r = new Registry();
    const typed = (type: 'counter' | 'gauge'): Collectable => ({ collectMetrics: ({ name, help }) => [{ name, help, type, samples: [{ labels: { t: type }, value: 1 }] }] });
    r.register(typed('gauge'), { name: 'mixed', help: 'x', labels: { n: '1' } });
    r.register(typed('counter'), { name: 'mixed', help: 'x', labels: { n: '2' } });
    const text = await r.metrics();
    expect(text).toContain('mixed{t="gauge",n="1"} 1');
    expect(text).not.toContain('t="counter"');
    expect(text).toContain('kernkit_scrape_errors_total{collector="mixed",reason="conflict"} 1');
  });

  test('async collectors run concurrently: each waits for the other to have started', async () => {
    const r = new Registry({ timeout: 10000 });
    const started: Array<() => void> = [];
    const both = Promise.all([0, 1].map((i) => new Promise<void>((resolve) => (started[i] = resolve))));
    for (const i of [0, 1]) {
      r.register(
        {
          collectMetrics: async ({ name, help }) => {
            started[i]();
            await both; // sequential collection would never get here for the first one
            return [{ name, help, type: 'gauge', samples: [{ value: i }] }];
          },
        },
        { name: `c${i}`, help: 'x' },
      );
    }
    const text = await r.metrics();
    expect(text).toContain('\nc0 0\n');
    expect(text).toContain('\nc1 1\n');
  });

  test('collect() gives every sample its complete labels', async () => {
    const r = new Registry({ labels: { svc: 's' } });
    r.register(gauge(2, { cpu: '1' }), { name: 'g', help: 'G', labels: { zone: 'z' } });
    const families = await r.collect();
    expect(families[0]).toEqual({ name: 'g', type: 'gauge', help: 'G', samples: [{ labels: { cpu: '1', svc: 's', zone: 'z' }, value: 2 }] });
  });
});
