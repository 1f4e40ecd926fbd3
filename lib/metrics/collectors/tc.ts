/**
 * The qdiscs and classes of one device as metrics, from a netlink dump (on
 * the socket's own thread, off the event loop): bytes, packets, drops,
 * overlimits and requeues as counters, backlog and queue length as gauges,
 * and htb's class statistics (lends, borrows, giants as counters, tokens and
 * ctokens as gauges in psched ticks, as tc prints them). Qdisc samples are
 * labelled `dev`, `kind`, `handle`, `parent`; class samples `dev`, `kind`,
 * `classid`, `parent`.
 * @module
 */
import type { ClassInfo, Device, QdiscInfo, Tc, TcStats } from '../../tc';
import type { Collectable, Labels, MetricFamily, MetricSample } from '../types';
import { family, namesOf } from './family';

type Counted = { labels: Labels; stats: TcStats };

const STAT_FAMILIES = [
  ['bytes', 'counter', 'bytes sent', 'bytes'],
  ['packets', 'counter', 'packets sent', undefined],
  ['drops', 'counter', 'packets dropped', undefined],
  ['overlimits', 'counter', 'times over the limit (throttled)', undefined],
  ['requeues', 'counter', 'packets requeued', undefined],
  ['backlog_bytes', 'gauge', 'bytes queued now', 'bytes'],
  ['backlog_packets', 'gauge', 'packets queued now', undefined],
] as const;

const HTB_COUNTERS = [
  ['lends', 'times the class lent to its children'],
  ['borrows', 'times the class borrowed from its parent'],
  ['giants', 'packets too big for the rate table'],
] as const;
const HTB_GAUGES = [
  ['tokens', 'tokens left in the rate bucket, in psched ticks'],
  ['ctokens', 'tokens left in the ceil bucket, in psched ticks'],
] as const;

function statValue(s: TcStats, key: (typeof STAT_FAMILIES)[number][0]): number | bigint {
  switch (key) {
    case 'backlog_bytes':
      return s.backlog;
    case 'backlog_packets':
      return s.qlen;
    default:
      return s[key];
  }
}

function statFamilies(name: string, what: 'qdisc' | 'class', help: string, items: Counted[]): MetricFamily[] {
  return STAT_FAMILIES.map(([key, type, text, unit]) =>
    family(name, `${what}_${key}`, type, `${help}: ${what} ${text}`, items.map((i) => ({ labels: i.labels, value: statValue(i.stats, key) })), unit),
  );
}

function htbFamilies(name: string, help: string, classes: ClassInfo[]): MetricFamily[] {
  const htb = classes.filter((c) => c.kind === 'htb' && c.xstats !== undefined);
  const samples = (key: string): MetricSample[] =>
    htb.map((c) => ({ labels: classLabels(c), value: (c.xstats as Record<string, number>)[key] }));
  return [
    ...HTB_COUNTERS.map(([key, text]) => family(name, `class_${key}`, 'counter', `${help}: htb ${text}`, samples(key))),
    ...HTB_GAUGES.map(([key, text]) => family(name, `class_${key}`, 'gauge', `${help}: htb ${text}`, samples(key))),
  ];
}

const qdiscLabels = (q: QdiscInfo): Labels => ({ dev: q.dev, kind: q.kind, handle: q.handle, parent: q.parent });
const classLabels = (c: ClassInfo): Labels => ({ dev: c.dev, kind: c.kind, classid: c.classid, parent: c.parent });

const SUFFIXES = [
  ...STAT_FAMILIES.map(([key]) => `qdisc_${key}`),
  ...STAT_FAMILIES.map(([key]) => `class_${key}`),
  ...HTB_COUNTERS.map(([key]) => `class_${key}`),
  ...HTB_GAUGES.map(([key]) => `class_${key}`),
];

/** The adapter of a {@link Tc} for the device `dev`: both dumps run concurrently. */
export function tcCollector(tc: Tc, dev: Device): Collectable {
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: async ({ name, help }) => {
      const [qdiscs, classes] = await Promise.all([tc.qdisc.list({ dev }), tc.class.list({ dev })]);
      return [
        ...statFamilies(name, 'qdisc', help, qdiscs.map((q) => ({ labels: qdiscLabels(q), stats: q.stats }))),
        ...statFamilies(name, 'class', help, classes.map((c) => ({ labels: classLabels(c), stats: c.stats }))),
        ...htbFamilies(name, help, classes),
      ];
    },
  };
}
