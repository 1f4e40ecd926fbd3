/**
 * fo, weighted failover (ip_vs_fo.c): the highest weight among servers without
 * OVERLOAD; the maximum starts at 0 with a strict `>`, so weight 0 never wins
 * and the first server wins ties.
 * @module
 */
import type { RealServer } from '../real-server';
import type { Scheduler, SchedulerService } from './types';

/** Binds fo to a service. */
export function weightedFailover(svc: SchedulerService): Scheduler {
  return {
    schedule(): RealServer | null {
      let best: RealServer | null = null;
      let hw = 0;
      for (const d of svc.dests) {
        if (!d.overloaded && d.weight > hw) {
          best = d;
          hw = d.weight;
        }
      }
      return best;
    },
  };
}
