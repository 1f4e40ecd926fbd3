/**
 * An {@link Ipvs} table as metrics, from its public `stats()` and each
 * service's `listDests()`: per service and per real server the counters of
 * their CounterSets (connections,
 * packets and bytes, `direction` in/out) and the estimator's rates; per server
 * also its active, inactive and persistent connections and its weight, which
 * the kernel keeps per server only. Services and servers are sampled in the
 * table's order; a table without statistics still shows the server gauges.
 * Labels are node_exporter's IPVS collector's, so its dashboards apply: a
 * service is `proto`, `local_address`, `local_port`, `local_mark` (`fwm`,
 * `0.0.0.0` or `::`, `0` and the mark for a fwmark service, `local_mark` empty
 * otherwise); a server adds `remote_address`, `remote_port`.
 * @module
 */
import type { Ipvs, ServiceKey, StatsReading } from '../../ipvs';
import type { Labels, MetricFamily, MetricSample } from '../types';
import type { Collectable } from '../types';
import { family, namesOf } from './family';

type Scope = 'service' | 'server';
type Counted = { labels: Labels; stats: StatsReading };

const STAT_SUFFIXES = ['connections', 'packets', 'bytes', 'connections_per_second', 'packets_per_second', 'bytes_per_second'];
const SERVER_GAUGES = [
  ['active_connections', 'established connections (ActiveConn)', 'activeConns'],
  ['inactive_connections', 'other connections (InActConn)', 'inactConns'],
  ['persistent_connections', 'persistence templates', 'persistConns'],
  ['weight', 'weight (0: quiesced)', 'weight'],
] as const;

const SUFFIXES = [
  ...STAT_SUFFIXES.map((s) => `service_${s}`),
  ...STAT_SUFFIXES.map((s) => `server_${s}`),
  ...SERVER_GAUGES.map(([s]) => `server_${s}`),
];

/** The labels of a service (node_exporter's names). */
function serviceLabels(key: ServiceKey): Labels {
  if ('fwmark' in key) return { proto: 'fwm', local_address: key.family === 6 ? '::' : '0.0.0.0', local_port: '0', local_mark: String(key.fwmark) };
  return { proto: key.protocol, local_address: key.address, local_port: String(key.port), local_mark: '' };
}

const serverLabels = (service: Labels, address: string, port: number): Labels => ({ ...service, remote_address: address, remote_port: String(port) });

function directed(items: Counted[], inValue: (s: StatsReading) => number | bigint, outValue: (s: StatsReading) => number | bigint): MetricSample[] {
  return items.flatMap((i) => [
    { labels: { ...i.labels, direction: 'in' }, value: inValue(i.stats) },
    { labels: { ...i.labels, direction: 'out' }, value: outValue(i.stats) },
  ]);
}

function statFamilies(name: string, scope: Scope, help: string, items: Counted[]): MetricFamily[] {
  const of = `${help}: ${scope}`;
  return [
    family(name, `${scope}_connections`, 'counter', `${of} connections scheduled`, items.map((i) => ({ labels: i.labels, value: i.stats.conns }))),
    family(name, `${scope}_packets`, 'counter', `${of} packets`, directed(items, (s) => s.inpkts, (s) => s.outpkts)),
    family(name, `${scope}_bytes`, 'counter', `${of} bytes`, directed(items, (s) => s.inbytes, (s) => s.outbytes), 'bytes'),
    family(name, `${scope}_connections_per_second`, 'gauge', `${of} connections per second`, items.map((i) => ({ labels: i.labels, value: i.stats.cps }))),
    family(name, `${scope}_packets_per_second`, 'gauge', `${of} packets per second`, directed(items, (s) => s.inpps, (s) => s.outpps)),
    family(name, `${scope}_bytes_per_second`, 'gauge', `${of} bytes per second`, directed(items, (s) => s.inbps, (s) => s.outbps)),
  ];
}

/** The adapter of an {@link Ipvs} table. */
export function ipvsCollector(ipvs: Ipvs): Collectable {
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const services: Counted[] = [];
      const servers: Counted[] = [];
      for (const entry of ipvs.stats()) {
        const service = serviceLabels(entry.service);
        services.push({ labels: service, stats: entry.stats });
        for (const d of entry.dests) servers.push({ labels: serverLabels(service, d.address, d.port), stats: d.stats });
      }
      const dests = ipvs.services().flatMap((svc) => {
        const service = serviceLabels(svc.key);
        return svc.listDests().map((d) => ({ labels: serverLabels(service, d.address, d.port), info: d }));
      });
      return [
        ...statFamilies(name, 'service', help, services),
        ...statFamilies(name, 'server', help, servers),
        ...SERVER_GAUGES.map(([suffix, text, field]) =>
          family(name, `server_${suffix}`, 'gauge', `${help}: server ${text}`, dests.map((d) => ({ labels: d.labels, value: d.info[field] }))),
        ),
      ];
    },
  };
}
