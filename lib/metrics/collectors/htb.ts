/**
 * An {@link Htb} as metrics: what `tc -s qdisc show` and `tc -s class show`
 * print for htb, from its public `stats()` and `classStats()`, named as the
 * Tc adapter names the kernel's (`qdisc_*` unlabelled, `class_*` labelled
 * `classid` and `parent`), plus each class's configured rate and ceil.
 * @module
 */
import type { Htb, HtbClassStats } from '../../sched';
import type { Collectable, MetricType } from '../types';
import { family, namesOf } from './family';

type ClassField = [suffix: string, type: MetricType, help: string, read: (c: HtbClassStats) => number, unit?: string];

const CLASS_FIELDS: ClassField[] = [
  ['bytes', 'counter', 'bytes (cost units) sent', (c) => c.bytes, 'bytes'],
  ['packets', 'counter', 'items sent', (c) => c.packets],
  ['drops', 'counter', 'items dropped at the leaf limit', (c) => c.drops],
  ['overlimits', 'counter', 'times the class turned red', (c) => c.overlimits],
  ['backlog_bytes', 'gauge', 'bytes queued now', (c) => c.backlog, 'bytes'],
  ['backlog_packets', 'gauge', 'items queued now (qlen)', (c) => c.qlen],
  ['lends', 'counter', 'items sent on its own rate (lended)', (c) => c.lends],
  ['borrows', 'counter', 'items sent by borrowing from an ancestor', (c) => c.borrows],
  ['giants', 'counter', 'items too big for the rate table (always 0)', (c) => c.giants],
  ['tokens', 'gauge', 'tokens left in the rate bucket, in psched ticks', (c) => c.tokens],
  ['ctokens', 'gauge', 'tokens left in the ceil bucket, in psched ticks', (c) => c.ctokens],
  ['rate_bytes_per_second', 'gauge', 'guaranteed rate', (c) => c.rate / 8],
  ['ceil_bytes_per_second', 'gauge', 'ceiling rate', (c) => c.ceil / 8],
];

const QDISC_SUFFIXES = ['bytes', 'packets', 'drops', 'overlimits', 'backlog_bytes', 'backlog_packets', 'direct_packets'];
const SUFFIXES = [...QDISC_SUFFIXES.map((s) => `qdisc_${s}`), ...CLASS_FIELDS.map(([s]) => `class_${s}`)];

/** The adapter of an {@link Htb}: the qdisc and every class, by class id. */
export function htbCollector(htb: Htb): Collectable {
  return {
    metricNames: (name) => namesOf(name, SUFFIXES),
    collectMetrics: ({ name, help }) => {
      const q = htb.stats();
      const classes = htb.classStats();
      return [
        family(name, 'qdisc_bytes', 'counter', `${help}: qdisc bytes (cost units) sent`, [{ value: q.bytes }], 'bytes'),
        family(name, 'qdisc_packets', 'counter', `${help}: qdisc items sent`, [{ value: q.packets }]),
        family(name, 'qdisc_drops', 'counter', `${help}: qdisc items dropped`, [{ value: q.drops }]),
        family(name, 'qdisc_overlimits', 'counter', `${help}: qdisc times a class turned red`, [{ value: q.overlimits }]),
        family(name, 'qdisc_backlog_bytes', 'gauge', `${help}: qdisc bytes queued now`, [{ value: q.backlog }], 'bytes'),
        family(name, 'qdisc_backlog_packets', 'gauge', `${help}: qdisc items queued now (qlen)`, [{ value: q.qlen }]),
        family(name, 'qdisc_direct_packets', 'counter', `${help}: qdisc items sent through the direct queue`, [{ value: q.directPackets }]),
        ...CLASS_FIELDS.map(([suffix, type, text, read, unit]) =>
          family(name, `class_${suffix}`, type, `${help}: class ${text}`, classes.map((c) => ({ labels: { classid: c.classid, parent: c.parent }, value: read(c) })), unit),
        ),
      ];
    },
  };
}
