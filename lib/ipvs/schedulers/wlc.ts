/**
 * wlc, weighted least connection (ip_vs_wlc.c): the smallest
 * `(active * 256 + inactive) / weight`, compared by cross-multiplying.
 * @module
 */
import type { RealServer } from '../real-server';
import { connOverhead, weightedLeast } from './least';
import type { Scheduler, SchedulerService } from './types';

/** Binds wlc to a service. */
export function weightedLeastConnection(svc: SchedulerService): Scheduler {
  return {
    schedule: (): RealServer | null => weightedLeast(svc.dests, connOverhead),
  };
}
