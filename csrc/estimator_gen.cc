// The gen estimators, after net/core/gen_estimator.c: their EWMA (est_timer)
// and their timers, which kthread 0 runs between its ticks (see
// estimator_core.cc) and step() runs in manual mode. A stopped estimator's
// timer entry is not removed: it goes stale (its slot's genSeq no longer matches).
#include "estimator_internal.h"

namespace kernkit::estimator {

namespace {

int64_t GenPeriodNs(const PrivEst& p) { return int64_t(250000000) << p.intvlLog; }

}  // namespace

// est_timer of gen_estimator.c for one estimator.
void EstimateGen(SharedEst& s, PrivEst& p) {
  EstimateCounters<2>(s, p, [&p](int, uint64_t avg, uint64_t last, uint64_t cur) {
    return GenEwma(avg, last, cur, p.intvlLog, p.ewmaLog);
  });
}

// gen_new_estimator: `p` goes to slot `id` with a fresh timer sequence, and its
// first timer one period from now (kthread 0 is woken if that is before it
// would wake). Caller holds mu; context 0 exists.
void StartGen(uint32_t id, PrivEst& p) {
  auto& state = Estimation();
  std::lock_guard<std::mutex> glock(state.gen.mu);
  p.genSeq = state.gen.nextSeq++;
  if (!p.genSeq) p.genSeq = state.gen.nextSeq++;
  PrivateSlot(id) = p;
  int64_t deadline = EstNow() + GenPeriodNs(p);
  state.gen.timers.push({deadline, id, p.genSeq});
  state.slots.genCount++;
  if (deadline < state.gen.kthread0Wake.load() && state.sched.contexts[0]->task) state.sched.contexts[0]->task->Ctx().Wake();
}

// gen_kill_estimator. Caller holds mu.
void StopGen(uint32_t id) {
  auto& state = Estimation();
  state.slots.genCount--;
  {
    std::lock_guard<std::mutex> lock(state.gen.mu);
    FreeSlot(id);  // its timer entry goes stale: kind is free now
  }
  MaybeDestroyKt0();
}

int64_t NextGenDeadline() {
  auto& state = Estimation();
  std::lock_guard<std::mutex> lock(state.gen.mu);
  return state.gen.timers.empty() ? INT64_MAX : state.gen.timers.top().deadline;
}

// Runs every gen estimator whose timer is due at `now`. In manual mode a timer
// fires as often as its period fits (a 250 ms estimator 8 times per 2 s step);
// in real time a late timer is re-armed 1 ms after now, as gen_estimator re-arms
// a delayed one a jiffy later.
void RunDueGens(int64_t now, bool manualStep) {
  auto& state = Estimation();
  for (;;) {
    std::lock_guard<std::mutex> lock(state.gen.mu);
    if (!manualStep && state.clock.manual.load(std::memory_order_acquire)) return;  // parked: step() runs them
    for (int n = 0; n < 256; n++) {
      if (state.gen.timers.empty() || state.gen.timers.top().deadline > now) return;
      GenTimer t = state.gen.timers.top();
      state.gen.timers.pop();
      PrivEst& p = PrivateSlot(t.id);
      if (p.kind != kGen || p.genSeq != t.seq) continue;  // stopped meanwhile
      EstimateGen(SharedSlot(t.id), p);
      state.gen.estimations.fetch_add(1, std::memory_order_relaxed);
      int64_t next = t.deadline + GenPeriodNs(p);
      if (!manualStep && now >= next) next = now + 1000000;
      state.gen.timers.push({next, t.id, t.seq});
    }
  }
}

}  // namespace kernkit::estimator
