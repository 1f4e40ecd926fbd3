/**
 * The prom-client bridge: kernkit's families appear in a prom-client
 * `Registry` (the app's own, or prom-client's global one) as prom-client
 * Counters and Gauges whose `collect()` callbacks read the kernkit registry at
 * scrape time. No bookkeeping is duplicated: the callbacks of one scrape share
 * one kernkit collection.
 *
 * prom-client stores numbers, so a count past 2^53 loses its exactness there
 * (kernkit's own exposition keeps it). prom-client needs each metric's label
 * names up front: they are learnt when the bridge is made and by
 * {@link PromClientBridge.refresh}; until then a sample with a label name not
 * seen before is left out.
 * @module
 */
import { KernkitError } from '../../errors';
import { func, optional, options as optionsOf } from '../../validate';
import type { Registry } from '../registry';
import type { MetricFamily } from '../types';
import { type BridgeHandle, loadOptional, registryArgument, sharedCollection, startBridge } from './common';

/** How prom-client's AggregatorRegistry combines a metric over cluster workers. */
export type PromClientAggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

/** The part of a prom-client metric the bridge uses. */
interface PromMetric {
  reset(): void;
  set?(labels: Record<string, string>, value: number): void;
  inc?(labels: Record<string, string>, value: number): void;
}

/** The part of a prom-client `Registry` the bridge uses. */
export interface PromClientRegistryLike {
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
}

/** The part of the prom-client module the bridge uses. */
export interface PromClientModule {
  Counter: new (config: object) => unknown;
  Gauge: new (config: object) => unknown;
  register: PromClientRegistryLike;
}

/** Options of {@link bridgeToPromClient}. */
export interface PromClientBridgeOptions {
  /** The prom-client registry to add to (default prom-client's global `register`, which cluster mode reads). */
  registry?: PromClientRegistryLike;
  /** The prom-client module (default `require('prom-client')`): pass it when the app has its own copy. */
  client?: PromClientModule;
  /**
   * How AggregatorRegistry combines each family over cluster workers (default
   * `sum`). Each process has its own kernkit counters, so `sum` gives the
   * cluster's total; a figure every worker reads from the same place (a
   * cgroup, a tc device) is better `first`, a ratio `average`.
   */
  aggregator?: (family: MetricFamily) => PromClientAggregator;
}

/** A running bridge: `refresh()`, `close()`, `closed`, `[Symbol.dispose]`. */
export type PromClientBridge = BridgeHandle;

interface Bridged {
  readonly promName: string;
  readonly labelNames: ReadonlySet<string>;
}

function labelNamesOf(f: MetricFamily): Set<string> {
  const names = new Set<string>();
  for (const s of f.samples) for (const k in s.labels) names.add(k);
  return names;
}

/**
 * Adds every family of `registry` to a prom-client registry. prom-client is an
 * optional peer dependency, loaded here: `ENOENT` if it is not installed,
 * `EEXIST` if a family's name is taken in the prom-client registry, `EINVAL`
 * if `registry` is not a kernkit {@link Registry}.
 */
export async function bridgeToPromClient(registry: Registry, options?: PromClientBridgeOptions): Promise<PromClientBridge> {
  registryArgument('registry', registry);
  const o = optionsOf<PromClientBridgeOptions>('options', options, ['registry', 'client', 'aggregator']);
  const client = o.client ?? loadOptional<PromClientModule>('prom-client', 'bridgeToPromClient');
  const promRegistry = o.registry ?? client.register;
  const aggregatorOf = optional(o.aggregator, (v) => func<(f: MetricFamily) => PromClientAggregator>('options.aggregator', v), () => 'sum' as const);
  // A closed kernkit registry shows nothing, rather than failing the app's whole scrape.
  const snapshot = sharedCollection(async () => new Map(registry.closed ? [] : (await registry.collect()).map((f) => [f.name, f])));
  const bridged = new Map<string, Bridged>();
  let closed = false;

  function fill(metric: PromMetric, family: MetricFamily | undefined, labelNames: ReadonlySet<string>): void {
    metric.reset();
    if (!family) return;
    for (const s of family.samples) {
      const labels = (s.labels ?? {}) as Record<string, string>;
      if (Object.keys(labels).some((k) => !labelNames.has(k))) continue; // learnt at the next refresh()
      const value = Number(s.value);
      if (family.type === 'counter') {
        if (Number.isFinite(value) && value >= 0) metric.inc!(labels, value);
      } else {
        metric.set!(labels, value);
      }
    }
  }

  function add(f: MetricFamily, labelNames: ReadonlySet<string>): void {
    const promName = f.type === 'counter' ? `${f.name}_total` : f.name;
    if (promRegistry.getSingleMetric(promName) !== undefined) {
      throw new KernkitError(`bridgeToPromClient: the prom-client registry already has a metric ${promName}`, { code: 'EEXIST' });
    }
    const Kind = f.type === 'counter' ? client.Counter : client.Gauge;
    const familyName = f.name;
    new Kind({
      name: promName,
      help: f.help,
      labelNames: [...labelNames],
      registers: [promRegistry],
      aggregator: aggregatorOf(f),
      async collect(this: PromMetric) {
        fill(this, (await snapshot()).get(familyName), labelNames);
      },
    });
    bridged.set(f.name, { promName, labelNames });
  }

  async function refresh(): Promise<void> {
    if (closed) throw new KernkitError('bridgeToPromClient: the bridge is closed', { code: 'ESHUTDOWN' });
    const families = await registry.collect();
    const added: string[] = [];
    try {
      for (const f of families) {
        const known = bridged.get(f.name);
        const labelNames = labelNamesOf(f);
        if (known && [...labelNames].every((k) => known.labelNames.has(k))) continue;
        if (known) {
          // prom-client fixes label names at creation: make the metric again with the union.
          promRegistry.removeSingleMetric(known.promName);
          bridged.delete(f.name);
          for (const k of known.labelNames) labelNames.add(k);
        }
        add(f, labelNames);
        added.push(f.name);
      }
    } catch (err) {
      // Leave the prom-client registry as this refresh found it (less the metrics it remade).
      for (const name of added) {
        promRegistry.removeSingleMetric(bridged.get(name)!.promName);
        bridged.delete(name);
      }
      throw err;
    }
  }

  function close(): void {
    if (closed) return;
    closed = true;
    for (const b of bridged.values()) promRegistry.removeSingleMetric(b.promName);
    bridged.clear();
  }

  return startBridge(refresh, close, () => closed);
}
