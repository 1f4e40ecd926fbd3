/**
 * nq, never queue (ip_vs_nq.c): the first server with no active connection,
 * else the sed minimum; servers with weight 0 or OVERLOAD are skipped.
 * @module
 */
import type { RealServer } from '../real-server';
import { expectedDelayOverhead, productGreater } from './least';
import type { Scheduler, SchedulerService } from './types';

/** Binds nq to a service. */
export function neverQueue(svc: SchedulerService): Scheduler {
  return {
    schedule(): RealServer | null {
      let least: RealServer | null = null;
      let loh = 0;
      for (const d of svc.dests) {
        if (d.overloaded || d.weight === 0) continue;
        const doh = expectedDelayOverhead(d);
        if (d.activeConns === 0) return d; // idle: no queueing at all
        if (!least || productGreater(loh, d.weight, doh, least.weight)) {
          least = d;
          loh = doh;
        }
      }
      return least;
    },
  };
}
