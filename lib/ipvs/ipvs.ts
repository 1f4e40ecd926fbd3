/**
 * `Ipvs`: one IPVS table, like a network namespace's (ip_vs_ctl.c): services,
 * real servers with the kernel's validation, errno and list order, the trash
 * of deleted servers, zeroing, flushing, persistence templates and defense.
 * @module
 */
import { KernkitError } from '../errors';
import { boolean, func, integerIn, invalid, optional, options } from '../validate';
import { sameAddress, isUnicastish } from './address';
import { IpvsManualClock, IpvsRealClock, type IpvsClock, type IpvsTimer } from './clock';
import { Connection, Template } from './connection';
import { Defense, type DefenseOptions, type DefenseState } from './defense';
import { formatListing, parseRules, saveRules, type FormatOptions, type IpvsadmCommand } from './ipvsadm';
import { RealServer } from './real-server';
import type { SchedulerEnv } from './schedulers';
import { destInfo, Service, type DestInfo } from './service';
import {
  defaultServiceOptions,
  resolveDest,
  resolveDestId,
  resolveKey,
  resolveServiceOptions,
  type DestSpec,
  type ResolvedDest,
  type ResolvedKey,
  type ServiceKey,
  type ServiceOptions,
} from './spec';
import { ServiceStats, type StatsReading } from './stats';

/** IP_VS_DEST_TRASH_PERIOD: a trashed server idle this long is freed (checked every half period). */
export const DEST_TRASH_PERIOD = 120_000;
/** The defense timer period (DEFENSE_TIMER_PERIOD). */
const DEFENSE_PERIOD = 1000;
/** lblc/lblcr expiration default: 24 h. */
const DEFAULT_EXPIRATION = 24 * 60 * 60 * 1000;

/** Options of {@link Ipvs}. */
export interface IpvsOptions {
  /** `'real'` (default): Node timers; `'manual'`: a {@link IpvsManualClock} you advance. */
  clock?: 'real' | 'manual';
  /** Uniform random source in [0, 1) for twos (default `Math.random`). */
  random?: () => number;
  /** Keep counters and rate estimators per service and server (default true). */
  stats?: boolean;
  /** The `expire_quiescent_template` sysctl (default false). */
  expireQuiescentTemplate?: boolean;
  /** `CONFIG_IP_VS_MH_TAB_INDEX`, 8..17 (default 12: 4093 slots). */
  mhTableIndex?: number;
  /** The `lblc_expiration` sysctl in ms (default 24 h). */
  lblcExpiration?: number;
  /** The `lblcr_expiration` sysctl in ms (default 24 h). */
  lblcrExpiration?: number;
  /** Defense strategies (default all off). */
  defense?: DefenseOptions;
}

/** A service's or server's statistics in {@link Ipvs.stats}. */
export interface ServiceStatsEntry {
  /** The service. */
  service: ServiceKey;
  /** Its counters and rates. */
  stats: StatsReading;
  /** Its real servers', in list order. */
  dests: { address: string; port: number; stats: StatsReading }[];
}

// It meets ServiceTable structurally (checked where it is passed as one), without `implements`:
// the published .d.ts leaves out the internal members such an interface needs.
/**
 * One IPVS table. Services by `{ protocol, address, port }` or `{ fwmark }`,
 * real servers per service in the kernel's list order, and the kernel's
 * errno for every refusal; a refused call leaves the table unchanged.
 *
 * ```ts
 * const ipvs = new Ipvs();
 * const svc = ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 }, { scheduler: 'wrr' });
 * ipvs.addDest(svc, { address: '10.0.0.2', port: 8080, weight: 3, forwarding: 'masq' });
 * const conn = svc.schedule({ address: '192.0.2.7', port: 40000 }); // Connection | null
 * ```
 */
export class Ipvs {
  /** The table's clock: a {@link IpvsManualClock} with `clock: 'manual'`. */
  readonly clock: IpvsClock;
  /** @internal Scheduler settings. */
  readonly env: SchedulerEnv;
  /** @internal Persistence templates by key. */
  readonly templates = new Map<string, Template>();
  /** @internal Table-wide statistics (the kernel's tot_stats). */
  readonly totalStats: ServiceStats | null;
  private readonly byId = new Map<string, Service>();
  private readonly trashList: RealServer[] = [];
  private trashTimer: IpvsTimer | null = null;
  private readonly keepStats: boolean;
  private readonly quiescentExpire: boolean;
  private readonly defenseState: Defense;
  private defenseTimer: IpvsTimer | null = null;
  private readonly live = new Set<Connection>();
  private readonly todropCounter = new Array<number>(9).fill(0);
  private isClosed = false;

  /** A new, empty table. */
  constructor(opts?: IpvsOptions) {
    const o = options<IpvsOptions>('options', opts, [
      'clock',
      'random',
      'stats',
      'expireQuiescentTemplate',
      'mhTableIndex',
      'lblcExpiration',
      'lblcrExpiration',
      'defense',
    ]);
    if (o.clock !== undefined && o.clock !== 'real' && o.clock !== 'manual') throw invalid('options.clock', o.clock, "'real' or 'manual'");
    this.clock = o.clock === 'manual' ? new IpvsManualClock() : new IpvsRealClock();
    if (o.random !== undefined) func('options.random', o.random, 'a function returning [0, 1)');
    this.env = {
      clock: this.clock,
      random: o.random ?? Math.random,
      mhTableIndex: optional(o.mhTableIndex, (v) => integerIn('options.mhTableIndex', v, 8, 17), 12),
      lblcExpiration: optional(o.lblcExpiration, (v) => integerIn('options.lblcExpiration', v, 0, Number.MAX_SAFE_INTEGER), DEFAULT_EXPIRATION),
      lblcrExpiration: optional(o.lblcrExpiration, (v) => integerIn('options.lblcrExpiration', v, 0, Number.MAX_SAFE_INTEGER), DEFAULT_EXPIRATION),
    };
    this.keepStats = optional(o.stats, (v) => boolean('options.stats', v), true);
    this.quiescentExpire = optional(o.expireQuiescentTemplate, (v) => boolean('options.expireQuiescentTemplate', v), false);
    this.defenseState = new Defense(o.defense);
    this.totalStats = this.keepStats ? new ServiceStats() : null;
    if (this.defenseState.enabled) this.armDefense();
  }

  // ---- services ----

  /** Adds a service: `EEXIST` if it exists, `ENOENT` for an unknown scheduler, `EINVAL` for a bad IPv6 prefix. */
  addService(key: ServiceKey, opts?: ServiceOptions): Service {
    this.checkOpen();
    const id = resolveKey('key', key);
    if (this.byId.has(id.id)) throw new KernkitError(`key: ${describeKey(id)} (expected a service that does not exist yet)`, { code: 'EEXIST' });
    const settings = resolveServiceOptions('options', opts, id.family, defaultServiceOptions(id.family));
    const svc = new Service(id, settings, this, this.keepStats ? new ServiceStats() : null);
    try {
      svc.bindScheduler(settings.scheduler);
    } catch (err) {
      svc.stats?.stop();
      throw err;
    }
    this.byId.set(id.id, svc);
    return svc;
  }

  /**
   * Edits a service: options left out keep their current values (like
   * netlink's flag mask). A new scheduler is bound with the current servers;
   * if it refuses them (mh: too many), the old one stays (see docs).
   */
  editService(key: ServiceKey | Service, opts: ServiceOptions): Service {
    const svc = this.lookup(key);
    const settings = resolveServiceOptions('options', opts, svc.id.family, svc.settings);
    if (settings.scheduler !== svc.settings.scheduler) svc.bindScheduler(settings.scheduler);
    svc.settings = settings;
    svc.flags = settings.flags;
    return svc;
  }

  /** Deletes a service (`ESRCH` if missing); its servers go to the trash. */
  deleteService(key: ServiceKey | Service): void {
    const svc = this.lookup(key);
    this.unlinkService(svc);
  }

  /** The service with this key; `ESRCH` if there is none. */
  service(key: ServiceKey): Service {
    return this.lookup(key);
  }

  /** Whether a service with this key exists. */
  hasService(key: ServiceKey): boolean {
    return this.byId.has(resolveKey('key', key).id);
  }

  /** Every service, in the order they were added (see docs: the kernel lists by hash bucket). */
  services(): Service[] {
    return [...this.byId.values()];
  }

  // ---- real servers ----

  /**
   * Adds a real server at the head of the service's list: `ERANGE` for a
   * negative weight or `lowerThreshold > upperThreshold`, `EINVAL` for a GUE
   * tunnel without port or an address that is not unicast, `EEXIST` if it is
   * there. A matching server in the trash is revived, counters included.
   */
  addDest(key: ServiceKey | Service, spec: DestSpec): DestInfo {
    const svc = this.lookup(key);
    const d = resolveDest('dest', spec, svc.id.port);
    if (svc.dests.some((x) => x.port === d.port && sameAddress(x.addr, d.addr))) {
      throw new KernkitError(`dest: ${d.addr.text}:${d.port} (expected a real server not yet in the service)`, { code: 'EEXIST' });
    }
    if (d.addr.family !== svc.id.family && d.forwarding !== 'tunnel') {
      throw invalid('dest.forwarding', d.forwarding, `'tunnel' for an IPv${d.addr.family} server of an IPv${svc.id.family} service`);
    }
    let server = this.takeFromTrash(svc.id, d);
    if (server) {
      server.stats?.restart();
    } else {
      if (!isUnicastish(d.addr)) throw invalid('dest.address', d.addr.text, 'a unicast address');
      server = new RealServer(d.addr, d.port);
      server.stats = this.keepStats ? new ServiceStats() : null;
      owners.set(server, svc.id);
    }
    this.updateDest(svc, server, d, true);
    return destInfo(server);
  }

  /** Edits a real server (`ENOENT` if missing); spec keys left out keep their values. */
  editDest(key: ServiceKey | Service, spec: DestSpec): DestInfo {
    const svc = this.lookup(key);
    const { addr, port } = resolveDestId('dest', spec, svc.id.port);
    const server = this.findDest(svc, addr.text, port);
    const d = resolveDest('dest', spec, svc.id.port, {
      addr,
      port,
      weight: server.weight,
      upperThreshold: server.upperThreshold,
      lowerThreshold: server.lowerThreshold,
      forwarding: server.forwarding,
      tunnel: server.tunnel,
    });
    this.updateDest(svc, server, d, false);
    return destInfo(server);
  }

  /** Deletes a real server (`ENOENT` if missing): it leaves the list and goes to the trash. */
  deleteDest(key: ServiceKey | Service, spec: { address: string; port?: number }): void {
    const svc = this.lookup(key);
    const { addr, port } = resolveDestId('dest', spec, svc.id.port);
    const server = this.findDest(svc, addr.text, port);
    this.unlinkDest(svc, server, true);
    this.trashDest(server);
  }

  /** The service's real servers in the kernel's list order (a new or revived server is first). */
  dests(key: ServiceKey | Service): DestInfo[] {
    return this.lookup(key).listDests();
  }

  /** Servers in the trash (deleted, still referenced or not yet expired). */
  trash(): DestInfo[] {
    return this.trashList.map(destInfo);
  }

  // ---- counters ----

  /** IPVS zeroing: a new zero point for the statistics and estimators of one service (and its servers) or all; connection counts untouched. */
  zero(key?: ServiceKey | Service): void {
    if (key === undefined) {
      for (const svc of this.byId.values()) zeroService(svc);
      this.totalStats?.zero();
      return;
    }
    zeroService(this.lookup(key));
  }

  /** Every service's statistics and its servers' (empty when the table keeps none). */
  stats(): ServiceStatsEntry[] {
    const out: ServiceStatsEntry[] = [];
    for (const svc of this.byId.values()) {
      if (!svc.stats) continue;
      out.push({
        service: svc.key,
        stats: svc.stats.read(),
        dests: svc.dests.map((d) => ({ address: d.addr.text, port: d.port, stats: (d.stats as ServiceStats).read() })),
      });
    }
    return out;
  }

  /** Table-wide totals (null without statistics). */
  totals(): StatsReading | null {
    return this.totalStats?.read() ?? null;
  }

  /** Deletes every service (`ipvsadm -C`). */
  flush(): void {
    for (const svc of [...this.byId.values()]) this.unlinkService(svc);
  }

  // ---- ipvsadm ----

  /** `ipvsadm-save -n`: the rules that rebuild the table (sorted as ipvsadm sorts them). */
  save(): string {
    this.checkOpen();
    return saveRules(this.services());
  }

  /**
   * `ipvsadm-restore`: applies `ipvsadm-save` rules (`-A`, `-E`, `-D`, `-a`,
   * `-e`, `-d`, `-C`). All or nothing: the rules are first replayed on a
   * scratch copy of the table's rules, so a refused rule (with the kernel's
   * errno, its line named) leaves the table unchanged.
   */
  restore(text: string): void {
    this.checkOpen();
    const cmds = parseRules(text);
    const scratch = new Ipvs({ clock: 'manual', stats: false, mhTableIndex: this.env.mhTableIndex });
    try {
      scratch.copyRulesOf(this);
      scratch.apply(cmds);
    } finally {
      scratch.close();
    }
    this.apply(cmds);
  }

  /** `ipvsadm -Ln`, `ipvsadm -Ln --stats` or `ipvsadm -Ln --rate`, as ipvsadm 1.31 prints them. */
  format(fmt: FormatOptions = {}): string {
    this.checkOpen();
    const o = options<FormatOptions>('format', fmt, ['stats', 'rate']);
    return formatListing(this.services(), {
      stats: optional(o.stats, (v) => boolean('format.stats', v), false),
      rate: optional(o.rate, (v) => boolean('format.rate', v), false),
    });
  }

  // The services and servers of `src`, with every setting (a save() would lose the thresholds).
  private copyRulesOf(src: Ipvs): void {
    for (const svc of src.byId.values()) {
      const copy = new Service(svc.id, svc.settings, this, null);
      for (const d of svc.dests) {
        const rs = new RealServer(d.addr, d.port);
        rs.weight = d.weight;
        rs.lastWeight = d.lastWeight;
        rs.upperThreshold = d.upperThreshold;
        rs.lowerThreshold = d.lowerThreshold;
        rs.forwarding = d.forwarding;
        rs.tunnel = { ...d.tunnel };
        rs.available = true;
        copy.dests.push(rs);
      }
      copy.bindScheduler(svc.settings.scheduler);
      this.byId.set(svc.id.id, copy);
    }
  }

  private apply(cmds: IpvsadmCommand[]): void {
    cmds.forEach((c, i) => {
      try {
        switch (c.op) {
          case 'clear': this.flush(); break;
          case 'add-service': this.addService(c.key, c.options); break;
          case 'edit-service': this.editService(c.key, c.options); break;
          case 'delete-service': this.deleteService(c.key); break;
          case 'add-server': this.addDest(c.key, c.dest); break;
          case 'edit-server': this.editDest(c.key, c.dest); break;
          case 'delete-server': this.deleteDest(c.key, c.dest); break;
        }
      } catch (err) {
        if (err instanceof KernkitError) throw new KernkitError(`rule ${i + 1} (${c.op}): ${err.message}`, { code: err.code });
        throw err;
      }
    });
  }

  // ---- defense ----

  /** The defense strategies' state (after the latest 1 s update). */
  get defense(): DefenseState {
    return this.defenseState.state();
  }

  /** @internal drop_packet. */
  dropPacket(): boolean {
    return this.defenseState.dropPacket();
  }

  /** @internal */
  expireQuiescentTemplate(): boolean {
    return this.quiescentExpire;
  }

  /** @internal Tracks live connections (drop_entry scans them). */
  track(conn: Connection, open: boolean): void {
    if (open) {
      conn.bucket = Math.floor(this.env.random() * 4096);
      this.live.add(conn);
    } else this.live.delete(conn);
  }

  /** Live connections the table scheduled and nobody closed yet. */
  get connections(): number {
    return this.live.size;
  }

  // ---- time ----

  /** With `clock: 'manual'`: moves the table's time forward by `ms`, firing what falls due (`EINVAL` on a real clock). */
  advance(ms: number): void {
    if (!(this.clock instanceof IpvsManualClock)) throw invalid('clock', 'real', "a table made with { clock: 'manual' }");
    this.clock.advance(ms);
  }

  // ---- lifetime ----

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Flushes the table and stops every timer and estimator (idempotent). */
  close(): void {
    if (this.isClosed) return;
    this.flush();
    for (const t of [...this.templates.values()]) t.kill();
    this.trashTimer?.cancel();
    this.defenseTimer?.cancel();
    for (const d of this.trashList.splice(0)) d.stats?.stop();
    this.totalStats?.stop();
    this.isClosed = true;
  }

  /** `using ipvs = new Ipvs()` closes it at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----

  private checkOpen(): void {
    if (this.isClosed) throw new KernkitError('Ipvs: the table is closed', { code: 'EINVAL' });
  }

  private lookup(key: ServiceKey | Service): Service {
    this.checkOpen();
    if (key instanceof Service) {
      if (key.table !== this || !key.live) throw new KernkitError(`key: ${describeKey(key.id)} (expected a service of this table)`, { code: 'ESRCH' });
      return key;
    }
    const id = resolveKey('key', key);
    const svc = this.byId.get(id.id);
    if (!svc) throw new KernkitError(`key: ${describeKey(id)} (expected an existing service)`, { code: 'ESRCH' });
    return svc;
  }

  private findDest(svc: Service, text: string, port: number): RealServer {
    const d = svc.dests.find((x) => x.port === port && x.addr.text === text);
    if (!d) throw new KernkitError(`dest: ${text}:${port} (expected a real server of the service)`, { code: 'ENOENT' });
    return d;
  }

  // __ip_vs_update_dest
  private updateDest(svc: Service, server: RealServer, d: ResolvedDest, add: boolean): void {
    if (add || d.weight !== 0) server.lastWeight = d.weight; // last_weight keeps the latest non-zero weight
    server.weight = d.weight;
    server.forwarding = d.forwarding;
    server.tunnel = { ...d.tunnel };
    server.available = true;
    if (d.upperThreshold === 0 || d.upperThreshold > server.upperThreshold) server.overloaded = false;
    server.upperThreshold = d.upperThreshold;
    server.lowerThreshold = d.lowerThreshold;
    if (add) {
      svc.dests.unshift(server);
      svc.scheduler?.addDest?.(server, 0);
    } else {
      svc.scheduler?.updDest?.(server);
    }
  }

  // __ip_vs_unlink_dest
  private unlinkDest(svc: Service, server: RealServer, notify: boolean): void {
    server.available = false;
    const i = svc.dests.indexOf(server);
    svc.dests.splice(i, 1);
    if (notify) svc.scheduler?.delDest?.(server, i);
  }

  // __ip_vs_del_dest: every deleted server lives in the trash until nothing refers to it.
  private trashDest(server: RealServer): void {
    server.stats?.stop();
    if (this.trashList.length === 0) this.trashTimer = this.clock.schedule(DEST_TRASH_PERIOD / 2, () => this.expireTrash());
    this.trashList.unshift(server);
    server.idleStart = 0;
  }

  // ip_vs_trash_get_dest: same address and port, and the same service identity.
  private takeFromTrash(id: ResolvedKey, d: ResolvedDest): RealServer | undefined {
    const i = this.trashList.findIndex((x) => x.port === d.port && sameAddress(x.addr, d.addr) && owners.get(x)?.id === id.id);
    if (i < 0) return undefined;
    const [server] = this.trashList.splice(i, 1);
    if (this.trashList.length === 0) this.trashTimer?.cancel();
    return server;
  }

  // ip_vs_dest_trash_expire
  private expireTrash(): void {
    const now = this.clock.now();
    for (const d of [...this.trashList]) {
      if (d.bound() > 0) continue;
      if (d.idleStart) {
        if (now < d.idleStart + DEST_TRASH_PERIOD) continue;
      } else {
        d.idleStart = Math.max(1, now);
        continue;
      }
      this.trashList.splice(this.trashList.indexOf(d), 1);
    }
    this.trashTimer = this.trashList.length ? this.clock.schedule(DEST_TRASH_PERIOD / 2, () => this.expireTrash()) : null;
  }

  private unlinkService(svc: Service): void {
    svc.live = false;
    this.byId.delete(svc.id.id);
    svc.stats?.stop();
    svc.scheduler?.done?.();
    svc.scheduler = null;
    for (const d of [...svc.dests]) {
      this.unlinkDest(svc, d, false);
      this.trashDest(d);
    }
  }

  private armDefense(): void {
    this.defenseTimer = this.clock.schedule(DEFENSE_PERIOD, () => {
      this.defenseState.update();
      if (this.defenseState.dropEntryActive) this.dropEntries();
      this.armDefense();
    });
  }

  // ip_vs_random_dropentry: 128 random buckets of the 4096-bucket connection table, every second.
  private dropEntries(): void {
    const buckets = new Map<number, (Connection | Template)[]>();
    const put = (b: number, x: Connection | Template) => {
      const list = buckets.get(b);
      if (list) list.push(x);
      else buckets.set(b, [x]);
    };
    for (const c of this.live) put(c.bucket, c);
    for (const t of this.templates.values()) put(templateBucket(t), t);
    for (let draw = 0; draw < 4096 >> 5; draw++) {
      for (const x of buckets.get(Math.floor(this.env.random() * 4096)) ?? []) {
        if (x instanceof Connection ? x.closed : !x.live) continue;
        if (this.shouldDrop(x)) {
          if (x instanceof Connection) x.close();
          else x.kill();
        }
      }
    }
  }

  private shouldDrop(x: Connection | Template): boolean {
    if (!(x instanceof Connection)) {
      if (x.controlled > 0) return false;
      if (x.onePacketService) return false; // OPS templates count no packets here: todrop_entry never fires at 0
      return !x.assured; // a template no established connection assured
    }
    if (x.protocol === 'tcp' || x.protocol === 'sctp') {
      if (x.phase === 'opening') return true; // SYN_RECV/SYNACK, INIT
      if (x.phase === 'established') return this.todropEntry(x);
      return false;
    }
    return this.todropEntry(x);
  }

  // todrop_entry: idle at least 60 s, and 1..8 packets in: one in `in_pkts` such connections goes.
  private todropEntry(c: Connection): boolean {
    if (this.clock.now() < c.lastActivity + 60_000) return false;
    const i = c.inPackets;
    if (i > 8 || i <= 0) return false;
    if (--this.todropCounter[i] > 0) return false;
    this.todropCounter[i] = i;
    return true;
  }
}

// Templates hash like connections; any fixed spread of their keys will do for the random scan.
function templateBucket(t: Template): number {
  let h = 0;
  for (let i = 0; i < t.key.length; i++) h = (Math.imul(h, 31) + t.key.charCodeAt(i)) | 0;
  return (h >>> 0) & 4095;
}

// Which service a server was made for (the kernel's dest->protocol/vaddr/vport/vfwmark), for trash matching.
const owners = new WeakMap<RealServer, ResolvedKey>();

function zeroService(svc: Service): void {
  for (const d of svc.dests) d.stats?.zero();
  svc.stats?.zero();
}

function describeKey(id: ResolvedKey): string {
  return id.addr ? `${id.protocol} ${id.family === 6 ? `[${id.addr.text}]` : id.addr.text}:${id.port}` : `fwmark ${id.fwmark}${id.family === 6 ? ' (IPv6)' : ''}`;
}
