/**
 * Connections and persistence templates (ip_vs_conn.c): binding to a real
 * server as `ip_vs_bind_dest` does, the TCP state table's active/inactive
 * moves, and the template timer that never expires a template while it
 * controls connections.
 * @module
 */
import { KernkitError } from '../errors';
import { integerIn, options } from '../validate';
import type { IpAddress } from './address';
import type { IpvsClock, IpvsTimer } from './clock';
import type { RealServer } from './real-server';
import type { Protocol } from './spec';
import type { ServiceStats } from './stats';

/** A template re-armed while it controls connections waits this long (`expire_later`: 60 s). */
export const TEMPLATE_RETRY_MS = 60_000;

/** A persistence template: client network → real server, with a timeout. */
export class Template {
  /** Connections it controls (`n_control`). */
  controlled = 0;
  /** Its timeout: the service's, then 60 s once it outlived it while controlling connections. */
  timeoutMs: number;
  /** False once it expired (it is then unbound from its server). */
  live = true;
  /** IP_VS_CTPL_S_ASSURED: a connection it controls reached ESTABLISHED. */
  assured = false;
  private timer: IpvsTimer;

  /**
   * Binds a template to `dest` (`persistconns++`, OVERLOAD at the upper
   * threshold) and arms its timer. `onExpire` unhashes it.
   */
  constructor(
    /** Its key in the table's template map. */
    readonly key: string,
    /** The server it sends the client network to. */
    readonly dest: RealServer,
    timeoutMs: number,
    private readonly clock: IpvsClock,
    private readonly onExpire: (t: Template) => void,
  ) {
    this.timeoutMs = timeoutMs;
    dest.bind(true);
    this.timer = clock.schedule(timeoutMs, () => this.fire());
  }

  /** `ip_vs_conn_put`: a use restarts the timer at the current timeout. */
  touch(): void {
    this.timer.cancel();
    this.timer = this.clock.schedule(this.timeoutMs, () => this.fire());
  }

  /** Whether the template's service does one-packet scheduling (drop_entry treats it like a connection). */
  onePacketService = false;

  /** Drops the template now (table close, drop_entry). */
  kill(): void {
    if (!this.live) return;
    this.timer.cancel();
    this.expire();
  }

  private fire(): void {
    if (this.controlled > 0) {
      // ip_vs_conn_expire: "do I control anybody?" -- try again in 60 s.
      this.timeoutMs = TEMPLATE_RETRY_MS;
      this.timer = this.clock.schedule(this.timeoutMs, () => this.fire());
      return;
    }
    this.expire();
  }

  private expire(): void {
    this.live = false;
    this.onExpire(this);
    this.dest.unbind(true, false);
  }
}

/** Traffic to count on a connection (`conn.count`). */
export interface TrafficCounts {
  /** Packets from the client. */
  inPackets?: number;
  /** Bytes from the client. */
  inBytes?: number;
  /** Packets to the client. */
  outPackets?: number;
  /** Bytes to the client. */
  outBytes?: number;
}

/** An address and port. */
export interface Endpoint {
  /** IPv4 or IPv6 text. */
  address: string;
  /** Port. */
  port: number;
}

/** What a connection needs of its owner. */
export interface ConnectionOwner {
  /** Stats the connection counts into besides its server's: the service's and the table's. */
  readonly statsChain: readonly (ServiceStats | null)[];
  /** Called once when the connection closes. */
  closed(conn: Connection): void;
  /** The table's clock, ms. */
  now(): number;
}

/**
 * A scheduled connection, bound to a real server as `ip_vs_bind_dest` binds
 * it: inactive first. {@link established} makes a TCP or SCTP connection
 * active, {@link closing} inactive again, {@link close} unbinds it (and lets
 * the server leave OVERLOAD by its lower threshold).
 */
export class Connection {
  private _state: 'inactive' | 'active' | 'closed' = 'inactive';
  /** @internal The state table's phase: before ESTABLISHED, ESTABLISHED, or past it. */
  phase: 'opening' | 'established' | 'closing' = 'opening';
  /** @internal Packets counted from the client (the kernel's `in_pkts`). */
  inPackets = 0;
  /** @internal When the connection last saw traffic or a state change (clock ms). */
  lastActivity: number;
  /** @internal drop_entry's hash bucket (the kernel's connection table has 4096); the table sets it. */
  bucket = 0;
  /** The client. */
  readonly client: Endpoint;
  /** The virtual address and port the client targeted. */
  readonly virtual: Endpoint;

  /** @internal Made by `Service.schedule`. */
  constructor(
    /** The transport protocol. */
    readonly protocol: Protocol,
    caddr: IpAddress,
    cport: number,
    vaddr: IpAddress,
    vport: number,
    /** @internal The server. */
    readonly server: RealServer,
    /** One-packet scheduling applies (a UDP connection of a onePacket service). */
    readonly onePacket: boolean,
    /** @internal The template controlling it (persistent services). */
    readonly template: Template | null,
    private readonly owner: ConnectionOwner,
  ) {
    this.lastActivity = owner.now();
    this.client = { address: caddr.text, port: cport };
    this.virtual = { address: vaddr.text, port: vport };
    server.bind(false);
    if (template) template.controlled++;
  }

  /** The real server it was sent to. */
  get dest(): Endpoint {
    return { address: this.server.addr.text, port: this.server.port };
  }

  /** `inactive`, `active` or `closed`. */
  get state(): 'inactive' | 'active' | 'closed' {
    return this._state;
  }

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this._state === 'closed';
  }

  /** The state table reached ESTABLISHED: a TCP or SCTP connection becomes active (UDP stays inactive). */
  established(): void {
    this.checkOpen('established');
    this.lastActivity = this.owner.now();
    if (this.protocol === 'udp' || this._state === 'active') return;
    this.server.inactConns--;
    this.server.activeConns++;
    this._state = 'active';
    this.phase = 'established';
    if (this.template) this.template.assured = true; // ip_vs_control_assure_ct
  }

  /** The state table left ESTABLISHED (FIN, RST): an active connection becomes inactive again. */
  closing(): void {
    this.checkOpen('closing');
    this.lastActivity = this.owner.now();
    if (this.protocol !== 'udp') this.phase = 'closing';
    if (this._state !== 'active') return;
    this.server.activeConns--;
    this.server.inactConns++;
    this._state = 'inactive';
  }

  /** Counts traffic into the server's, the service's and the table's statistics. */
  count(traffic: TrafficCounts): void {
    const t = options<TrafficCounts>('traffic', traffic, ['inPackets', 'inBytes', 'outPackets', 'outBytes']);
    const add = (name: keyof TrafficCounts, field: 'inpkts' | 'inbytes' | 'outpkts' | 'outbytes') => {
      const v = t[name];
      if (v === undefined) return;
      integerIn(`traffic.${name}`, v, 0, Number.MAX_SAFE_INTEGER);
      for (const s of [this.server.stats, ...this.owner.statsChain]) s?.counters.add(s.counters.index(field), v);
    };
    add('inPackets', 'inpkts');
    if (t.inPackets) this.inPackets += t.inPackets;
    if (t.inPackets || t.outPackets) this.lastActivity = this.owner.now();
    add('inBytes', 'inbytes');
    add('outPackets', 'outpkts');
    add('outBytes', 'outbytes');
  }

  /** Unbinds from the server (idempotent): counts drop, OVERLOAD may clear, a template loses control of it. */
  close(): void {
    if (this._state === 'closed') return;
    this.server.unbind(false, this._state === 'active');
    this._state = 'closed';
    if (this.template) this.template.controlled--;
    this.owner.closed(this);
  }

  /** `conn.close()` for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  private checkOpen(op: string): void {
    if (this._state === 'closed') throw new KernkitError(`Connection.${op}: the connection is closed`, { code: 'EINVAL' });
  }
}
