/**
 * lblcr, locality-based least connection with replication (ip_vs_lblcr.c):
 * the destination address maps to a set of servers. A hit takes the WLC
 * minimum of the set; a set of more than one untouched for the expiration
 * loses its most loaded member; when the minimum is missing or
 * lblc-overloaded, a WLC pick over the service joins the set.
 * @module
 */
import type { RealServer } from '../real-server';
import { productGreater, connOverhead } from './least';
import { LocalityTable, localityOverloaded, serviceLeast, type LocalityEntry } from './locality';
import type { Packet, Scheduler, SchedulerService } from './types';

interface LblcrEntry extends LocalityEntry {
  /** The set, newest first. */
  set: RealServer[];
  /** When the set last changed. */
  lastmod: number;
}

// ip_vs_dest_set_min: WLC within the set; members must be AVAILABLE, OVERLOAD skipped.
function setMin(set: readonly RealServer[]): RealServer | null {
  let i = 0;
  let least: RealServer | null = null;
  for (; i < set.length; i++) {
    const d = set[i];
    if (d.overloaded) continue;
    if (d.weight > 0 && d.available) {
      least = d;
      break;
    }
  }
  if (!least) return null;
  let loh = connOverhead(least);
  for (i++; i < set.length; i++) {
    const d = set[i];
    if (d.overloaded) continue;
    const doh = connOverhead(d);
    if (productGreater(loh, d.weight, doh, least.weight) && d.available) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

// ip_vs_dest_set_max: the most loaded member with weight > 0.
function setMax(set: readonly RealServer[]): RealServer | null {
  let i = 0;
  let most: RealServer | null = null;
  for (; i < set.length; i++) {
    if (set[i].weight > 0) {
      most = set[i];
      break;
    }
  }
  if (!most) return null;
  let moh = connOverhead(most);
  for (i++; i < set.length; i++) {
    const d = set[i];
    const doh = connOverhead(d);
    if (productGreater(doh, most.weight, moh, d.weight) && d.weight > 0) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

/** Binds lblcr to a service. */
export function localityLeastConnectionReplicated(svc: SchedulerService): Scheduler {
  // Each member of a set holds a reference on its server.
  const table = new LocalityTable<LblcrEntry>(svc, svc.env.lblcrExpiration, (e) => {
    for (const d of e.set) d.cacheRefs--;
  });
  const insert = (en: LblcrEntry, d: RealServer, now: number) => {
    if (en.set.includes(d)) return;
    d.cacheRefs++;
    en.set.unshift(d);
    en.lastmod = now;
  };
  return {
    schedule(pkt: Packet): RealServer | null {
      const now = svc.env.clock.now();
      const en = table.hit(pkt.vaddr);
      if (en) {
        const min = setMin(en.set);
        // More than one member and the set unchanged for the expiration: shed the most loaded.
        if (en.set.length > 1 && now > en.lastmod + svc.env.lblcrExpiration) {
          const m = setMax(en.set);
          if (m) {
            en.set.splice(en.set.indexOf(m), 1);
            m.cacheRefs--;
            en.lastmod = now;
          }
        }
        if (min && !localityOverloaded(min, svc)) return min;
        const d = serviceLeast(svc);
        if (!d) return null;
        if (!table.isDead) insert(en, d, now);
        return d;
      }
      const d = serviceLeast(svc);
      if (!d) return null;
      if (!table.isDead) {
        d.cacheRefs++;
        table.insert({ addr: pkt.vaddr, lastuse: now, set: [d], lastmod: now });
      }
      return d;
    },
    done: () => table.flush(),
  };
}
