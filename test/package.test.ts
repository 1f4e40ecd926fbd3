// The published package: `npm pack`, install the tarball into an empty project
// and load it there from its prebuild, with require, import and TypeScript types.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
// A failing command's own output goes into the error: "Command failed" alone says nothing.
const run = (cmd: string, args: string[], cwd: string): string => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
};

describe('the npm package', () => {
  let dir: string;

  beforeAll(() => {
    // `npm test` makes a fresh prebuild first (scripts/prebuild-if-stale.js); building it here
    // would rebuild build/ under the feet of the tests running beside this one.
    const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    const built = existsSync(prebuilds) ? readdirSync(prebuilds).filter((f) => f.endsWith('.node')) : [];
    if (built.length === 0) throw new Error('no prebuild: run `npm run prebuild` (npm test does it)');
    dir = mkdtempSync(path.join(tmpdir(), 'kernkit-pack-'));
    // --ignore-scripts: `prepare` would recompile dist/ while other test files load it from other
    // workers (a half-written module reads as undefined exports); pretest has just built it.
    const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed[0].files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'binding.gyp', 'csrc/percpu.cc']));
    expect(files.some((f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`) && f.endsWith('.node'))).toBe(true);
    expect(files.some((f) => f.startsWith('build/') || f.startsWith('lib/') || f.startsWith('test/'))).toBe(false);
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'kernkit-consumer', version: '1.0.0', private: true }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, packed[0].filename)], dir);
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('require() loads the prebuilt addon (no build/ in the package) and counts', () => {
    const script = `
      const { Counter } = require('kernkit');
      const c = new Counter('installed');
      c.add(41); c.inc();
      const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
      const addon = maps.split('\\n').map((l) => l.split(/\\s+/).pop()).find((p) => p && p.endsWith('.node'));
      console.log(JSON.stringify({ sum: String(c.sum()), addon }));`;
    const out = JSON.parse(run(process.execPath, ['-e', script], dir)) as { sum: string; addon: string };
    expect(out.sum).toBe('42');
    expect(out.addon).toContain(path.join(dir, 'node_modules', 'kernkit', 'prebuilds', `${process.platform}-${process.arch}`));
    expect(existsSync(path.join(dir, 'node_modules', 'kernkit', 'build'))).toBe(false);
  });

  test('ESM import of named exports', () => {
    const script = `import { Counter, CounterSet, KernkitError } from 'kernkit';
      const s = new CounterSet(['a']); s.inc(0);
      let code; try { new Counter().add(0.5); } catch (e) { code = e instanceof KernkitError && e.code; }
      console.log(String(s.sum().a), code);`;
    expect(run(process.execPath, ['--input-type=module', '-e', script], dir).trim()).toBe('1 EINVAL');
  });

  test('TypeScript sees the types (node16 resolution, strict, with @types/node as any Node project has)', () => {
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-save', '@types/node@20'], dir);
    writeFileSync(
      path.join(dir, 'use.ts'),
      `import { Counter, CounterSet, type CounterHandle } from 'kernkit';
       const c = new Counter('typed');
       const h: CounterHandle = c.handle;
       const total: bigint = Counter.attach(h).sum();
       const s = new CounterSet(['a', 'b'] as const);
       const a: bigint = s.sum().a;
       // @ts-expect-error: 'c' is not a field of this set
       s.index('c');
       export { total, a };`,
    );
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', 'use.ts'], dir);
  });
});
