/**
 * The cache both locality-based schedulers keep (ip_vs_lblc.c, ip_vs_lblcr.c):
 * entries keyed by the destination address in 1024 buckets (`hash_32(addr, 10)`),
 * and the GC timer that runs every 60 s: every 30th run (while the table
 * holds at most 16384 entries) drops entries idle for the expiration sysctl,
 * and above 16384 entries drops entries idle 6 min from the rover on.
 * @module
 */
import { foldAddress, sameAddress, type IpAddress } from '../address';
import type { IpvsTimer } from '../clock';
import { hash32 } from '../hash';
import type { RealServer } from '../real-server';
import { connOverhead, weightedLeast } from './least';
import type { SchedulerService } from './types';

const TAB_BITS = 10;
const TAB_SIZE = 1 << TAB_BITS;
/** CHECK_EXPIRE_INTERVAL: 60 s. */
export const CHECK_EXPIRE_INTERVAL = 60_000;
/** ENTRY_TIMEOUT: 6 min. */
export const ENTRY_TIMEOUT = 6 * 60_000;
/** COUNT_FOR_FULL_EXPIRATION. */
const COUNT_FOR_FULL_EXPIRATION = 30;

/** An entry: a destination address and when it was last used. */
export interface LocalityEntry {
  /** The destination address. */
  addr: IpAddress;
  /** Last use, clock ms. */
  lastuse: number;
}

/** The hash table and its GC timer. */
export class LocalityTable<E extends LocalityEntry> {
  private readonly buckets: E[][] = Array.from({ length: TAB_SIZE }, () => []);
  private entries = 0;
  private readonly maxSize = TAB_SIZE * 16;
  private rover = 0;
  private counter = 1;
  private timer: IpvsTimer;
  private dead = false;

  /**
   * Starts the table and its 60 s GC timer; `expiration` is the sysctl (ms);
   * `release` runs for each entry dropped (entries hold references on servers).
   */
  constructor(
    private readonly svc: SchedulerService,
    private readonly expiration: number,
    private readonly release: (e: E) => void,
  ) {
    this.timer = svc.env.clock.schedule(CHECK_EXPIRE_INTERVAL, () => this.checkExpire());
  }

  /** How many entries the table holds. */
  get size(): number {
    return this.entries;
  }

  /** The entry for `addr`, if any. */
  get(addr: IpAddress): E | undefined {
    for (const e of this.buckets[hash32(foldAddress(addr), TAB_BITS)]) if (sameAddress(e.addr, addr)) return e;
    return undefined;
  }

  /** A lookup as the schedulers do it: the entry for `addr`, its `lastuse` refreshed to now. */
  hit(addr: IpAddress): E | undefined {
    const e = this.get(addr);
    if (e) e.lastuse = this.svc.env.clock.now();
    return e;
  }

  /** Inserts at the head of its bucket (after `flush`, nothing is inserted: the table is dead). */
  insert(e: E): void {
    if (this.dead) return;
    this.buckets[hash32(foldAddress(e.addr), TAB_BITS)].unshift(e);
    this.entries++;
  }

  /** Removes an entry. */
  remove(e: E): void {
    const b = this.buckets[hash32(foldAddress(e.addr), TAB_BITS)];
    const i = b.indexOf(e);
    if (i >= 0) {
      b.splice(i, 1);
      this.entries--;
      this.release(e);
    }
  }

  /** True once the scheduler was unbound. */
  get isDead(): boolean {
    return this.dead;
  }

  /** `done_service`: stops the timer and drops every entry. */
  flush(): void {
    this.timer.cancel();
    this.dead = true;
    for (const b of this.buckets) for (const e of b.splice(0)) this.release(e);
    this.entries = 0;
  }

  // Drops entries of bucket j idle for `idle` ms or more; returns how many.
  private sweep(j: number, now: number, idle: number): number {
    let dropped = 0;
    for (const e of [...this.buckets[j]]) {
      if (now < e.lastuse + idle) continue;
      this.remove(e);
      dropped++;
    }
    return dropped;
  }

  private checkExpire(): void {
    const now = this.svc.env.clock.now();
    if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
      // Full expiration check: every bucket, from the rover on.
      let j = this.rover;
      for (let i = 0; i < TAB_SIZE; i++) {
        j = (j + 1) & (TAB_SIZE - 1);
        this.sweep(j, now, this.expiration);
      }
      this.rover = j;
      this.counter = 1;
    } else if (this.entries <= this.maxSize) {
      this.counter++;
    } else {
      let goal = Math.trunc(((this.entries - this.maxSize) * 4) / 3);
      if (goal > this.maxSize / 2) goal = Math.trunc(this.maxSize / 2);
      let j = this.rover;
      for (let i = 0; i < TAB_SIZE; i++) {
        j = (j + 1) & (TAB_SIZE - 1);
        goal -= this.sweep(j, now, ENTRY_TIMEOUT);
        if (goal <= 0) break;
      }
      this.rover = j;
    }
    this.timer = this.svc.env.clock.schedule(CHECK_EXPIRE_INTERVAL, () => this.checkExpire());
  }
}

/** The WLC pick over the whole service both schedulers fall back to. */
export function serviceLeast(svc: SchedulerService): RealServer | null {
  return weightedLeast(svc.dests, connOverhead);
}

/**
 * lblc's "overloaded": more active connections than its weight while some
 * server in the service runs below half its weight. (Not the OVERLOAD flag.)
 */
export function localityOverloaded(d: RealServer, svc: SchedulerService): boolean {
  if (d.activeConns > d.weight) {
    for (const o of svc.dests) if (o.activeConns * 2 < o.weight) return true;
  }
  return false;
}
