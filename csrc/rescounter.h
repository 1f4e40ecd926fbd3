// Hierarchical resource counters in native memory, in the spirit of the kernel's
// mm/page_counter.c: each counter is one slot of int64 fields; JavaScript threads
// charge them lock-free with Atomics through external ArrayBuffers over the same
// memory (lib/rescounter/), and native code (future IPVS/scheduler hooks) can
// reach a live slot through Acquire/Slot below.
//
// Layout of one chunk (one anonymous mapping, shared by every thread): kSlotsPerChunk
// slots of kSlotLongs int64 fields each, three cache lines per slot, as the kernel
// splits struct page_counter:
//
//   line 0 (written by every charge):  usage, failcnt, underflows
//   line 1 (written now and then):     watermark, local watermark, protected usage
//                                      (min_usage, low_usage) and the children's sums
//   line 2 (read-mostly settings):     max, min, low, soft limit, protection flag
//
// The parent link and the allocation token live in native bookkeeping, which
// JavaScript cannot write: a forged handle cannot graft a counter onto another tree.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kernkit::rescounter {

// Field indices (int64 units) within a slot; lib/rescounter/layout.ts mirrors them.
enum Field : uint32_t {
  kUsage = 0,
  kFailcnt = 1,
  kUnderflows = 2,
  kWatermark = 8,
  kLocalWatermark = 9,
  kMinUsage = 10,
  kLowUsage = 11,
  kChildrenMinUsage = 12,
  kChildrenLowUsage = 13,
  kMax = 16,
  kMin = 17,
  kLow = 18,
  kSoftLimit = 19,
  kProtected = 20,  // 1 once min or low was set above 0: charges then propagate protected usage
  kTrackFailcnt = 21,  // 1: a refused charge counts in failcnt (set by the counter's creator)
};

constexpr uint32_t kSlotLongs = 24;  // 192 bytes: three 64-byte lines
constexpr uint32_t kSlotsPerChunk = 512;
constexpr uint32_t kMaxChunks = 1u << 14;
// "No limit": the largest int64, as PAGE_COUNTER_MAX is the largest count the kernel allows.
constexpr int64_t kUnlimited = INT64_MAX;

// A reference held by native code (e.g. a scheduler that charges a counter from a
// kthread): true if (chunk, slot, token) names a live counter; the slot and its
// ancestors then stay allocated until Release.
bool Acquire(uint32_t chunk, uint32_t slot, uint32_t token);
void Release(uint32_t chunk, uint32_t slot);

// The counter's fields, for a holder of a reference; nullptr if there is no such slot.
int64_t* Slot(uint32_t chunk, uint32_t slot);

// The parent of a live counter as (chunk, slot), or false for a root.
bool Parent(uint32_t chunk, uint32_t slot, uint32_t* parentChunk, uint32_t* parentSlot);

}  // namespace kernkit::rescounter
