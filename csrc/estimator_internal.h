// What the three parts of the estimators share (not part of the addon's
// interface; estimator.h is what JavaScript relies on):
//
// - estimator_core.cc: the estimation core, after ip_vs_est.c: slots, chains,
//   kthread contexts, the kthreads' loop, the calc phase and the reload.
// - estimator_gen.cc: the gen estimators, after gen_estimator.c: their EWMA and
//   the timers kthread 0 runs.
// - estimator.cc: the N-API bindings, JavaScript environments and test hooks.
//
// Where the kernel uses RCU, this uses one mutex per kthread context (held while
// one chain is estimated, about 95 us at most) and one mutex for the structure
// (contexts, temp list, slots). Lock order: configMu, then mu, then a context's
// mu or gen.mu. Kthreads other than 0 never take `mu`.
#pragma once

#include <napi.h>

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <memory>
#include <mutex>
#include <queue>
#include <vector>

#include "addon.h"
#include "estimator.h"
#include "kthread.h"
#include "percpu.h"

namespace kernkit::estimator {

using kthread::Context;
using kthread::KThread;
using kthread::MonotonicNs;

enum Kind : uint8_t { kFree = 0, kIpvs = 1, kGen = 2 };

// What only native code sees of one estimator.
struct PrivEst {
  uint64_t last[5];          // counters at the last estimation (last_conns, ...)
  percpu::Chunk* chunk;      // where its counters live (chunks are never freed)
  uint32_t cols[5];          // counter columns, in estimator field order
  uint32_t minCol;           // first column of a span read with one SumRaw
  uint32_t setCol;           // the counter set's first column: its allocation, to release
  uint32_t owner;            // id of the JavaScript environment that created it
  uint32_t pos;              // index in its chain, or in the temp list
  uint32_t genSeq;           // gen: matches its live timer entry
  int16_t ktid;              // kthread context, -1: temp list
  uint8_t row;               // tick row, or the delay (rows) while in the temp list
  uint8_t cid;               // chain in the row
  uint8_t kind;
  uint8_t nfields;           // 5 (IPVS) or 2 (gen: bytes, packets)
  uint8_t span;              // > 0: columns fit in [minCol, minCol + span); 0: read one by one
  uint8_t intvlLog;          // gen: period 250 ms << intvlLog
  uint8_t ewmaLog;           // gen: weight 2^-ewmaLog
};

constexpr uint32_t kMaxSpan = 32;

struct Slab {
  SharedEst* shared;
  PrivEst* priv;
};

// One row of a kthread context: up to 48 chains.
struct TickData {
  std::vector<uint32_t> chains[kTickChains];
  std::bitset<kTickChains> present;  // chains with estimators
  std::bitset<kTickChains> full;     // chains at chain_max
};

// A kthread context (the kernel's ip_vs_est_kt_data).
struct KtData {
  int id = 0;
  std::mutex mu;  // its rows and chains, and the estimators in them while estimated
  std::array<std::unique_ptr<TickData>, kTicks> ticks;
  std::bitset<kTicks> avail;  // rows with room
  int tickLen[kTicks] = {};
  int chainMax = 0, tickMax = 0, estCount = 0, estMaxCount = 0;
  int addRow = 0;
  std::atomic<int> estRow{0};  // next row to estimate
  std::atomic<int64_t> estTimer{0};  // when that row is due (estimation clock)
  std::shared_ptr<KThread> task;

  // Statistics, written by its thread.
  std::atomic<uint64_t> ticksRun{0}, lateTicks{0}, timerResets{0}, busyNs{0}, estimated{0};
  std::atomic<int64_t> lastTickNs{0}, maxTickNs{0};
};

// One pending gen estimation; stale once the estimator's genSeq changed.
struct GenTimer {
  int64_t deadline;
  uint32_t id;
  uint32_t seq;
  bool operator>(const GenTimer& o) const { return deadline > o.deadline; }
};

// ---- The process-wide state, in named parts --------------------------------

// Where the kthreads run: the kernel's est_cpulist, est_nice and what follows. Under mu.
struct KthreadConfig {
  bool initialized = false;  // defaults taken (EnsureConfigured)
  std::vector<int> cpus;     // est_cpulist
  int nice = 0;              // est_nice
  bool stopped = false;      // empty cpulist
  bool reloading = false;    // Restart() is between stopping the kthreads and starting them
  int maxThreads = 1;        // est_max_threads
};

// The IPVS scheduling: contexts, the temp list and the calibration. Under mu.
struct Scheduler {
  std::vector<std::shared_ptr<KtData>> contexts;  // est_kt_arr (holes are null); size = est_kt_count
  int addKtid = 0;                                // est_add_ktid
  std::vector<uint32_t> tempList;                 // est_temp_list; the back is the head
  std::atomic<int> chainMax{0};                   // est_chain_max, 0 until calibrated
  bool calcPhase = false;                         // est_calc_phase
  uint64_t genid = 0;                             // configuration generation
  int64_t estimationCostNs = 0;                   // calibration: one estimation, hot cache
  std::atomic<uint32_t> calibratedShards{0};      // the shard high-water mark the calibration saw
};

// The kthreads' tasks as they come and go. Under mu.
struct TaskLifecycle {
  std::vector<std::shared_ptr<KThread>> exiting;  // stopped, not joined yet
  uint64_t startErrors = 0;                       // kthreads that could not be created
  int lastStartError = 0;                         // errno of the last one
  std::atomic<bool> missing{false};               // a context may have no task: kthread 0 retries
};

// Estimator slots in slabs. Under mu.
struct Slots {
  Slab slabs[kMaxSlabs] = {};
  uint32_t next = 0;           // slots ever handed out
  std::vector<uint32_t> free;  // slots to reuse
  uint64_t ipvsCount = 0, genCount = 0;
};

// The gen estimators' timers, run by kthread 0.
struct GenTimers {
  std::mutex mu;  // timers, and gen estimators' state
  std::priority_queue<GenTimer, std::vector<GenTimer>, std::greater<GenTimer>> timers;
  uint32_t nextSeq = 1;
  std::atomic<int64_t> kthread0Wake{INT64_MAX};  // when kthread 0 wakes next (estimation clock)
  std::atomic<uint64_t> estimations{0};
};

// The estimation clock: CLOCK_MONOTONIC minus an offset, or frozen and
// advanced by step() in manual mode.
struct EstimationClock {
  std::atomic<bool> manual{false};
  std::atomic<int64_t> offset{0};
  std::atomic<int64_t> virtualNow{0};
};

// What the tests force (see TestHooks in estimator.cc).
struct TestOverrides {
  std::atomic<int> chainMax{0};         // chain_max forced at the next calc phases
  std::atomic<bool> holdExits{false};   // see HoldExitForTest
  std::atomic<int> heldExits{0};
};

struct EstimationState {
  std::mutex configMu;  // serialises reconfiguration
  std::mutex mu;        // the structure: config, sched, tasks, slots
  KthreadConfig config;
  Scheduler sched;
  TaskLifecycle tasks;
  Slots slots;
  GenTimers gen;
  EstimationClock clock;
  TestOverrides test;
  uint32_t nextEnvId = 1;
};

// The one state of the process (never destroyed: kthreads may run during exit).
EstimationState& Estimation();

inline SharedEst& SharedSlot(uint32_t id) { return Estimation().slots.slabs[id / kSlabSlots].shared[id % kSlabSlots]; }
inline PrivEst& PrivateSlot(uint32_t id) { return Estimation().slots.slabs[id / kSlabSlots].priv[id % kSlabSlots]; }

// Now on the estimation clock, and an estimation-clock time as CLOCK_MONOTONIC.
int64_t EstNow();
int64_t EstToMonotonic(int64_t t);

// ---- Writing one slot (the estimating thread is its only writer) ---------------

// Sums an estimator's counters over every shard, in estimator field order.
inline void ReadCounters(const PrivEst& p, int64_t* out) {
  if (p.span) {
    int64_t span[kMaxSpan];
    percpu::SumRaw(p.chunk, p.minCol, p.span, span);
    for (int i = 0; i < p.nfields; i++) out[i] = span[p.cols[i] - p.minCol];
  } else {
    for (int i = 0; i < p.nfields; i++) percpu::SumRaw(p.chunk, p.cols[i], 1, &out[i]);
  }
}

// The seqlock around a write of a slot (see SharedEst).
inline void SeqBegin(SharedEst& s) {
  auto seq = Atomic(s.seq);
  seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

inline void SeqEnd(SharedEst& s) {
  auto seq = Atomic(s.seq);
  seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

// Readers are JavaScript, inside the seqlock: relaxed atomics suffice.
inline void StoreRelaxed(uint64_t& field, uint64_t v) { Atomic(field).store(v, std::memory_order_relaxed); }
inline uint64_t LoadRelaxed(uint64_t& field) { return Atomic(field).load(std::memory_order_relaxed); }
inline void CountEstimation(SharedEst& s) {
  auto n = Atomic(s.estimations);
  n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// One estimation of an estimator's first N counters: reads them and, under the
// seqlock, stores each new sample and the average `ewma(k, avg, last, cur)` gives.
template <int N, class Ewma>
inline void EstimateCounters(SharedEst& s, PrivEst& p, Ewma ewma) {
  int64_t now[N];
  ReadCounters(p, now);
  SeqBegin(s);
  for (int k = 0; k < N; k++) {
    uint64_t cur = static_cast<uint64_t>(now[k]);
    StoreRelaxed(s.sample[k], cur);
    StoreRelaxed(s.avg[k], ewma(k, LoadRelaxed(s.avg[k]), p.last[k], cur));
    p.last[k] = cur;
  }
  CountEstimation(s);
  SeqEnd(s);
}

// ---- The estimation core (estimator_core.cc) -----------------------------------

void EstimateIpvs(SharedEst& s, PrivEst& p);  // ip_vs_chain_estimation for one estimator
void ZeroIpvs(SharedEst& s, PrivEst& p);      // ip_vs_zero_estimator

// Contexts and tasks. Caller holds mu.
int StartTask(const std::shared_ptr<KtData>& kd);
int AddKthread();
void MaybeDestroyKt0();
void ReapExiting();
void TempPush(uint32_t id, int delay);
std::vector<std::shared_ptr<KThread>> TakeExitingIfIdle();

// Slots. Caller holds mu.
uint32_t AllocSlot(Napi::Env env);
void FreeSlot(uint32_t id);     // and gen.mu for a gen estimator
void RemoveLocked(uint32_t id);  // stops estimator `id` and frees its slot

// Configuration.
std::vector<int> AllowedCpus(pid_t tid = 0);
void EnsureConfigured();  // caller holds mu

// Why a configuration could not be applied: the errno, the call that failed and
// the setting it concerns ("cpulist", "nice"; "kthreads" when none could be created).
struct PlaceFailure {
  int err = 0;
  const char* syscall = nullptr;
  const char* field = nullptr;
};
PlaceFailure Reload(bool setCpus, std::vector<int> cpus, bool setNice, int nice);  // caller holds no lock

// The manual clock. Caller holds mu.
void EnterManualMode();
void LeaveManualMode();
void StepManualClock();  // one 2 s pass; the clock must be manual
// Zeroes or copies estimator `id` under the lock its writer holds. Caller holds mu.
void ZeroLocked(uint32_t id);
void CopySlotLocked(uint32_t id, void* out);

// ---- The gen estimators (estimator_gen.cc) ----------------------------------

void EstimateGen(SharedEst& s, PrivEst& p);  // est_timer for one estimator
// Arms the first timer of a new gen estimator and stores `p` in its slot. Caller holds mu.
void StartGen(uint32_t id, PrivEst& p);
// Stops a gen estimator and frees its slot. Caller holds mu.
void StopGen(uint32_t id);
// The first due gen timer (INT64_MAX: none), and running what is due at `now`.
int64_t NextGenDeadline();
void RunDueGens(int64_t now, bool manualStep);

}  // namespace kernkit::estimator
