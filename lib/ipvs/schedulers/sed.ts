/**
 * sed, shortest expected delay (ip_vs_sed.c): the smallest `(active + 1) / weight`.
 * @module
 */
import type { RealServer } from '../real-server';
import { expectedDelayOverhead, weightedLeast } from './least';
import type { Scheduler, SchedulerService } from './types';

/** Binds sed to a service. */
export function shortestExpectedDelay(svc: SchedulerService): Scheduler {
  return {
    schedule: (): RealServer | null => weightedLeast(svc.dests, expectedDelayOverhead),
  };
}
