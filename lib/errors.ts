/**
 * Errors kernkit raises: one class, with the errno name as `.code`, for
 * validation, for failed syscalls and for kernel replies.
 * @module
 */

/** Extra fields of a {@link KernkitError}. */
export interface KernkitErrorProps {
  /** The errno name: `EINVAL`, `ERANGE`, `ENOENT`, ... */
  code: string;
  /** The negative errno number, as Node's own system errors report it. */
  errno?: number;
  /** The syscall that failed, for system errors. */
  syscall?: string;
  /** The kernkit operation that failed (`tc.qdisc.add`, ...), where no single syscall did. */
  op?: string;
  /** The kernel's extended-ack message, for netlink replies. */
  extack?: string;
}

/**
 * The error every kernkit API throws or rejects with. `.code` is the errno name,
 * so callers can branch on it (`err.code === 'EEXIST'`); the message names the
 * field, the value and what is allowed, or the kernel's own words.
 */
export class KernkitError extends Error {
  /** The errno name: `EINVAL`, `ERANGE`, `ENOENT`, ... */
  readonly code: string;
  /** The negative errno number, where there is one. */
  readonly errno?: number;
  /** The syscall that failed, for system errors. */
  readonly syscall?: string;
  /** The kernkit operation that failed, where no single syscall did. */
  readonly op?: string;
  /** The kernel's extended-ack message, for netlink replies. */
  readonly extack?: string;

  /** Creates an error; `props.code` is required. */
  constructor(message: string, props: KernkitErrorProps) {
    super(message);
    this.name = 'KernkitError';
    this.code = props.code;
    if (props.errno !== undefined) this.errno = props.errno;
    if (props.syscall !== undefined) this.syscall = props.syscall;
    if (props.op !== undefined) this.op = props.op;
    if (props.extack !== undefined) this.extack = props.extack;
  }
}

/** Renders a rejected value for a message: strings quoted, everything else as written. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
