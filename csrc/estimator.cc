// The estimators' N-API bindings (exports.estimator, typed by
// lib/estimator/native.ts): argument checks, the JavaScript environments that
// own estimators, statistics and the test hooks. The work is in
// estimator_core.cc (ip_vs_est.c) and estimator_gen.cc (gen_estimator.c).
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "estimator_internal.h"

namespace kernkit::estimator {

namespace {

// ---- Environments ---------------------------------------------------------

// What a JavaScript environment owns: when it goes (worker exit, process exit),
// its estimators stop, and the kthreads with them once nothing is left.
struct EstimatorEnv : EnvSlotBase {
  uint32_t id;
  EstimatorEnv() {
    std::lock_guard<std::mutex> lock(Estimation().mu);
    id = Estimation().nextEnvId++;
  }
  ~EstimatorEnv() override {
    auto& state = Estimation();
    std::vector<std::shared_ptr<KThread>> join;
    {
      std::lock_guard<std::mutex> lock(state.mu);
      for (uint32_t slot = 0; slot < state.slots.next; slot++) {
        PrivEst& p = PrivateSlot(slot);
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
    std::lock_guard<std::mutex> lock(Estimation().mu);
    if (slab < kMaxSlabs) shared = Estimation().slots.slabs[slab].shared;
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

  auto& state = Estimation();
  uint32_t id;
  try {
    std::lock_guard<std::mutex> lock(state.mu);
    EnsureConfigured();
    // ip_vs_start_estimator: context 0 (and its thread) with the first estimator;
    // if its thread cannot be created, the estimator is not created either.
    if (state.sched.contexts.empty() || !state.sched.contexts[0]) {
      if (int err = AddKthread()) {
        throw MakeErrnoError(env, err, "pthread_create", "cannot start the estimation kthread kk-est/0");
      }
    } else if (!state.sched.contexts[0]->task && !state.config.stopped && !state.config.reloading) {
      StartTask(state.sched.contexts[0]);  // its thread could not be created before: try again (counted in stats if not)
    }
    try {
      id = AllocSlot(env);
    } catch (...) {
      MaybeDestroyKt0();
      throw;
    }
    SharedEst& s = SharedSlot(id);
    for (uint32_t i = 0; i < nfields; i++) {
      p.last[i] = static_cast<uint64_t>(now[i]);
      s.sample[i] = p.last[i];
      // Totals count from the counter set's own zero point, as CounterSet.sum() does.
      if (kind == kIpvs) s.base[i] = static_cast<uint64_t>(Atomic(chunk->bases()[cols[i]]).load(std::memory_order_relaxed));
    }
    if (kind == kIpvs) {
      PrivateSlot(id) = p;
      TempPush(id, kTicks - 1);  // initial delay: estimated first about 2 s from now
      state.slots.ipvsCount++;
    } else {
      StartGen(id, p);
    }
  } catch (...) {
    percpu::Release(chunkId, setCol);
    throw;
  }
  return Napi::Number::New(env, id);
}

// The slot, if it is a live estimator of the calling environment. Caller holds mu.
PrivEst& Owned(Napi::Env env, uint32_t id) {
  auto& state = Estimation();
  if (id >= state.slots.next || PrivateSlot(id).kind == kFree || PrivateSlot(id).owner != EnvId(env)) {
    throw MakeError(env, "EINVAL", "no such estimator in this thread (stopped already?)");
  }
  return PrivateSlot(id);
}

// remove(id): stops an estimator and releases its counters.
Napi::Value Remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "id");
  EnvId(env);  // before mu: may create the slot
  std::lock_guard<std::mutex> lock(Estimation().mu);
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
  auto& state = Estimation();
  std::lock_guard<std::mutex> lock(state.mu);
  if (Owned(env, id).kind != kIpvs) throw MakeError(env, "EINVAL", "only a rate estimator can be zeroed");
  ZeroLocked(id);
  return env.Undefined();
}

// snapshot(id, out): copies estimator `id`'s shared slot (128 bytes) into `out`
// (a Uint32Array of 32 words) while no kthread can be writing it: under mu and
// the lock its writer holds (its context's mu, or gen.mu for a gen estimator).
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
  auto& state = Estimation();
  std::lock_guard<std::mutex> lock(state.mu);
  if (id >= state.slots.next || PrivateSlot(id).kind == kFree) throw MakeError(env, "EINVAL", "no such estimator (stopped already?)");
  CopySlotLocked(id, out.Data());
  return env.Undefined();
}

// manual(): freezes the estimation clock and parks the kthreads (EnterManualMode).
Napi::Value Manual(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(Estimation().mu);
  EnterManualMode();
  return info.Env().Undefined();
}

// automatic(): the estimation clock follows CLOCK_MONOTONIC again (LeaveManualMode).
Napi::Value Automatic(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(Estimation().mu);
  LeaveManualMode();
  return info.Env().Undefined();
}

// step(): one 2-second pass, synchronously (StepManualClock).
Napi::Value Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& state = Estimation();
  std::lock_guard<std::mutex> lock(state.mu);
  if (!state.clock.manual.load()) throw MakeError(env, "EINVAL", "step() needs manual mode (estimation.manual())");
  StepManualClock();
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

// CPU numbers as a JavaScript array, ascending as given.
Napi::Array CpuArray(Napi::Env env, const std::vector<int>& cpus) {
  auto out = Napi::Array::New(env, cpus.size());
  for (uint32_t i = 0; i < cpus.size(); i++) out.Set(i, cpus[i]);
  return out;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& state = Estimation();
  std::lock_guard<std::mutex> lock(state.mu);
  EnsureConfigured();
  ReapExiting();
  auto o = Napi::Object::New(env);
  o.Set("mode", state.clock.manual.load() ? "manual" : "automatic");
  o.Set("cpus", CpuArray(env, state.config.cpus));
  o.Set("nice", state.config.nice);
  o.Set("stopped", state.config.stopped);
  o.Set("maxThreads", state.config.maxThreads);
  o.Set("chainMax", state.sched.chainMax.load());
  o.Set("calcPhase", state.sched.calcPhase);
  o.Set("estimationCostNs", static_cast<double>(state.sched.estimationCostNs));
  o.Set("calibratedShards", state.sched.calibratedShards.load());
  o.Set("estimators", static_cast<double>(state.slots.ipvsCount));
  o.Set("genEstimators", static_cast<double>(state.slots.genCount));
  o.Set("pending", static_cast<double>(state.sched.tempList.size()));
  o.Set("genEstimations", static_cast<double>(state.gen.estimations.load()));
  o.Set("startErrors", static_cast<double>(state.tasks.startErrors));
  if (state.tasks.lastStartError) o.Set("startError", ErrnoName(state.tasks.lastStartError));
  o.Set("slots", static_cast<double>(state.slots.next));
  o.Set("slabBytes", static_cast<double>(((state.slots.next + kSlabSlots - 1) / kSlabSlots) * size_t(kSlabSlots) *
                                         (sizeof(SharedEst) + sizeof(PrivEst))));
  auto threads = Napi::Array::New(env);
  uint32_t n = 0;
  for (auto& kd : state.sched.contexts) {
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
    t.Set("cpus", CpuArray(env, running ? kthread::AffinityOf(tid) : std::vector<int>()));
    t.Set("nice", running ? kthread::NiceOf(tid, state.config.nice) : state.config.nice);
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
  if (o.Has("chainMax")) Estimation().test.chainMax.store(o.Get("chainMax").As<Napi::Number>().Int32Value());
  if (o.Has("holdExits")) Estimation().test.holdExits.store(o.Get("holdExits").ToBoolean().Value());
  auto out = Napi::Object::New(env);
  out.Set("heldExits", Estimation().test.heldExits.load());
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
