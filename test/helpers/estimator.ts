/**
 * Test helpers for the estimators: an independent implementation of the
 * kernel's arithmetic in BigInt (the reference the native code must match to
 * the unit), readers of a thread's scheduling state in /proc, and worker plumbing.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { taskNice, taskStatus } from './cpu';

const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);

/** The five IPVS counters, in struct ip_vs_counters order. */
export const IPVS_FIELDS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;

/**
 * net/netfilter/ipvs/ip_vs_est.c in BigInt: ip_vs_chain_estimation,
 * ip_vs_read_estimator, ip_vs_zero_stats + ip_vs_zero_estimator, with the
 * kernel's u64 / s64 wrap-around made explicit.
 */
export class IpvsModel {
  private last: bigint[];
  private kstats: bigint[];
  private kstats0: bigint[];
  private avg = [0n, 0n, 0n, 0n, 0n];

  /** `initial`: the raw counters when the estimator starts; `base`: the set's zero point. */
  constructor(initial: bigint[], base: bigint[] = [0n, 0n, 0n, 0n, 0n]) {
    this.last = initial.map(u64);
    this.kstats = initial.map(u64);
    this.kstats0 = base.map(u64);
  }

  /** One 2 s estimation with the raw counters `counts`. */
  estimate(counts: bigint[]): void {
    for (let k = 0; k < 5; k++) {
      const cur = u64(counts[k]);
      this.kstats[k] = cur;
      const shift = k < 3 ? 9n : 4n; // 2^10 / 2 s, 2^5 / 2 s
      const rate = u64((cur - this.last[k]) << shift);
      this.last[k] = cur;
      // e->cps += ((s64)rate - (s64)e->cps) >> 2
      this.avg[k] = u64(this.avg[k] + u64(s64(rate - this.avg[k]) >> 2n));
    }
  }

  zero(): void {
    this.kstats0 = [...this.kstats];
    this.last = [...this.kstats];
    this.avg = [0n, 0n, 0n, 0n, 0n];
  }

  /** What RateEstimator.read() must return. */
  read(): Record<string, number | bigint> {
    const pps = (a: bigint): number => Number(u64(a + 0x1ffn) >> 10n);
    const bps = (a: bigint): number => Number(u64(a + 0xfn) >> 5n);
    const total = (k: number): bigint => s64(this.kstats[k] - this.kstats0[k]);
    return {
      cps: pps(this.avg[0]),
      inpps: pps(this.avg[1]),
      outpps: pps(this.avg[2]),
      inbps: bps(this.avg[3]),
      outbps: bps(this.avg[4]),
      conns: total(0),
      inpkts: total(1),
      outpkts: total(2),
      inbytes: total(3),
      outbytes: total(4),
    };
  }
}

/** net/core/gen_estimator.c's est_timer and gen_estimator_read in BigInt. */
export class GenModel {
  private avbps = 0n;
  private avpps = 0n;
  private lastBytes: bigint;
  private lastPackets: bigint;
  private readonly intvlLog: bigint;
  private readonly ewmaLog: bigint;
  /** Next firing, in ms since creation. */
  deadlineMs: number;
  readonly periodMs: number;

  constructor(interval: number, ewmaLog: number, bytes: bigint, packets: bigint) {
    this.intvlLog = BigInt(interval + 2);
    this.ewmaLog = BigInt(ewmaLog);
    this.lastBytes = u64(bytes);
    this.lastPackets = u64(packets);
    this.periodMs = 250 * 2 ** (interval + 2);
    this.deadlineMs = this.periodMs;
  }

  fire(bytes: bigint, packets: bigint): void {
    const e = this.ewmaLog;
    let brate = u64(u64(bytes - this.lastBytes) << (10n - this.intvlLog));
    brate = u64((brate >> e) - (this.avbps >> e));
    let rate = u64(u64(packets - this.lastPackets) << (10n - this.intvlLog));
    rate = u64((rate >> e) - (this.avpps >> e));
    this.avbps = u64(this.avbps + brate);
    this.avpps = u64(this.avpps + rate);
    this.lastBytes = u64(bytes);
    this.lastPackets = u64(packets);
  }

  /** Fires for every deadline up to `nowMs` (ms since creation). */
  advance(nowMs: number, bytes: bigint, packets: bigint): void {
    while (this.deadlineMs <= nowMs) {
      this.fire(bytes, packets);
      this.deadlineMs += this.periodMs;
    }
  }

  read(): { bps: number; pps: number } {
    return { bps: Number(this.avbps >> 8n), pps: Number(this.avpps >> 8n) };
  }
}

/** Why /proc-based thread checks cannot run here, or null. */
export function procMissing(): string | null {
  return existsSync('/proc/self/task') ? null : 'needs /proc/self/task';
}

/** Why a test that pins to all of `cpus` cannot run here, or null. */
export function cpusMissing(...cpus: number[]): string | null {
  if (procMissing()) return procMissing();
  const status = readFileSync('/proc/self/status', 'utf8');
  const list = /^Cpus_allowed_list:\s*(\S*)$/m.exec(status)?.[1] ?? '';
  const allowed = new Set<number>();
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) allowed.add(c);
  }
  return cpus.every((c) => allowed.has(c)) ? null : `needs CPUs ${cpus.join(', ')} (this process may use ${list})`;
}

/** Why a test that pins to CPUs 0 and 1 cannot run here, or null. */
export function twoCpusMissing(): string | null {
  return cpusMissing(0, 1);
}

/** Cpus_allowed_list of one of this process's threads. */
export function threadCpus(tid: number): string {
  return taskStatus(tid, 'Cpus_allowed_list');
}

/** The nice value of one of this process's threads (field 19 of its stat). */
export const threadNice = taskNice;

/** The name (comm) of one of this process's threads. */
export function threadName(tid: number): string {
  return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
}

/** True while thread `tid` exists in this process. */
export function threadAlive(tid: number): boolean {
  return existsSync(`/proc/self/task/${tid}`);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes; returns its last result. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

/** Starts test/estimator/fixtures/<name>.js with workerData. */
export function startWorker(name: string, workerData: unknown): Worker {
  return new Worker(path.join(__dirname, '..', 'estimator', 'fixtures', `${name}.js`), { workerData });
}

/** The next message from `worker` (rejects if it errors or exits first). */
export function nextMessage<T = unknown>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (m: T): void => {
      cleanup();
      resolve(m);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`worker exited (${code}) before answering`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** The compiled package (dist/), which child processes and worker fixtures load. */
export const distPath = path.join(__dirname, '..', '..', 'dist');

/** What a child process did. */
export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `body` in a fresh Node process, inside an async function with these in
 * scope: `k` (the package), `native` (the addon's estimator functions, for
 * test hooks), `fields` (the five IPVS field names), `sleep(ms)`, `waitFor(check,
 * ms)` (polls every 20 ms; false on timeout), `print(value)` (one JSON line on
 * stdout) and `fail(message)` (exit 1). A fresh process keeps process-wide
 * state (test hooks, calibration, shard counts) away from other tests.
 */
export function runChild(
  body: string,
  options: { args?: string[]; uid?: number; gid?: number; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): ChildResult {
  const script = `
    const k = require(${JSON.stringify(distPath)});
    const native = require(${JSON.stringify(path.join(distPath, 'estimator', 'native'))}).estimatorNative;
    const fields = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'];
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    const waitFor = async (check, ms) => {
      const end = Date.now() + ms;
      while (!check()) {
        if (Date.now() > end) return false;
        await sleep(20);
      }
      return true;
    };
    const print = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
    const fail = (message) => { process.stderr.write(message + '\\n'); process.exit(1); };
    (async () => {
      ${body}
    })().catch((e) => fail(String(e && e.stack || e)));
  `;
  const r = spawnSync(process.execPath, [...(options.args ?? []), '-e', script], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    uid: options.uid,
    gid: options.gid,
    env: options.env ?? process.env,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The JSON lines a child printed with `print()`. */
export function printed(r: ChildResult): unknown[] {
  return r.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

