/**
 * mh, Maglev hashing (ip_vs_mh.c): a lookup table of a prime size M
 * (`CONFIG_IP_VS_MH_TAB_INDEX`, default 12: M = 4093) filled by each server's
 * permutation (offset and skip from SipHash-1-3 of its address and port),
 * `turns = (last_weight / gcd) >> rshift` slots per round, so a quiesced
 * server keeps its slots. The client address (plus port with mh-port) picks a
 * slot; with mh-fallback the search rehashes with offsets until an empty slot.
 * @module
 */
import { KernkitError } from '../../errors';
import type { IpAddress } from '../address';
import { fls, gcd, hsiphashU32, sipKey } from '../hash';
import type { RealServer } from '../real-server';
import { SCHED_FLAG_1, SCHED_FLAG_2, type Packet, type Scheduler, type SchedulerService } from './types';

/** The table sizes by `CONFIG_IP_VS_MH_TAB_INDEX - 8`. */
export const MH_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;

// generate_hash_secret(): both key words are the same 32-bit constant.
const HASH1 = sipKey(0, 2654435761);
const HASH2 = sipKey(0, 2654446892);

// Module-local copies for the pick path: a transpiler's CommonJS output (tsx,
// esbuild) reads every imported binding through a getter on each use.
const FALLBACK = SCHED_FLAG_1;
const HASH_PORT = SCHED_FLAG_2;
const siphash = hsiphashU32;

function hashKey(addr: IpAddress, port: number, key: typeof HASH1, offset: number): number {
  return siphash((offset + port + addr.fold) >>> 0, key);
}

// Lookup slots of recent clients: SipHash is a pure function of the client word, and clients repeat.
const MEMO_SIZE = 4096;

function unavailable(d: RealServer): boolean {
  return d.weight <= 0 || d.overloaded;
}

/** Binds mh to a service; `EINVAL` when the service has more servers than table slots. */
export function maglevHashing(svc: SchedulerService): Scheduler {
  const size = MH_PRIMES[svc.env.mhTableIndex - 8];
  const bitsHalf = Math.trunc(svc.env.mhTableIndex / 2); // IP_VS_MH_TAB_BITS
  let lookup: (RealServer | null)[] = Array.from({ length: size }, () => null);

  // Returns false, leaving the table as it was, when there are more servers than slots.
  const reassign = (): boolean => {
    const dests = svc.dests;
    if (dests.length > size) return false;
    let g = 0;
    let max = 0;
    for (const d of dests) {
      if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight;
      if (d.lastWeight > max) max = d.lastWeight;
    }
    // Array.from makes a packed array (new Array(n).fill() stays holey: slower reads).
    const next: (RealServer | null)[] = Array.from({ length: size }, () => null);
    if (g < 1) {
      lookup = next;
      return true;
    }
    const rshift = Math.max(0, fls(Math.trunc(max / g)) - bitsHalf);
    const n = dests.length;
    const perm = new Array<number>(n);
    const skip = new Array<number>(n);
    const turns = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const d = dests[i];
      perm[i] = hashKey(d.addr, d.port, HASH1, 0) % size;
      skip[i] = (hashKey(d.addr, d.port, HASH2, 0) % (size - 1)) + 1;
      const lw = d.lastWeight;
      turns[i] = Math.trunc(lw / g) >> rshift || (lw !== 0 ? 1 : 0);
    }
    const taken = new Uint8Array(size);
    let filled = 0;
    fill: while (filled < size) {
      for (let i = 0; i < n; i++) {
        if (turns[i] < 1) continue; // a server added with weight 0 takes no slot
        for (let t = 0; t < turns[i]; t++) {
          let c = perm[i];
          while (taken[c]) {
            c += skip[i];
            if (c >= size) c -= size;
          }
          perm[i] = c;
          taken[c] = 1;
          next[c] = dests[i];
          if (++filled === size) break fill;
        }
      }
    }
    lookup = next;
    return true;
  };
  // init_service fails with EINVAL; add/del/upd_dest failures are ignored by the kernel's caller.
  if (!reassign()) {
    throw new KernkitError(`dests: ${svc.dests.length} (expected at most ${size} real servers for mh's table)`, { code: 'EINVAL' });
  }
  // Direct-mapped memo of the slot `h(hash1, 0) % size` by the hashed word (the kernel recomputes
  // it each time) and of that slot's server. Exact: an entry holds the whole word and its slot,
  // pairs side by side in one array ([word | 0, slot]; a slot of -1 marks an empty entry), and
  // every table change refreshes the servers.
  const memo = new Int32Array(2 * MEMO_SIZE).fill(-1);
  const memoServer: (RealServer | null)[] = Array.from({ length: MEMO_SIZE }, () => null);
  const refreshMemo = () => {
    for (let e = 0; e < MEMO_SIZE; e++) {
      const slot = memo[2 * e + 1];
      memoServer[e] = slot >= 0 ? lookup[slot] : null;
    }
  };
  const changed = () => {
    if (reassign()) refreshMemo();
  };

  return {
    schedule(pkt: Packet): RealServer | null {
      const flags = svc.flags;
      const port = flags & HASH_PORT ? pkt.cport : 0;
      const word = (port + pkt.caddr.fold) >>> 0;
      const e = word & (MEMO_SIZE - 1);
      let ih = memo[2 * e + 1];
      let first = memoServer[e];
      if (ih < 0 || memo[2 * e] !== (word | 0)) {
        ih = siphash(word, HASH1) % size;
        first = lookup[ih];
        memo[2 * e] = word;
        memo[2 * e + 1] = ih;
        memoServer[e] = first;
      }
      if (!(flags & FALLBACK)) return first !== null && !unavailable(first) ? first : null;
      if (first === null) return null;
      if (!unavailable(first)) return first;
      for (let off = 0; off < size; off++) {
        const d = lookup[hashKey(pkt.caddr, port, HASH1, (off + ih) % size) % size];
        if (d === null) break;
        if (!unavailable(d)) return d;
      }
      return null;
    },
    addDest: changed,
    delDest: changed,
    updDest: changed,
  };
}
