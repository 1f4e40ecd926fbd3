/**
 * The pool's errors: {@link AbortError} for cancelled tasks, and how a task's
 * error crosses from its worker to the caller with its class, message, stack,
 * `code` and other own properties intact (structured clone alone keeps only
 * message and stack).
 * @module
 */
import { types } from 'node:util';
import { KernkitError } from '../errors';

/**
 * A task cancelled through its `AbortSignal`, or by `destroy()`. `name` is
 * `'AbortError'` as in Node and piscina; as every kernkit error it is a
 * {@link KernkitError}, with `code` `'ECANCELED'` (Node's own AbortError says
 * `'ABORT_ERR'`, which is no errno name). `cause` is the signal's reason.
 */
export class AbortError extends KernkitError {
  /** Creates the error; `reason` becomes `cause`. */
  constructor(reason?: unknown, message = 'The task has been aborted') {
    super(message, { code: 'ECANCELED' });
    this.name = 'AbortError';
    if (reason !== undefined) withCause(this, reason);
  }
}

/** Sets `err.cause` (KernkitError's constructor takes none), as Error's own `cause` option would. @internal */
export function withCause<E extends Error>(err: E, cause: unknown): E {
  Object.defineProperty(err, 'cause', { value: cause, configurable: true, writable: true });
  return err;
}

/** A thrown value as it travels between threads (internal). */
export type SerializedError =
  | { readonly isError: false; readonly value: unknown }
  | {
      readonly isError: true;
      readonly name: string;
      readonly message: string;
      readonly stack: string | undefined;
      readonly props: Record<string, unknown>;
      readonly cause?: SerializedError;
    };

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * An Error, also from another realm (vm contexts, jest) where instanceof fails,
 * and as Node rebuilds a worker's uncaught error (an object on Error.prototype).
 */
function isErrorLike(err: unknown): err is Error {
  return err instanceof Error || types.isNativeError(err) || Object.prototype.toString.call(err) === '[object Error]';
}

/** Packs a thrown value for postMessage, keeping what can be kept. @internal */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!isErrorLike(err)) return { isError: false, value: cloneable(err) ? err : String(err) };
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(err)) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (key !== 'name' && cloneable(value)) props[key] = value;
  }
  const cause = 'cause' in err && err.cause !== undefined && depth < 8 ? serializeError(err.cause, depth + 1) : undefined;
  return { isError: true, name: err.name, message: err.message, stack: err.stack, props, ...(cause ? { cause } : {}) };
}

const BUILTIN_ERRORS: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** Rebuilds a thrown value on this thread: the builtin class or KernkitError where it was one. @internal */
export function deserializeError(s: SerializedError): unknown {
  if (!s.isError) return s.value;
  let err: Error;
  if (s.name === 'KernkitError' || s.name === 'AbortError') {
    const code = typeof s.props.code === 'string' ? s.props.code : 'EINVAL';
    err = s.name === 'AbortError' ? new AbortError(undefined, s.message) : new KernkitError(s.message, { code });
  } else {
    err = new (BUILTIN_ERRORS[s.name] ?? Error)(s.message);
    if (err.name !== s.name) Object.defineProperty(err, 'name', { value: s.name, configurable: true, writable: true });
  }
  Object.assign(err, s.props);
  if (s.stack !== undefined) err.stack = s.stack;
  if (s.cause) withCause(err, deserializeError(s.cause));
  return err;
}
