/**
 * Kernel tests run for real as root. Where the machine lacks what a test needs
 * (not root, no netns support, a missing controller), the test is skipped with
 * the reason, except under CI=true, where a skipped kernel test is a failure.
 */
import { execFileSync } from 'node:child_process';

/** True when running in CI, where kernel tests must run. */
export const inCI = process.env.CI === 'true';

/** Why kernel tests cannot run here, or null if they can (root). */
export function rootMissing(): string | null {
  return process.getuid && process.getuid() === 0 ? null : 'needs root';
}

/** Why a command is unusable here, or null if `cmd args` runs. */
export function commandMissing(cmd: string, args: string[] = ['--version']): string | null {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return null;
  } catch {
    return `needs the ${cmd} command`;
  }
}

/**
 * `test` when `missing` is null; otherwise a skipped test whose name gives the
 * reason, or under CI a test that fails with it.
 */
export function kernelTest(missing: string | null): (name: string, fn: () => unknown, timeout?: number) => void {
  if (missing === null) return (name, fn, timeout) => test(name, fn as jest.ProvidesCallback, timeout);
  if (inCI) {
    return (name) =>
      test(name, () => {
        throw new Error(`kernel test cannot run under CI: ${missing}`);
      });
  }
  return (name) => test.skip(`${name} (skipped: ${missing})`, () => undefined);
}
