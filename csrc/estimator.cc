// IPVS-style rate estimators on native kthreads (see estimator.h), with
// gen_estimator's variant beside them. The scheduling follows ip_vs_est.c:
//
// - New estimators go to a temp list; kthread 0 moves them into chains ("drain"):
//   while a context holds few (under 2 x tick_max), into few rows (the one
//   before add_row, so the first estimation comes 0-2 s after the add), past
//   that into the row estimated last (first estimation about 2 s after).
// - Kthread contexts (KtData) hold 50 rows ("ticks") of 48 chains. A kthread
//   wakes every 40 ms, estimates the chains of one row and sleeps again; a
//   kthread more than 8 ticks late resets its timer instead of catching up.
// - On its first start, after the cpulist changes, and (kernkit only) when the
//   counters' writer shards double, kthread 0 measures what one estimation
//   costs ("calc phase"), sets chain_max so a chain takes about 95 us, moves
//   every estimator back to the temp list (keeping its position in the 2 s
//   cycle) and drains them into contexts sized by the new limits.
// - At most 4 kthreads per CPU of the cpulist; an empty cpulist stops them all.
//
// Where the kernel uses RCU, this uses one mutex per kthread context (held while
// one chain is estimated, about 95 us at most) and one mutex for the structure
// (contexts, temp list, slots). Lock order: cfgMu, then mu, then a context's mu
// or genMu. Kthreads other than 0 never take `mu`.
#include "estimator.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bitset>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <vector>

#include "addon.h"
#include "kthread.h"
#include "percpu.h"

namespace kernkit::estimator {

namespace {

using kthread::Context;
using kthread::KThread;
using kthread::MonotonicNs;

template <class T>
std::atomic_ref<T> A(T& v) {
  return std::atomic_ref<T>(v);
}

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

struct GenTimer {
  int64_t deadline;
  uint32_t id;
  uint32_t seq;
  bool operator>(const GenTimer& o) const { return deadline > o.deadline; }
};

struct State {
  std::mutex cfgMu;  // serialises reconfiguration
  std::mutex mu;

  std::vector<std::shared_ptr<KtData>> kt;  // est_kt_arr (holes are null); size = est_kt_count
  int addKtid = 0;                          // est_add_ktid
  std::vector<uint32_t> temp;               // est_temp_list; the back is the head
  std::atomic<int> chainMax{0};             // est_chain_max, 0 until calibrated
  bool calcPhase = false;                   // est_calc_phase
  uint64_t genid = 0;                       // configuration generation
  int64_t estimationCostNs = 0;             // calibration: one estimation, hot cache

  bool configured = false;
  std::vector<int> cpus;  // est_cpulist
  int nice = 0;           // est_nice
  bool stopped = false;   // empty cpulist
  bool reloading = false;  // Restart() is between stopping the kthreads and starting them
  int maxThreads = 1;     // est_max_threads

  Slab slabs[kMaxSlabs] = {};
  uint32_t nextSlot = 0;
  std::vector<uint32_t> freeSlots;
  uint64_t ipvsCount = 0, genCount = 0;
  uint32_t nextEnvId = 1;
  uint32_t nextGenSeq = 1;

  std::mutex genMu;  // timers, and gen estimators' state
  std::priority_queue<GenTimer, std::vector<GenTimer>, std::greater<GenTimer>> timers;
  std::atomic<int64_t> kd0Wake{INT64_MAX};
  std::atomic<uint64_t> genEstimated{0};

  // The estimation clock: CLOCK_MONOTONIC minus an offset, or frozen and
  // advanced by step() in manual mode.
  std::atomic<bool> manual{false};
  std::atomic<int64_t> clockOffset{0};
  std::atomic<int64_t> virtualNow{0};

  std::vector<std::shared_ptr<KThread>> exiting;  // stopped, not joined yet
  uint64_t startErrors = 0;  // kthreads that could not be created
  int lastStartError = 0;    // errno of the last one
  std::atomic<bool> tasksMissing{false};  // a context may have no task: kthread 0 retries
  std::atomic<int> testChainMax{0};       // test hook: chain_max forced at the next calc phases
  std::atomic<uint32_t> calcShards{0};    // the shard high-water mark the calibration saw
  std::atomic<bool> testHoldExits{false};  // test hook: see HoldExitForTest
  std::atomic<int> testHeldExits{0};
};

State& G() {
  static State* s = new State();  // never destroyed: kthreads may run during exit
  return *s;
}

int64_t EstNow() {
  auto& g = G();
  if (g.manual.load(std::memory_order_acquire)) return g.virtualNow.load(std::memory_order_acquire);
  return MonotonicNs() - g.clockOffset.load(std::memory_order_acquire);
}

int64_t EstToMonotonic(int64_t t) {
  if (t == INT64_MAX) return t;
  return t + G().clockOffset.load(std::memory_order_acquire);
}

SharedEst& Sh(uint32_t id) { return G().slabs[id / kSlabSlots].shared[id % kSlabSlots]; }
PrivEst& Pv(uint32_t id) { return G().slabs[id / kSlabSlots].priv[id % kSlabSlots]; }

// ---- The arithmetic over one estimator -----------------------------------------

void ReadCounters(const PrivEst& p, int64_t* out) {
  if (p.span) {
    int64_t span[kMaxSpan];
    percpu::SumRaw(p.chunk, p.minCol, p.span, span);
    for (int i = 0; i < p.nfields; i++) out[i] = span[p.cols[i] - p.minCol];
  } else {
    for (int i = 0; i < p.nfields; i++) percpu::SumRaw(p.chunk, p.cols[i], 1, &out[i]);
  }
}

void SeqBegin(SharedEst& s) {
  auto seq = A(s.seq);
  seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

void SeqEnd(SharedEst& s) {
  auto seq = A(s.seq);
  seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

// The estimating thread is the only writer of a slot; readers are JavaScript.
void Put(uint64_t& field, uint64_t v) { A(field).store(v, std::memory_order_relaxed); }
uint64_t Get(uint64_t& field) { return A(field).load(std::memory_order_relaxed); }
void CountEstimation(SharedEst& s) {
  auto n = A(s.estimations);
  n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// ip_vs_chain_estimation for one estimator.
void EstimateIpvs(SharedEst& s, PrivEst& p) {
  int64_t now[5];
  ReadCounters(p, now);
  SeqBegin(s);
  for (int k = 0; k < 5; k++) {
    uint64_t cur = static_cast<uint64_t>(now[k]);
    Put(s.sample[k], cur);
    Put(s.avg[k], IpvsEwma(Get(s.avg[k]), p.last[k], cur, k < 3 ? 9 : 4));
    p.last[k] = cur;
  }
  CountEstimation(s);
  SeqEnd(s);
}

// est_timer of gen_estimator.c for one estimator.
void EstimateGen(SharedEst& s, PrivEst& p) {
  int64_t now[2];
  ReadCounters(p, now);
  SeqBegin(s);
  for (int k = 0; k < 2; k++) {
    uint64_t cur = static_cast<uint64_t>(now[k]);
    Put(s.avg[k], GenEwma(Get(s.avg[k]), p.last[k], cur, p.intvlLog, p.ewmaLog));
    Put(s.sample[k], cur);
    p.last[k] = cur;
  }
  CountEstimation(s);
  SeqEnd(s);
}

// ip_vs_zero_stats + ip_vs_zero_estimator: the last sample becomes the base of
// the totals and the start of the next delta; the averages restart at 0.
void ZeroIpvs(SharedEst& s, PrivEst& p) {
  SeqBegin(s);
  for (int k = 0; k < 5; k++) {
    uint64_t sample = Get(s.sample[k]);
    Put(s.base[k], sample);
    p.last[k] = sample;
    Put(s.avg[k], 0);
  }
  SeqEnd(s);
}

int64_t GenPeriodNs(const PrivEst& p) { return int64_t(250000000) << p.intvlLog; }

// ---- Bitmap helpers, as the kernel's find_*_bit ------------------------------

template <size_t N>
int FindLastBit(const std::bitset<N>& b, int size) {
  for (int i = size - 1; i >= 0; i--)
    if (b[i]) return i;
  return size;
}

template <size_t N>
int FindNextBit(const std::bitset<N>& b, int size, int offset) {
  for (int i = offset; i < size; i++)
    if (b[i]) return i;
  return size;
}

template <size_t N>
int FindFirstZeroBit(const std::bitset<N>& b, int size) {
  for (int i = 0; i < size; i++)
    if (!b[i]) return i;
  return size;
}

// ---- Kthread contexts -------------------------------------------------------

void KthreadMain(Context& ctx, const std::shared_ptr<KtData>& kd);

// ip_vs_est_set_params.
void SetParams(KtData& kd) {
  kd.chainMax = G().chainMax.load();
  kd.tickMax = kTickChains * kd.chainMax;
  kd.estMaxCount = kTicks * kd.tickMax;
}

void ReapExiting() {  // caller holds mu; joins only threads that already exited
  auto& ex = G().exiting;
  for (size_t i = 0; i < ex.size();) {
    if (ex[i]->Ctx().Finished()) {
      ex[i]->Join();
      ex[i] = std::move(ex.back());
      ex.pop_back();
    } else {
      i++;
    }
  }
}

// ip_vs_est_kthread_start: 0, or the errno of a thread that could not be
// created (the context is left without a task). Caller holds mu.
int StartTask(const std::shared_ptr<KtData>& kd) {
  auto& g = G();
  if (kd->task) return 0;
  int64_t now = EstNow();
  if (std::llabs(kd->estTimer.load() - now) > 4 * kTickNs) kd->estTimer.store(now);  // starting later: resync
  ReapExiting();
  kthread::Placement place{g.cpus, g.nice};
  std::shared_ptr<KtData> ref = kd;
  int err = 0;
  kd->task = KThread::Start("kk-est/" + std::to_string(kd->id), place,
                            [ref](Context& ctx) { KthreadMain(ctx, ref); }, &err);
  if (!kd->task) {
    g.startErrors++;
    g.lastStartError = err;
    g.tasksMissing.store(true);
    return err;
  }
  return 0;
}

// Stops a context's thread without waiting (it may be the caller's event loop). Caller holds mu.
void StopTask(KtData& kd) {
  if (!kd.task) return;
  kd.task->RequestStop();
  G().exiting.push_back(std::move(kd.task));
  kd.task = nullptr;
}

// ip_vs_est_add_kthread: a context in a free or new slot, and its task. 0, or
// EINVAL past est_max_threads, or the errno of a thread that could not be
// created (as the kernel, the context is then dropped). Caller holds mu.
int AddKthread() {
  auto& g = G();
  int id = static_cast<int>(g.kt.size());
  if (id >= g.maxThreads) return EINVAL;  // as the kernel: the estimator waits in the temp list
  int i = 0;
  while (i < id && g.kt[i]) i++;
  bool append = i >= id;
  if (!append) id = i;
  auto kd = std::make_shared<KtData>();
  kd->id = id;
  kd->avail.set();
  kd->estTimer = EstNow();
  SetParams(*kd);
  if (!g.stopped) {
    if (int err = StartTask(kd)) return err;
  }
  if (append) g.kt.push_back(kd);
  else g.kt[id] = kd;
  g.addKtid = id;  // use the most recent context for new estimators
  return 0;
}

// ip_vs_est_update_ktid: the first context with room, else the first hole, else a new slot.
void UpdateKtid() {
  auto& g = G();
  int best = static_cast<int>(g.kt.size());
  for (int ktid = 0; ktid < static_cast<int>(g.kt.size()); ktid++) {
    auto& kd = g.kt[ktid];
    if (kd) {
      if (kd->estCount < kd->estMaxCount) {
        best = ktid;
        break;
      }
    } else if (ktid < best) {
      best = ktid;
    }
  }
  g.addKtid = best;
}

// ip_vs_enqueue_estimator: from the temp list into a chain. Caller holds mu.
bool Enqueue(uint32_t id) {
  auto& g = G();
  PrivEst& p = Pv(id);
  int delay = p.row;
  KtData* kd = nullptr;
  if (g.addKtid < static_cast<int>(g.kt.size()) && g.kt[g.addKtid]) {
    kd = g.kt[g.addKtid].get();
  } else {
    if (AddKthread()) return false;  // no kthread: the estimator stays in the temp list
    kd = g.kt[g.addKtid].get();
  }
  std::lock_guard<std::mutex> lock(kd->mu);
  // Few estimators: keep them in few rows; many: add to the row estimated last.
  // est_row and add_row point after the row to use.
  int crow = (kd->estCount >= 2 * kd->tickMax || delay < kTicks - 1) ? kd->estRow.load() : kd->addRow;
  crow += delay;
  if (crow >= kTicks) crow -= kTicks;
  int row;
  if (delay >= kTicks - 1) {
    // A new estimator: keep the initial delay, or shorten it if the row is full.
    row = crow;
    if (crow < kTicks - 1) {
      crow++;
      row = FindLastBit(kd->avail, crow);
    }
    if (row >= crow) row = FindLastBit(kd->avail, kTicks);
  } else {
    // A moved estimator: keep its delay, or lengthen it if the row is full.
    row = kTicks;
    if (crow > 0) row = FindNextBit(kd->avail, kTicks, crow);
    if (row >= kTicks) row = FindNextBit(kd->avail, kTicks, 0);
  }
  if (row >= kTicks) return false;  // no room (cannot happen with est_add_ktid kept right)

  auto& td = kd->ticks[row];
  if (!td) td = std::make_unique<TickData>();
  int cid = FindFirstZeroBit(td->full, kTickChains);
  kd->estCount++;
  kd->tickLen[row]++;
  auto& chain = td->chains[cid];
  td->present.set(cid);
  p.ktid = static_cast<int16_t>(kd->id);
  p.row = static_cast<uint8_t>(row);
  p.cid = static_cast<uint8_t>(cid);
  p.pos = static_cast<uint32_t>(chain.size());
  chain.push_back(id);
  if (static_cast<int>(chain.size()) >= kd->chainMax) {
    td->full.set(cid);
    if (kd->tickLen[row] >= kd->tickMax) kd->avail.reset(row);
  }
  if (kd->estCount == kd->estMaxCount) UpdateKtid();
  return true;
}

void TempPush(uint32_t id, int delay) {
  auto& g = G();
  PrivEst& p = Pv(id);
  p.ktid = -1;
  p.row = static_cast<uint8_t>(delay);
  p.pos = static_cast<uint32_t>(g.temp.size());
  g.temp.push_back(id);
}

void TempRemove(uint32_t id) {
  auto& g = G();
  uint32_t pos = Pv(id).pos;
  uint32_t moved = g.temp.back();
  g.temp[pos] = moved;
  Pv(moved).pos = pos;
  g.temp.pop_back();
}

// Takes an estimator out of its chain. Caller holds mu; takes the context's mu.
void ChainRemove(KtData& kd, uint32_t id) {
  PrivEst& p = Pv(id);
  std::lock_guard<std::mutex> lock(kd.mu);
  auto& td = kd.ticks[p.row];
  auto& chain = td->chains[p.cid];
  uint32_t moved = chain.back();
  chain[p.pos] = moved;
  Pv(moved).pos = p.pos;
  chain.pop_back();
  td->full.reset(p.cid);
  if (chain.empty()) td->present.reset(p.cid);
  kd.tickLen[p.row]--;
  kd.avail.set(p.row);
  if (!kd.tickLen[p.row]) td.reset();
  kd.estCount--;
}

// Frees a context that has no estimators left. Caller holds mu.
void DestroyKt(int ktid) {
  auto& g = G();
  StopTask(*g.kt[ktid]);
  g.kt[ktid] = nullptr;
  if (ktid == static_cast<int>(g.kt.size()) - 1) {
    g.kt.pop_back();
    while (g.kt.size() > 1 && !g.kt.back()) g.kt.pop_back();
  }
}

// Context 0 goes last: once nothing is estimated any more, its thread stops.
void MaybeDestroyKt0() {
  auto& g = G();
  if (g.kt.size() != 1 || !g.temp.empty() || g.genCount) return;
  auto& kd = g.kt[0];
  if (kd && kd->estCount) return;
  if (kd) StopTask(*kd);
  g.kt.clear();
  g.addKtid = 0;
}

// ip_vs_stop_estimator. Caller holds mu.
void StopIpvs(uint32_t id) {
  auto& g = G();
  PrivEst& p = Pv(id);
  int ktid = p.ktid;
  if (ktid < 0) {
    TempRemove(id);
  } else {
    KtData& kd = *g.kt[ktid];
    ChainRemove(kd, id);
    if (kd.estCount) {
      if (ktid < g.addKtid) g.addKtid = ktid;  // this context has room again: prefer it
      return;
    }
    if (ktid > 0) {
      DestroyKt(ktid);
      if (ktid == g.addKtid) UpdateKtid();
    }
  }
  MaybeDestroyKt0();
}

// ---- The kthreads --------------------------------------------------------------

// A private estimator over a private counter chunk, for the calibration (the
// kernel's calc_stats): same layout as a real chunk, never written, so every
// page reads as zero and costs no memory.
percpu::Chunk* CalcChunk() {
  static percpu::Chunk* chunk = [] {
    const size_t page = 4096;
    uint32_t shards = percpu::MaxShards();
    percpu::Layout l{};
    l.cols = 8;
    l.totalsOffset = 0;
    l.basesOffset = 64;
    l.seqsOffset = 128;
    l.slotsOffset = (128 + size_t(shards) * percpu::kSeqStride * sizeof(uint32_t) + page - 1) / page * page;
    l.shardBytes = page;
    l.bytes = l.slotsOffset + size_t(shards) * l.shardBytes;
    void* mem = mmap(nullptr, l.bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return static_cast<percpu::Chunk*>(nullptr);
    auto* c = new percpu::Chunk();
    c->id = UINT32_MAX;
    c->layout = l;
    c->base = static_cast<uint8_t*>(mem);
    return c;
  }();
  return chunk;
}

// ip_vs_est_calc_limits: the best of 12 timings of 4 * loops estimations of one
// estimator, pausing 20 ms every 4 tests (for cpufreq), gives min_est, the cost
// of 4 estimations (a cold-cache allowance); chain_max = 95 us / min_est.
// Returns false if the thread was asked to stop.
bool CalcLimits(Context& ctx, int* chainMax, int64_t* costNs) {
  SharedEst s{};
  PrivEst p{};
  p.chunk = CalcChunk();
  p.kind = kIpvs;
  p.nfields = 5;
  p.span = 5;
  for (int i = 0; i < 5; i++) p.cols[i] = i;
  int max = 8;
  int64_t minEst = 0;
  if (!p.chunk) {
    *chainMax = max;
    *costNs = 0;
    return true;
  }
  int loops = 1;
  for (int ntest = 0; ntest < 12; ntest++) {
    if (!(ntest & 3)) {
      ctx.SleepUntil(MonotonicNs() + 20000000);
      if (ctx.StopRequested()) return false;
    }
    EstimateIpvs(s, p);  // into the cache
    int64_t t1 = MonotonicNs();
    for (int i = loops * kCalcCacheFactor; i > 0; i--) EstimateIpvs(s, p);
    int64_t t2 = MonotonicNs();
    if (ctx.StopRequested()) return false;
    int64_t diff = t2 - t1;
    if (diff <= 1000) {  // below the clock's resolution: more loops
      loops *= 2;
      continue;
    }
    if (diff >= 1000000000) continue;
    int64_t val = diff / loops;
    if (!minEst || val < minEst) {
      minEst = val;
      max = kChainGoalNs >= minEst ? static_cast<int>(kChainGoalNs / minEst) : 1;
    }
  }
  *chainMax = max;
  *costNs = minEst / kCalcCacheFactor;
  return true;
}

// ip_vs_est_calc_phase, in kthread 0: new limits, then every estimator back to
// the temp list with its delay (rows until it is due), so that the drain spreads
// them over contexts sized by the new limits without breaking anyone's 2 s cycle.
void CalcPhase(Context& ctx) {
  auto& g = G();
  uint64_t genid;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    genid = g.genid;
  }
  int chainMax;
  int64_t cost;
  // What an estimation costs grows with the shards a sum reads (SumRaw reads up
  // to the high-water mark): remember how many this calibration saw.
  uint32_t shards = std::max<uint32_t>(1, percpu::ShardHighWater());
  if (!CalcLimits(ctx, &chainMax, &cost)) return;
  if (int forced = g.testChainMax.load()) chainMax = forced;

  std::unique_lock<std::mutex> lock(g.mu);
  // Stop the other kthreads, so their chains can be emptied, and wait for them
  // without mu, as Reload does: a kthread on a busy CPU (or at nice 19) may take
  // long to exit, and every JavaScript call that takes mu would wait as long.
  // Nobody restarts their tasks meanwhile: calcPhase is set (only kthread 0
  // starts while it is), and a reload would stop this thread first.
  std::vector<std::shared_ptr<KThread>> stopped;
  for (size_t id = 1; id < g.kt.size(); id++) {
    if (!g.kt[id] || !g.kt[id]->task) continue;
    stopped.push_back(std::move(g.kt[id]->task));
    g.kt[id]->task = nullptr;
    stopped.back()->RequestStop();
  }
  if (!stopped.empty()) {
    lock.unlock();
    for (auto& t : stopped) t->Join();
    stopped.clear();
    lock.lock();
  }
  // Walk delay (descending), context (descending), chain (ascending); each
  // estimator goes to the back of the temp list, so the drain, which takes from
  // the back, sees the shortest delays first.
  unsigned moved = 0;
  for (int delay = kTicks - 1; delay >= 0; delay--) {
    for (int id = static_cast<int>(g.kt.size()) - 1; id >= 0; id--) {
      for (;;) {
        if (ctx.StopRequested()) return;
        if (id >= static_cast<int>(g.kt.size()) || !g.kt[id]) break;
        KtData& kd = *g.kt[id];
        int row = (kd.estRow.load() + delay) % kTicks;
        TickData* td = kd.ticks[row].get();
        if (!td) break;
        int cid = FindNextBit(td->present, kTickChains, 0);
        if (cid >= kTickChains) break;
        uint32_t est = td->chains[cid].back();
        ChainRemove(kd, est);
        TempPush(est, delay);
        if (id > 0 && !kd.estCount) {
          DestroyKt(id);
          break;
        }
        if (++moved % 1024 == 0) {  // let estimators come and go meanwhile
          lock.unlock();
          sched_yield();
          lock.lock();
        }
      }
    }
  }
  if (g.kt.empty() || !g.kt[0]) return;  // everything was removed meanwhile
  KtData& kd0 = *g.kt[0];
  kd0.addRow = kd0.estRow.load();
  g.chainMax.store(chainMax);
  g.calcShards.store(shards);
  g.estimationCostNs = cost;
  SetParams(kd0);
  g.addKtid = 0;
  UpdateKtid();
  if (genid == g.genid) g.calcPhase = false;  // no newer request for a calc phase
}

// In kthread 0, as the kernel's est_reload_work repeats failed starts: starts
// the task of every context that lacks one (its thread could not be created).
void RestartMissingTasks(Context& ctx) {
  auto& g = G();
  if (!g.tasksMissing.load()) return;
  std::lock_guard<std::mutex> lock(g.mu);
  if (ctx.StopRequested() || g.stopped || g.reloading || g.calcPhase || g.manual.load()) return;  // a reload or calc phase starts them
  bool missing = false;
  for (auto& kd : g.kt)
    if (kd && !kd->task && StartTask(kd)) missing = true;
  g.tasksMissing.store(missing);
}

// ip_vs_est_drain_temp_list, in kthread 0: 16 estimators per hold of mu.
void DrainTemp(Context& ctx) {
  auto& g = G();
  for (;;) {
    std::lock_guard<std::mutex> lock(g.mu);
    for (int max = 16; max > 0; max--) {
      if (g.temp.empty() || ctx.StopRequested()) return;
      uint32_t id = g.temp.back();
      g.temp.pop_back();
      int delay = Pv(id).row;
      if (Enqueue(id)) continue;
      TempPush(id, delay);  // no room (thread limit): estimated after a later attempt
      return;
    }
  }
}

int64_t NextGenDeadline() {
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.genMu);
  return g.timers.empty() ? INT64_MAX : g.timers.top().deadline;
}

// Runs every gen estimator whose timer is due at `now`. In manual mode a timer
// fires as often as its period fits (a 250 ms estimator 8 times per 2 s step);
// in real time a late timer is re-armed 1 ms after now, as gen_estimator re-arms
// a delayed one a jiffy later.
void RunDueGens(int64_t now, bool manualStep) {
  auto& g = G();
  for (;;) {
    std::lock_guard<std::mutex> lock(g.genMu);
    if (!manualStep && g.manual.load(std::memory_order_acquire)) return;  // parked: step() runs them
    for (int n = 0; n < 256; n++) {
      if (g.timers.empty() || g.timers.top().deadline > now) return;
      GenTimer t = g.timers.top();
      g.timers.pop();
      PrivEst& p = Pv(t.id);
      if (p.kind != kGen || p.genSeq != t.seq) continue;  // stopped meanwhile
      EstimateGen(Sh(t.id), p);
      g.genEstimated.fetch_add(1, std::memory_order_relaxed);
      int64_t next = t.deadline + GenPeriodNs(p);
      if (!manualStep && now >= next) next = now + 1000000;
      g.timers.push({next, t.id, t.seq});
    }
  }
}

// ip_vs_tick_estimation: the chains of one row, one hold of the context's mu each.
void TickEstimation(Context& ctx, KtData& kd, int row) {
  auto& g = G();
  for (int cid = 0; cid < kTickChains; cid++) {
    std::lock_guard<std::mutex> lock(kd.mu);
    if (ctx.StopRequested() || g.manual.load(std::memory_order_acquire)) return;
    TickData* td = kd.ticks[row].get();
    if (!td) return;
    if (!td->present[cid]) continue;
    int64_t t0 = MonotonicNs();
    auto& chain = td->chains[cid];
    for (uint32_t id : chain) EstimateIpvs(Sh(id), Pv(id));
    kd.busyNs.fetch_add(MonotonicNs() - t0, std::memory_order_relaxed);
    kd.estimated.fetch_add(chain.size(), std::memory_order_relaxed);
  }
}

// True when twice as many writer shards as the calibration saw may be summed:
// an estimation then costs much more than chain_max was sized for (the kernel
// sums a fixed set of CPUs and never needs this). Not in manual mode: parked
// kthreads do nothing.
bool ShardsOutgrewCalibration() {
  auto& g = G();
  uint32_t seen = g.calcShards.load();
  return seen && !g.manual.load() && percpu::ShardHighWater() >= 2 * seen;
}

// Test hook: while testHoldExits is set, a kthread other than 0 that was asked
// to stop waits (10 s at most) before it exits, as one that a busy CPU keeps
// from running would.
void HoldExitForTest() {
  auto& g = G();
  if (!g.testHoldExits.load()) return;
  g.testHeldExits.fetch_add(1);
  int64_t until = MonotonicNs() + 10 * int64_t(1000000000);
  while (g.testHoldExits.load() && MonotonicNs() < until) {
    timespec pause{0, 1000000};
    nanosleep(&pause, nullptr);
  }
  g.testHeldExits.fetch_sub(1);
}

void KthreadLoop(Context& ctx, const std::shared_ptr<KtData>& kdRef);

// ip_vs_estimation_kthread.
void KthreadMain(Context& ctx, const std::shared_ptr<KtData>& kdRef) {
  KthreadLoop(ctx, kdRef);
  if (kdRef->id != 0) HoldExitForTest();
}

void KthreadLoop(Context& ctx, const std::shared_ptr<KtData>& kdRef) {
  auto& g = G();
  KtData& kd = *kdRef;
  const bool zero = kd.id == 0;
  if (!zero) {
    if (!g.chainMax.load()) return;
  } else {
    bool calc;
    {
      std::lock_guard<std::mutex> lock(g.mu);
      if (!g.chainMax.load()) g.calcPhase = true;
      calc = g.calcPhase;
    }
    if (calc) {
      CalcPhase(ctx);
      if (ctx.StopRequested()) return;
    }
  }

  int row = kd.estRow.load();
  for (;;) {
    if (zero && ShardsOutgrewCalibration()) {
      {
        std::lock_guard<std::mutex> lock(g.mu);
        g.calcPhase = true;  // as a cpulist change: stops the other kthreads' restarts until done
      }
      CalcPhase(ctx);
      if (ctx.StopRequested()) break;
    }
    if (zero) {
      RestartMissingTasks(ctx);
      DrainTemp(ctx);
      if (!g.manual.load()) RunDueGens(EstNow(), false);
    }
    if (ctx.StopRequested()) break;
    if (g.manual.load(std::memory_order_acquire)) {  // parked until automatic()
      ctx.SleepUntil(INT64_MAX);
      continue;
    }

    int64_t now = EstNow();
    int64_t gap = kd.estTimer.load() - now;
    if (gap > 0) {
      if (gap > kTickNs) {  // the timer is too far ahead: wait one tick at most
        kd.estTimer.store(now - kTickNs);
        gap = kTickNs;
      }
      int64_t due = now + gap;
      bool parked = false;
      for (;;) {
        if (ctx.StopRequested()) break;
        if (g.manual.load(std::memory_order_acquire)) {
          parked = true;
          break;
        }
        if (EstNow() >= due) break;
        int64_t wake = due;
        if (zero) {
          wake = std::min(wake, NextGenDeadline());
          g.kd0Wake.store(wake);
        }
        ctx.SleepUntil(EstToMonotonic(wake));
        if (zero) {
          g.kd0Wake.store(INT64_MAX);
          if (!g.manual.load()) RunDueGens(EstNow(), false);
        }
      }
      if (ctx.StopRequested()) break;
      if (parked) continue;
    } else {
      if (gap < -kTickNs) kd.lateTicks.fetch_add(1, std::memory_order_relaxed);
      if (gap < -kLateResetTicks * kTickNs) {  // far behind: do not catch up
        kd.estTimer.store(now);
        kd.timerResets.fetch_add(1, std::memory_order_relaxed);
      }
    }

    int64_t t0 = MonotonicNs();
    TickEstimation(ctx, kd, row);
    int64_t took = MonotonicNs() - t0;
    kd.lastTickNs.store(took, std::memory_order_relaxed);
    if (took > kd.maxTickNs.load(std::memory_order_relaxed)) kd.maxTickNs.store(took, std::memory_order_relaxed);
    kd.ticksRun.fetch_add(1, std::memory_order_relaxed);
    if (++row >= kTicks) row = 0;
    kd.estRow.store(row);
    kd.estTimer.fetch_add(kTickNs);
  }
}

// ---- Slots ---------------------------------------------------------------

uint32_t AllocSlot(Napi::Env env) {  // caller holds mu
  auto& g = G();
  if (!g.freeSlots.empty()) {
    uint32_t id = g.freeSlots.back();
    g.freeSlots.pop_back();
    return id;
  }
  uint32_t slab = g.nextSlot / kSlabSlots;
  if (g.nextSlot % kSlabSlots == 0) {
    if (slab >= kMaxSlabs) throw MakeError(env, "ENOMEM", "estimator: too many estimators (16777216)");
    size_t sharedBytes = sizeof(SharedEst) * kSlabSlots;
    size_t bytes = sharedBytes + sizeof(PrivEst) * kSlabSlots;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw MakeErrnoError(env, errno, "mmap", "estimator slab");
    g.slabs[slab].shared = static_cast<SharedEst*>(mem);
    g.slabs[slab].priv = reinterpret_cast<PrivEst*>(static_cast<uint8_t*>(mem) + sharedBytes);
  }
  return g.nextSlot++;
}

void FreeSlot(uint32_t id) {  // caller holds mu (and genMu for a gen estimator)
  std::memset(&Sh(id), 0, sizeof(SharedEst));
  std::memset(&Pv(id), 0, sizeof(PrivEst));
  G().freeSlots.push_back(id);
}

// Stops estimator `id` and frees its slot. Caller holds mu.
void RemoveLocked(uint32_t id) {
  auto& g = G();
  PrivEst& p = Pv(id);
  uint32_t chunk = p.chunk->id, setCol = p.setCol;
  if (p.kind == kIpvs) {
    g.ipvsCount--;
    StopIpvs(id);
    FreeSlot(id);
  } else {
    g.genCount--;
    {
      std::lock_guard<std::mutex> lock(g.genMu);
      FreeSlot(id);  // its timer entry goes stale: kind is free now
    }
    MaybeDestroyKt0();
  }
  percpu::Release(chunk, setCol);
}

// The tasks to join once nothing is estimated any more. Caller holds mu.
std::vector<std::shared_ptr<KThread>> TakeExitingIfIdle() {
  auto& g = G();
  std::vector<std::shared_ptr<KThread>> out;
  if (g.kt.empty()) out.swap(g.exiting);
  return out;
}

// ---- Configuration ---------------------------------------------------------

// The CPUs thread `tid` may use (0: the calling thread, as the kernel's current->cpus_mask).
std::vector<int> AllowedCpus(pid_t tid = 0) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(tid, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  return out;
}

int MaxThreadsFor(size_t cpus) { return std::max(1, kCpuKthreads * static_cast<int>(cpus)); }  // ip_vs_est_max_threads

void EnsureConfigured() {  // caller holds mu
  auto& g = G();
  if (g.configured) return;
  g.configured = true;
  g.cpus = AllowedCpus(getpid());  // the main thread's CPUs; the kernel's default is every housekeeping CPU
  g.nice = 0;              // IPVS_EST_NICE
  g.stopped = g.cpus.empty();
  g.maxThreads = MaxThreadsFor(g.cpus.size());
}

// Why a configuration could not be applied: the errno, the call that failed and
// the setting it concerns ("cpulist", "nice"; "kthreads" when none could be created).
struct PlaceFailure {
  int err = 0;
  const char* syscall = nullptr;
  const char* field = nullptr;
};

// Stops every kthread, waits for them, and starts them again with the placement
// in g (only kthread 0 while a calc phase is pending); then checks that each
// placed itself as asked. Where no kthread runs (no estimators, an empty
// cpulist), a short-lived probe thread tries the placement instead, so that a
// setting that cannot work is refused now rather than at the first estimator.
// Caller holds cfgMu. Runs off the event loop.
PlaceFailure Restart() {
  auto& g = G();
  std::vector<std::shared_ptr<KThread>> old;
  kthread::Placement place;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.stopped = g.cpus.empty();
    g.reloading = true;  // no one else starts a task until the old ones are gone
    ++g.genid;
    for (auto& kd : g.kt) {
      if (kd && kd->task) {
        kd->task->RequestStop();
        old.push_back(std::move(kd->task));
        kd->task = nullptr;
      }
    }
  }
  for (auto& t : old) t->Join();
  PlaceFailure failure;
  std::vector<std::shared_ptr<KThread>> started;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.reloading = false;
    place = {g.cpus, g.nice};
    if (!g.stopped) {
      for (auto& kd : g.kt) {
        if (!kd || (kd->id != 0 && g.calcPhase)) continue;
        if (int err = StartTask(kd)) {
          if (!failure.err) failure = {err, "pthread_create", "kthreads"};
        } else {
          started.push_back(kd->task);
        }
      }
    }
  }
  std::shared_ptr<KThread> probe;
  if (started.empty() && !failure.err) {
    int err = 0;
    probe = KThread::Start("kk-est/probe", place, [](Context&) {}, &err);
    if (probe) started.push_back(probe);
    else failure = {err, "pthread_create", "kthreads"};
  }
  // Each thread pins and nices itself first thing.
  for (auto& t : started) {
    t->Ctx().WaitPlaced(1000000000);
    if (failure.err) continue;
    if (int err = t->Ctx().AffinityError()) failure = {err, "sched_setaffinity", "cpulist"};
    else if (int err = t->Ctx().NiceError()) failure = {err, "setpriority", "nice"};
  }
  if (probe) probe->Join();
  return failure;
}

// est_reload, off the event loop: the new cpulist and/or nice, and the kthreads
// restarted with them. If they cannot be placed so (sched_setaffinity refused
// by a cpuset, setpriority to a lower nice without CAP_SYS_NICE; the kernel's
// own kthreads never fail there), the previous configuration is restored and
// the failure returned.
PlaceFailure Reload(bool setCpus, std::vector<int> cpus, bool setNice, int nice) {
  auto& g = G();
  std::lock_guard<std::mutex> cfg(g.cfgMu);
  std::vector<int> oldCpus;
  int oldNice;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    EnsureConfigured();
    oldCpus = g.cpus;
    oldNice = g.nice;
    bool changed = false;
    if (setCpus) {
      g.cpus = std::move(cpus);
      g.maxThreads = MaxThreadsFor(g.cpus.size());  // est_max_threads depends on the cpulist
      g.calcPhase = true;                           // and so do the limits
      changed = true;
    }
    if (setNice && nice != g.nice) {
      g.nice = nice;
      changed = true;
    }
    if (!changed) return {};
  }
  PlaceFailure failure = Restart();
  if (!failure.err) return failure;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.cpus = oldCpus;
    g.maxThreads = MaxThreadsFor(g.cpus.size());
    g.nice = oldNice;
  }
  Restart();  // the previous placement worked
  return failure;
}

// ---- Environments ---------------------------------------------------------

// What a JavaScript environment owns: when it goes (worker exit, process exit),
// its estimators stop, and the kthreads with them once nothing is left.
struct EstimatorEnv : EnvSlotBase {
  uint32_t id;
  EstimatorEnv() {
    std::lock_guard<std::mutex> lock(G().mu);
    id = G().nextEnvId++;
  }
  ~EstimatorEnv() override {
    auto& g = G();
    std::vector<std::shared_ptr<KThread>> join;
    {
      std::lock_guard<std::mutex> lock(g.mu);
      for (uint32_t slot = 0; slot < g.nextSlot; slot++) {
        PrivEst& p = Pv(slot);
        if (p.kind != kFree && p.owner == id) RemoveLocked(slot);
      }
      join = TakeExitingIfIdle();
    }
    for (auto& t : join) t->Join();
  }
};

uint32_t EnvId(Napi::Env env) { return PerEnv<EstimatorEnv>(env).id; }

// At exit, whatever still runs is stopped and joined (bounded).
void StopAtExit() { kthread::StopAll(2000000000); }

// ---- JavaScript bindings ------------------------------------------------------

Napi::Value Constants(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("slabSlots", kSlabSlots);
  o.Set("slotBytes", static_cast<uint32_t>(sizeof(SharedEst)));
  o.Set("ticks", kTicks);
  o.Set("tickNs", static_cast<double>(kTickNs));
  o.Set("tickChains", kTickChains);
  o.Set("cpuKthreads", kCpuKthreads);
  o.Set("privBytes", static_cast<uint32_t>(sizeof(PrivEst)));
  return o;
}

// view(slab): the shared part of a slab as an external ArrayBuffer (no finalizer: slabs stay).
Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slab = ArgUint32(info, 0, "slab");
  SharedEst* shared = nullptr;
  {
    std::lock_guard<std::mutex> lock(G().mu);
    if (slab < kMaxSlabs) shared = G().slabs[slab].shared;
  }
  if (!shared) throw MakeError(env, "EINVAL", "no such estimator slab");
  return Napi::ArrayBuffer::New(env, shared, sizeof(SharedEst) * kSlabSlots);
}

// create(kind, chunk, setOffset, width, token, fieldIndices[], intervalLog, ewmaLog) -> slot id.
// kind 1: IPVS (five fields), 2: gen (bytes, packets). The counter set is
// referenced until the estimator stops.
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t kind = ArgUint32(info, 0, "kind");
  uint32_t chunkId = ArgUint32(info, 1, "handle.chunk");
  uint32_t setCol = ArgUint32(info, 2, "handle.offset");
  uint32_t width = ArgUint32(info, 3, "width");
  uint32_t token = ArgUint32(info, 4, "handle.token");
  if (kind != kIpvs && kind != kGen) throw MakeError(env, "EINVAL", "estimator kind must be 1 or 2");
  uint32_t nfields = kind == kIpvs ? 5 : 2;
  if (!info[5].IsArray() || info[5].As<Napi::Array>().Length() != nfields) {
    throw MakeError(env, "EINVAL", "fields must be an array of " + std::to_string(nfields) + " field indices");
  }
  auto indices = info[5].As<Napi::Array>();
  uint32_t cols[5] = {};
  for (uint32_t i = 0; i < nfields; i++) {
    Napi::Value v = indices.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d < width) || d != static_cast<uint32_t>(d)) throw MakeError(env, "EINVAL", "field index out of the set");
    cols[i] = setCol + static_cast<uint32_t>(d);
  }
  uint32_t intvlLog = 0, ewmaLog = 0;
  if (kind == kGen) {
    intvlLog = ArgUint32(info, 6, "intervalLog");
    ewmaLog = ArgUint32(info, 7, "ewmaLog");
    if (intvlLog > 5 || ewmaLog < 1 || ewmaLog > 30) throw MakeError(env, "ERANGE", "gen estimator parameters out of range");
  }
  uint32_t owner = EnvId(env);
  if (!percpu::Acquire(chunkId, setCol, width, token)) {
    throw MakeError(env, "EINVAL", "stats: the counter set's handle does not name a live counter set");
  }
  percpu::Chunk* chunk = percpu::GetChunk(chunkId);

  PrivEst p{};
  p.chunk = chunk;
  p.setCol = setCol;
  p.owner = owner;
  p.kind = static_cast<uint8_t>(kind);
  p.nfields = static_cast<uint8_t>(nfields);
  p.intvlLog = static_cast<uint8_t>(intvlLog);
  p.ewmaLog = static_cast<uint8_t>(ewmaLog);
  uint32_t lo = *std::min_element(cols, cols + nfields), hi = *std::max_element(cols, cols + nfields);
  for (uint32_t i = 0; i < nfields; i++) p.cols[i] = cols[i];
  p.minCol = lo;
  p.span = hi - lo < kMaxSpan ? static_cast<uint8_t>(hi - lo + 1) : 0;
  // Deltas count from now (the kernel's counters start with their estimator;
  // gen_new_estimator likewise samples the counters first).
  int64_t now[5];
  ReadCounters(p, now);

  auto& g = G();
  uint32_t id;
  try {
    std::lock_guard<std::mutex> lock(g.mu);
    EnsureConfigured();
    // ip_vs_start_estimator: context 0 (and its thread) with the first estimator;
    // if its thread cannot be created, the estimator is not created either.
    if (g.kt.empty() || !g.kt[0]) {
      if (int err = AddKthread()) {
        throw MakeErrnoError(env, err, "pthread_create", "cannot start the estimation kthread kk-est/0");
      }
    } else if (!g.kt[0]->task && !g.stopped && !g.reloading) {
      StartTask(g.kt[0]);  // its thread could not be created before: try again (counted in stats if not)
    }
    try {
      id = AllocSlot(env);
    } catch (...) {
      MaybeDestroyKt0();
      throw;
    }
    SharedEst& s = Sh(id);
    for (uint32_t i = 0; i < nfields; i++) {
      p.last[i] = static_cast<uint64_t>(now[i]);
      s.sample[i] = p.last[i];
      // Totals count from the counter set's own zero point, as CounterSet.sum() does.
      if (kind == kIpvs) s.base[i] = static_cast<uint64_t>(A(chunk->bases()[cols[i]]).load(std::memory_order_relaxed));
    }
    if (kind == kIpvs) {
      Pv(id) = p;
      TempPush(id, kTicks - 1);  // initial delay: estimated first about 2 s from now
      g.ipvsCount++;
    } else {
      std::lock_guard<std::mutex> glock(g.genMu);
      p.genSeq = g.nextGenSeq++;
      if (!p.genSeq) p.genSeq = g.nextGenSeq++;
      Pv(id) = p;
      int64_t deadline = EstNow() + GenPeriodNs(p);
      g.timers.push({deadline, id, p.genSeq});
      g.genCount++;
      if (deadline < g.kd0Wake.load() && g.kt[0]->task) g.kt[0]->task->Ctx().Wake();
    }
  } catch (...) {
    percpu::Release(chunkId, setCol);
    throw;
  }
  return Napi::Number::New(env, id);
}

// The slot, if it is a live estimator of the calling environment. Caller holds mu.
PrivEst& Owned(Napi::Env env, uint32_t id) {
  auto& g = G();
  if (id >= g.nextSlot || Pv(id).kind == kFree || Pv(id).owner != EnvId(env)) {
    throw MakeError(env, "EINVAL", "no such estimator in this thread (stopped already?)");
  }
  return Pv(id);
}

// remove(id): stops an estimator and releases its counters.
Napi::Value Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "id");
  EnvId(env);  // before mu: may create the slot
  std::lock_guard<std::mutex> lock(G().mu);
  Owned(env, id);
  RemoveLocked(id);
  ReapExiting();
  return env.Undefined();
}

// zero(id): ip_vs_zero_stats for an IPVS estimator.
Napi::Value Zero(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "id");
  EnvId(env);
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  PrivEst& p = Owned(env, id);
  if (p.kind != kIpvs) throw MakeError(env, "EINVAL", "only a rate estimator can be zeroed");
  if (p.ktid < 0) {
    ZeroIpvs(Sh(id), p);
  } else {
    KtData& kd = *g.kt[p.ktid];
    std::lock_guard<std::mutex> kdLock(kd.mu);
    ZeroIpvs(Sh(id), p);
  }
  return env.Undefined();
}

// snapshot(id, out): copies estimator `id`'s shared slot (128 bytes) into `out`
// (a Uint32Array of 32 words) while no kthread can be writing it: under mu and
// the lock its writer holds (its context's mu, or genMu for a gen estimator).
// The JavaScript reader's fallback when a slot stays mid-write: a kthread
// preempted while it writes holds that lock, so this waits for it to finish
// instead of spinning on the event loop.
Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "id");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[1].As<Napi::Uint32Array>().ElementLength() < sizeof(SharedEst) / 4) {
    throw MakeError(env, "EINVAL", "snapshot: out must be a Uint32Array of 32 words");
  }
  auto out = info[1].As<Napi::Uint32Array>();
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  if (id >= g.nextSlot || Pv(id).kind == kFree) throw MakeError(env, "EINVAL", "no such estimator (stopped already?)");
  PrivEst& p = Pv(id);
  if (p.kind == kGen) {
    std::lock_guard<std::mutex> genLock(g.genMu);
    std::memcpy(out.Data(), &Sh(id), sizeof(SharedEst));
  } else if (p.ktid >= 0) {
    std::lock_guard<std::mutex> kdLock(g.kt[p.ktid]->mu);
    std::memcpy(out.Data(), &Sh(id), sizeof(SharedEst));
  } else {
    std::memcpy(out.Data(), &Sh(id), sizeof(SharedEst));  // in the temp list: written only under mu
  }
  return env.Undefined();
}

// manual(): freezes the estimation clock and parks the kthreads. Returns once no
// kthread is inside a chain any more (at most one chain, ~95 us).
Napi::Value Manual(const Napi::CallbackInfo& info) {
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  if (!g.manual.load()) {
    g.virtualNow.store(EstNow());
    g.manual.store(true, std::memory_order_seq_cst);
    for (auto& kd : g.kt) {
      if (!kd) continue;
      std::lock_guard<std::mutex> barrier(kd->mu);  // a kthread mid-chain finishes it first
    }
    std::lock_guard<std::mutex> barrier(g.genMu);  // and kthread 0 its batch of gen timers
  }
  return info.Env().Undefined();
}

// automatic(): the estimation clock follows CLOCK_MONOTONIC again, from where
// manual mode left it.
Napi::Value Automatic(const Napi::CallbackInfo& info) {
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.manual.load()) {
    g.clockOffset.store(MonotonicNs() - g.virtualNow.load());
    g.manual.store(false, std::memory_order_seq_cst);
    for (auto& kd : g.kt)
      if (kd && kd->task) kd->task->Ctx().Wake();
  }
  return info.Env().Undefined();
}

// step(): one 2-second pass, synchronously: every IPVS estimator is estimated
// exactly once (in its chain or still in the temp list) and the gen estimators'
// timers fire as 2 s of their periods dictate.
Napi::Value Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  if (!g.manual.load()) throw MakeError(env, "EINVAL", "step() needs manual mode (estimation.manual())");
  int64_t now = g.virtualNow.load() + kPeriodNs;
  g.virtualNow.store(now);
  for (auto& kd : g.kt) {
    if (!kd) continue;
    kd->estTimer.fetch_add(kPeriodNs);  // a whole cycle passed for this kthread too
    int start = kd->estRow.load();
    for (int r = 0; r < kTicks; r++) {
      int row = (start + r) % kTicks;
      for (int cid = 0; cid < kTickChains; cid++) {
        std::lock_guard<std::mutex> kdLock(kd->mu);
        TickData* td = kd->ticks[row].get();
        if (!td) break;
        for (uint32_t id : td->chains[cid]) EstimateIpvs(Sh(id), Pv(id));
      }
    }
  }
  for (uint32_t id : g.temp) EstimateIpvs(Sh(id), Pv(id));
  RunDueGens(now, true);
  return env.Undefined();
}

// configure(cpus | null, nice | null) -> Promise<null | { field, code, errno,
// syscall }>: est_cpulist / est_nice, applied by restarting the kthreads off
// the event loop. The cpulist is intersected with the CPUs the calling thread
// may use, as the kernel's with current's. Resolves with what failed if the
// kthreads could not be placed so (the previous configuration is then back);
// lib/estimator/estimation.ts turns that into the error.
class ConfigureWork : public Napi::AsyncWorker {
 public:
  ConfigureWork(Napi::Env env, bool setCpus, std::vector<int> cpus, bool setNice, int nice)
      : Napi::AsyncWorker(env, "kernkit.estimation.configure"),
        deferred_(Napi::Promise::Deferred::New(env)),
        setCpus_(setCpus),
        cpus_(std::move(cpus)),
        setNice_(setNice),
        nice_(nice) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { failure_ = Reload(setCpus_, std::move(cpus_), setNice_, nice_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!failure_.err) {
      deferred_.Resolve(env.Null());
      return;
    }
    auto o = Napi::Object::New(env);
    o.Set("field", failure_.field);
    o.Set("code", ErrnoName(failure_.err));
    o.Set("errno", -failure_.err);
    o.Set("syscall", failure_.syscall);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  bool setCpus_;
  std::vector<int> cpus_;
  bool setNice_;
  int nice_;
  PlaceFailure failure_;
};

Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool setCpus = info[0].IsArray();
  std::vector<int> cpus;
  if (setCpus) {
    auto arr = info[0].As<Napi::Array>();
    std::vector<int> allowed = AllowedCpus();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      int cpu = static_cast<int>(arr.Get(i).As<Napi::Number>().Int32Value());
      if (std::find(allowed.begin(), allowed.end(), cpu) != allowed.end()) cpus.push_back(cpu);
    }
  }
  bool setNice = info[1].IsNumber();
  int nice = setNice ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (setNice && (nice < -20 || nice > 19)) throw MakeError(env, "EINVAL", "nice must be from -20 to 19");
  auto* work = new ConfigureWork(env, setCpus, std::move(cpus), setNice, nice);
  Napi::Promise promise = work->Promise();
  work->Queue();
  return promise;
}

std::string CpuListOf(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) j++;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& g = G();
  std::lock_guard<std::mutex> lock(g.mu);
  EnsureConfigured();
  ReapExiting();
  auto o = Napi::Object::New(env);
  o.Set("mode", g.manual.load() ? "manual" : "automatic");
  o.Set("cpulist", CpuListOf(g.cpus));
  o.Set("nice", g.nice);
  o.Set("stopped", g.stopped);
  o.Set("maxThreads", g.maxThreads);
  o.Set("chainMax", g.chainMax.load());
  o.Set("calcPhase", g.calcPhase);
  o.Set("estimationCostNs", static_cast<double>(g.estimationCostNs));
  o.Set("calibratedShards", g.calcShards.load());
  o.Set("estimators", static_cast<double>(g.ipvsCount));
  o.Set("genEstimators", static_cast<double>(g.genCount));
  o.Set("pending", static_cast<double>(g.temp.size()));
  o.Set("genEstimations", static_cast<double>(g.genEstimated.load()));
  o.Set("startErrors", static_cast<double>(g.startErrors));
  if (g.lastStartError) o.Set("startError", ErrnoName(g.lastStartError));
  o.Set("slots", static_cast<double>(g.nextSlot));
  o.Set("slabBytes", static_cast<double>(((g.nextSlot + kSlabSlots - 1) / kSlabSlots) * size_t(kSlabSlots) *
                                         (sizeof(SharedEst) + sizeof(PrivEst))));
  auto threads = Napi::Array::New(env);
  uint32_t n = 0;
  for (auto& kd : g.kt) {
    if (!kd) continue;
    auto t = Napi::Object::New(env);
    int chains = 0;
    {
      std::lock_guard<std::mutex> kdLock(kd->mu);
      for (auto& td : kd->ticks)
        if (td) chains += static_cast<int>(td->present.count());
      t.Set("estimators", kd->estCount);
    }
    pid_t tid = kd->task ? kd->task->Ctx().Tid() : 0;
    bool running = kd->task && !kd->task->Ctx().Finished();
    t.Set("id", kd->id);
    t.Set("name", "kk-est/" + std::to_string(kd->id));
    t.Set("running", running);
    t.Set("tid", running ? tid : 0);
    t.Set("cpus", running ? kthread::AffinityOf(tid) : std::string());
    t.Set("nice", running ? kthread::NiceOf(tid, g.nice) : g.nice);
    t.Set("chains", chains);
    t.Set("chainMax", kd->chainMax);
    t.Set("tickMax", kd->tickMax);
    t.Set("maxEstimators", kd->estMaxCount);
    t.Set("row", kd->estRow.load());
    t.Set("ticks", static_cast<double>(kd->ticksRun.load()));
    t.Set("lastTickNs", static_cast<double>(kd->lastTickNs.load()));
    t.Set("maxTickNs", static_cast<double>(kd->maxTickNs.load()));
    t.Set("lateTicks", static_cast<double>(kd->lateTicks.load()));
    t.Set("timerResets", static_cast<double>(kd->timerResets.load()));
    t.Set("busyNs", static_cast<double>(kd->busyNs.load()));
    t.Set("estimations", static_cast<double>(kd->estimated.load()));
    int affinityErr = kd->task ? kd->task->Ctx().AffinityError() : 0;
    int niceErr = kd->task ? kd->task->Ctx().NiceError() : 0;
    if (affinityErr) t.Set("affinityError", ErrnoName(affinityErr));
    if (niceErr) t.Set("niceError", ErrnoName(niceErr));
    threads.Set(n++, t);
  }
  o.Set("kthreads", threads);
  return o;
}

// testHooks({ failStarts?, chainMax?, holdExits? }) -> { heldExits }: for tests
// only (lib/estimator/native.ts types it; nothing public calls it). failStarts:
// the next n kthread starts fail with EAGAIN, as a failed thread creation;
// chainMax: the calibration's result is replaced by this (0: measured again)
// from the next calc phase on; holdExits: stopped kthreads other than 0 wait
// before exiting until it is false again (heldExits: how many wait now).
Napi::Value TestHooks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw MakeError(env, "EINVAL", "testHooks: expected an object");
  auto o = info[0].As<Napi::Object>();
  if (o.Has("failStarts")) kthread::FailNextStartsForTest(o.Get("failStarts").As<Napi::Number>().Int32Value());
  if (o.Has("chainMax")) G().testChainMax.store(o.Get("chainMax").As<Napi::Number>().Int32Value());
  if (o.Has("holdExits")) G().testHoldExits.store(o.Get("holdExits").ToBoolean().Value());
  auto out = Napi::Object::New(env);
  out.Set("heldExits", G().testHeldExits.load());
  return out;
}

void Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag atExit;
  std::call_once(atExit, [] { std::atexit(StopAtExit); });
  exports.Set("constants", Napi::Function::New(env, Constants, "constants"));
  exports.Set("view", Napi::Function::New(env, View, "view"));
  exports.Set("create", Napi::Function::New(env, Create, "create"));
  exports.Set("remove", Napi::Function::New(env, Remove, "remove"));
  exports.Set("zero", Napi::Function::New(env, Zero, "zero"));
  exports.Set("snapshot", Napi::Function::New(env, Snapshot, "snapshot"));
  exports.Set("manual", Napi::Function::New(env, Manual, "manual"));
  exports.Set("automatic", Napi::Function::New(env, Automatic, "automatic"));
  exports.Set("step", Napi::Function::New(env, Step, "step"));
  exports.Set("configure", Napi::Function::New(env, Configure, "configure"));
  exports.Set("stats", Napi::Function::New(env, Stats, "stats"));
  exports.Set("testHooks", Napi::Function::New(env, TestHooks, "testHooks"));
}

}  // namespace

KERNKIT_MODULE(estimator, Init);

}  // namespace kernkit::estimator
