/**
 * dh, destination hashing (ip_vs_dh.c): 256 buckets, one server per bucket in
 * list order, cyclically (weights ignored); the virtual (destination) address
 * picks the bucket with `hash_32`. A server not AVAILABLE, with weight <= 0 or
 * OVERLOAD is refused; there is no fallback. Weight updates do not reassign
 * (dh has no `upd_dest`).
 * @module
 */
import { foldAddress } from '../address';
import { hash32 } from '../hash';
import type { RealServer } from '../real-server';
import type { Packet, Scheduler, SchedulerService } from './types';

const BITS = 8;
const SIZE = 1 << BITS;

/** Binds dh to a service. */
export function destinationHashing(svc: SchedulerService): Scheduler {
  const buckets: (RealServer | null)[] = new Array<RealServer | null>(SIZE).fill(null);
  const reassign = () => {
    const dests = svc.dests;
    for (let i = 0; i < SIZE; i++) buckets[i] = dests.length ? dests[i % dests.length] : null;
  };
  reassign();
  return {
    schedule(pkt: Packet): RealServer | null {
      const d = buckets[hash32(foldAddress(pkt.vaddr), BITS)];
      if (!d || !d.available || d.weight <= 0 || d.overloaded) return null;
      return d;
    },
    addDest: reassign,
    delDest: reassign,
  };
}
