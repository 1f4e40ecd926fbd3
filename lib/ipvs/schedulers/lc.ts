/**
 * lc, least connection (ip_vs_lc.c): the server with the smallest
 * `active * 256 + inactive` among those with weight > 0 and no OVERLOAD;
 * the first one wins ties.
 * @module
 */
import type { RealServer } from '../real-server';
import { connOverhead } from './least';
import type { Scheduler, SchedulerService } from './types';

/** Binds lc to a service. */
export function leastConnection(svc: SchedulerService): Scheduler {
  return {
    schedule(): RealServer | null {
      let least: RealServer | null = null;
      let loh = 0;
      for (const d of svc.dests) {
        if (d.overloaded || d.weight === 0) continue;
        const doh = connOverhead(d);
        if (!least || doh < loh) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  };
}
