/**
 * wrr, weighted round robin (ip_vs_wrr.c): passes over the list with a
 * current weight `cw` stepping down from `mw = max - (gcd - 1)` by the gcd of
 * the weights; a pass picks servers with `weight >= cw` and no OVERLOAD.
 * Any add, delete or update resets the position to the head and recomputes
 * gcd and mw, keeping `cw` when it is still in range.
 * @module
 */
import type { RealServer } from '../real-server';
import { gcd } from '../hash';
import type { Scheduler, SchedulerService } from './types';

/** Binds wrr to a service. */
export function weightedRoundRobin(svc: SchedulerService): Scheduler {
  let cl = -1; // current position; -1 is the list head
  let di = 1; // gcd of the weights > 0
  let mw = 0; // max weight - (di - 1)
  let cw = 0;

  const recompute = () => {
    let g = 0;
    let max = 0;
    for (const d of svc.dests) {
      if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
      if (d.weight > max) max = d.weight;
    }
    di = g || 1;
    mw = max - (di - 1);
  };
  recompute();
  cw = mw;

  const changed = () => {
    cl = -1;
    recompute();
    if (cw > mw || cw === 0) cw = mw;
    else if (di > 1) cw = Math.trunc(cw / di) * di + 1;
  };

  return {
    schedule(): RealServer | null {
      if (mw === 0) return null;
      const dests = svc.dests;
      const n = dests.length;
      const last = cl;
      let stop = -2; // no stop position yet
      let lastPass = false;
      let restarted = false;
      let i = cl;
      for (;;) {
        for (i++; i < n; i++) {
          const d = dests[i];
          if (!d.overloaded && d.weight >= cw) {
            cl = i;
            return d;
          }
          if (i === stop) {
            cl = i;
            return null;
          }
        }
        // End of the list: step the current weight down.
        cw -= di;
        if (cw <= 0) {
          cw = mw;
          // A pass for weight >= 1 over every server already failed.
          if (lastPass || last === -1) {
            cl = -1;
            return null;
          }
          restarted = true;
        }
        lastPass = cw <= di;
        // The first weight >= 1 pass covered only the servers after `last`; now check up to it.
        if (lastPass && restarted && last !== -1) stop = last;
        i = -1;
      }
    },
    addDest: changed,
    delDest: changed,
    updDest: changed,
  };
}
