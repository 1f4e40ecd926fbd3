/**
 * rr, round robin (ip_vs_rr.c): a pointer to the last pick; each pick scans
 * circularly from the server after it for the first one with weight > 0 and
 * no OVERLOAD, checking the last pick itself last.
 * @module
 */
import type { RealServer } from '../real-server';
import type { Scheduler, SchedulerService } from './types';

/** Binds rr to a service: the pointer starts at the list head. */
export function roundRobin(svc: SchedulerService): Scheduler {
  let cursor = -1; // index of the last pick; -1 is the list head
  return {
    schedule(): RealServer | null {
      const dests = svc.dests;
      const n = dests.length;
      const last = cursor;
      let pass = 0;
      let i = cursor;
      do {
        for (i++; i < n; i++) {
          const d = dests[i];
          if (!d.overloaded && d.weight > 0) {
            cursor = i;
            return d;
          }
          if (i === last) return null;
        }
        pass++;
        i = -1; // continue from the head
      } while (pass < 2 && last !== -1);
      return null;
    },
    // A new server goes to the head: the pointed-to server moves one place down.
    addDest(_d, index) {
      if (cursor >= index) cursor++;
    },
    // Deleting the pointed-to server moves the pointer to its predecessor.
    delDest(_d, index) {
      if (cursor >= index) cursor--;
    },
  };
}
