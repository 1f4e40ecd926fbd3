/**
 * Test helpers: a scheduler bound to a hand-made list of real servers, without
 * a table, so tests can set connection counts and flags directly.
 */
import { parseAddress } from '../../lib/ipvs/address';
import { IpvsManualClock } from '../../lib/ipvs/clock';
import { RealServer } from '../../lib/ipvs/real-server';
import { SCHEDULER_INITS, type Packet, type Scheduler, type SchedulerName } from '../../lib/ipvs/schedulers';

/** A server's state for a test. */
export interface ServerState {
  name: string;
  weight: number;
  active?: number;
  inactive?: number;
  overloaded?: boolean;
  lastWeight?: number;
}

/** A scheduler over servers listed head first, as `svc.dests` orders them. */
export class Bench {
  readonly dests: RealServer[] = [];
  readonly clock = new IpvsManualClock();
  flags = 0;
  readonly env;
  readonly sched: Scheduler;
  private readonly names = new Map<RealServer, string>();

  constructor(name: SchedulerName, servers: ServerState[], opts: { random?: () => number; flags?: number; mhTableIndex?: number } = {}) {
    this.flags = opts.flags ?? 0;
    this.env = { clock: this.clock, random: opts.random ?? Math.random, mhTableIndex: opts.mhTableIndex ?? 12, lblcExpiration: 86_400_000, lblcrExpiration: 86_400_000 };
    servers.forEach((s, i) => this.dests.push(this.server(s, i)));
    this.sched = SCHEDULER_INITS[name](this);
  }

  /** A server at 10.0.0.(i+1):80 with the given state. */
  server(s: ServerState, i: number): RealServer {
    const d = new RealServer(parseAddress('a', `10.0.${i >> 8}.${(i & 255) + 1}`), 80);
    d.weight = s.weight;
    d.lastWeight = s.lastWeight ?? s.weight;
    d.activeConns = s.active ?? 0;
    d.inactConns = s.inactive ?? 0;
    d.overloaded = s.overloaded ?? false;
    d.available = true;
    this.names.set(d, s.name);
    return d;
  }

  /** Adds a server at the head, as `addDest` does. */
  add(s: ServerState): RealServer {
    const d = this.server(s, 200 + this.dests.length);
    this.dests.unshift(d);
    this.sched.addDest?.(d, 0);
    return d;
  }

  /** Removes a server, as `deleteDest` does. */
  remove(name: string): void {
    const i = this.dests.findIndex((d) => this.names.get(d) === name);
    const [d] = this.dests.splice(i, 1);
    d.available = false;
    this.sched.delDest?.(d, i);
  }

  /** The server named `name`. */
  get(name: string): RealServer {
    return this.dests.find((d) => this.names.get(d) === name) as RealServer;
  }

  /** Picks for `packet` (default: client 192.0.2.1:1000 to 10.1.1.1:80), returning the name or null. */
  pick(packet: Partial<{ caddr: string; cport: number; vaddr: string; vport: number }> = {}): string | null {
    const p: Packet = {
      caddr: parseAddress('c', packet.caddr ?? '192.0.2.1'),
      cport: packet.cport ?? 1000,
      vaddr: parseAddress('v', packet.vaddr ?? '10.1.1.1'),
      vport: packet.vport ?? 80,
    };
    const d = this.sched.schedule(p);
    return d ? (this.names.get(d) ?? '?') : null;
  }

  /** `n` picks, each counted as a new inactive connection on the picked server when `bind`. */
  picks(n: number, bind = false, packet?: Parameters<Bench['pick']>[0]): (string | null)[] {
    const out: (string | null)[] = [];
    for (let i = 0; i < n; i++) {
      const name = this.pick(packet);
      out.push(name);
      if (bind && name) this.get(name).inactConns++;
    }
    return out;
  }
}

/** A random source replaying `values` (each in [0, 1)). */
export function replay(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}
