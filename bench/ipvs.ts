/**
 * IPVS schedulers against the npm peers a Node user would pick: picks per
 * second with 10, 100 and 1,000 real servers (rr, wrr, wlc, sh, mh vs
 * weighted-round-robin, load-balancers' power of two choices, hashring),
 * mh's table rebuild time, and key movement when one of 100 servers goes
 * (Maglev's promise: close to the 1/N minimum) for mh and hashring.
 *
 * The kernkit figures time the scheduler's pick (what the kernel's
 * `sched->schedule` does) on pre-parsed packets, like the peers' `get()` on
 * pre-built keys; `schedule()+close()` adds the connection bookkeeping.
 */
import { P2cBalancer } from 'load-balancers';
import { parseAddress } from '../lib/ipvs/address';
import { Ipvs, type Service } from '../lib/ipvs';
import type { Packet } from '../lib/ipvs/schedulers';
import { bestNsPerOp, printTable, writeResults, type Row } from './lib/report';

// The peers ship no types: their shapes, as their READMEs give them.
const Peers = require('weighted-round-robin') as new () => { add(p: { server: string; weight: number }): string; get(): { server: string } };
const HashRing = require('hashring') as new (servers: Record<string, number>) => { get(key: string): string; remove(server: string): void };

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
 * not the pick. Each measurement compiles its own copy of the loop.
 */
function pickLoop(pick: (i: number) => unknown): (iterations: number) => void {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('pick', 'return function loop(it) { let n = 0; for (let i = 0; i < it; i++) if (pick(i)) n++; return n; };')(pick) as (it: number) => void;
}

export async function run(): Promise<void> {
  const { packets, keys } = clients();
  const rows: Row[] = [];
  for (const n of SIZES) {
    const row: Row = { name: `${n} servers` };
    for (const name of ['rr', 'wrr', 'wlc', 'sh', 'mh'] as const) {
      const { ipvs, svc } = table(n, name);
      const sched = svc.scheduler as NonNullable<Service['scheduler']>;
      row[`kernkit ${name}`] = perSecond(bestNsPerOp(pickLoop(new Function('s', 'p', 'return (i) => s.schedule(p[i & 4095]);')(sched, packets)), 200_000));
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
    row['weighted-round-robin'] = perSecond(bestNsPerOp(pickLoop(() => peers.get()), 200_000));
    const p2c = new P2cBalancer(n);
    row['load-balancers p2c'] = perSecond(bestNsPerOp(pickLoop(() => p2c.pick() + 1), 200_000));
    const servers: Record<string, number> = {};
    for (let i = 0; i < n; i++) servers[`10.1.${i >> 8}.${i & 255}:80`] = 1 + (i % 5);
    const ring = new HashRing(servers);
    row.hashring = perSecond(bestNsPerOp(pickLoop((i) => ring.get(keys[i & (CLIENTS - 1)])), 200_000));
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
