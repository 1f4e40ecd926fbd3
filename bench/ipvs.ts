/**
 * IPVS schedulers against the npm peers a Node user would pick: picks per
 * second with 10, 100 and 1,000 real servers (rr, wrr, wlc, sh, mh vs
 * weighted-round-robin, load-balancers' power of two choices, hashring),
 * mh's table rebuild time, and key movement when one of 100 servers goes
 * (Maglev's promise: close to the 1/N minimum) for mh and hashring.
 *
 * The kernkit figures time the scheduler's pick (what the kernel's
 * `sched->schedule` does) on pre-parsed packets, like the peers' `get()` on
 * pre-built keys; `schedule()+close()` adds the connection bookkeeping. Both
 * sides run the same loop (`pickLoop`, one compiled copy per measurement) over
 * the same 4096 clients; kernkit runs as TypeScript through tsx, the peers as
 * their shipped JavaScript.
 *
 * Caches: hashring answers a key it has seen from its LRU cache (5000 keys by
 * default, so all 4096 hit), and kernkit mh from its memo of client slots (4096
 * entries, direct-mapped by the low 12 bits of the hashed word; all 4096 hit).
 * Both are exact. The "misses" columns defeat both: hashring with a one-key
 * cache, mh with 4096 clients whose words share their low 12 bits (every pick
 * computes SipHash-1-3). sh and the others have no cache.
 */
import { P2cBalancer } from 'load-balancers';
import { parseAddress } from '../lib/ipvs/address';
import { Ipvs, type Service } from '../lib/ipvs';
import type { Packet } from '../lib/ipvs/schedulers';
import { bestNsPerOp, printTable, writeResults, type Row } from './lib/report';

// The peers ship no types: their shapes, as their READMEs give them.
const Peers = require('weighted-round-robin') as new () => { add(p: { server: string; weight: number }): string; get(): { server: string } };
const HashRing = require('hashring') as new (
  servers: Record<string, number>,
  algorithm?: string,
  options?: { 'max cache size'?: number },
) => { get(key: string): string; remove(server: string): void };

const SIZES = [10, 100, 1000];
const CLIENTS = 4096;

function clients(): { packets: Packet[]; keys: string[] } {
  const packets: Packet[] = [];
  const keys: string[] = [];
  const vaddr = parseAddress('v', '10.0.0.1');
  for (let i = 0; i < CLIENTS; i++) {
    const text = `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    packets.push({ caddr: parseAddress('c', text), cport: 1024 + i, vaddr, vport: 80 });
    keys.push(text);
  }
  return { packets, keys };
}

/** 4096 clients whose address words all end in 12 zero bits: each one evicts the last from mh's memo. */
function memoMissClients(): Packet[] {
  const vaddr = parseAddress('v', '10.0.0.1');
  return Array.from({ length: CLIENTS }, (_, i) => ({ caddr: parseAddress('c', `198.${i >> 4}.${(i & 15) << 4}.0`), cport: 1024 + i, vaddr, vport: 80 }));
}

function table(n: number, scheduler: 'rr' | 'wrr' | 'wlc' | 'sh' | 'mh'): { ipvs: Ipvs; svc: Service } {
  const ipvs = new Ipvs({ stats: false, clock: 'manual' });
  const svc = ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 }, { scheduler });
  for (let i = 0; i < n; i++) ipvs.addDest(svc, { address: `10.1.${i >> 8}.${i & 255}`, weight: 1 + (i % 5) });
  return { ipvs, svc };
}

const perSecond = (ns: number) => Math.round(1e9 / ns);

/**
 * A pick loop with its own type feedback: one shared loop calling five
 * schedulers (or three peers) would go megamorphic and time V8's dispatch,
 * not the pick. Each measurement compiles its own copy of the loop, its source
 * tagged with the measurement's name: V8 caches `new Function` by source text,
 * feedback included, so identical sources would share one megamorphic loop.
 */
function pickLoop(label: string, pick: (i: number) => unknown): (iterations: number) => void {
  const source = `// ${label}\nreturn function loop(it) { let n = 0; for (let i = 0; i < it; i++) if (pick(i)) n++; return n; };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('pick', source)(pick) as (it: number) => void;
}

/** `(i) => sched.schedule(packets[i & 4095])` with its own feedback (see pickLoop). */
function schedulePick(label: string, sched: { schedule(p: Packet): unknown }, packets: Packet[]): (i: number) => unknown {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('s', 'p', `// ${label}\nreturn (i) => s.schedule(p[i & ${CLIENTS - 1}]);`)(sched, packets) as (i: number) => unknown;
}

export async function run(): Promise<void> {
  const { packets, keys } = clients();
  const missPackets = memoMissClients();
  const rows: Row[] = [];
  for (const n of SIZES) {
    const row: Row = { name: `${n} servers` };
    for (const name of ['rr', 'wrr', 'wlc', 'sh', 'mh'] as const) {
      const { ipvs, svc } = table(n, name);
      const sched = svc.scheduler as NonNullable<Service['scheduler']>;
      const label = `kernkit ${name}, ${n} servers`;
      row[`kernkit ${name}`] = perSecond(bestNsPerOp(pickLoop(label, schedulePick(label, sched, packets)), 200_000));
      if (name === 'mh') {
        const missLabel = `kernkit mh misses, ${n} servers`;
        row['kernkit mh (memo misses)'] = perSecond(bestNsPerOp(pickLoop(missLabel, schedulePick(missLabel, sched, missPackets)), 200_000));
      }
      ipvs.close();
    }
    {
      const { ipvs, svc } = table(n, 'rr');
      row['kernkit rr schedule()+close()'] = perSecond(
        bestNsPerOp((it) => {
          for (let i = 0; i < it; i++) svc.schedule({ address: keys[i & (CLIENTS - 1)], port: 2000 })?.close();
        }, 50_000),
      );
      ipvs.close();
    }
    const peers = new Peers();
    for (let i = 0; i < n; i++) peers.add({ server: `10.1.${i >> 8}.${i & 255}:80`, weight: 1 + (i % 5) });
    row['weighted-round-robin'] = perSecond(bestNsPerOp(pickLoop(`weighted-round-robin, ${n} servers`, () => peers.get()), 200_000));
    const p2c = new P2cBalancer(n);
    row['load-balancers p2c'] = perSecond(bestNsPerOp(pickLoop(`p2c, ${n} servers`, () => p2c.pick() + 1), 200_000));
    const servers: Record<string, number> = {};
    for (let i = 0; i < n; i++) servers[`10.1.${i >> 8}.${i & 255}:80`] = 1 + (i % 5);
    const ring = new HashRing(servers);
    row.hashring = perSecond(bestNsPerOp(pickLoop(`hashring, ${n} servers`, (i) => ring.get(keys[i & (CLIENTS - 1)])), 200_000));
    const uncached = new HashRing(servers, undefined, { 'max cache size': 1 });
    row['hashring (cache misses)'] = perSecond(bestNsPerOp(pickLoop(`hashring misses, ${n} servers`, (i) => uncached.get(keys[i & (CLIENTS - 1)])), 200_000));
    rows.push(row);
  }
  printTable('Picks per second (higher is better)', rows);

  // mh table rebuild with 1,000 servers (index 12: 4093 slots)
  const { ipvs: big, svc: bigSvc } = table(1000, 'mh');
  const sched = bigSvc.scheduler as NonNullable<Service['scheduler']>;
  const server = bigSvc.dests[0];
  const rebuildMs = bestNsPerOp((it) => {
    for (let i = 0; i < it; i++) sched.updDest?.(server);
  }, 20) / 1e6;
  big.close();

  // key movement when one of 100 servers goes
  const moved: Row[] = [];
  {
    const { ipvs, svc } = table(100, 'mh');
    const s = svc.scheduler as NonNullable<Service['scheduler']>;
    const before = packets.map((p) => s.schedule(p));
    const victim = svc.dests[37];
    ipvs.deleteDest(svc, { address: victim.addr.text, port: victim.port });
    const after = packets.map((p) => s.schedule(p));
    const lost = before.filter((d) => d === victim).length;
    const changed = before.filter((d, i) => d !== after[i]).length;
    moved.push({ name: 'kernkit mh', movedPct: (100 * changed) / CLIENTS, minimumPct: (100 * lost) / CLIENTS });
    ipvs.close();
  }
  {
    const servers: Record<string, number> = {};
    for (let i = 0; i < 100; i++) servers[`10.1.0.${i + 1}:80`] = 1 + (i % 5);
    const ring = new HashRing(servers);
    const before = keys.map((k) => ring.get(k));
    ring.remove('10.1.0.38:80');
    const after = keys.map((k) => ring.get(k));
    const lost = before.filter((d) => d === '10.1.0.38:80').length;
    const changed = before.filter((d, i) => d !== after[i]).length;
    moved.push({ name: 'hashring', movedPct: (100 * changed) / CLIENTS, minimumPct: (100 * lost) / CLIENTS });
  }
  printTable(`Keys moved when one of 100 servers goes (${CLIENTS} clients; minimum = the keys the server had)`, moved);
  console.log(`mh table rebuild, 1,000 servers, 4093 slots: ${rebuildMs.toFixed(2)} ms\n`);
  writeResults('ipvs', { picksPerSecond: rows, mhRebuildMs1000: rebuildMs, keyMovement: moved });
}
