/**
 * `struct tc_ratespec` and rate tables, shared by tbf and htb: the 32-bit rate
 * (~0 when the real rate needs the 64-bit attribute), link layer, overhead,
 * mpu, and the cell size of the table tc computes alongside.
 * @module
 */
import { invalid } from '../../validate';
import { StructReader, type ByteWriter } from '../../netlink';
import { TC_RTAB_SIZE } from '../constants';
import { linkLayerName, linkLayerNumber, type LinkLayer, type Psched } from '../psched';

/** The fields of a `struct tc_ratespec`. */
export interface RateSpec {
  /** log2 of the rate table's cell size. */
  cellLog: number;
  /** `TC_LINKLAYER_*` (ethernet, atm). */
  linklayer: number;
  /** Bytes added to each packet when accounting. */
  overhead: number;
  /** Cell alignment (-1, as tc sends it). */
  cellAlign: number;
  /** Minimum packet size accounted. */
  mpu: number;
  /** Bytes per second, capped at 2^32-1 (the full rate then travels as a 64-bit attribute). */
  rate: number;
}

/** The 32-bit field's value for a 64-bit rate: ~0 when it does not fit. */
export function rate32(rate64: number): number {
  return rate64 >= 2 ** 32 ? 0xffffffff : rate64;
}

/** Appends a `struct tc_ratespec`. */
export function writeRateSpec(w: ByteWriter, r: RateSpec): void {
  w.u8(r.cellLog);
  w.u8(r.linklayer);
  w.u16(r.overhead);
  w.u16(r.cellAlign & 0xffff);
  w.u16(r.mpu);
  w.u32(r.rate);
}

/** Reads a `struct tc_ratespec` at `off` of a checked struct. */
export function readRateSpec(r: StructReader, off: number): RateSpec {
  return {
    cellLog: r.u8(off),
    linklayer: r.u8(off + 1),
    overhead: r.u16(off + 2),
    cellAlign: r.s16(off + 4),
    mpu: r.u16(off + 6),
    rate: r.u32(off + 8),
  };
}

/** A rate table attribute's payload (256 u32, little-endian). */
export function tableBytes(table: Uint32Array): Uint8Array {
  const out = new Uint8Array(TC_RTAB_SIZE);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 256; i++) view.setUint32(i * 4, table[i], true);
  return out;
}

const TABLE_CACHE_SIZE = 64;
const tableCache = new WeakMap<Psched, Map<string, { bytes: Uint8Array; cellLog: number }>>();

/**
 * The rate table's payload and cell log for these parameters, remembered:
 * many classes share a rate, and computing a table is most of the cost of
 * encoding a class.
 */
export function rateTableBytes(
  psched: Psched,
  rate: number,
  mpu: number,
  cellLog: number | undefined,
  mtu: number,
  linklayer: LinkLayer,
): { bytes: Uint8Array; cellLog: number } {
  let cache = tableCache.get(psched);
  if (!cache) {
    cache = new Map();
    tableCache.set(psched, cache);
  }
  const key = `${rate}/${mpu}/${cellLog}/${mtu}/${linklayer}`;
  let hit = cache.get(key);
  if (!hit) {
    const t = psched.rateTable(rate, mpu, cellLog, mtu, linklayer);
    hit = { bytes: tableBytes(t.table), cellLog: t.cellLog };
    if (cache.size >= TABLE_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(key, hit);
  }
  return hit;
}

/** Reads `linklayer` as tc's `get_linklayer` does (`ethernet`, `atm`, `adsl`). */
export function parseLinkLayer(value: unknown, field: string): LinkLayer {
  if (value === 'ethernet') return 'ethernet';
  if (value === 'atm' || value === 'adsl') return 'atm';
  throw invalid(field, value, '"ethernet", "atm" or "adsl"');
}

export { linkLayerName, linkLayerNumber };
