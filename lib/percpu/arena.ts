/**
 * This thread's window on the native counter arena (csrc/percpu.h): its shard,
 * typed-array views of the chunks it uses, allocation and release, and the
 * lock-free exact reader. Everything here is per JavaScript thread (per realm).
 * Internal: not part of the public API.
 * @module
 */
import { percpuNative } from './native';

const constants = percpuNative.constants();

/**
 * A slot whose magnitude would reach this (2^40) is folded into the exact total,
 * so a float64 slot always holds an exact integer. A literal, so the hot paths
 * compile it in; checked against the addon's value below.
 */
export const FOLD_THRESHOLD = 1099511627776;
if (constants.foldThreshold !== FOLD_THRESHOLD) throw new Error('kernkit: addon and JavaScript disagree on the fold threshold');
/** How many threads can own a shard at once; more count through the atomic total. */
export const MAX_SHARDS: number = constants.maxShards;
const SEQ_STRIDE = constants.seqStride;

/** Int32 [0]: one past the highest shard in use, what readers scan. */
const control = new Int32Array(percpuNative.control());

/** The typed arrays over one chunk, as this thread sees it. */
export interface ChunkView {
  readonly id: number;
  /** Exact folded totals, one per column. */
  readonly totals: BigInt64Array;
  /** What zero() recorded, one per column. */
  readonly bases: BigInt64Array;
  /** Per-shard fold sequence, one cache line apart. */
  readonly seqs: Uint32Array;
  /** Each shard's slots, by shard index, mapped on first use (see {@link shardSlots}). */
  readonly shards: Array<Float64Array | undefined>;
  /** This thread's own slots (empty when it has no shard). */
  readonly mine: Float64Array;
}

let shard = -2; // -2: not claimed yet, -1: no shard free (counts go to the atomic totals)
const views = new Map<number, ChunkView>();

/** This thread's shard, claimed on first use; -1 when all shards are taken. */
export function threadShard(): number {
  if (shard === -2) shard = percpuNative.claimShard();
  return shard;
}

/** Shard `s`'s slots of a chunk, mapped into this thread once. */
export function shardSlots(v: ChunkView, s: number): Float64Array {
  let slots = v.shards[s];
  if (!slots) {
    slots = new Float64Array(percpuNative.shardView(v.id, s));
    v.shards[s] = slots;
  }
  return slots;
}

/** The views of a chunk, created once per thread. */
export function chunkView(id: number): ChunkView {
  let v = views.get(id);
  if (!v) {
    const own = threadShard();
    const n = percpuNative.view(id);
    v = {
      id,
      totals: new BigInt64Array(n.meta, n.totalsOffset, n.cols),
      bases: new BigInt64Array(n.meta, n.basesOffset, n.cols),
      seqs: new Uint32Array(n.meta, n.seqsOffset, MAX_SHARDS * SEQ_STRIDE),
      shards: new Array<Float64Array | undefined>(MAX_SHARDS).fill(undefined),
      mine: new Float64Array(0),
    };
    if (own >= 0) (v as { mine: Float64Array }).mine = shardSlots(v, own);
    views.set(id, v);
  }
  return v;
}

/** Where a counter or counter set lives, and the proof that a handle names it. */
export interface Placement {
  readonly view: ChunkView;
  readonly offset: number;
  readonly width: number;
  readonly token: number;
}

// Returns a column range to the arena once the object that held it is gone.
const releaser = new FinalizationRegistry<{ chunk: number; offset: number }>(({ chunk, offset }) => {
  percpuNative.release(chunk, offset);
});

/** Allocates `width` zeroed columns; pass the result to {@link track}. */
export function allocate(width: number): Placement {
  const [chunk, offset, token] = percpuNative.alloc(width);
  return { view: chunkView(chunk), offset, width, token };
}

/** Takes another reference to a live allocation named by a handle; EINVAL if it is not one. */
export function acquire(chunk: number, offset: number, width: number, token: number): Placement {
  percpuNative.acquire(chunk, offset, width, token);
  return { view: chunkView(chunk), offset, width, token };
}

/** Drops the reference {@link acquire} took, for an attach that fails after it. */
export function unacquire(place: Placement): void {
  percpuNative.release(place.view.id, place.offset);
}

/** Drops this thread's reference to `place` once `owner` is garbage-collected. */
export function track(owner: object, place: Placement): void {
  releaser.register(owner, { chunk: place.view.id, offset: place.offset });
}

/**
 * The owner's slow path: adds n to column `col` when its slot would pass the
 * fold threshold, n is large, or this thread has no shard. n must be a safe integer.
 */
export function addSlow(v: ChunkView, col: number, n: number): void {
  if (v.mine.length === 0) {
    // No shard for this thread: one atomic add on the exact total (correct, slower).
    Atomics.add(v.totals, col, BigInt(n));
    return;
  }
  const x = v.mine[col] + n;
  // Below the threshold the float sum is exact: both terms are integers and |x| < 2^40.
  if (x < FOLD_THRESHOLD && x > -FOLD_THRESHOLD) v.mine[col] = x;
  else percpuNative.fold(v.id, col, n); // native, so a terminated thread cannot stop it halfway
}

/** The sum of every scanned shard's fold sequence (mod 2^32), or -1 while one is folding. */
function seqState(seqs: Uint32Array, shards: number): number {
  let sum = 0;
  for (let s = 0; s < shards; s++) {
    const q = Atomics.load(seqs, s * SEQ_STRIDE);
    if (q & 1) return -1;
    sum = (sum + q) >>> 0;
  }
  return sum;
}

// Optimistic reads spoiled by folds before the reader asks the addon, which
// holds the folds off (so a reader always finishes, however often others fold).
const OPTIMISTIC_ATTEMPTS = 8;

/**
 * Exact totals of columns [offset, offset + width) since creation, as one
 * consistent snapshot: the fold sequences of every shard are unchanged and even
 * across the read (a seqlock). Writes `out[i]`.
 */
export function sumRaw(v: ChunkView, offset: number, width: number, out: bigint[]): void {
  const { seqs, totals, shards: slotsOf } = v;
  for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
    const shards = Atomics.load(control, 0);
    const before = seqState(seqs, shards);
    if (before < 0) continue;
    for (let i = 0; i < width; i++) {
      const col = offset + i;
      // Each slot is below 2^40 and there are at most 2^12 shards: the float sum is exact.
      let slots = 0;
      for (let s = 0; s < shards; s++) slots += (slotsOf[s] ?? shardSlots(v, s))[col];
      out[i] = Atomics.load(totals, col) + BigInt(slots);
    }
    if (seqState(seqs, shards) === before) return;
  }
  const locked = percpuNative.sumRaw(v.id, offset, width);
  for (let i = 0; i < width; i++) out[i] = locked[i];
}

/** One column's exact total since creation (the single-column case of {@link sumRaw}). */
export function sumRawOne(v: ChunkView, col: number): bigint {
  const { seqs, totals, shards: slotsOf } = v;
  for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
    const shards = Atomics.load(control, 0);
    const before = seqState(seqs, shards);
    if (before < 0) continue;
    const total = Atomics.load(totals, col);
    let slots = 0;
    for (let s = 0; s < shards; s++) slots += (slotsOf[s] ?? shardSlots(v, s))[col];
    if (seqState(seqs, shards) === before) return total + BigInt(slots);
  }
  return percpuNative.sumRaw(v.id, col, 1)[0];
}

/** A cheap, approximate read: no snapshot, float arithmetic (like percpu_counter_read, but nearer). */
export function readApprox(v: ChunkView, col: number): number {
  const shards = control[0];
  let x = Number(v.totals[col] - v.bases[col]);
  for (let s = 0; s < shards; s++) x += (v.shards[s] ?? shardSlots(v, s))[col];
  return x;
}

