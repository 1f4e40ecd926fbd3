/**
 * twos, power of two choices (ip_vs_twos.c): two weighted random draws in
 * `[0, total]` pick two servers by walking the eligible list subtracting
 * weights; the second wins when `w2 * oh1 > w1 * oh2` (C int arithmetic).
 * @module
 */
import type { RealServer } from '../real-server';
import { connOverhead } from './least';
import type { Scheduler, SchedulerService } from './types';

/** Binds twos to a service; draws come from the table's `random` source. */
export function powerOfTwoChoices(svc: SchedulerService): Scheduler {
  return {
    schedule(): RealServer | null {
      const dests = svc.dests;
      let total = 0;
      let any = false;
      for (const d of dests) {
        if (!d.overloaded && d.weight > 0) {
          total += d.weight;
          any = true;
        }
      }
      if (!any) return null;
      // get_random_u32_below(total + 1), twice.
      let r1 = Math.floor(svc.env.random() * (total + 1));
      let r2 = Math.floor(svc.env.random() * (total + 1));
      let c1: RealServer | null = null;
      let c2: RealServer | null = null;
      for (const d of dests) {
        if (d.overloaded || d.weight <= 0) continue;
        r1 -= d.weight;
        r2 -= d.weight;
        if (r1 <= 0 && !c1) c1 = d;
        if (r2 <= 0 && !c2) c2 = d;
        if (c1 && c2) break;
      }
      // r <= total, so both draws land on a server.
      const a = c1 as RealServer;
      const b = c2 as RealServer;
      return Math.imul(b.weight, connOverhead(a)) > Math.imul(a.weight, connOverhead(b)) ? b : a;
    },
  };
}
