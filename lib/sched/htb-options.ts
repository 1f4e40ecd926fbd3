/**
 * The options of an {@link Htb} and its classes: the objects
 * `tc.qdisc.add({ kind: 'htb', options })` and `tc.class.add({ kind: 'htb',
 * options })` take, checked by the code that encodes them for the kernel
 * (lib/tc/kinds/htb.ts), and read back from what it encoded: the kernel's
 * inputs (`struct tc_htb_glob`, `struct tc_htb_opt`, 64-bit rates), bursts in
 * ticks as tc computes them.
 * @module
 */
import { AttrTable, ByteWriter, StructReader } from '../netlink';
import { TCA_OPTIONS } from '../tc/constants';
import { htb, type HtbClassOptions, type HtbQdiscOptions } from '../tc/kinds/htb';
import { Psched } from '../tc/psched';
import { invalid } from '../validate';

const TCA_HTB_PARMS = 1;
const TCA_HTB_INIT = 2;
const TCA_HTB_DIRECT_QLEN = 5;
const TCA_HTB_RATE64 = 6;
const TCA_HTB_CEIL64 = 7;
const TCA_HTB_OFFLOAD = 9;
const TC_LINKLAYER_ATM = 2;

/** /proc/net/psched of a kernel with a nanosecond clock (every current kernel): 64 ns per tick. */
export const DEFAULT_PSCHED = Psched.parse('000003e8 00000040 000f4240 3b9aca00');

/** What htb_init() keeps. */
export interface HtbQdiscParams {
  /** Minor of the default class (`defcls`). */
  defcls: number;
  /** `rate2quantum`, at least 1. */
  r2q: number;
  /** Length of the direct queue, or undefined for the default. */
  directQlen?: number;
}

/** What htb_change_class() reads from `struct tc_htb_opt` and the 64-bit rates. */
export interface HtbClassParams {
  /** Bytes per second. */
  rate: number;
  /** Bytes per second. */
  ceil: number;
  /** The rate bucket in ns (`buffer` ticks << 6). */
  buffer: number;
  /** The ceil bucket in ns. */
  cbuffer: number;
  /** The quantum asked for (0: from r2q). */
  quantum: number;
  /** 0..7. */
  prio: number;
  /** Per-packet overhead of the rate (bytes). */
  overhead: number;
  /** Minimum accounted size (bytes). */
  mpu: number;
  /** ATM cells. */
  atm: boolean;
}

/** Checks htb qdisc options as `tc qdisc add ... htb` does, plus htb_init()'s limits. */
export function htbQdiscParams(options: HtbQdiscOptions | undefined): HtbQdiscParams {
  const w = new ByteWriter();
  htb.encode(w, options, { psched: DEFAULT_PSCHED, op: 'Htb' });
  const t = new AttrTable(new AttrTable(w.view(), 'htb').get(TCA_OPTIONS) as Uint8Array, 'htb options');
  if (t.has(TCA_HTB_OFFLOAD)) throw invalid('htb.offload', true, 'false: a userspace Htb has no hardware to offload to', 'EOPNOTSUPP');
  const init = new StructReader(t.get(TCA_HTB_INIT) as Uint8Array, 20, 'tc_htb_glob');
  return { r2q: Math.max(1, init.u32(4)), defcls: init.u32(8), directQlen: t.u32(TCA_HTB_DIRECT_QLEN, 'directQlen') };
}

/** Checks htb class options as `tc class add ... htb` does; bursts default and round as tc's do with `psched`. */
export function htbClassParams(options: HtbClassOptions | undefined, psched: Psched): HtbClassParams {
  const w = new ByteWriter();
  htb.classes?.encode(w, options, { psched, op: 'Htb class' });
  const t = new AttrTable(new AttrTable(w.view(), 'htb class').get(TCA_OPTIONS) as Uint8Array, 'htb class options');
  const r = new StructReader(t.get(TCA_HTB_PARMS) as Uint8Array, 44, 'tc_htb_opt');
  const rate64 = t.u64(TCA_HTB_RATE64, 'rate64');
  const ceil64 = t.u64(TCA_HTB_CEIL64, 'ceil64');
  return {
    rate: rate64 === undefined ? r.u32(8) : Number(rate64),
    ceil: ceil64 === undefined ? r.u32(20) : Number(ceil64),
    buffer: r.u32(24) * 64,
    cbuffer: r.u32(28) * 64,
    quantum: r.u32(32),
    prio: r.u32(40),
    overhead: r.u16(2),
    mpu: r.u16(6),
    atm: (r.u8(1) & 0xf) === TC_LINKLAYER_ATM,
  };
}
