/**
 * `promtool check metrics` (Debian's prometheus package) on an exposition:
 * the Prometheus project's own parser and linter. It reads the text format
 * 0.0.4; OpenMetrics is checked by the real Prometheus scrape (prometheus.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { commandMissing, kernelTest } from '../helpers/kernel';

/** Why promtool cannot run here, or null. */
export const promtoolMissing = (): string | null => commandMissing('promtool', ['--version']);

/** A test that needs promtool: skipped without it, failing under CI. */
export const promtoolTest = kernelTest(promtoolMissing());

/** promtool's verdict: its exit status and what it printed (parse errors, lint problems). */
export function promtoolCheck(exposition: string): { status: number; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Asserts that promtool parses `exposition` and finds no lint problem. */
export function expectPromtoolClean(exposition: string): void {
  expect(promtoolCheck(exposition)).toEqual({ status: 0, output: '' });
}
