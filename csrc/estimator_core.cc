// The estimation core, after net/netfilter/ipvs/ip_vs_est.c (Linux 6.2+); see
// estimator.h for the arithmetic and estimator_internal.h for the state.
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
// - Kthread 0 also runs the gen estimators' timers (estimator_gen.cc).
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "estimator_internal.h"

namespace kernkit::estimator {

EstimationState& Estimation() {
  static EstimationState* state = new EstimationState();  // never destroyed: kthreads may run during exit
  return *state;
}

int64_t EstNow() {
  auto& state = Estimation();
  if (state.clock.manual.load(std::memory_order_acquire)) return state.clock.virtualNow.load(std::memory_order_acquire);
  return MonotonicNs() - state.clock.offset.load(std::memory_order_acquire);
}

int64_t EstToMonotonic(int64_t t) {
  if (t == INT64_MAX) return t;
  return t + Estimation().clock.offset.load(std::memory_order_acquire);
}

// ---- The arithmetic over one estimator -----------------------------------------

// ip_vs_chain_estimation for one estimator.
void EstimateIpvs(SharedEst& s, PrivEst& p) {
  EstimateCounters<5>(s, p, [](int k, uint64_t avg, uint64_t last, uint64_t cur) {
    return IpvsEwma(avg, last, cur, k < 3 ? 9 : 4);  // cps, inpps, outpps; inbps, outbps
  });
}

// ip_vs_zero_stats + ip_vs_zero_estimator: the last sample becomes the base of
// the totals and the start of the next delta; the averages restart at 0.
void ZeroIpvs(SharedEst& s, PrivEst& p) {
  SeqBegin(s);
  for (int k = 0; k < 5; k++) {
    uint64_t sample = LoadRelaxed(s.sample[k]);
    StoreRelaxed(s.base[k], sample);
    p.last[k] = sample;
    StoreRelaxed(s.avg[k], 0);
  }
  SeqEnd(s);
}

namespace {

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
  kd.chainMax = Estimation().sched.chainMax.load();
  kd.tickMax = kTickChains * kd.chainMax;
  kd.estMaxCount = kTicks * kd.tickMax;
}

}  // namespace

void ReapExiting() {  // caller holds mu; joins only threads that already exited
  auto& ex = Estimation().tasks.exiting;
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
  auto& state = Estimation();
  if (kd->task) return 0;
  int64_t now = EstNow();
  if (std::llabs(kd->estTimer.load() - now) > 4 * kTickNs) kd->estTimer.store(now);  // starting later: resync
  ReapExiting();
  kthread::Placement place{state.config.cpus, state.config.nice};
  std::shared_ptr<KtData> ref = kd;
  int err = 0;
  kd->task = KThread::Start("kk-est/" + std::to_string(kd->id), place,
                            [ref](Context& ctx) { KthreadMain(ctx, ref); }, &err);
  if (!kd->task) {
    state.tasks.startErrors++;
    state.tasks.lastStartError = err;
    state.tasks.missing.store(true);
    return err;
  }
  return 0;
}

namespace {

// Stops a context's thread without waiting (it may be the caller's event loop). Caller holds mu.
void StopTask(KtData& kd) {
  if (!kd.task) return;
  kd.task->RequestStop();
  Estimation().tasks.exiting.push_back(std::move(kd.task));
  kd.task = nullptr;
}

}  // namespace

// ip_vs_est_add_kthread: a context in a free or new slot, and its task. 0, or
// EINVAL past est_max_threads, or the errno of a thread that could not be
// created (as the kernel, the context is then dropped). Caller holds mu.
int AddKthread() {
  auto& state = Estimation();
  int id = static_cast<int>(state.sched.contexts.size());
  if (id >= state.config.maxThreads) return EINVAL;  // as the kernel: the estimator waits in the temp list
  int i = 0;
  while (i < id && state.sched.contexts[i]) i++;
  bool append = i >= id;
  if (!append) id = i;
  auto kd = std::make_shared<KtData>();
  kd->id = id;
  kd->avail.set();
  kd->estTimer = EstNow();
  SetParams(*kd);
  if (!state.config.stopped) {
    if (int err = StartTask(kd)) return err;
  }
  if (append) state.sched.contexts.push_back(kd);
  else state.sched.contexts[id] = kd;
  state.sched.addKtid = id;  // use the most recent context for new estimators
  return 0;
}

namespace {

// ip_vs_est_update_ktid: the first context with room, else the first hole, else a new slot.
void UpdateKtid() {
  auto& state = Estimation();
  int best = static_cast<int>(state.sched.contexts.size());
  for (int ktid = 0; ktid < static_cast<int>(state.sched.contexts.size()); ktid++) {
    auto& kd = state.sched.contexts[ktid];
    if (kd) {
      if (kd->estCount < kd->estMaxCount) {
        best = ktid;
        break;
      }
    } else if (ktid < best) {
      best = ktid;
    }
  }
  state.sched.addKtid = best;
}

// ip_vs_enqueue_estimator: from the temp list into a chain. Caller holds mu.
bool Enqueue(uint32_t id) {
  auto& state = Estimation();
  PrivEst& p = PrivateSlot(id);
  int delay = p.row;
  KtData* kd = nullptr;
  if (state.sched.addKtid < static_cast<int>(state.sched.contexts.size()) && state.sched.contexts[state.sched.addKtid]) {
    kd = state.sched.contexts[state.sched.addKtid].get();
  } else {
    if (AddKthread()) return false;  // no kthread: the estimator stays in the temp list
    kd = state.sched.contexts[state.sched.addKtid].get();
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

}  // namespace

void TempPush(uint32_t id, int delay) {
  auto& state = Estimation();
  PrivEst& p = PrivateSlot(id);
  p.ktid = -1;
  p.row = static_cast<uint8_t>(delay);
  p.pos = static_cast<uint32_t>(state.sched.tempList.size());
  state.sched.tempList.push_back(id);
}

namespace {

void TempRemove(uint32_t id) {
  auto& state = Estimation();
  uint32_t pos = PrivateSlot(id).pos;
  uint32_t moved = state.sched.tempList.back();
  state.sched.tempList[pos] = moved;
  PrivateSlot(moved).pos = pos;
  state.sched.tempList.pop_back();
}

// Takes an estimator out of its chain. Caller holds mu; takes the context's mu.
void ChainRemove(KtData& kd, uint32_t id) {
  PrivEst& p = PrivateSlot(id);
  std::lock_guard<std::mutex> lock(kd.mu);
  auto& td = kd.ticks[p.row];
  auto& chain = td->chains[p.cid];
  uint32_t moved = chain.back();
  chain[p.pos] = moved;
  PrivateSlot(moved).pos = p.pos;
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
  auto& state = Estimation();
  StopTask(*state.sched.contexts[ktid]);
  state.sched.contexts[ktid] = nullptr;
  if (ktid == static_cast<int>(state.sched.contexts.size()) - 1) {
    state.sched.contexts.pop_back();
    while (state.sched.contexts.size() > 1 && !state.sched.contexts.back()) state.sched.contexts.pop_back();
  }
}

}  // namespace

// Context 0 goes last: once nothing is estimated any more, its thread stops.
void MaybeDestroyKt0() {
  auto& state = Estimation();
  if (state.sched.contexts.size() != 1 || !state.sched.tempList.empty() || state.slots.genCount) return;
  auto& kd = state.sched.contexts[0];
  if (kd && kd->estCount) return;
  if (kd) StopTask(*kd);
  state.sched.contexts.clear();
  state.sched.addKtid = 0;
}

namespace {

// ip_vs_stop_estimator. Caller holds mu.
void StopIpvs(uint32_t id) {
  auto& state = Estimation();
  PrivEst& p = PrivateSlot(id);
  int ktid = p.ktid;
  if (ktid < 0) {
    TempRemove(id);
  } else {
    KtData& kd = *state.sched.contexts[ktid];
    ChainRemove(kd, id);
    if (kd.estCount) {
      if (ktid < state.sched.addKtid) state.sched.addKtid = ktid;  // this context has room again: prefer it
      return;
    }
    if (ktid > 0) {
      DestroyKt(ktid);
      if (ktid == state.sched.addKtid) UpdateKtid();
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
  auto& state = Estimation();
  uint64_t genid;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    genid = state.sched.genid;
  }
  int chainMax;
  int64_t cost;
  // What an estimation costs grows with the shards a sum reads (SumRaw reads up
  // to the high-water mark): remember how many this calibration saw.
  uint32_t shards = std::max<uint32_t>(1, percpu::ShardHighWater());
  if (!CalcLimits(ctx, &chainMax, &cost)) return;
  if (int forced = state.test.chainMax.load()) chainMax = forced;

  std::unique_lock<std::mutex> lock(state.mu);
  // Stop the other kthreads, so their chains can be emptied, and wait for them
  // without mu, as Reload does: a kthread on a busy CPU (or at nice 19) may take
  // long to exit, and every JavaScript call that takes mu would wait as long.
  // Nobody restarts their tasks meanwhile: calcPhase is set (only kthread 0
  // starts while it is), and a reload would stop this thread first.
  std::vector<std::shared_ptr<KThread>> stopped;
  for (size_t id = 1; id < state.sched.contexts.size(); id++) {
    if (!state.sched.contexts[id] || !state.sched.contexts[id]->task) continue;
    stopped.push_back(std::move(state.sched.contexts[id]->task));
    state.sched.contexts[id]->task = nullptr;
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
    for (int id = static_cast<int>(state.sched.contexts.size()) - 1; id >= 0; id--) {
      for (;;) {
        if (ctx.StopRequested()) return;
        if (id >= static_cast<int>(state.sched.contexts.size()) || !state.sched.contexts[id]) break;
        KtData& kd = *state.sched.contexts[id];
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
  if (state.sched.contexts.empty() || !state.sched.contexts[0]) return;  // everything was removed meanwhile
  KtData& kd0 = *state.sched.contexts[0];
  kd0.addRow = kd0.estRow.load();
  state.sched.chainMax.store(chainMax);
  state.sched.calibratedShards.store(shards);
  state.sched.estimationCostNs = cost;
  SetParams(kd0);
  state.sched.addKtid = 0;
  UpdateKtid();
  if (genid == state.sched.genid) state.sched.calcPhase = false;  // no newer request for a calc phase
}

// In kthread 0, as the kernel's est_reload_work repeats failed starts: starts
// the task of every context that lacks one (its thread could not be created).
void RestartMissingTasks(Context& ctx) {
  auto& state = Estimation();
  if (!state.tasks.missing.load()) return;
  std::lock_guard<std::mutex> lock(state.mu);
  if (ctx.StopRequested() || state.config.stopped || state.config.reloading || state.sched.calcPhase || state.clock.manual.load()) return;  // a reload or calc phase starts them
  bool missing = false;
  for (auto& kd : state.sched.contexts)
    if (kd && !kd->task && StartTask(kd)) missing = true;
  state.tasks.missing.store(missing);
}

// ip_vs_est_drain_temp_list, in kthread 0: 16 estimators per hold of mu.
void DrainTemp(Context& ctx) {
  auto& state = Estimation();
  for (;;) {
    std::lock_guard<std::mutex> lock(state.mu);
    for (int max = 16; max > 0; max--) {
      if (state.sched.tempList.empty() || ctx.StopRequested()) return;
      uint32_t id = state.sched.tempList.back();
      state.sched.tempList.pop_back();
      int delay = PrivateSlot(id).row;
      if (Enqueue(id)) continue;
      TempPush(id, delay);  // no room (thread limit): estimated after a later attempt
      return;
    }
  }
}

// ip_vs_tick_estimation: the chains of one row, one hold of the context's mu each.
void TickEstimation(Context& ctx, KtData& kd, int row) {
  auto& state = Estimation();
  for (int cid = 0; cid < kTickChains; cid++) {
    std::lock_guard<std::mutex> lock(kd.mu);
    if (ctx.StopRequested() || state.clock.manual.load(std::memory_order_acquire)) return;
    TickData* td = kd.ticks[row].get();
    if (!td) return;
    if (!td->present[cid]) continue;
    int64_t t0 = MonotonicNs();
    auto& chain = td->chains[cid];
    for (uint32_t id : chain) EstimateIpvs(SharedSlot(id), PrivateSlot(id));
    kd.busyNs.fetch_add(MonotonicNs() - t0, std::memory_order_relaxed);
    kd.estimated.fetch_add(chain.size(), std::memory_order_relaxed);
  }
}

// True when twice as many writer shards as the calibration saw may be summed:
// an estimation then costs much more than chain_max was sized for (the kernel
// sums a fixed set of CPUs and never needs this). Not in manual mode: parked
// kthreads do nothing.
bool ShardsOutgrewCalibration() {
  auto& state = Estimation();
  uint32_t seen = state.sched.calibratedShards.load();
  return seen && !state.clock.manual.load() && percpu::ShardHighWater() >= 2 * seen;
}

// Test hook: while testHoldExits is set, a kthread other than 0 that was asked
// to stop waits (10 s at most) before it exits, as one that a busy CPU keeps
// from running would.
void HoldExitForTest() {
  auto& state = Estimation();
  if (!state.test.holdExits.load()) return;
  state.test.heldExits.fetch_add(1);
  int64_t until = MonotonicNs() + 10 * int64_t(1000000000);
  while (state.test.holdExits.load() && MonotonicNs() < until) {
    timespec pause{0, 1000000};
    nanosleep(&pause, nullptr);
  }
  state.test.heldExits.fetch_sub(1);
}

void KthreadLoop(Context& ctx, const std::shared_ptr<KtData>& kdRef);

// ip_vs_estimation_kthread.
void KthreadMain(Context& ctx, const std::shared_ptr<KtData>& kdRef) {
  KthreadLoop(ctx, kdRef);
  if (kdRef->id != 0) HoldExitForTest();
}

void KthreadLoop(Context& ctx, const std::shared_ptr<KtData>& kdRef) {
  auto& state = Estimation();
  KtData& kd = *kdRef;
  const bool zero = kd.id == 0;
  if (!zero) {
    if (!state.sched.chainMax.load()) return;
  } else {
    bool calc;
    {
      std::lock_guard<std::mutex> lock(state.mu);
      if (!state.sched.chainMax.load()) state.sched.calcPhase = true;
      calc = state.sched.calcPhase;
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
        std::lock_guard<std::mutex> lock(state.mu);
        state.sched.calcPhase = true;  // as a cpulist change: stops the other kthreads' restarts until done
      }
      CalcPhase(ctx);
      if (ctx.StopRequested()) break;
    }
    if (zero) {
      RestartMissingTasks(ctx);
      DrainTemp(ctx);
      if (!state.clock.manual.load()) RunDueGens(EstNow(), false);
    }
    if (ctx.StopRequested()) break;
    if (state.clock.manual.load(std::memory_order_acquire)) {  // parked until automatic()
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
        if (state.clock.manual.load(std::memory_order_acquire)) {
          parked = true;
          break;
        }
        if (EstNow() >= due) break;
        int64_t wake = due;
        if (zero) {
          wake = std::min(wake, NextGenDeadline());
          state.gen.kthread0Wake.store(wake);
        }
        ctx.SleepUntil(EstToMonotonic(wake));
        if (zero) {
          state.gen.kthread0Wake.store(INT64_MAX);
          if (!state.clock.manual.load()) RunDueGens(EstNow(), false);
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

}  // namespace

// ---- Slots ---------------------------------------------------------------

uint32_t AllocSlot(Napi::Env env) {  // caller holds mu
  auto& state = Estimation();
  if (!state.slots.free.empty()) {
    uint32_t id = state.slots.free.back();
    state.slots.free.pop_back();
    return id;
  }
  uint32_t slab = state.slots.next / kSlabSlots;
  if (state.slots.next % kSlabSlots == 0) {
    if (slab >= kMaxSlabs) throw MakeError(env, "ENOMEM", "estimator: too many estimators (16777216)");
    size_t sharedBytes = sizeof(SharedEst) * kSlabSlots;
    size_t bytes = sharedBytes + sizeof(PrivEst) * kSlabSlots;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw MakeErrnoError(env, errno, "mmap", "estimator slab");
    state.slots.slabs[slab].shared = static_cast<SharedEst*>(mem);
    state.slots.slabs[slab].priv = reinterpret_cast<PrivEst*>(static_cast<uint8_t*>(mem) + sharedBytes);
  }
  return state.slots.next++;
}

void FreeSlot(uint32_t id) {  // caller holds mu (and gen.mu for a gen estimator)
  std::memset(&SharedSlot(id), 0, sizeof(SharedEst));
  std::memset(&PrivateSlot(id), 0, sizeof(PrivEst));
  Estimation().slots.free.push_back(id);
}

// Stops estimator `id` and frees its slot. Caller holds mu.
void RemoveLocked(uint32_t id) {
  auto& state = Estimation();
  PrivEst& p = PrivateSlot(id);
  uint32_t chunk = p.chunk->id, setCol = p.setCol;
  if (p.kind == kIpvs) {
    state.slots.ipvsCount--;
    StopIpvs(id);
    FreeSlot(id);
  } else {
    StopGen(id);
  }
  percpu::Release(chunk, setCol);
}

// The tasks to join once nothing is estimated any more. Caller holds mu.
std::vector<std::shared_ptr<KThread>> TakeExitingIfIdle() {
  auto& state = Estimation();
  std::vector<std::shared_ptr<KThread>> out;
  if (state.sched.contexts.empty()) out.swap(state.tasks.exiting);
  return out;
}

// ---- Configuration ---------------------------------------------------------

// The CPUs thread `tid` may use (0: the calling thread, as the kernel's current->cpus_mask).
std::vector<int> AllowedCpus(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(tid, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  return out;
}

namespace {

int MaxThreadsFor(size_t cpus) { return std::max(1, kCpuKthreads * static_cast<int>(cpus)); }  // ip_vs_est_max_threads

}  // namespace

void EnsureConfigured() {  // caller holds mu
  auto& state = Estimation();
  if (state.config.initialized) return;
  state.config.initialized = true;
  state.config.cpus = AllowedCpus(getpid());  // the main thread's CPUs; the kernel's default is every housekeeping CPU
  state.config.nice = 0;              // IPVS_EST_NICE
  state.config.stopped = state.config.cpus.empty();
  state.config.maxThreads = MaxThreadsFor(state.config.cpus.size());
}

namespace {

// Stops every kthread, waits for them, and starts them again with the placement
// in the state (only kthread 0 while a calc phase is pending); then checks that each
// placed itself as asked. Where no kthread runs (no estimators, an empty
// cpulist), a short-lived probe thread tries the placement instead, so that a
// setting that cannot work is refused now rather than at the first estimator.
// Caller holds configMu. Runs off the event loop.
PlaceFailure Restart() {
  auto& state = Estimation();
  std::vector<std::shared_ptr<KThread>> old;
  kthread::Placement place;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    state.config.stopped = state.config.cpus.empty();
    state.config.reloading = true;  // no one else starts a task until the old ones are gone
    ++state.sched.genid;
    for (auto& kd : state.sched.contexts) {
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
    std::lock_guard<std::mutex> lock(state.mu);
    state.config.reloading = false;
    place = {state.config.cpus, state.config.nice};
    if (!state.config.stopped) {
      for (auto& kd : state.sched.contexts) {
        if (!kd || (kd->id != 0 && state.sched.calcPhase)) continue;
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

}  // namespace

// est_reload, off the event loop: the new cpulist and/or nice, and the kthreads
// restarted with them. If they cannot be placed so (sched_setaffinity refused
// by a cpuset, setpriority to a lower nice without CAP_SYS_NICE; the kernel's
// own kthreads never fail there), the previous configuration is restored and
// the failure returned.
PlaceFailure Reload(bool setCpus, std::vector<int> cpus, bool setNice, int nice) {
  auto& state = Estimation();
  std::lock_guard<std::mutex> cfg(state.configMu);
  std::vector<int> oldCpus;
  int oldNice;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    EnsureConfigured();
    oldCpus = state.config.cpus;
    oldNice = state.config.nice;
    bool changed = false;
    if (setCpus) {
      state.config.cpus = std::move(cpus);
      state.config.maxThreads = MaxThreadsFor(state.config.cpus.size());  // est_max_threads depends on the cpulist
      state.sched.calcPhase = true;                           // and so do the limits
      changed = true;
    }
    if (setNice && nice != state.config.nice) {
      state.config.nice = nice;
      changed = true;
    }
    if (!changed) return {};
  }
  PlaceFailure failure = Restart();
  if (!failure.err) return failure;
  {
    std::lock_guard<std::mutex> lock(state.mu);
    state.config.cpus = oldCpus;
    state.config.maxThreads = MaxThreadsFor(state.config.cpus.size());
    state.config.nice = oldNice;
  }
  Restart();  // the previous placement worked
  return failure;
}

// ---- The manual clock and direct access to a slot -------------------------------

// Freezes the estimation clock and parks the kthreads. Returns once no kthread
// is inside a chain any more (at most one chain, ~95 us). Caller holds mu.
void EnterManualMode() {
  auto& state = Estimation();
  if (state.clock.manual.load()) return;
  state.clock.virtualNow.store(EstNow());
  state.clock.manual.store(true, std::memory_order_seq_cst);
  for (auto& kd : state.sched.contexts) {
    if (!kd) continue;
    std::lock_guard<std::mutex> barrier(kd->mu);  // a kthread mid-chain finishes it first
  }
  std::lock_guard<std::mutex> barrier(state.gen.mu);  // and kthread 0 its batch of gen timers
}

// The estimation clock follows CLOCK_MONOTONIC again, from where manual mode
// left it. Caller holds mu.
void LeaveManualMode() {
  auto& state = Estimation();
  if (!state.clock.manual.load()) return;
  state.clock.offset.store(MonotonicNs() - state.clock.virtualNow.load());
  state.clock.manual.store(false, std::memory_order_seq_cst);
  for (auto& kd : state.sched.contexts)
    if (kd && kd->task) kd->task->Ctx().Wake();
}

// One 2-second pass, synchronously: every IPVS estimator is estimated exactly
// once (in its chain or still in the temp list) and the gen estimators' timers
// fire as 2 s of their periods dictate. Caller holds mu; the clock is manual.
void StepManualClock() {
  auto& state = Estimation();
  int64_t now = state.clock.virtualNow.load() + kPeriodNs;
  state.clock.virtualNow.store(now);
  for (auto& kd : state.sched.contexts) {
    if (!kd) continue;
    kd->estTimer.fetch_add(kPeriodNs);  // a whole cycle passed for this kthread too
    int start = kd->estRow.load();
    for (int r = 0; r < kTicks; r++) {
      int row = (start + r) % kTicks;
      for (int cid = 0; cid < kTickChains; cid++) {
        std::lock_guard<std::mutex> kdLock(kd->mu);
        TickData* td = kd->ticks[row].get();
        if (!td) break;
        for (uint32_t id : td->chains[cid]) EstimateIpvs(SharedSlot(id), PrivateSlot(id));
      }
    }
  }
  for (uint32_t id : state.sched.tempList) EstimateIpvs(SharedSlot(id), PrivateSlot(id));
  RunDueGens(now, true);
}

// ip_vs_zero_stats for IPVS estimator `id`, under its context's lock. Caller holds mu.
void ZeroLocked(uint32_t id) {
  PrivEst& p = PrivateSlot(id);
  if (p.ktid < 0) {
    ZeroIpvs(SharedSlot(id), p);
  } else {
    KtData& kd = *Estimation().sched.contexts[p.ktid];
    std::lock_guard<std::mutex> kdLock(kd.mu);
    ZeroIpvs(SharedSlot(id), p);
  }
}

// Copies estimator `id`'s shared slot (128 bytes) to `out` while no kthread can
// be writing it: under the lock its writer holds (its context's mu, or gen.mu
// for a gen estimator). Caller holds mu.
void CopySlotLocked(uint32_t id, void* out) {
  auto& state = Estimation();
  PrivEst& p = PrivateSlot(id);
  if (p.kind == kGen) {
    std::lock_guard<std::mutex> genLock(state.gen.mu);
    std::memcpy(out, &SharedSlot(id), sizeof(SharedEst));
  } else if (p.ktid >= 0) {
    std::lock_guard<std::mutex> kdLock(state.sched.contexts[p.ktid]->mu);
    std::memcpy(out, &SharedSlot(id), sizeof(SharedEst));
  } else {
    std::memcpy(out, &SharedSlot(id), sizeof(SharedEst));  // in the temp list: written only under mu
  }
}

}  // namespace kernkit::estimator
