/**
 * Reading and writing cgroup interface files off the event loop (a write can
 * wait: memory reclaim, cpuset rebinding, attach under cgroup_threadgroup_rwsem).
 * Operations go to the addon in batches (csrc/cgroupfs.cc), run in order on one
 * pool thread: one hop per batch rather than three or four per file. Errors
 * name the file and the value. Also the retry and polling helpers the cgroup
 * operations share (the undo journal is in plan.ts).
 * @internal
 * @module
 */
import { getSystemErrorMap } from 'node:util';
import { addon } from '../native';
import { KernkitError, describeValue } from '../errors';

/** One filesystem operation for {@link runBatch}. */
export type IoOp =
  | readonly ['read', string]
  | readonly ['write', string, string]
  | readonly ['mkdir', string]
  | readonly ['rmdir', string]
  | readonly ['isdir', string]
  | readonly ['resolve', string]
  | readonly ['walk', string]
  | readonly ['copy', string, string];

/** An op's outcome: 0 (done), an errno name, or -1 (not run: an earlier op failed). */
export type IoStatus = 0 | -1 | string;
/** An op's outcome and its data (text, flag, path list) when it succeeded. */
export type IoResult = readonly [IoStatus, string | boolean | string[] | null];

interface CgroupfsNative {
  run(ops: readonly IoOp[], stopOnError: boolean): Promise<IoResult[]>;
}
const cgroupfs = addon.cgroupfs as CgroupfsNative;

/**
 * Runs the operations in order on one pool thread. With `stopOnError`, the
 * ones after the first failure are not run (status -1).
 */
export function runBatch(ops: readonly IoOp[], stopOnError = false): Promise<IoResult[]> {
  return cgroupfs.run(ops, stopOnError);
}

const byName = new Map<string, [number, string]>();
for (const [errno, [name, message]] of getSystemErrorMap()) byName.set(name, [errno, message]);

/** The KernkitError for a failed op: "cgroup <field>: write "5" to <file>: EINVAL (invalid argument)". */
export function ioError(code: string, op: string, file: string, value?: string, field?: string): KernkitError {
  const [errno, message] = byName.get(code) ?? [undefined, 'error'];
  const what = value === undefined ? `${op} ${file}` : `${op} ${describeValue(value)} to ${file}`;
  return new KernkitError(`cgroup${field ? ` ${field}` : ''}: ${what}: ${code} (${message})`, {
    code,
    ...(errno !== undefined ? { errno } : {}),
    syscall: op,
  });
}

/** Throws the error of a failed op; returns its data otherwise. */
export function check<T = unknown>(result: IoResult, op: string, file: string, value?: string, field?: string): T {
  const [status, data] = result;
  if (status === 0) return data as T;
  if (status === -1) throw new KernkitError(`cgroup: ${op} ${file} was not run`, { code: 'ECANCELED' });
  throw ioError(status, op, file, value, field);
}

/** The errno name of an error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Reads a whole interface file as text. */
export async function readText(file: string): Promise<string> {
  const [r] = await runBatch([['read', file]]);
  return check<string>(r, 'read', file);
}

/** Whether a read status means "this file is not here" (absent, or unsupported by this kernel). */
export function isAbsent(status: IoStatus): boolean {
  return status === 'ENOENT' || status === 'EOPNOTSUPP' || status === 'ENOTSUP' || status === 'ENODEV';
}

/** The text of a read, null if the file is absent; throws other errors. */
export function optionalText(result: IoResult, file: string): string | null {
  if (isAbsent(result[0])) return null;
  return check<string>(result, 'read', file);
}

/** Reads a file, or null when it does not exist or the kernel does not support it here. */
export async function readOptional(file: string): Promise<string | null> {
  const [r] = await runBatch([['read', file]]);
  return optionalText(r, file);
}

/** Reads several files at once (null for absent ones). */
export async function readMany(files: readonly string[]): Promise<Array<string | null>> {
  const results = await runBatch(files.map((f) => ['read', f] as const));
  return results.map((r, i) => optionalText(r, files[i]));
}

/** Writes `value` with a single write(2), as cgroup files require (each write is one command). */
export async function writeValue(file: string, value: string, field?: string): Promise<void> {
  const [r] = await runBatch([['write', file, value]]);
  check(r, 'write', file, value, field);
}

/** Resolves after `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Writes a pid or tid into cgroup.procs / tasks / cgroup.threads. The kernel
 * refuses a task that is still being created (TASK_NEW) with a transient EINVAL;
 * like runc, retry that a few times (5 tries, 30 ms apart) before giving up.
 */
export async function writeTask(file: string, id: number, field: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await writeValue(file, String(id), field);
      return;
    } catch (err) {
      if (errnoCode(err) !== 'EINVAL' || attempt >= 5) throw err;
      await sleep(30);
    }
  }
}

/** runc's patience for rmdir's transient EBUSY right after the last task exits: 10 retries, 1 ms doubling. */
export const RMDIR_RETRIES = 10;

/**
 * Runs the ops in order (not stopping at errors), then retries every rmdir
 * that failed with EBUSY, in order, after 1 ms, 2 ms, ... (RMDIR_RETRIES
 * times): the waits are timers, so a busy group never holds a pool thread.
 * Returns each op's last outcome.
 */
export async function runRetryingRmdirs(ops: readonly IoOp[]): Promise<IoResult[]> {
  const results = await runBatch(ops);
  let delay = 1;
  for (let left = RMDIR_RETRIES; left > 0; left--) {
    const busy = ops.flatMap((op, i) => (op[0] === 'rmdir' && results[i][0] === 'EBUSY' ? [i] : []));
    if (!busy.length) break;
    await sleep(delay);
    delay *= 2;
    const again = await runBatch(busy.map((i) => ops[i]));
    busy.forEach((i, k) => (results[i] = again[k]));
  }
  return results;
}

/** Removes directories in order (children before parents), retrying rmdir's transient EBUSY. */
export function removeDirs(dirs: readonly string[]): Promise<IoResult[]> {
  return runRetryingRmdirs(dirs.map((d) => ['rmdir', d] as const));
}

/**
 * Polls `check` until it returns true: 1 ms, then doubling up to 50 ms between
 * looks. Rejects with ETIMEDOUT naming `what` after `timeoutMs`.
 */
export async function pollUntil(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) {
      throw new KernkitError(`cgroup: timed out after ${timeoutMs} ms waiting for ${what}`, { code: 'ETIMEDOUT' });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}
