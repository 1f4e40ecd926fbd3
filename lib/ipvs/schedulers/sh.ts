/**
 * sh, source hashing (ip_vs_sh.c, 4.7+): 256 buckets filled by walking the
 * list cyclically, each server taking `max(weight, 1)` consecutive buckets;
 * the client address (plus its port with sh-port) picks a bucket with
 * `hash_32`. A server with weight <= 0 or OVERLOAD is refused; with
 * sh-fallback the search walks on from bucket `2 * hash` until an empty bucket.
 * @module
 */
import { hash32 } from '../hash';
import type { RealServer } from '../real-server';
import { SCHED_FLAG_1, SCHED_FLAG_2, type Packet, type Scheduler, type SchedulerService } from './types';

const BITS = 8;
const SIZE = 1 << BITS;

// Module-local copies for the pick path: a transpiler's CommonJS output (tsx,
// esbuild) reads every imported binding through a getter on each use.
const FALLBACK = SCHED_FLAG_1;
const HASH_PORT = SCHED_FLAG_2;
const hashBucket = hash32;

function unavailable(d: RealServer): boolean {
  return d.weight <= 0 || d.overloaded;
}

/** Binds sh to a service. */
export function sourceHashing(svc: SchedulerService): Scheduler {
  // Array.from makes a packed array (new Array(n).fill() stays holey: slower reads).
  const buckets: (RealServer | null)[] = Array.from({ length: SIZE }, () => null);

  const reassign = () => {
    const dests = svc.dests;
    if (dests.length === 0) {
      buckets.fill(null);
      return;
    }
    let p = 0;
    let count = 0;
    for (let i = 0; i < SIZE; i++) {
      const d = dests[p];
      buckets[i] = d;
      // Stay on a server until it has filled its weight (at least one bucket).
      if (++count >= d.weight) {
        p = (p + 1) % dests.length;
        count = 0;
      }
    }
  };
  reassign();

  return {
    schedule(pkt: Packet): RealServer | null {
      const flags = svc.flags;
      const port = flags & HASH_PORT ? pkt.cport : 0;
      const ih = hashBucket((port + pkt.caddr.fold) >>> 0, BITS);
      const first = buckets[ih];
      if (!(flags & FALLBACK)) return first !== null && !unavailable(first) ? first : null;
      if (first === null) return null;
      if (!unavailable(first)) return first;
      for (let off = 0; off < SIZE; off++) {
        const d = buckets[(((off + ih) % SIZE) + ih) & (SIZE - 1)];
        if (d === null) break;
        if (!unavailable(d)) return d;
      }
      return null;
    },
    addDest: reassign,
    delDest: reassign,
    updDest: reassign,
  };
}
