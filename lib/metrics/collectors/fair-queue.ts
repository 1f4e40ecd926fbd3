/**
 * A {@link FairQueue} as metrics: the fields `tc -s qdisc show` prints for fq,
 * from its public `stats()`. The qdisc counters are named as the Tc adapter's
 * (`bytes`, `packets`, `drops`, `backlog_bytes`, `backlog_packets`), fq's own
 * keep the kernel's names, and the per-band figures are labelled `band`.
 * The fields fq pins at 0 (`highprio_packets`, `tcp_retrans`,
 * `allocation_errors`) are left out.
 * @module
 */
import type { FairQueue, FairQueueStats } from '../../sched';
import type { Collectable, MetricFamily, MetricType } from '../types';
import { family, namesOf } from './family';

type Field = [suffix: string, type: MetricType, help: string, read: (s: FairQueueStats) => number, unit?: string];

const FIELDS: Field[] = [
  ['bytes', 'counter', 'bytes (cost units) dequeued', (s) => s.bytes, 'bytes'],
  ['packets', 'counter', 'items dequeued', (s) => s.packets],
  ['drops', 'counter', 'items dropped', (s) => s.drops],
  ['backlog_bytes', 'gauge', 'bytes queued now', (s) => s.backlog, 'bytes'],
  ['backlog_packets', 'gauge', 'items queued now (qlen)', (s) => s.qlen],
  ['flows', 'gauge', 'flows known now', (s) => s.flows],
  ['inactive_flows', 'gauge', 'known flows with nothing queued', (s) => s.inactiveFlows],
  ['throttled_flows', 'gauge', 'flows throttled now', (s) => s.throttledFlows],
  ['gc_flows', 'counter', 'flows freed by the garbage collector', (s) => s.gcFlows],
  ['throttled', 'counter', 'times a flow was throttled', (s) => s.throttled],
  ['flows_plimit', 'counter', 'items dropped at flow_limit', (s) => s.flowsPlimit],
  ['pkts_too_long', 'counter', 'pacing delays capped at 1 s', (s) => s.pktsTooLong],
  ['ce_mark', 'counter', 'items CE-marked', (s) => s.ceMark],
  ['horizon_drops', 'counter', 'items dropped beyond the horizon', (s) => s.horizonDrops],
  ['horizon_caps', 'counter', 'item times capped at the horizon', (s) => s.horizonCaps],
  ['fastpath_packets', 'counter', 'items that took the fast path', (s) => s.fastpathPackets],
  ['unthrottle_latency_seconds', 'gauge', 'EWMA of how late throttled flows were released', (s) => s.unthrottleLatencyNs / 1e9, 'seconds'],
  ['time_next_delayed_flow_seconds', 'gauge', 'time until the first throttled flow is due (+Inf for none)', (s) => s.timeNextDelayedFlow / 1e9, 'seconds'],
];

const SUFFIXES = [...FIELDS.map(([suffix]) => suffix), 'band_drops', 'band_packets'];

/** The adapter of a {@link FairQueue}, read at its clock's now. */
export function fairQueueCollector(queue: FairQueue): Collectable {
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const s = queue.stats();
      const perBand = (values: number[]) => values.map((value, band) => ({ labels: { band: String(band) }, value }));
      const families: MetricFamily[] = FIELDS.map(([suffix, type, text, read, unit]) => family(name, suffix, type, `${help}: ${text}`, [{ value: read(s) }], unit));
      families.push(
        family(name, 'band_drops', 'counter', `${help}: items dropped at limit, per band`, perBand(s.bandDrops)),
        family(name, 'band_packets', 'gauge', `${help}: items queued now, per band`, perBand(s.bandPktCount)),
      );
      return families;
    },
  };
}
