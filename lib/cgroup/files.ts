/**
 * Reading and writing cgroup interface files, asynchronously (a write can wait:
 * memory reclaim, cpuset rebinding, attach under cgroup_threadgroup_rwsem), with
 * errors that name the file and the value; plus the small retry, polling and
 * undo helpers the cgroup operations share.
 * @internal
 * @module
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { KernkitError, describeValue } from '../errors';

/** The errno name of a Node system error, or undefined. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Wraps a failed file operation as a KernkitError naming what was attempted. */
export function fileError(err: unknown, op: string, file: string, value?: string, field?: string): KernkitError {
  if (err instanceof KernkitError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = errnoCode(err) ?? 'EIO';
  const reason = e?.message?.split(',')[0] ?? String(err);
  const what = value === undefined ? `${op} ${file}` : `${op} ${describeValue(value)} to ${file}`;
  const prefix = field ? `cgroup ${field}: ` : 'cgroup: ';
  return new KernkitError(`${prefix}${what}: ${reason}`, {
    code,
    ...(typeof e?.errno === 'number' ? { errno: e.errno } : {}),
    syscall: e?.syscall ?? op,
  });
}

/** Reads a whole interface file as text. */
export async function readText(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    throw fileError(err, 'read', file);
  }
}

/** Reads a file, or null when it does not exist or the kernel does not support it here. */
export async function readOptional(file: string): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'ENODEV') return null;
    throw fileError(err, 'read', file);
  }
}

/**
 * Writes `value` with a single write(2), as cgroup files require (each write is
 * one command). Opened write-only: some files (cgroup.kill) cannot be read.
 */
export async function writeValue(file: string, value: string, field?: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, fsc.O_WRONLY);
    const { bytesWritten } = await handle.write(value);
    if (bytesWritten !== Buffer.byteLength(value)) {
      throw new KernkitError(`cgroup: short write of ${describeValue(value)} to ${file}`, { code: 'EIO' });
    }
  } catch (err) {
    throw fileError(err, 'write', file, value, field);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** True when `dir` exists and is a directory. */
export async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await fsp.stat(dir)).isDirectory();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw fileError(err, 'stat', dir);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
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

/**
 * rmdir with runc's patience for the transient EBUSY of a group whose last task
 * just exited: 10 retries, 1 ms doubling. A missing directory is not an error.
 */
export async function removeDir(dir: string): Promise<void> {
  let delay = 1;
  for (let retries = 10; ; retries--) {
    try {
      await fsp.rmdir(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || retries <= 0) throw fileError(err, 'rmdir', dir);
      await sleep(delay);
      delay *= 2;
    }
  }
}

/**
 * Polls `check` until it returns true: 1 ms, then doubling up to 50 ms between
 * looks. Rejects with ETIMEDOUT naming `what` after `timeoutMs`.
 */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) {
      throw new KernkitError(`cgroup: timed out after ${timeoutMs} ms waiting for ${what}`, { code: 'ETIMEDOUT' });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * The steps a multi-step operation has taken, to be undone in reverse if a
 * later step fails. Undo steps are best effort: their own errors are dropped so
 * that the caller sees the error that made it roll back.
 */
export class Undo {
  private readonly steps: Array<() => Promise<unknown>> = [];

  /** Records how to take back the step just made. */
  push(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  /** Undoes every recorded step, newest first. */
  async run(): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step();
      } catch {
        // best effort: the original error matters more
      }
    }
  }
}
