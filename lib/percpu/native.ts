/**
 * Types of the addon's percpu part (csrc/percpu.cc).
 * Internal: not part of the public API.
 * @module
 */
import { addon } from '../native';

/** One chunk's shared header (totals, bases, fold sequences), as csrc/percpu.h lays it out. */
export interface NativeChunkView {
  meta: ArrayBuffer;
  cols: number;
  totalsOffset: number;
  basesOffset: number;
  seqsOffset: number;
}

/** The functions csrc/percpu.cc exports. */
export interface PercpuNative {
  constants(): { maxShards: number; foldThreshold: number; seqStride: number };
  control(): ArrayBuffer;
  claimShard(): number;
  alloc(width: number): [chunk: number, offset: number, token: number];
  acquire(chunk: number, offset: number, width: number, token: number): void;
  release(chunk: number, offset: number): void;
  view(chunk: number): NativeChunkView;
  shardView(chunk: number, shard: number): ArrayBuffer;
  fold(chunk: number, offset: number, n: number): void;
  /** Exact totals since creation, read with the folds held off. */
  sumRaw(chunk: number, offset: number, width: number): bigint[];
}

/** The addon's percpu functions. */
export const percpuNative = addon.percpu as PercpuNative;
