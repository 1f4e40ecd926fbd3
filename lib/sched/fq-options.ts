/**
 * The options of a {@link FairQueue}: the object `tc.qdisc.add({ kind: 'fq',
 * options })` takes, checked by the very code that encodes it for the kernel
 * (lib/tc/kinds/fq.ts: it validates everything before writing), then read
 * back through its decoder, so both accept and refuse the same values. On top,
 * the checks sch_fq makes in `fq_change()` that tc leaves to the kernel.
 * @module
 */
import { ByteWriter, AttrTable } from '../netlink';
import { TCA_OPTIONS } from '../tc/constants';
import { fq, type FqInfo, type FqOptions } from '../tc/kinds/fq';
import { Psched } from '../tc/psched';
import { invalid } from '../validate';

/** sch_fq's band weights by default: 9, 3 and 1 times 64 KiB per round. */
export const FQ_DEFAULT_WEIGHTS: readonly number[] = [9 << 16, 3 << 16, 1 << 16];
/** `sch_default_prio2band`: the band of each priority 0..15. */
export const FQ_DEFAULT_PRIOMAP: readonly number[] = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
/** psched_mtu() of a 1500-byte Ethernet device: the MTU plus the link header. */
const PSCHED_MTU = 1514;
const NSEC_PER_USEC = 1000;
const U32_MAX = 0xffffffff;

/** sch_fq's parameters in the units it works in (bytes, bytes per second, nanoseconds). */
export interface FqParams {
  /** Items per band (`limit`). */
  limit: number;
  /** Items per flow (`flow_limit`). */
  flowLimit: number;
  /** Credit a flow gets per round (`quantum`). */
  quantum: number;
  /** Credit of a new flow, and of one idle longer than `refill_delay` (`initial_quantum`). */
  initialQuantum: number;
  /** Pacing on (`rate_enable`). */
  pacing: boolean;
  /** Largest rate of a flow in bytes per second (`flow_max_rate`); Infinity when unlimited. */
  maxrate: number;
  /** log2 of the buckets (`fq_trees_log`). */
  bucketsLog: number;
  /** Idle time before a flow's credit is refilled, in ns (`flow_refill_delay`). */
  refillDelay: number;
  /** Mask on the hash of items without a flow (`orphan_mask`). */
  orphanMask: number;
  /** At or below this rate (bytes/s) every item is paced (`low_rate_threshold`). */
  lowRateThreshold: number;
  /** Lateness beyond which an item is CE-marked, in ns (`ce_threshold`). */
  ceThreshold: number;
  /** Watchdog slack in ns (`timer_slack`). */
  timerSlack: number;
  /** How far ahead an item's `time` may be, in ns (`horizon`). */
  horizon: number;
  /** Drop (true) or cap (false) an item beyond the horizon (`horizon_drop`). */
  horizonDrop: boolean;
  /** Band of each priority 0..15 (`prio2band`). */
  priomap: number[];
  /** Each band's credit per round (`weights`). */
  weights: number[];
}

function decoded(options: unknown): FqInfo {
  const w = new ByteWriter();
  // Validates every key and range exactly as a `tc qdisc add ... fq` would.
  fq.encode(w, options, { psched: Psched.parse('000003e8 00000040 000f4240 3b9aca00'), op: 'FairQueue' });
  const top = new AttrTable(w.view(), 'fq');
  return fq.decode(top.get(TCA_OPTIONS), { psched: undefined as never, op: 'FairQueue' }) as FqInfo;
}

/**
 * Checks `options` (an {@link FqOptions} object, or undefined for sch_fq's
 * defaults) and returns the parameters. `EINVAL`/`ERANGE` as tc.qdisc.add
 * gives before sending, plus sch_fq's own refusal of a quantum outside
 * 1..2^20 (`EINVAL`, "invalid quantum").
 */
export function fqParams(options: FqOptions | undefined): FqParams {
  const o = decoded(options);
  if (o.quantum !== undefined && (o.quantum < 1 || o.quantum > 1 << 20)) {
    throw invalid('fq.quantum', o.quantum, 'an integer from 1 to 1048576 (sch_fq refuses others: "invalid quantum")');
  }
  const maxrate = o.maxrate === undefined ? Infinity : o.maxrate / 8;
  return {
    limit: o.limit ?? 10000,
    flowLimit: o.flowLimit ?? 100,
    quantum: o.quantum ?? 2 * PSCHED_MTU,
    initialQuantum: o.initialQuantum ?? 10 * PSCHED_MTU,
    pacing: o.pacing ?? true,
    maxrate,
    bucketsLog: o.buckets === undefined ? 10 : Math.log2(o.buckets),
    refillDelay: (o.refillDelay ?? 40000) * NSEC_PER_USEC,
    orphanMask: o.orphanMask ?? 1023,
    lowRateThreshold: o.lowRateThreshold === undefined ? 550000 / 8 : o.lowRateThreshold / 8,
    ceThreshold: (o.ceThreshold ?? U32_MAX) * NSEC_PER_USEC,
    timerSlack: o.timerSlack ?? 10 * NSEC_PER_USEC,
    horizon: (o.horizon ?? 10_000_000) * NSEC_PER_USEC,
    horizonDrop: o.horizonDrop ?? true,
    priomap: o.priomap ?? [...FQ_DEFAULT_PRIOMAP],
    weights: o.weights ?? [...FQ_DEFAULT_WEIGHTS],
  };
}
