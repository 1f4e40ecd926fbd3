// Rate estimators over kernkit's per-thread counters, after the kernel's
// net/netfilter/ipvs/ip_vs_est.c (Linux 6.2+) and net/core/gen_estimator.c.
//
// Every 2 s each IPVS-style estimator sums its five counters over all shards,
// takes the deltas from its last sample and updates a fixed-point EWMA with
// weight 1/4 (cps/pps scaled by 2^10, bps by 2^5). Estimators live in chains
// spread over 50 rows of 40 ms ticks and are run by native kthreads
// (csrc/kthread.h) pinned to a cpulist; a calibration phase measures what one
// estimation costs and sizes the chains so that a tick uses at most 12.5% of a
// CPU. JavaScript reads the results straight from the memory described below
// (lib/estimator/memory.ts), under a sequence counter, without a native call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kernkit::estimator {

// ---- The kernel's constants (include/net/ip_vs.h) --------------------------

constexpr int kTicks = 50;                                // IPVS_EST_NTICKS: rows per 2 s
constexpr int64_t kPeriodNs = 2000000000;                 // the 2 s estimation period
constexpr int64_t kTickNs = kPeriodNs / kTicks;           // IPVS_EST_TICK: 40 ms
constexpr int kLoadDivisor = 8;                           // IPVS_EST_LOAD_DIVISOR: 12.5% of a CPU
constexpr int kCpuKthreads = kLoadDivisor / 2;            // IPVS_EST_CPU_KTHREADS: per CPU of the cpulist
// IPVS_EST_CHAIN_FACTOR = ALIGN_DOWN(2 s * 1000 ms * 10 (100 us units) / 8 / 50, 8) = 48:
// chains per tick, each sized to take about 95 us, so a tick takes 4.56 ms of 40.
constexpr int kTickChains = (2 * 1000 * 10 / kLoadDivisor / kTicks) / 8 * 8;
constexpr int64_t kChainGoalNs = 95000;                   // ip_vs_est_calc_limits: 95 us per chain
constexpr int kCalcCacheFactor = 4;                       // cold-cache allowance in the calibration
constexpr int kLateResetTicks = 8;                        // a kthread this late resets its timer
static_assert(kTickChains == 48, "IPVS_EST_CHAIN_FACTOR");

// ---- Shared memory ----------------------------------------------------------

// What JavaScript reads of one estimator: 128 bytes, two cache lines. The
// estimating thread makes `seq` odd while it writes and even again after, so a
// reader that sees the same even `seq` before and after its reads has a
// consistent snapshot (a seqlock, as gen_estimator's seqcount).
//
// IPVS estimator: avg = cps, inpps, outpps, inbps, outbps (scaled EWMA), sample =
// the five counters at the last estimation (the kernel's kstats), base = what
// zero() recorded (kstats0). Gen estimator: avg[0] = avbps, avg[1] = avpps
// (scaled by 2^8), sample[0..1] = bytes, packets at the last estimation.
struct alignas(64) SharedEst {
  uint32_t seq;
  uint32_t estimations;  // passes applied since creation (wraps at 2^32)
  uint64_t avg[5];
  uint64_t sample[5];
  uint64_t base[5];
};
static_assert(sizeof(SharedEst) == 128, "lib/estimator/memory.ts relies on 128-byte slots");
static_assert(offsetof(SharedEst, avg) == 8 && offsetof(SharedEst, sample) == 48 && offsetof(SharedEst, base) == 88,
              "lib/estimator/memory.ts relies on this layout");

// Estimators are kept in slabs of this many slots; a slab's shared part is one
// external ArrayBuffer in JavaScript. Slabs are never unmapped.
constexpr uint32_t kSlabSlots = 16384;
constexpr uint32_t kMaxSlabs = 1024;  // 16 M estimators

// ---- The arithmetic ------------------------------------------------------------

// ip_vs_chain_estimation for one counter: `rate` is the delta since `last`,
// shifted by 9 (cps, pps: scaled by 2^10, divided by 2 s) or 4 (bps: 2^5 / 2 s).
// Unsigned 64-bit as the kernel's u64, the difference signed as its (s64) cast.
inline uint64_t IpvsEwma(uint64_t avg, uint64_t last, uint64_t cur, int shift) {
  uint64_t rate = (cur - last) << shift;
  return avg + static_cast<uint64_t>(static_cast<int64_t>(rate - avg) >> 2);
}

// est_timer of gen_estimator.c for one counter: the period is 250 ms << intvlLog
// (intvlLog = interval + 2), the rate scaled by 2^8, the weight 2^-ewmaLog.
inline uint64_t GenEwma(uint64_t avg, uint64_t last, uint64_t cur, int intvlLog, int ewmaLog) {
  uint64_t rate = (cur - last) << (10 - intvlLog);
  rate = (rate >> ewmaLog) - (avg >> ewmaLog);
  return avg + rate;
}

}  // namespace kernkit::estimator
