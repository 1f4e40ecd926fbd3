/**
 * Types of the addon's rescounter part (csrc/rescounter.cc) and this thread's
 * views of its chunks.
 * Internal: not part of the public API.
 * @module
 */
import { addon } from '../native';

/** The functions csrc/rescounter.cc exports. */
export interface RescounterNative {
  constants(): { slotLongs: number; slotsPerChunk: number; usage: number; max: number; protectedFlag: number };
  /** A new counter (a root without arguments); this environment holds one reference. */
  alloc(parentChunk?: number, parentSlot?: number, parentToken?: number): [chunk: number, slot: number, token: number];
  /** References on a live counter and each ancestor: [chunk, slot, token, ...] from it up to its root. */
  acquire(chunk: number, slot: number, token: number): number[];
  release(chunk: number, slot: number): void;
  view(chunk: number): ArrayBuffer;
}

/** The addon's rescounter functions. */
export const rescounterNative = addon.rescounter as RescounterNative;

/** int64 fields per slot, as csrc/rescounter.h lays them out (three cache lines). */
export const SLOT_LONGS = 24;
/** Field indices within a slot (csrc/rescounter.h `Field`). */
export const F = {
  usage: 0,
  failcnt: 1,
  underflows: 2,
  watermark: 8,
  localWatermark: 9,
  minUsage: 10,
  lowUsage: 11,
  childrenMinUsage: 12,
  childrenLowUsage: 13,
  max: 16,
  min: 17,
  low: 18,
  softLimit: 19,
  protectedFlag: 20,
  trackFailcnt: 21,
} as const;

const constants = rescounterNative.constants();
if (constants.slotLongs !== SLOT_LONGS || constants.usage !== F.usage || constants.max !== F.max || constants.protectedFlag !== F.protectedFlag) {
  throw new Error('kernkit: addon and JavaScript disagree on the resource counter layout');
}
const SLOTS_PER_CHUNK = constants.slotsPerChunk;

/** "No limit" in a slot: the largest int64 (the kernel's PAGE_COUNTER_MAX plays this part). */
export const UNLIMITED = 0x7fffffffffffffffn;

/** This thread's views of one chunk: the int64 fields, and the same memory as int32 for flag reads that allocate nothing. */
export interface ChunkViews {
  readonly longs: BigInt64Array;
  readonly ints: Int32Array;
}

const views = new Map<number, ChunkViews>();

/** This thread's views of a chunk, created once. */
export function chunkView(chunk: number): ChunkViews {
  let v = views.get(chunk);
  if (!v) {
    const buffer = rescounterNative.view(chunk);
    v = { longs: new BigInt64Array(buffer), ints: new Int32Array(buffer) };
    views.set(chunk, v);
  }
  return v;
}

/** The int32 index of a flag field's low word (x64 is little-endian; flags are 0 or 1). */
export function flagIndex(base: number, field: number): number {
  return (base + field) * 2;
}

/** Index of a slot's first field in its chunk's view. */
export function slotBase(slot: number): number {
  if (slot >= SLOTS_PER_CHUNK) throw new Error('kernkit: resource counter slot out of range');
  return slot * SLOT_LONGS;
}
