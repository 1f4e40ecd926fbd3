/**
 * What both bridges share: loading an optional peer dependency when a bridge
 * is first used (never when kernkit is loaded), one registry collection per
 * scrape, and the handle a bridge returns.
 * @module
 */
import { KernkitError } from '../../errors';
import { invalid } from '../../validate';
import { Registry } from '../registry';

/** `value` as a kernkit metrics {@link Registry}: `EINVAL` for anything else. */
export function registryArgument(field: string, value: unknown): Registry {
  if (!(value instanceof Registry)) throw invalid(field, value, 'a kernkit metrics Registry');
  return value;
}

/** `require(name)`, or `ENOENT` saying to install it. */
export function loadOptional<T>(name: string, usedBy: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new KernkitError(`${usedBy} needs the optional peer dependency ${name} (npm install ${name})`, { code: 'ENOENT' });
  }
}

/**
 * One collection shared by every caller within a scrape: a library that
 * asks each of its metrics in turn (prom-client's `metrics()`, an
 * OpenTelemetry reader) starts them in the same tick, so they share one
 * registry collection; the next scrape starts a new one.
 */
export function sharedCollection<T>(collect: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  return () => {
    if (current === undefined) {
      current = collect();
      const reset = (): void => {
        current = undefined;
      };
      current.then(reset, reset);
    }
    return current;
  };
}

/** The handle both bridges return. */
export interface BridgeHandle {
  /** Learns families (and label names) registered since the bridge was made. */
  refresh(): Promise<void>;
  /** Detaches the bridge from the library. */
  close(): void;
  /** True once {@link close} has run. */
  readonly closed: boolean;
  /** `using bridge = await bridgeTo...(...)` closes it at the end of the scope. */
  [Symbol.dispose](): void;
}

/** A bridge's handle from its refresh and close, after a first refresh. */
export async function startBridge(refresh: () => Promise<void>, close: () => void, isClosed: () => boolean): Promise<BridgeHandle> {
  await refresh();
  return {
    refresh,
    close,
    get closed() {
      return isClosed();
    },
    [Symbol.dispose]: close,
  };
}
