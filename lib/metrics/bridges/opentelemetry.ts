/**
 * The OpenTelemetry bridge: each kernkit family becomes an observable counter
 * or gauge of a `Meter`, all observed by one batch observable callback
 * (`meter.addBatchObservableCallback`) that reads the kernkit registry once
 * per collection. Labels become attributes; units map to UCUM (`s`, `By`).
 *
 * OpenTelemetry values are numbers: a count past 2^53 loses its exactness
 * there. Instruments are made for the families known when the bridge is made
 * and by {@link OpenTelemetryBridge.refresh}.
 * @module
 */
import { KernkitError } from '../../errors';
import { invalid, optional, options as optionsOf, string } from '../../validate';
import type { Registry } from '../registry';
import type { MetricFamily } from '../types';
import { type BridgeHandle, loadOptional, registryArgument, startBridge } from './common';

/** The part of an OpenTelemetry observable instrument the bridge uses (opaque). */
export type ObservableLike = object;

/** The part of `BatchObservableResult` the bridge uses. */
export interface BatchObservableResultLike {
  observe(observable: ObservableLike, value: number, attributes?: Record<string, string>): void;
}

type BatchCallback = (result: BatchObservableResultLike) => Promise<void>;

/** The part of an OpenTelemetry `Meter` the bridge uses. */
export interface MeterLike {
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): ObservableLike;
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): ObservableLike;
  addBatchObservableCallback(callback: BatchCallback, observables: ObservableLike[]): void;
  removeBatchObservableCallback(callback: BatchCallback, observables: ObservableLike[]): void;
}

/** Options of {@link bridgeToOpenTelemetry}. */
export interface OpenTelemetryBridgeOptions {
  /** The meter (default `metrics.getMeter(meterName)` of `@opentelemetry/api`). */
  meter?: MeterLike;
  /** The meter's name when no meter is given (default `kernkit`). */
  meterName?: string;
}

/** A running bridge: `refresh()`, `close()`, `closed`, `[Symbol.dispose]`. */
export type OpenTelemetryBridge = BridgeHandle;

const UCUM: Readonly<Record<string, string>> = { seconds: 's', bytes: 'By' };

/**
 * Observes every family of `registry` through an OpenTelemetry meter.
 * `@opentelemetry/api` is an optional peer dependency, loaded only when no
 * meter is given: `ENOENT` if it is not installed. `EINVAL` if `registry` is
 * not a kernkit {@link Registry}.
 */
export async function bridgeToOpenTelemetry(registry: Registry, options?: OpenTelemetryBridgeOptions): Promise<OpenTelemetryBridge> {
  registryArgument('registry', registry);
  const o = optionsOf<OpenTelemetryBridgeOptions>('options', options, ['meter', 'meterName']);
  const meterName = optional(o.meterName, (v) => string('options.meterName', v, { nonEmpty: true }), 'kernkit');
  const meter =
    o.meter === undefined
      ? loadOptional<{ metrics: { getMeter(name: string): MeterLike } }>('@opentelemetry/api', 'bridgeToOpenTelemetry').metrics.getMeter(meterName)
      : meterLike('options.meter', o.meter);
  const instruments = new Map<string, ObservableLike>();
  let closed = false;

  const callback: BatchCallback = async (result) => {
    if (registry.closed) return; // observe nothing rather than fail the reader's collection
    for (const f of await registry.collect()) {
      const instrument = instruments.get(f.name);
      if (instrument === undefined) continue; // made at the next refresh()
      for (const s of f.samples) result.observe(instrument, Number(s.value), s.labels as Record<string, string>);
    }
  };

  function instrumentFor(f: MetricFamily): ObservableLike {
    const opts = { description: f.help, ...(f.unit === undefined ? {} : { unit: UCUM[f.unit] ?? f.unit }) };
    return f.type === 'counter' ? meter.createObservableCounter(f.name, opts) : meter.createObservableGauge(f.name, opts);
  }

  async function refresh(): Promise<void> {
    if (closed) throw new KernkitError('bridgeToOpenTelemetry: the bridge is closed', { code: 'ESHUTDOWN' });
    const fresh = (await registry.collect()).filter((f) => !instruments.has(f.name));
    if (fresh.length === 0 && instruments.size > 0) return;
    if (instruments.size > 0) meter.removeBatchObservableCallback(callback, [...instruments.values()]);
    for (const f of fresh) instruments.set(f.name, instrumentFor(f));
    meter.addBatchObservableCallback(callback, [...instruments.values()]);
  }

  function close(): void {
    if (closed) return;
    closed = true;
    meter.removeBatchObservableCallback(callback, [...instruments.values()]);
  }

  return startBridge(refresh, close, () => closed);
}

/** A meter: an object with the four methods the bridge calls; `EINVAL` otherwise. */
function meterLike(field: string, value: unknown): MeterLike {
  const methods = ['createObservableCounter', 'createObservableGauge', 'addBatchObservableCallback', 'removeBatchObservableCallback'];
  const ok = typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
  if (!ok) throw invalid(field, typeof value === 'object' ? 'an object' : value, `an OpenTelemetry Meter (with ${methods.join(', ')})`);
  return value as MeterLike;
}
