/**
 * ovf, overflow connection (ip_vs_ovf.c): the highest weight among servers
 * without OVERLOAD, with weight > 0 and no more active connections than their
 * weight; the first wins ties.
 * @module
 */
import type { RealServer } from '../real-server';
import type { Scheduler, SchedulerService } from './types';

/** Binds ovf to a service. */
export function overflowConnection(svc: SchedulerService): Scheduler {
  return {
    schedule(): RealServer | null {
      let best: RealServer | null = null;
      let hw = 0;
      for (const d of svc.dests) {
        const w = d.weight;
        if (d.overloaded || d.activeConns > w || w === 0) continue;
        if (!best || w > hw) {
          best = d;
          hw = w;
        }
      }
      return best;
    },
  };
}
