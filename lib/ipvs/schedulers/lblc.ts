/**
 * lblc, locality-based least connection (ip_vs_lblc.c): the destination
 * address maps to the server it last went to, as long as that server is
 * AVAILABLE, has weight > 0 and is not lblc-overloaded (its OVERLOAD flag is
 * not checked); otherwise a WLC pick over the service replaces the entry.
 * @module
 */
import type { RealServer } from '../real-server';
import { LocalityTable, localityOverloaded, serviceLeast, type LocalityEntry } from './locality';
import type { Packet, Scheduler, SchedulerService } from './types';

interface LblcEntry extends LocalityEntry {
  dest: RealServer;
}

/** Binds lblc to a service. */
export function localityLeastConnection(svc: SchedulerService): Scheduler {
  // Each entry holds a reference on its server (a trashed server stays until the entry goes).
  const table = new LocalityTable<LblcEntry>(svc, svc.env.lblcExpiration, (e) => e.dest.cacheRefs--);
  return {
    schedule(pkt: Packet): RealServer | null {
      const now = svc.env.clock.now();
      const en = table.hit(pkt.vaddr);
      if (en) {
        const d = en.dest;
        if (d.available && d.weight > 0 && !localityOverloaded(d, svc)) return d;
      }
      const d = serviceLeast(svc);
      if (!d) return null;
      // ip_vs_lblc_new: keep an entry that already points there, else replace it.
      if (!table.isDead && !(en && en.dest === d)) {
        if (en) table.remove(en);
        d.cacheRefs++;
        table.insert({ addr: pkt.vaddr, lastuse: now, dest: d });
      }
      return d;
    },
    done: () => table.flush(),
  };
}
