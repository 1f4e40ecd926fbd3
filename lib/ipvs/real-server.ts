/**
 * A real server (the kernel's `struct ip_vs_dest`): its address, weight,
 * thresholds, flags and connection counts, and the threshold rules of
 * `ip_vs_bind_dest`/`ip_vs_unbind_dest` (ip_vs_conn.c).
 * @module
 */
import type { IpAddress } from './address';
import type { ServiceStats } from './stats';

/** How packets reach a real server; kernkit records it (for `ipvsadm` output) but forwards nothing. */
export type Forwarding = 'masq' | 'tunnel' | 'direct';

/** Tunnel encapsulation of a `tunnel` real server (the kernel's `tun_type`, `tun_port`, `tun_flags`). */
export interface TunnelOptions {
  /** `ipip` (default), `gue` or `gre`. */
  type?: 'ipip' | 'gue' | 'gre';
  /** The GUE destination port, 1..65535; required for `gue` (the kernel refuses 0 with `EINVAL`). */
  port?: number;
  /** Checksum option: `nocsum` (default), `csum` or `remcsum` (GUE only). */
  checksum?: 'nocsum' | 'csum' | 'remcsum';
}

/** The state kernkit keeps per real server; schedulers read it on every pick. */
export class RealServer {
  /** The server's address. */
  readonly addr: IpAddress;
  /** The server's port (0 for fwmark services that keep the client's port). */
  readonly port: number;
  /** Current weight; 0 quiesces the server (no new connections). */
  weight = 0;
  /** The latest non-zero weight (mh keeps a quiesced server's slots with it). */
  lastWeight = 0;
  /** Upper connection threshold (0: none). */
  upperThreshold = 0;
  /** Lower connection threshold (0: none). */
  lowerThreshold = 0;
  /** Forwarding method. */
  forwarding: Forwarding = 'direct';
  /** Tunnel options of a `tunnel` server. */
  tunnel: Required<TunnelOptions> = { type: 'ipip', port: 0, checksum: 'nocsum' };
  /** IP_VS_DEST_F_AVAILABLE: in its service's list (not in the trash). */
  available = false;
  /** IP_VS_DEST_F_OVERLOAD: over its upper threshold. */
  overloaded = false;
  /** Active (established) connections. */
  activeConns = 0;
  /** Inactive connections. */
  inactConns = 0;
  /** Persistence templates bound to it. */
  persistConns = 0;
  /** References lblc/lblcr cache entries hold (they keep a trashed server alive, as in the kernel). */
  cacheRefs = 0;
  /** Trash bookkeeping: when the trash timer first saw it idle (0: not yet). */
  idleStart = 0;
  /** Counters and rates, when the table keeps statistics. */
  stats: ServiceStats | null = null;

  /** A server at `addr:port`, not yet in a list. */
  constructor(addr: IpAddress, port: number) {
    this.addr = addr;
    this.port = port;
  }

  /** `ip_vs_dest_conn_overhead`: active connections weigh 256 inactive ones. */
  overhead(): number {
    return this.activeConns * 256 + this.inactConns;
  }

  /** `ip_vs_dest_totalconns`: active plus inactive (templates excluded). */
  totalConns(): number {
    return this.activeConns + this.inactConns;
  }

  /** Connections, templates and cache entries still referring to it (the kernel's `refcnt - 1`): a trashed server is freed at 0. */
  bound(): number {
    return this.activeConns + this.inactConns + this.persistConns + this.cacheRefs;
  }

  /** `ip_vs_bind_dest`: counts a new connection (inactive first) or template, then sets OVERLOAD at the upper threshold. */
  bind(template: boolean): void {
    if (template) this.persistConns++;
    else this.inactConns++;
    if (this.upperThreshold !== 0 && this.totalConns() >= this.upperThreshold) this.overloaded = true;
  }

  /** `ip_vs_unbind_dest`: uncounts, then clears OVERLOAD by the lower threshold, 3/4 of the upper, or unconditionally. */
  unbind(template: boolean, active: boolean): void {
    if (template) this.persistConns--;
    else if (active) this.activeConns--;
    else this.inactConns--;
    if (this.lowerThreshold !== 0) {
      if (this.totalConns() < this.lowerThreshold) this.overloaded = false;
    } else if (this.upperThreshold !== 0) {
      if (this.totalConns() * 4 < this.upperThreshold * 3) this.overloaded = false;
    } else {
      this.overloaded = false;
    }
  }
}
