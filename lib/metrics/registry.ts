/**
 * `Registry`: the metrics sources of a process, collected concurrently and
 * rendered in the Prometheus text format or OpenMetrics.
 *
 * A scrape starts every collector at once: shared-memory reads (counters,
 * estimators, pools) finish synchronously, I/O (cgroup files, tc dumps) runs
 * off the event loop concurrently, each under its own timeout. A collector that
 * throws, times out, or returns families that are malformed or clash with
 * another's is left out of that scrape and counted in
 * `kernkit_scrape_errors_total{collector, reason}`; the rest is served.
 * @module
 */
import { KernkitError } from '../errors';
import { durationMs, invalid, oneOf, optional, options as optionsOf, plainObject, string } from '../validate';
import { adapt, kindOptionKeys, type KindOptions, type MetricSource } from './collectors';
import { CONTENT_TYPES, type ExpositionFormat, type GatheredFamily, render, renderLabels, type SampleSource } from './exposition';
import { counterFamilyName, labelName, labelSet, mergeLabels, metricName, metricPrefix } from './names';
import type { Collectable, CollectContext, Labels, MetricFamily, MetricType } from './types';

/** Options of {@link Registry}. */
export interface RegistryOptions {
  /** Put before every registered name (`myapp_`); default none. */
  prefix?: string;
  /** Labels added to every sample of the registry (`{ service: 'api' }`). */
  labels?: Labels;
  /** Default per-collector timeout in ms (default 2000; `Infinity` for none). */
  timeout?: number;
}

/** Options of {@link Registry.register}. */
export interface RegisterOptions extends KindOptions {
  /** The metric name (the registry's prefix goes before it); a trailing `_total` is dropped, counters get it back. */
  name: string;
  /** The help text. */
  help: string;
  /** Labels added to every sample of this registration. */
  labels?: Labels;
  /** This collector's timeout in ms (default: the registry's). */
  timeout?: number;
}

/** Options of {@link Registry.metrics}. */
export interface MetricsOptions {
  /** `text` (Prometheus 0.0.4, the default) or `openmetrics` (OpenMetrics 1.0). */
  format?: ExpositionFormat;
}

/** Why a collector was left out of a scrape, as `kernkit_scrape_errors_total` labels it. */
export type ScrapeErrorReason = 'error' | 'timeout' | 'invalid' | 'conflict';

/** The family the registry keeps its own scrape errors in. */
export const SCRAPE_ERRORS_METRIC = 'kernkit_scrape_errors';

const DEFAULT_TIMEOUT_MS = 2000;
const METRIC_TYPES: readonly MetricType[] = ['counter', 'gauge'];
const FORMATS: readonly ExpositionFormat[] = ['text', 'openmetrics'];

interface Registration extends SampleSource {
  readonly source: MetricSource;
  readonly kind: string;
  readonly base: string;
  readonly help: string;
  readonly key: string;
  readonly collector: Collectable;
  readonly constLabels: Labels;
  readonly constText: string;
  readonly timeout: number;
  readonly families: readonly string[] | undefined;
  /** Family names this registration returned that passed the checks (so later scrapes skip the regex). */
  readonly checked: Set<string>;
  /** kernkit's own adapters: their names and labels were checked at registration, not at each scrape. */
  readonly trusted: boolean;
  /** What collectMetrics() gets; reused from scrape to scrape. */
  readonly context: Context;
  /** Sample name → `name{const labels}` for samples without labels of their own. */
  readonly prefixes: Map<string, string>;
}

/** What one scrape asks a collector; the abort controller is made only when a collector looks at `signal`. */
class Context implements CollectContext {
  private controller: AbortController | undefined;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }
  /** Aborts the signal the timed-out collector holds; the next scrape gets a fresh one. */
  abort(): void {
    this.controller?.abort(new KernkitError(`metrics collector ${this.name} timed out`, { code: 'ETIMEDOUT' }));
    this.controller = undefined;
  }
}

const REGISTER_KEYS = ['name', 'help', 'labels', 'timeout'];

/**
 * The metrics sources of a process. Register kernkit objects (or any
 * {@link Collectable}) under a name; render them all with {@link metrics}.
 *
 * ```ts
 * const registry = new Registry({ prefix: 'app_' });
 * const requests = new Counter('requests');
 * registry.register(requests, { name: 'requests', help: 'Requests served' });
 * await registry.metrics(); // '# HELP app_requests_total Requests served\n...app_requests_total 0\n'
 * ```
 *
 * Several objects may share a name with different labels (one family, one
 * sample set each): `register(a, { name: 'hits', labels: { route: '/a' } })`
 * and the same with `/b`. The same name with the same labels, another kind or
 * another help text, or a family name another registration produces, is `EEXIST`.
 */
export class Registry {
  /** The prefix of every registered name. */
  readonly prefix: string;
  /** Labels on every sample. */
  readonly labels: Labels;
  /** The default per-collector timeout, in ms. */
  readonly timeout: number;
  private registrations: Registration[] = [];
  private readonly keys = new Set<string>();
  /** Family name → the base name of the registrations that produce it. */
  private readonly familyOwners = new Map<string, string>();
  /** Base name → its kind and help, while any registration uses it. */
  private readonly bases = new Map<string, { kind: string; help: string; count: number }>();
  private readonly scrapeErrors = new Map<string, { labels: Labels; count: number }>();
  /** The registry's own samples' labels (its scrape errors). */
  private readonly ownSource: SampleSource;
  private isClosed = false;

  /** A registry with an optional name prefix, registry-wide labels and collector timeout. */
  constructor(options?: RegistryOptions) {
    const o = optionsOf<RegistryOptions>('options', options, ['prefix', 'labels', 'timeout']);
    this.prefix = optional(o.prefix, (v) => metricPrefix('options.prefix', v), '');
    this.labels = Object.freeze(optional(o.labels, (v) => labelSet('options.labels', v), {}));
    this.timeout = optional(o.timeout, (v) => durationMs('options.timeout', v, undefined, true), DEFAULT_TIMEOUT_MS);
    this.ownSource = { constLabels: this.labels, constText: renderLabels(this.labels), prefixes: new Map() };
  }

  /** True once {@link close} has run. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** The Content-Type header of a format; `EINVAL` for a format other than `text` and `openmetrics`. */
  static contentType(format: ExpositionFormat = 'text'): string {
    return CONTENT_TYPES[oneOf('format', format, FORMATS)];
  }

  /**
   * Registers `source` (a kernkit object or a {@link Collectable}) under
   * `options.name`. `EINVAL` for an invalid name, label or option (naming it),
   * `EEXIST` for a clash (see the class), `ESHUTDOWN` after {@link close}.
   */
  register(source: MetricSource, options: RegisterOptions): void {
    this.ensureOpen('register');
    const raw = plainObject('options', options, 'an object with name and help');
    const o = optionsOf<RegisterOptions>('options', raw, [...REGISTER_KEYS, ...kindOptionKeys(source)]);
    const name = metricName('options.name', o.name);
    const help = string('options.help', o.help);
    const own = optional(o.labels, (v) => labelSet('options.labels', v), {});
    const constLabels = Object.freeze(mergeLabels('options.labels', this.labels, own));
    const timeout = optional(o.timeout, (v) => durationMs('options.timeout', v, undefined, true), this.timeout);
    const { kind, collector } = adapt(source, o);
    const base = counterFamilyName(this.prefix + name);
    const key = `${base}{${renderLabels(sortLabels(constLabels))}}`;
    if (this.keys.has(key)) throw exists(`${base} with labels {${renderLabels(sortLabels(own))}} is already registered`);
    const families = collector.metricNames?.(base);
    this.checkFamilies(base, kind, help, families ?? [base]);
    const reg: Registration = {
      source, kind, base, help, key, collector, constLabels, timeout, families,
      constText: renderLabels(constLabels),
      checked: new Set(),
      trusted: kind !== 'Collectable',
      context: new Context(base, help),
      prefixes: new Map(),
    };
    this.keys.add(key);
    for (const f of families ?? [base]) this.familyOwners.set(f, base);
    const b = this.bases.get(base);
    if (b) b.count++;
    else this.bases.set(base, { kind, help, count: 1 });
    this.registrations.push(reg);
  }

  private checkFamilies(base: string, kind: string, help: string, families: readonly string[]): void {
    const sameBase = this.bases.get(base);
    if (sameBase && (sameBase.kind !== kind || sameBase.help !== help)) {
      throw exists(`${base} is already registered as a ${sameBase.kind} with help ${JSON.stringify(sameBase.help)}: the same name needs the same kind and help`);
    }
    for (const f of families) {
      if (f === SCRAPE_ERRORS_METRIC) throw exists(`${f} is the registry's own scrape error counter`);
      const owner = this.familyOwners.get(f);
      if (owner !== undefined && owner !== base) throw exists(`metric family ${f} of ${base} is already produced by ${owner}`);
    }
  }

  /**
   * Removes registrations: every one of `target` when it is the registered
   * object, or every one under the name when it is a string (with the prefix
   * added, as at registration). Returns how many were removed.
   */
  unregister(target: object | string): number {
    let match: (r: Registration) => boolean;
    if (typeof target === 'string') {
      const base = counterFamilyName(this.prefix + target);
      match = (r) => r.base === base;
    } else if (typeof target === 'object' && target !== null) {
      match = (r) => r.source === target;
    } else {
      throw invalid('target', target, 'a registered object or a metric name');
    }
    const removed = this.registrations.filter(match);
    this.registrations = this.registrations.filter((r) => !match(r));
    for (const r of removed) this.forget(r);
    return removed.length;
  }

  private forget(r: Registration): void {
    this.keys.delete(r.key);
    const b = this.bases.get(r.base)!;
    if (--b.count > 0) return;
    this.bases.delete(r.base);
    for (const f of r.families ?? [r.base]) this.familyOwners.delete(f);
  }

  /** Removes every registration (the scrape error counts stay: they are counters). */
  clear(): void {
    this.registrations = [];
    this.keys.clear();
    this.familyOwners.clear();
    this.bases.clear();
  }

  /** Removes everything; {@link register}, {@link metrics} and {@link collect} are `ESHUTDOWN` afterwards. */
  close(): void {
    this.clear();
    this.isClosed = true;
  }

  /** `using registry = new Registry()` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Renders every registration in the Prometheus text format 0.0.4, or OpenMetrics 1.0. */
  async metrics(options?: MetricsOptions): Promise<string> {
    const o = optionsOf<MetricsOptions>('options', options, ['format']);
    const format = optional(o.format, (v) => oneOf('options.format', v, FORMATS), 'text' as const);
    this.ensureOpen('metrics');
    return render(await this.gather(), format);
  }

  /**
   * The families of one scrape as objects, every sample's labels complete
   * (its own, the registration's, the registry's): what the bridges read.
   */
  async collect(): Promise<MetricFamily[]> {
    this.ensureOpen('collect');
    const gathered = await this.gather();
    return gathered.map((f) => ({
      name: f.name,
      type: f.type,
      help: f.help,
      ...(f.unit === undefined ? {} : { unit: f.unit }),
      samples: f.parts.flatMap((p) => p.samples.map((s) => ({ labels: { ...s.labels, ...p.source.constLabels }, value: s.value }))),
    }));
  }

  /** Runs every collector concurrently and merges their families by name. */
  private async gather(): Promise<GatheredFamily[]> {
    const regs = this.registrations;
    const results: Array<readonly MetricFamily[] | undefined> = new Array(regs.length);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i];
      const ctx = r.context;
      let out: readonly MetricFamily[] | Promise<readonly MetricFamily[]>;
      try {
        out = r.collector.collectMetrics(ctx);
      } catch {
        this.countError(r, 'error');
        continue;
      }
      if (isPromiseLike(out)) pending.push(this.awaitCollector(r, ctx, out).then((families) => void (results[i] = families)));
      else results[i] = out;
    }
    if (pending.length) await Promise.all(pending);
    return this.merge(regs, results);
  }

  /** A collector's promise, or undefined once its timeout passes (it is aborted and counted). */
  private awaitCollector(r: Registration, ctx: Context, out: Promise<readonly MetricFamily[]>): Promise<readonly MetricFamily[] | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      const timer =
        r.timeout === Infinity
          ? undefined
          : setTimeout(() => {
              settled = true;
              ctx.abort();
              this.countError(r, 'timeout');
              resolve(undefined);
            }, r.timeout);
      out.then(
        (families) => {
          if (settled) return;
          clearTimeout(timer);
          resolve(families);
        },
        () => {
          if (settled) return;
          clearTimeout(timer);
          this.countError(r, 'error');
          resolve(undefined);
        },
      );
    });
  }

  private merge(regs: readonly Registration[], results: ReadonlyArray<readonly MetricFamily[] | undefined>): GatheredFamily[] {
    const byName = new Map<string, GatheredFamily>();
    const order: GatheredFamily[] = [];
    for (let i = 0; i < regs.length; i++) {
      const families = results[i];
      if (families === undefined) continue;
      const r = regs[i];
      if (r.trusted ? !labelsApart(r, families) : !this.valid(r, families)) {
        this.countError(r, 'invalid');
        continue;
      }
      for (const f of families) {
        const part = { source: r, samples: f.samples };
        const known = byName.get(f.name);
        if (known === undefined) {
          const g: GatheredFamily = { name: f.name, type: f.type, help: f.help, unit: f.unit, parts: [part] };
          byName.set(f.name, g);
          order.push(g);
        } else if (known.type === f.type && known.help === f.help && known.unit === f.unit) {
          known.parts.push(part);
        } else {
          this.countError(r, 'conflict');
        }
      }
    }
    order.push(this.scrapeErrorFamily());
    return order;
  }

  /** Checks what a collector returned: names under its base, types, units, labels, values. */
  private valid(r: Registration, families: unknown): boolean {
    if (!Array.isArray(families)) return false;
    for (const f of families as MetricFamily[]) {
      if (typeof f !== 'object' || f === null || !Array.isArray(f.samples)) return false;
      if (!r.checked.has(f.name) && !checkFamilyName(r.base, f)) return false;
      r.checked.add(f.name);
      if (!METRIC_TYPES.includes(f.type) || typeof f.help !== 'string') return false;
      for (const s of f.samples) {
        if (typeof s !== 'object' || s === null) return false;
        if (typeof s.value !== 'number' && typeof s.value !== 'bigint') return false;
        if (s.labels !== undefined && !validSampleLabels(s.labels, r.constLabels)) return false;
      }
    }
    return true;
  }

  private countError(r: Registration, reason: ScrapeErrorReason): void {
    const key = `${r.base}\0${reason}`;
    const e = this.scrapeErrors.get(key);
    if (e) e.count++;
    else this.scrapeErrors.set(key, { labels: { collector: r.base, reason }, count: 1 });
  }

  private scrapeErrorFamily(): GatheredFamily {
    const samples = [...this.scrapeErrors.values()].map((e) => ({ labels: e.labels, value: e.count }));
    return {
      name: SCRAPE_ERRORS_METRIC,
      type: 'counter',
      help: 'Collectors left out of a scrape: they threw, timed out, or returned invalid or clashing families',
      unit: undefined,
      parts: [{ source: this.ownSource, samples }],
    };
  }

  private ensureOpen(op: string): void {
    if (this.isClosed) throw new KernkitError(`Registry.${op}: the registry is closed`, { code: 'ESHUTDOWN' });
  }
}

const VALID_LABEL_NAMES = new Set<string>();
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function checkFamilyName(base: string, f: MetricFamily): boolean {
  if (typeof f.name !== 'string' || !METRIC_NAME.test(f.name)) return false;
  if (f.name !== base && !f.name.startsWith(`${base}_`)) return false;
  if (f.unit !== undefined && (typeof f.unit !== 'string' || !/^[a-zA-Z0-9_:]+$/.test(f.unit) || !f.name.endsWith(`_${f.unit}`))) return false;
  return true;
}

/**
 * kernkit's own adapters are trusted for names, types and values, but the labels they put on
 * samples (`dev`, `classid`, `field`, ...) must not be among the registration's constant labels:
 * one would overwrite the other and the samples would collide (Prometheus refuses such a scrape).
 * A family's label names are fixed by its adapter, so each family is checked once, at its first
 * scrape with samples.
 */
function labelsApart(r: Registration, families: readonly MetricFamily[]): boolean {
  for (const f of families) {
    if (r.checked.has(f.name) || f.samples.length === 0) continue;
    for (const s of f.samples) {
      if (s.labels === undefined) continue;
      for (const k in s.labels) if (k in r.constLabels) return false;
    }
    r.checked.add(f.name);
  }
  return true;
}

function validSampleLabels(labels: Labels, constLabels: Labels): boolean {
  if (typeof labels !== 'object' || labels === null) return false;
  for (const k in labels) {
    if (!VALID_LABEL_NAMES.has(k)) {
      try {
        labelName('label', k);
      } catch {
        return false;
      }
      VALID_LABEL_NAMES.add(k);
    }
    if (k in constLabels || typeof labels[k] !== 'string') return false;
  }
  return true;
}

function sortLabels(labels: Labels): Labels {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function exists(message: string): KernkitError {
  return new KernkitError(`Registry.register: ${message}`, { code: 'EEXIST' });
}

function isPromiseLike<T>(value: unknown): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as Promise<T>).then === 'function';
}
