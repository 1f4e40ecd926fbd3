/**
 * Statistics of qdiscs, classes and filters: `TCA_STATS2` (basic, queue,
 * rate estimate, kind-specific app stats) with the legacy `TCA_STATS` as a
 * fallback, decoded with bounds checks.
 * @module
 */
import { AttrTable, StructReader } from '../netlink';
import {
  TCA_STATS,
  TCA_STATS2,
  TCA_STATS_APP,
  TCA_STATS_BASIC,
  TCA_STATS_BASIC_HW,
  TCA_STATS_PKT64,
  TCA_STATS_QUEUE,
  TCA_STATS_RATE_EST,
  TCA_STATS_RATE_EST64,
  TCA_XSTATS,
} from './constants';

/** A rate estimate (present when an estimator runs). */
export interface TcRateEstimate {
  /** Bytes per second. */
  bytesPerSecond: number;
  /** Packets per second. */
  packetsPerSecond: number;
}

/** The counters every qdisc and class has. */
export interface TcStats {
  /** Bytes sent (a 64-bit counter). */
  bytes: bigint;
  /** Packets sent (64-bit). */
  packets: bigint;
  /** Packets dropped. */
  drops: number;
  /** Times the qdisc was over its limit (throttled). */
  overlimits: number;
  /** Packets requeued. */
  requeues: number;
  /** Bytes queued now. */
  backlog: number;
  /** Packets queued now. */
  qlen: number;
  /** The rate estimate, when an estimator is configured. */
  rate?: TcRateEstimate;
  /** Bytes and packets counted by hardware offload, when the kernel reports them. */
  hw?: { bytes: bigint; packets: bigint };
}

/** Stats as decoded from a reply, and the kind-specific app stats' raw bytes. */
export interface DecodedStats {
  /** The counters. */
  stats: TcStats;
  /** The kind's own statistics (`TCA_STATS_APP` or the legacy `TCA_XSTATS`), undecoded. */
  app?: Uint8Array;
}

/** Decodes the statistics attributes of a tc message's attribute table. */
export function decodeStats(attrs: AttrTable): DecodedStats {
  const stats: TcStats = { bytes: 0n, packets: 0n, drops: 0, overlimits: 0, requeues: 0, backlog: 0, qlen: 0 };
  let app: Uint8Array | undefined;
  const s2 = attrs.nested(TCA_STATS2, 'TCA_STATS2');
  if (s2) {
    const basic = s2.get(TCA_STATS_BASIC);
    if (basic) {
      const r = new StructReader(basic, 12, 'gnet_stats_basic');
      stats.bytes = r.u64(0);
      stats.packets = BigInt(r.u32(8));
    }
    const pkt64 = s2.u64(TCA_STATS_PKT64, 'TCA_STATS_PKT64');
    if (pkt64 !== undefined) stats.packets = pkt64;
    const queue = s2.get(TCA_STATS_QUEUE);
    if (queue) {
      const r = new StructReader(queue, 20, 'gnet_stats_queue');
      stats.qlen = r.u32(0);
      stats.backlog = r.u32(4);
      stats.drops = r.u32(8);
      stats.requeues = r.u32(12);
      stats.overlimits = r.u32(16);
    }
    const est64 = s2.get(TCA_STATS_RATE_EST64);
    const est = s2.get(TCA_STATS_RATE_EST);
    if (est64) {
      const r = new StructReader(est64, 16, 'gnet_stats_rate_est64');
      stats.rate = { bytesPerSecond: Number(r.u64(0)), packetsPerSecond: Number(r.u64(8)) };
    } else if (est) {
      const r = new StructReader(est, 8, 'gnet_stats_rate_est');
      stats.rate = { bytesPerSecond: r.u32(0), packetsPerSecond: r.u32(4) };
    }
    const hw = s2.get(TCA_STATS_BASIC_HW);
    if (hw) {
      const r = new StructReader(hw, 12, 'gnet_stats_basic (hw)');
      stats.hw = { bytes: r.u64(0), packets: BigInt(r.u32(8)) };
    }
    app = s2.get(TCA_STATS_APP);
  } else {
    const legacy = attrs.get(TCA_STATS);
    if (legacy) {
      // struct tc_stats: bytes u64, packets, drops, overlimits, bps, pps, qlen, backlog
      const r = new StructReader(legacy, 36, 'tc_stats');
      stats.bytes = r.u64(0);
      stats.packets = BigInt(r.u32(8));
      stats.drops = r.u32(12);
      stats.overlimits = r.u32(16);
      stats.qlen = r.u32(28);
      stats.backlog = r.u32(32);
      const bps = r.u32(20);
      const pps = r.u32(24);
      if (bps || pps) stats.rate = { bytesPerSecond: bps, packetsPerSecond: pps };
    }
  }
  return { stats, app: app ?? attrs.get(TCA_XSTATS) };
}
