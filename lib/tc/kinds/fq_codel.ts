/**
 * fq_codel (net/sched/sch_fq_codel.c), encoded as tc/q_fq_codel.c does: like
 * tc, values that mean "unset" there (a zero limit, flows, quantum, interval,
 * target or drop batch; an all-ones ce_threshold or memory limit) are not
 * sent. Ranges are the kernel's: flows 1..65536, quantum at most 2^20.
 * @module
 */
import { AttrTable, StructReader, type ByteWriter } from '../../netlink';
import { TCA_OPTIONS } from '../constants';
import { boolean, integerIn, options, outOfRange } from '../../validate';
import { parseSize, parseTime, U32_MAX, type Size, type Time } from '../units';
import type { QdiscCodec } from './codec';

const TCA_FQ_CODEL_TARGET = 1;
const TCA_FQ_CODEL_LIMIT = 2;
const TCA_FQ_CODEL_INTERVAL = 3;
const TCA_FQ_CODEL_ECN = 4;
const TCA_FQ_CODEL_FLOWS = 5;
const TCA_FQ_CODEL_QUANTUM = 6;
const TCA_FQ_CODEL_CE_THRESHOLD = 7;
const TCA_FQ_CODEL_DROP_BATCH_SIZE = 8;
const TCA_FQ_CODEL_MEMORY_LIMIT = 9;
const TCA_FQ_CODEL_CE_THRESHOLD_SELECTOR = 10;
const TCA_FQ_CODEL_CE_THRESHOLD_MASK = 11;

const MAX_FLOWS = 65536;
/** FQ_CODEL_QUANTUM_MAX. */
const MAX_QUANTUM = 1 << 20;

/** Options of fq_codel. */
export interface FqCodelOptions {
  /** Packets the qdisc holds (`limit`). */
  limit?: number;
  /** Number of flow queues (`flows`), 1..65536; only at creation. */
  flows?: number;
  /** Bytes dequeued per flow per round (`quantum`), at most 2^20 (the kernel raises it to at least 256). */
  quantum?: number;
  /** Acceptable standing queue delay (`target`). */
  target?: Time;
  /** Window the delay is measured over (`interval`). */
  interval?: Time;
  /** Mark ECN-capable packets instead of dropping them (`ecn`/`noecn`). */
  ecn?: boolean;
  /** Queue delay above which packets are CE-marked (`ce_threshold`). */
  ceThreshold?: Time;
  /** Only packets whose DS field matches apply ceThreshold (`ce_threshold_selector VALUE/MASK`). */
  ceThresholdSelector?: { value: number; mask: number };
  /** Bytes the qdisc may use for packets (`memory_limit`). */
  memoryLimit?: Size;
  /** Packets dropped at once when over the limit (`drop_batch`). */
  dropBatch?: number;
}

/** What an fq_codel qdisc dumps (times in microseconds). */
export interface FqCodelInfo {
  /** Packets the qdisc holds (`limit`). */
  limit?: number;
  /** Number of flow queues (`flows`). */
  flows?: number;
  /** Bytes dequeued per flow per round (`quantum`). */
  quantum?: number;
  /** Acceptable standing queue delay (`target`), in microseconds. */
  target?: number;
  /** Window the delay is measured over (`interval`), in microseconds. */
  interval?: number;
  /** Whether ECN-capable packets are marked instead of dropped (`ecn`). */
  ecn?: boolean;
  /** Queue delay above which packets are CE-marked (`ce_threshold`), in microseconds; absent when disabled. */
  ceThreshold?: number;
  /** The DS-field selector `ceThreshold` applies to (`ce_threshold_selector VALUE/MASK`); absent when none is set. */
  ceThresholdSelector?: { value: number; mask: number };
  /** Bytes the qdisc may use for packets (`memory_limit`). */
  memoryLimit?: number;
  /** Packets dropped at once when over the limit (`drop_batch`). */
  dropBatch?: number;
}

/** fq_codel's qdisc statistics (`struct tc_fq_codel_qd_stats`). */
export interface FqCodelXstats {
  /** The largest packet seen, in bytes (`maxpacket`). */
  maxpacket: number;
  /** Packets dropped because the qdisc was over its limit (`drop_overlimit`). */
  dropOverlimit: number;
  /** Packets CE-marked instead of dropped (`ecn_mark`). */
  ecnMark: number;
  /** Flows that became new flows (`new_flow_count`). */
  newFlowCount: number;
  /** Flows on the new-flows list now (`new_flows_len`). */
  newFlowsLen: number;
  /** Flows on the old-flows list now (`old_flows_len`). */
  oldFlowsLen: number;
  /** Packets CE-marked above `ce_threshold` (`ce_mark`). */
  ceMark: number;
  /** Bytes of memory the queued packets use (`memory_usage`). */
  memoryUsage: number;
  /** Packets dropped because of `memory_limit` (`drop_overmemory`). */
  dropOvermemory: number;
}

const KEYS = ['limit', 'flows', 'quantum', 'target', 'interval', 'ecn', 'ceThreshold', 'ceThresholdSelector', 'memoryLimit', 'dropBatch'] as const;

function encode(w: ByteWriter, value: unknown): void {
  const o = options<FqCodelOptions>('fq_codel', value, KEYS);
  const limit = o.limit === undefined ? 0 : integerIn('fq_codel.limit', o.limit, 0, U32_MAX);
  const flows = o.flows === undefined ? 0 : integerIn('fq_codel.flows', o.flows, 1, MAX_FLOWS);
  const quantum = o.quantum === undefined ? 0 : integerIn('fq_codel.quantum', o.quantum, 0, MAX_QUANTUM);
  const target = o.target === undefined ? 0 : parseTime(o.target, 'fq_codel.target');
  const interval = o.interval === undefined ? 0 : parseTime(o.interval, 'fq_codel.interval');
  const ecn = o.ecn === undefined ? undefined : boolean('fq_codel.ecn', o.ecn);
  const ceThreshold = o.ceThreshold === undefined ? U32_MAX : parseTime(o.ceThreshold, 'fq_codel.ceThreshold');
  let selector: { value: number; mask: number } | undefined;
  if (o.ceThresholdSelector !== undefined) {
    const s = options<{ value: number; mask: number }>('fq_codel.ceThresholdSelector', o.ceThresholdSelector, ['value', 'mask']);
    selector = { value: integerIn('fq_codel.ceThresholdSelector.value', s.value, 0, 0xff), mask: integerIn('fq_codel.ceThresholdSelector.mask', s.mask, 0, 0xff) };
    // tc uses 0xff as "no selector": a selector of 0xff cannot be expressed.
    if (selector.value === 0xff) throw outOfRange('fq_codel.ceThresholdSelector.value', s.value, 'an integer from 0 to 254 (255 means no selector to tc)');
  }
  const memory = o.memoryLimit === undefined ? U32_MAX : parseSize(o.memoryLimit, 'fq_codel.memoryLimit');
  const dropBatch = o.dropBatch === undefined ? 0 : integerIn('fq_codel.dropBatch', o.dropBatch, 0, U32_MAX);

  w.nest(TCA_OPTIONS, () => {
    if (limit) w.attrU32(TCA_FQ_CODEL_LIMIT, limit, 'fq_codel.limit');
    if (flows) w.attrU32(TCA_FQ_CODEL_FLOWS, flows, 'fq_codel.flows');
    if (quantum) w.attrU32(TCA_FQ_CODEL_QUANTUM, quantum, 'fq_codel.quantum');
    if (interval) w.attrU32(TCA_FQ_CODEL_INTERVAL, interval, 'fq_codel.interval');
    if (target) w.attrU32(TCA_FQ_CODEL_TARGET, target, 'fq_codel.target');
    if (ecn !== undefined) w.attrU32(TCA_FQ_CODEL_ECN, ecn ? 1 : 0, 'fq_codel.ecn');
    if (ceThreshold !== U32_MAX) w.attrU32(TCA_FQ_CODEL_CE_THRESHOLD, ceThreshold, 'fq_codel.ceThreshold');
    if (selector) {
      w.attrU8(TCA_FQ_CODEL_CE_THRESHOLD_MASK, selector.mask, 'fq_codel.ceThresholdSelector.mask');
      w.attrU8(TCA_FQ_CODEL_CE_THRESHOLD_SELECTOR, selector.value, 'fq_codel.ceThresholdSelector.value');
    }
    if (memory !== U32_MAX) w.attrU32(TCA_FQ_CODEL_MEMORY_LIMIT, memory, 'fq_codel.memoryLimit');
    if (dropBatch) w.attrU32(TCA_FQ_CODEL_DROP_BATCH_SIZE, dropBatch, 'fq_codel.dropBatch');
  });
}

function decode(options: Uint8Array | undefined): FqCodelInfo | undefined {
  if (!options) return undefined;
  const t = new AttrTable(options, 'fq_codel options');
  const info: FqCodelInfo = {};
  const set = <K extends keyof FqCodelInfo>(k: K, v: FqCodelInfo[K] | undefined): void => {
    if (v !== undefined) info[k] = v;
  };
  set('limit', t.u32(TCA_FQ_CODEL_LIMIT, 'TCA_FQ_CODEL_LIMIT'));
  set('flows', t.u32(TCA_FQ_CODEL_FLOWS, 'TCA_FQ_CODEL_FLOWS'));
  set('quantum', t.u32(TCA_FQ_CODEL_QUANTUM, 'TCA_FQ_CODEL_QUANTUM'));
  set('target', t.u32(TCA_FQ_CODEL_TARGET, 'TCA_FQ_CODEL_TARGET'));
  set('interval', t.u32(TCA_FQ_CODEL_INTERVAL, 'TCA_FQ_CODEL_INTERVAL'));
  const ecn = t.u32(TCA_FQ_CODEL_ECN, 'TCA_FQ_CODEL_ECN');
  set('ecn', ecn === undefined ? undefined : ecn !== 0);
  set('ceThreshold', t.u32(TCA_FQ_CODEL_CE_THRESHOLD, 'TCA_FQ_CODEL_CE_THRESHOLD'));
  const value = t.u8(TCA_FQ_CODEL_CE_THRESHOLD_SELECTOR, 'TCA_FQ_CODEL_CE_THRESHOLD_SELECTOR');
  const mask = t.u8(TCA_FQ_CODEL_CE_THRESHOLD_MASK, 'TCA_FQ_CODEL_CE_THRESHOLD_MASK');
  if (value !== undefined && mask !== undefined && mask !== 0) info.ceThresholdSelector = { value, mask };
  set('memoryLimit', t.u32(TCA_FQ_CODEL_MEMORY_LIMIT, 'TCA_FQ_CODEL_MEMORY_LIMIT'));
  set('dropBatch', t.u32(TCA_FQ_CODEL_DROP_BATCH_SIZE, 'TCA_FQ_CODEL_DROP_BATCH_SIZE'));
  return info;
}

function decodeXstats(data: Uint8Array): FqCodelXstats | { type: number } {
  const head = new StructReader(data, 4, 'tc_fq_codel_xstats');
  const type = head.u32(0);
  if (type !== 0) return { type }; // class statistics; fq_codel has no classes kernkit manages
  const r = new StructReader(data, 4 + 36, 'tc_fq_codel_qd_stats');
  return {
    maxpacket: r.u32(4),
    dropOverlimit: r.u32(8),
    ecnMark: r.u32(12),
    newFlowCount: r.u32(16),
    newFlowsLen: r.u32(20),
    oldFlowsLen: r.u32(24),
    ceMark: r.u32(28),
    memoryUsage: r.u32(32),
    dropOvermemory: r.u32(36),
  };
}

/** fq_codel: fair queueing with CoDel AQM per flow. */
export const fqCodel: QdiscCodec = { kind: 'fq_codel', encode, decode, decodeXstats };
