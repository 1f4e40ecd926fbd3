/**
 * A virtual service (the kernel's `struct ip_vs_service`): its real servers in
 * the kernel's list order, its scheduler, persistence and the scheduling path
 * of `ip_vs_schedule` / `ip_vs_sched_persist` (ip_vs_core.c).
 * @module
 */
import { KernkitError } from '../errors';
import type { CounterSetHandle } from '../percpu';
import { integerIn, oneOf, options } from '../validate';
import { makeAddress, maskAddress, parseAddress, type IpAddress } from './address';
import { Connection, Template } from './connection';
import type { Forwarding, RealServer, TunnelOptions } from './real-server';
import { SCHEDULER_INITS, type Scheduler, type SchedulerEnv, type SchedulerName } from './schedulers';
import { SVC_ONEPACKET, SVC_PERSISTENT, type Protocol, type ResolvedKey, type ResolvedServiceOptions, type ServiceKey } from './spec';
import type { ServiceStats, StatsReading } from './stats';

/** FTPPORT: persistence templates of port-21 services ignore the port. */
const FTP_PORT = 21;
/** FTPDATA: the kernel never schedules a connection from client port 20. */
const FTP_DATA_PORT = 20;

/** The client of a connection to schedule. */
export interface ClientSpec {
  /** Client (source) address. */
  address: string;
  /** Client (source) port. */
  port: number;
  /** Protocol of the connection (default: the service's; fwmark services take any). */
  protocol?: Protocol;
  /** The virtual address the client targeted (default: the service's; `0.0.0.0`/`::` for fwmark services). */
  virtualAddress?: string;
  /** The virtual port the client targeted (default: the service's). */
  virtualPort?: number;
}

/** A real server as `dests()` reports it (a snapshot). */
export interface DestInfo {
  /** Address. */
  address: string;
  /** Port. */
  port: number;
  /** Weight (0: quiesced). */
  weight: number;
  /** Upper connection threshold (0: none). */
  upperThreshold: number;
  /** Lower connection threshold (0: none). */
  lowerThreshold: number;
  /** Forwarding method. */
  forwarding: Forwarding;
  /** Tunnel options. */
  tunnel: Required<TunnelOptions>;
  /** Active connections. */
  activeConns: number;
  /** Inactive connections. */
  inactConns: number;
  /** Persistence templates. */
  persistConns: number;
  /** Over its upper threshold (the kernel's OVERLOAD flag). */
  overloaded: boolean;
  /** In its service's list (false in the trash). */
  available: boolean;
}

/** What a service needs of its table. */
export interface ServiceTable {
  readonly env: SchedulerEnv;
  readonly templates: Map<string, Template>;
  readonly totalStats: ServiceStats | null;
  /** The `expire_quiescent_template` sysctl. */
  expireQuiescentTemplate(): boolean;
  /** drop_packet defense: true when this new connection is to be dropped. */
  dropPacket(): boolean;
  /** A connection opened or closed (for drop_entry). */
  track(conn: Connection, open: boolean): void;
}

/** Snapshot of a real server. */
export function destInfo(d: RealServer): DestInfo {
  return {
    address: d.addr.text,
    port: d.port,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    forwarding: d.forwarding,
    tunnel: { ...d.tunnel },
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    overloaded: d.overloaded,
    available: d.available,
  };
}

// It meets SchedulerService and ConnectionOwner structurally (checked where it is passed as one), without `implements`:
// the published .d.ts leaves out the internal members such an interface needs.
/**
 * A virtual service. Made by `Ipvs.addService`; {@link schedule} is the
 * data path (a pick per new connection), everything else goes through the table.
 */
export class Service {
  /** @internal The real servers, index 0 is the list head (the newest). */
  readonly dests: RealServer[] = [];
  /** @internal Service flags (PERSISTENT, ONEPACKET, SCHED1..3). */
  flags = 0;
  /** @internal Settings as validated. */
  settings: ResolvedServiceOptions;
  /** @internal The bound scheduler, null for `none`. */
  scheduler: Scheduler | null = null;
  /** @internal False once deleted. */
  live = true;
  /** @internal */
  readonly statsChain: readonly (ServiceStats | null)[];

  /** @internal Made by the table. */
  constructor(
    /** @internal */
    readonly id: ResolvedKey,
    settings: ResolvedServiceOptions,
    /** @internal */
    readonly table: ServiceTable,
    /** @internal The service's statistics (null when the table keeps none). */
    readonly stats: ServiceStats | null,
  ) {
    this.settings = settings;
    this.flags = settings.flags;
    this.statsChain = [stats, table.totalStats];
  }

  /** @internal Table-wide scheduler settings. */
  get env(): SchedulerEnv {
    return this.table.env;
  }

  /** The key that names it. */
  get key(): ServiceKey {
    const k = this.id;
    return k.addr ? { protocol: k.protocol, address: k.addr.text, port: k.port } : { fwmark: k.fwmark, family: k.family };
  }

  /** The scheduler's name (`none` for no scheduler). */
  get schedulerName(): SchedulerName | 'none' {
    return this.settings.scheduler;
  }

  /** True once deleted from its table. */
  get deleted(): boolean {
    return !this.live;
  }

  /** The real servers in the kernel's list order (newest first). */
  listDests(): DestInfo[] {
    return this.dests.map(destInfo);
  }

  /**
   * The handle of the service's `CounterSet` (null without statistics): a worker
   * thread that carries the traffic attaches it (`CounterSet.attach(handle)`)
   * and counts into the same statistics.
   */
  get counters(): CounterSetHandle | null {
    return this.stats?.counters.handle ?? null;
  }

  /** The handle of a real server's `CounterSet`, for worker threads (null without statistics). */
  destCounters(address: string, port: number = this.id.port): CounterSetHandle | null {
    const a = parseAddress('address', address);
    const d = this.dests.find((x) => x.port === port && x.addr.text === a.text);
    if (!d) throw new KernkitError(`dest: ${a.text}:${port} (expected a real server of the service)`, { code: 'ENOENT' });
    return d.stats?.counters.handle ?? null;
  }

  /** The service's counters and rates (null when the table keeps no statistics). */
  readStats(): StatsReading | null {
    return this.stats?.read() ?? null;
  }

  /** @internal Binds a scheduler (init_service), replacing the current one only if the new one binds. */
  bindScheduler(name: SchedulerName | 'none'): void {
    const next = name === 'none' ? null : SCHEDULER_INITS[name](this);
    this.scheduler?.done?.();
    this.scheduler = next;
  }

  /**
   * Schedules a new connection from `client`, as `ip_vs_schedule` does:
   * persistent services go through their templates; a null result is the
   * kernel's "no destination available" (ICMP port unreachable), not an error.
   */
  schedule(client: ClientSpec): Connection | null {
    if (!this.live) throw new KernkitError('Service.schedule: the service was deleted', { code: 'ESRCH' });
    const c = options<ClientSpec>('client', client, ['address', 'port', 'protocol', 'virtualAddress', 'virtualPort']);
    const caddr = parseAddress('client.address', c.address);
    const cport = integerIn('client.port', c.port, 0, 65535);
    const protocol = c.protocol === undefined ? this.id.protocol : oneOf('client.protocol', c.protocol, ['tcp', 'udp', 'sctp'] as const);
    const vaddr =
      c.virtualAddress !== undefined
        ? parseAddress('client.virtualAddress', c.virtualAddress)
        : (this.id.addr ?? parseAddress('virtualAddress', this.id.family === 4 ? '0.0.0.0' : '::'));
    const vport = c.virtualPort === undefined ? this.id.port : integerIn('client.virtualPort', c.virtualPort, 0, 65535);
    if (caddr.family !== this.id.family) throw new KernkitError(`client.address: ${JSON.stringify(c.address)} (expected an IPv${this.id.family} address)`, { code: 'EINVAL' });

    if (cport === FTP_DATA_PORT) return null; // never schedule active FTP data
    if (this.table.dropPacket()) return null; // drop_packet defense
    const pkt = { caddr, cport, vaddr, vport };
    if (this.flags & SVC_PERSISTENT) return this.schedulePersistent(protocol, pkt);
    // Without persistence a port-0 service schedules nothing.
    if (!this.id.fwmark && vport !== this.id.port) return null;
    const dest = this.scheduler?.schedule(pkt) ?? null;
    if (!dest) return null;
    return this.open(protocol, pkt, dest, null);
  }

  private schedulePersistent(protocol: Protocol, pkt: { caddr: IpAddress; cport: number; vaddr: IpAddress; vport: number }): Connection | null {
    const snet = this.id.family === 4 ? maskV4(pkt.caddr, this.settings.netmask) : maskAddress(pkt.caddr, this.settings.netmask);
    // The template key: <protocol, client network, 0, vaddr, vport> with the kernel's exceptions.
    let key: string;
    if (pkt.vport === this.id.port) {
      key = `${protocol}|${snet.text}|${pkt.vaddr.text}|${this.id.port !== FTP_PORT ? pkt.vport : 0}`;
    } else if (this.id.fwmark) {
      key = `ip|${this.id.family}|${snet.text}|fwm${this.id.fwmark}|0`;
    } else {
      key = `${protocol}|${snet.text}|${pkt.vaddr.text}|0`; // port-zero service
    }
    const templates = this.table.templates;
    let ct = templates.get(key);
    if (ct && !this.templateValid(ct)) {
      templates.delete(key); // ip_vs_check_template: invalidated, it no longer matches
      ct = undefined;
    }
    if (!ct) {
      const dest = this.scheduler?.schedule(pkt) ?? null;
      if (!dest) return null;
      ct = new Template(key, dest, this.settings.timeoutMs, this.env.clock, (t) => {
        if (templates.get(t.key) === t) templates.delete(t.key);
      });
      ct.onePacketService = (this.flags & SVC_ONEPACKET) !== 0;
      templates.set(key, ct);
    }
    const conn = this.open(protocol, pkt, ct.dest, ct);
    ct.touch();
    return conn;
  }

  // ip_vs_check_template: the server must still be AVAILABLE, and not quiesced with expire_quiescent_template.
  private templateValid(ct: Template): boolean {
    const d = ct.dest;
    return d.available && !(this.table.expireQuiescentTemplate() && d.weight === 0);
  }

  private open(protocol: Protocol, pkt: { caddr: IpAddress; cport: number; vaddr: IpAddress; vport: number }, dest: RealServer, ct: Template | null): Connection {
    const onePacket = (this.flags & SVC_ONEPACKET) !== 0 && protocol === 'udp';
    const conn = new Connection(protocol, pkt.caddr, pkt.cport, pkt.vaddr, pkt.vport, dest, onePacket, ct, this);
    // ip_vs_conn_stats: one more connection for the server, the service and the table.
    for (const s of [dest.stats, ...this.statsChain]) s?.counters.inc(s.counters.index('conns'));
    this.table.track(conn, true);
    return conn;
  }

  /** @internal ConnectionOwner: the table's time. */
  now(): number {
    return this.env.clock.now();
  }

  /** @internal ConnectionOwner: a connection closed. */
  closed(conn: Connection): void {
    this.table.track(conn, false);
  }
}

// IPv4 persistence masks with any 32-bit netmask, as the kernel's `saddr & netmask`.
function maskV4(a: IpAddress, netmask: number): IpAddress {
  return makeAddress(4, [(a.words[0] & netmask) >>> 0]);
}
