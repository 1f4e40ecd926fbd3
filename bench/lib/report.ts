/**
 * Shared benchmark plumbing: timing loops, tables with ratios, JSON results.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** One measured variant. */
export interface Row {
  name: string;
  [column: string]: string | number | boolean | null;
}

/** Runs `fn(iterations)` `rounds` times after a warm-up and returns the best ns per iteration. */
export function bestNsPerOp(fn: (iterations: number) => void, iterations: number, rounds = 5): number {
  fn(Math.max(1, Math.floor(iterations / 10))); // warm-up: let the JIT settle
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn(iterations);
    const ns = Number(process.hrtime.bigint() - t0) / iterations;
    if (ns < best) best = ns;
  }
  return best;
}

function fmt(v: string | number | boolean | null): string {
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** Prints rows as an aligned table under a title. */
export function printTable(title: string, rows: Row[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]);
  const cells = [cols, ...rows.map((r) => cols.map((c) => fmt(r[c] ?? null)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  console.log(title);
  cells.forEach((row, n) => {
    console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
  console.log();
}

/** Writes bench/results/<name>.json with the machine's description and the figures. */
export function writeResults(name: string, data: unknown): string {
  const dir = path.join(__dirname, '..', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  const machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, kernel: os.release() };
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, results: data }, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  return file;
}
