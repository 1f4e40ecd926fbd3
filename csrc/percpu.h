// Per-thread sharded counters in native memory, in the spirit of the kernel's
// percpu_counter: every writer owns a shard and adds to its own slot without
// atomics; a reader sums the shards and an exact 64-bit total.
//
// Layout of one chunk (one anonymous mapping, shared by every thread):
//
//   totals  int64[cols]          exact folded totals (atomic adds)
//   bases   int64[cols]          what zero() recorded; reads subtract it
//   seqs    uint32 per shard     one cache line each; odd while that shard folds
//   slots   float64[cols] x maxShards, shard-major, each shard page-aligned
//
// A column is one counter. A writer thread's slots for all columns of a chunk are
// contiguous, so its writes stay in its own cache lines (no false sharing).
// JavaScript threads reach the same memory through external ArrayBuffers
// (lib/percpu/arena.ts); native threads, such as the estimation kthreads, use
// the functions below.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace kernkit::percpu {

// A slot whose magnitude would reach this is folded into the exact total, so a
// float64 slot stays an exact integer (2^40 << 2^53).
constexpr double kFoldThreshold = 1099511627776.0;  // 2^40
constexpr uint32_t kDefaultMaxShards = 256;
constexpr uint32_t kMaxMaxShards = 4096;
constexpr uint32_t kMinChunkCols = 8192;  // 64 KiB of slots per shard
constexpr uint32_t kMaxChunks = 1u << 16;
constexpr uint32_t kSeqStride = 16;  // uint32 units: one 64-byte line per shard

struct Layout {
  uint32_t cols;
  size_t totalsOffset, basesOffset, seqsOffset, slotsOffset, shardBytes, bytes;
};

struct Chunk {
  uint32_t id;
  Layout layout;
  uint8_t* base;
  // Held by every fold, and by a reader that the folds kept from an optimistic read.
  std::mutex foldLock;

  int64_t* totals() const { return reinterpret_cast<int64_t*>(base + layout.totalsOffset); }
  int64_t* bases() const { return reinterpret_cast<int64_t*>(base + layout.basesOffset); }
  uint32_t* seq(uint32_t shard) const {
    return reinterpret_cast<uint32_t*>(base + layout.seqsOffset) + shard * kSeqStride;
  }
  double* slots(uint32_t shard) const {
    return reinterpret_cast<double*>(base + layout.slotsOffset + shard * layout.shardBytes);
  }
};

// Limits chosen at first use (KERNKIT_PERCPU_SHARDS overrides the shard count).
uint32_t MaxShards();

// The chunk with this id, or nullptr. Chunks live until the process exits.
Chunk* GetChunk(uint32_t id);

// Number of shard indices a reader must scan: one past the highest claimed shard.
uint32_t ShardHighWater();

// Claims a free shard for the calling thread, or returns -1 when all are taken
// (such a thread adds atomically to the totals instead; see AddShared).
int ClaimShard();
// Folds the shard's slots into the totals, then frees it for another thread.
void ReleaseShard(int shard);

// References held by native code rather than by a JavaScript environment (an
// estimator keeps the counters it reads alive). Acquire checks the allocation
// as a handle would: false if (chunk, col, width, token) is not live.
bool Acquire(uint32_t chunk, uint32_t col, uint32_t width, uint32_t token);
void Release(uint32_t chunk, uint32_t col);

// Adds n to a column from the owner of `shard` (no other thread may use that shard).
void Add(int shard, Chunk* chunk, uint32_t col, int64_t n);
// Adds n to a column's exact total directly: for threads without a shard.
void AddShared(Chunk* chunk, uint32_t col, int64_t n);

// Exact totals of columns [col, col + n) since creation (not since zero), read
// consistently with respect to folds across all shards: optimistic and lock-free while
// the shards' fold sequences stay still; after a few attempts spoiled by folds
// it takes the chunk's fold lock, so a reader always finishes.
void SumRaw(Chunk* chunk, uint32_t col, uint32_t n, int64_t* out);

}  // namespace kernkit::percpu
