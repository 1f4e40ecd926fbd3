/**
 * The kinds of the later subsystems as metrics: ResourceCounter, Ipvs,
 * FairQueue and Htb. Values equal what each object's public statistics say,
 * and promtool accepts the exposition of every one.
 */
import {
  CounterSet,
  FairQueue,
  Htb,
  Ipvs,
  Registry,
  ResourceCounter,
  SimulatedClock,
  type Connection,
  type CounterSetHandle,
  type MetricFamily,
} from '../../lib';
import { expectPromtoolClean, promtoolTest } from './promtool';

function family(families: readonly MetricFamily[], name: string): MetricFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name} in ${families.map((x) => x.name).join(', ')}`);
  return f;
}

const values = (f: MetricFamily): Array<[Record<string, string>, number | bigint]> => f.samples.map((s) => [{ ...s.labels }, s.value]);

/** A tree with one refusal at the parent, one underflow at the leaf and protection set. */
function busyCounters(): { parent: ResourceCounter; leaf: ResourceCounter } {
  const parent = new ResourceCounter({ name: 'service', max: 100 });
  const leaf = new ResourceCounter({ name: 'tenant', parent });
  leaf.setMin(10);
  leaf.setLow(20);
  expect(leaf.tryCharge(70)).toBe(true);
  expect(leaf.tryCharge(40)).toBe(false); // the parent refuses
  leaf.uncharge(30);
  leaf.uncharge(50); // 10 more than charged: clamped, counted
  expect(leaf.tryCharge(25)).toBe(true);
  return { parent, leaf };
}

/** A table with two services, one of them fwmark, traffic on one connection. */
function busyIpvs(): Ipvs {
  const ipvs = new Ipvs({ clock: 'manual' });
  const web = ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 }, { scheduler: 'wrr' });
  ipvs.addDest(web, { address: '10.0.0.2', port: 8080, weight: 3 });
  ipvs.addDest(web, { address: '10.0.0.3', port: 8080, weight: 0 });
  const v6 = ipvs.addService({ protocol: 'udp', address: '2001:db8::1', port: 53 });
  ipvs.addDest(v6, { address: '2001:db8::2', weight: 2 });
  ipvs.addService({ fwmark: 7 });
  const c = web.schedule({ address: '192.0.2.1', port: 1000 }) as Connection;
  c.established();
  c.count({ inPackets: 3, inBytes: 180, outPackets: 2, outBytes: 3000 });
  CounterSet.attach(web.destCounters('10.0.0.2', 8080) as CounterSetHandle).add(1, 4); // as a worker thread would
  (web.schedule({ address: '192.0.2.1', port: 1001 }) as Connection).count({ inPackets: 1 });
  return ipvs;
}

function busyFairQueue(): FairQueue {
  // A maxrate keeps items off the fast path, so flow_limit applies.
  const fq = new FairQueue({ clock: new SimulatedClock(), flowLimit: 2, pacing: false, maxrate: '1gbit' });
  for (let i = 0; i < 4; i++) fq.enqueue({ length: 100 + i, flow: 'a' }); // two over flow_limit
  fq.enqueue({ length: 50, flow: 'b', priority: 0 });
  fq.dequeue();
  return fq;
}

function busyHtb(): Htb {
  const clock = new SimulatedClock();
  const htb = new Htb({ clock });
  htb.addClass({ classid: '1:1', rate: '8mbit' });
  htb.addClass({ classid: '1:10', parent: '1:1', rate: '1mbit', ceil: '8mbit', limit: 2 });
  for (let i = 0; i < 3; i++) htb.enqueue({ length: 1500, classid: '1:10' }); // the third is over the limit
  htb.dequeue();
  return htb;
}

describe('ResourceCounter', () => {
  test('usage, max, watermark, min, low as gauges; failcnt and underflows as counters, each level its own', async () => {
    const { parent, leaf } = busyCounters();
    const r = new Registry();
    r.register(parent, { name: 'budget', help: 'Budget', labels: { level: 'service' } });
    r.register(leaf, { name: 'budget', help: 'Budget', labels: { level: 'tenant' } });
    const fams = await r.collect();
    const per = (suffix: string) => values(family(fams, `budget_${suffix}`));
    for (const [suffix, key] of [['usage', 'usage'], ['max', 'max'], ['watermark', 'watermark'], ['min', 'min'], ['low', 'low'], ['failcnt', 'failcnt'], ['underflows', 'underflows']] as const) {
      expect(per(suffix)).toEqual([
        [{ level: 'service' }, parent.stats()[key]],
        [{ level: 'tenant' }, leaf.stats()[key]],
      ]);
    }
    expect(per('usage')).toEqual([[{ level: 'service' }, 25], [{ level: 'tenant' }, 25]]);
    expect(per('max')).toEqual([[{ level: 'service' }, 100], [{ level: 'tenant' }, Infinity]]);
    // The refused charge of 40 reached the leaf before the parent refused it (page_counter's walk).
    expect(per('watermark')).toEqual([[{ level: 'service' }, 70], [{ level: 'tenant' }, 110]]);
    expect(per('failcnt')).toEqual([[{ level: 'service' }, 1], [{ level: 'tenant' }, 0]]);
    expect(per('underflows')[1]).toEqual([{ level: 'tenant' }, 1]);
    expect(family(fams, 'budget_failcnt').type).toBe('counter');
    expect(family(fams, 'budget_usage').type).toBe('gauge');
    expect(await r.metrics()).toContain('budget_max{level="tenant"} +Inf\n');
    leaf.close();
    const after = (await r.collect()).filter((f) => f.name.startsWith('budget_'));
    expect(after).toHaveLength(7);
    expect(after.map((f) => values(f))).toEqual(after.map((f) => [[{ level: 'service' }, f.samples[0].value]])); // a closed counter shows nothing
    parent.close();
  });
});

describe('Ipvs', () => {
  test('per service and per server: counters from their CounterSets, rates, connections and weight', async () => {
    const ipvs = busyIpvs();
    try {
      const r = new Registry();
      r.register(ipvs, { name: 'lb', help: 'Balancer' });
      const fams = await r.collect();
      const [web, dns, fwm] = ipvs.stats();
      // node_exporter's IPVS labels
      const web80 = { proto: 'tcp', local_address: '10.0.0.1', local_port: '80', local_mark: '' };
      const dns53 = { proto: 'udp', local_address: '2001:db8::1', local_port: '53', local_mark: '' };
      const fwm7 = { proto: 'fwm', local_address: '0.0.0.0', local_port: '0', local_mark: '7' };
      const weighted = { ...web80, remote_address: '10.0.0.2', remote_port: '8080' };
      const quiesced = { ...web80, remote_address: '10.0.0.3', remote_port: '8080' };
      const v6 = { ...dns53, remote_address: '2001:db8::2', remote_port: '53' };
      expect(fwm.dests).toEqual([]);
      expect(values(family(fams, 'lb_service_connections'))).toEqual([[web80, 2n], [dns53, 0n], [fwm7, 0n]]);
      expect(values(family(fams, 'lb_service_packets'))).toEqual([
        [{ ...web80, direction: 'in' }, web.stats.inpkts],
        [{ ...web80, direction: 'out' }, web.stats.outpkts],
        [{ ...dns53, direction: 'in' }, 0n],
        [{ ...dns53, direction: 'out' }, 0n],
        [{ ...fwm7, direction: 'in' }, 0n],
        [{ ...fwm7, direction: 'out' }, 0n],
      ]);
      expect(web.stats.inpkts).toBe(4n);
      expect(family(fams, 'lb_service_bytes')).toMatchObject({ type: 'counter', unit: 'bytes' });
      expect(values(family(fams, 'lb_service_bytes')).slice(0, 2)).toEqual([
        [{ ...web80, direction: 'in' }, 180n],
        [{ ...web80, direction: 'out' }, 3000n],
      ]);
      // Both connections went to the weighted server (the newest first, as the table lists them);
      // the attached handle added 4 packets there.
      expect(values(family(fams, 'lb_server_connections'))).toEqual([[quiesced, 0n], [weighted, 2n], [v6, 0n]]);
      const weightedStats = web.dests.find((d) => d.address === '10.0.0.2')!.stats;
      expect(weightedStats.inpkts).toBe(8n);
      expect(values(family(fams, 'lb_server_packets'))).toContainEqual([{ ...weighted, direction: 'in' }, 8n]);
      expect(values(family(fams, 'lb_service_connections_per_second'))).toEqual([[web80, web.stats.cps], [dns53, dns.stats.cps], [fwm7, fwm.stats.cps]]);
      expect(values(family(fams, 'lb_server_bytes_per_second'))).toContainEqual([{ ...weighted, direction: 'out' }, weightedStats.outbps]);
      const dests = ipvs.dests({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
      const gauge = (suffix: string) => new Map(values(family(fams, `lb_server_${suffix}`)).map(([l, v]) => [`${l.remote_address}:${l.remote_port}`, v]));
      for (const d of dests) {
        const server = `${d.address}:${d.port}`;
        expect([gauge('active_connections').get(server), gauge('inactive_connections').get(server), gauge('persistent_connections').get(server), gauge('weight').get(server)]).toEqual([
          d.activeConns,
          d.inactConns,
          d.persistConns,
          d.weight,
        ]);
      }
      expect(gauge('active_connections').get('10.0.0.2:8080')).toBe(1);
      expect(gauge('inactive_connections').get('10.0.0.2:8080')).toBe(1);
      expect(gauge('weight').get('10.0.0.3:8080')).toBe(0);
      expect(values(family(fams, 'lb_server_weight'))).toContainEqual([v6, 2]);
    } finally {
      ipvs.close();
    }
  });

  test('a table without statistics still shows its servers’ connections and weights', async () => {
    const ipvs = new Ipvs({ clock: 'manual', stats: false });
    try {
      const svc = ipvs.addService({ protocol: 'udp', address: '10.0.0.1', port: 53 });
      ipvs.addDest(svc, { address: '10.0.0.2', weight: 5 });
      const r = new Registry();
      r.register(ipvs, { name: 'dns', help: 'DNS' });
      const fams = await r.collect();
      expect(family(fams, 'dns_service_connections').samples).toEqual([]);
      expect(values(family(fams, 'dns_server_weight'))).toEqual([
        [{ proto: 'udp', local_address: '10.0.0.1', local_port: '53', local_mark: '', remote_address: '10.0.0.2', remote_port: '53' }, 5],
      ]);
    } finally {
      ipvs.close();
    }
  });
});

describe('FairQueue and Htb', () => {
  test('FairQueue: the tc -s fields of its stats(), per band where fq counts per band', async () => {
    const fq = busyFairQueue();
    const s = fq.stats();
    const r = new Registry();
    r.register(fq, { name: 'fq', help: 'Fair queue' });
    const fams = await r.collect();
    const one = (suffix: string) => family(fams, `fq_${suffix}`).samples[0].value;
    expect([one('bytes'), one('packets'), one('drops'), one('backlog_bytes'), one('backlog_packets')]).toEqual([s.bytes, s.packets, s.drops, s.backlog, s.qlen]);
    expect([s.packets, s.drops, s.qlen, s.flowsPlimit]).toEqual([1, 2, 2, 2]);
    expect([one('flows'), one('inactive_flows'), one('throttled_flows'), one('gc_flows'), one('throttled'), one('flows_plimit')]).toEqual([
      s.flows, s.inactiveFlows, s.throttledFlows, s.gcFlows, s.throttled, s.flowsPlimit,
    ]);
    expect([one('pkts_too_long'), one('ce_mark'), one('horizon_drops'), one('horizon_caps'), one('fastpath_packets')]).toEqual([
      s.pktsTooLong, s.ceMark, s.horizonDrops, s.horizonCaps, s.fastpathPackets,
    ]);
    expect(one('unthrottle_latency_seconds')).toBe(s.unthrottleLatencyNs / 1e9);
    expect(one('time_next_delayed_flow_seconds')).toBe(Infinity);
    expect(values(family(fams, 'fq_band_packets'))).toEqual(s.bandPktCount.map((v, band) => [{ band: String(band) }, v]));
    expect(values(family(fams, 'fq_band_drops'))).toEqual(s.bandDrops.map((v, band) => [{ band: String(band) }, v]));
    expect(family(fams, 'fq_drops').type).toBe('counter');
    expect(family(fams, 'fq_flows').type).toBe('gauge');
  });

  test('Htb: the qdisc and every class, as tc -s class show prints them', async () => {
    const htb = busyHtb();
    const r = new Registry();
    r.register(htb, { name: 'shaper', help: 'Shaper' });
    const fams = await r.collect();
    const q = htb.stats();
    const one = (suffix: string) => family(fams, `shaper_qdisc_${suffix}`).samples[0].value;
    expect([one('bytes'), one('packets'), one('drops'), one('overlimits'), one('backlog_bytes'), one('backlog_packets'), one('direct_packets')]).toEqual([
      q.bytes, q.packets, q.drops, q.overlimits, q.backlog, q.qlen, q.directPackets,
    ]);
    expect([q.packets, q.drops, q.qlen]).toEqual([1, 1, 1]);
    const classes = htb.classStats();
    const labels = classes.map((c) => ({ classid: c.classid, parent: c.parent }));
    expect(labels).toEqual([{ classid: '1:1', parent: 'root' }, { classid: '1:10', parent: '1:1' }]);
    const per = (suffix: string) => values(family(fams, `shaper_class_${suffix}`));
    const expected = { bytes: 'bytes', packets: 'packets', drops: 'drops', overlimits: 'overlimits', backlog_bytes: 'backlog', backlog_packets: 'qlen', lends: 'lends', borrows: 'borrows', giants: 'giants', tokens: 'tokens', ctokens: 'ctokens' } as const;
    for (const [suffix, key] of Object.entries(expected)) expect(per(suffix)).toEqual(classes.map((c, i) => [labels[i], c[key]]));
    expect(per('rate_bytes_per_second')).toEqual([[labels[0], 1_000_000], [labels[1], 125_000]]);
    expect(per('ceil_bytes_per_second')).toEqual([[labels[0], 1_000_000], [labels[1], 1_000_000]]);
  });
});

promtoolTest('promtool accepts the exposition of ResourceCounter, Ipvs, FairQueue and Htb', async () => {
  const { parent, leaf } = busyCounters();
  const ipvs = busyIpvs();
  try {
    const r = new Registry({ prefix: 'app_' });
    r.register(parent, { name: 'budget', help: 'Budget', labels: { level: 'service' } });
    r.register(leaf, { name: 'budget', help: 'Budget', labels: { level: 'tenant' } });
    r.register(ipvs, { name: 'lb', help: 'Balancer' });
    r.register(busyFairQueue(), { name: 'fq', help: 'Fair queue' });
    r.register(busyHtb(), { name: 'shaper', help: 'Shaper' });
    const text = await r.metrics();
    expect(text).toContain('app_lb_service_connections_total{proto="tcp",local_address="10.0.0.1",local_port="80",local_mark=""} 2\n');
    expect(text).toContain('app_budget_failcnt_total{level="service"} 1\n');
    expect(text).toContain('app_shaper_class_drops_total{classid="1:10",parent="1:1"} 1\n');
    expect(text).toContain('app_fq_flows_plimit_total 2\n');
    expectPromtoolClean(text);
    expect(await r.metrics({ format: 'openmetrics' })).toContain('# UNIT app_lb_server_bytes bytes\n');
  } finally {
    leaf.close();
    parent.close();
    ipvs.close();
  }
});
