// CPU affinity, CPU number, thread ids and per-thread nice values: the thin
// syscall layer under lib/cpu/affinity.ts. Validation and cpulists are
// TypeScript; this file only turns arguments into syscalls and errno into
// KernkitError.
//
// Masks are sized at run time with CPU_ALLOC, never a fixed cpu_set_t (1024
// CPUs): the kernel rejects a getaffinity buffer shorter than nr_cpu_ids bits,
// so the reader grows its buffer until the kernel accepts it.
//
// Every call here is synchronous on purpose: none of these syscalls sleeps on an
// outside event. sched_setaffinity on a thread that runs on a CPU it may no
// longer use waits for the stopper thread to migrate it, which is immediate.
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "addon.h"

namespace kernkit {

// gettid() -> number: the kernel's id of the calling thread (see addon.h).
Napi::Value Gettid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(CurrentTid())); }

}  // namespace kernkit

namespace kernkit::affinity {

namespace {

// The most CPU numbers a mask may cover: the kernel's NR_CPUS limit (CONFIG_NR_CPUS <= 8192)
// with room to spare, so a hostile size cannot make us allocate without bound.
constexpr int kMaxMaskCpus = 1 << 22;

struct CpuSetDeleter {
  void operator()(cpu_set_t* set) const { CPU_FREE(set); }
};
using CpuSet = std::unique_ptr<cpu_set_t, CpuSetDeleter>;

CpuSet AllocSet(Napi::Env env, int cpus, size_t* bytes) {
  cpu_set_t* set = CPU_ALLOC(cpus);
  if (!set) throw MakeErrnoError(env, ENOMEM, "CPU_ALLOC");
  *bytes = CPU_ALLOC_SIZE(cpus);
  CPU_ZERO_S(*bytes, set);
  return CpuSet(set);
}

pid_t ArgTid(const Napi::CallbackInfo& info, size_t i) {
  int64_t tid = ArgInt64(info, i, "tid");
  if (tid < 0 || tid > 0x7fffffff) throw MakeError(info.Env(), "EINVAL", "tid must be an integer from 0 to 2147483647");
  return static_cast<pid_t>(tid);
}

std::string TidDetail(pid_t tid) { return tid == 0 ? "calling thread" : "tid " + std::to_string(tid); }

// getAffinity(tid, sizeHint) -> number[]: the CPUs the thread may run on, ascending.
Napi::Value GetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t tid = ArgTid(info, 0);
  int cpus = static_cast<int>(ArgUint32(info, 1, "sizeHint"));
  if (cpus < 64) cpus = 64;
  for (;;) {
    size_t bytes;
    CpuSet set = AllocSet(env, cpus, &bytes);
    if (sched_getaffinity(tid, bytes, set.get()) == 0) {
      auto out = Napi::Array::New(env);
      uint32_t n = 0;
      for (int cpu = 0; cpu < cpus; cpu++)
        if (CPU_ISSET_S(cpu, bytes, set.get())) out.Set(n++, cpu);
      return out;
    }
    // EINVAL: the buffer is shorter than the kernel's mask (nr_cpu_ids bits); grow it.
    if (errno != EINVAL || cpus >= kMaxMaskCpus) throw MakeErrnoError(env, errno, "sched_getaffinity", TidDetail(tid));
    cpus *= 2;
  }
}

// setAffinity(tid, cpus: number[], maskCpus): pins the thread to exactly these CPUs.
// maskCpus (one past the highest possible CPU) sizes the mask.
Napi::Value SetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t tid = ArgTid(info, 0);
  if (!info[1].IsArray()) throw MakeError(env, "EINVAL", "cpus must be an array of CPU numbers");
  auto list = info[1].As<Napi::Array>();
  int64_t maskCpus = ArgInt64(info, 2, "maskCpus");
  if (maskCpus < 1 || maskCpus > kMaxMaskCpus) throw MakeError(env, "EINVAL", "maskCpus out of range");
  size_t bytes;
  CpuSet set = AllocSet(env, static_cast<int>(maskCpus), &bytes);
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    double cpu = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(cpu >= 0 && cpu < static_cast<double>(maskCpus)) || cpu != static_cast<double>(static_cast<int>(cpu))) {
      throw MakeError(env, "ERANGE", "cpus[" + std::to_string(i) + "] is not a CPU number below " + std::to_string(maskCpus));
    }
    CPU_SET_S(static_cast<int>(cpu), bytes, set.get());
  }
  if (sched_setaffinity(tid, bytes, set.get()) != 0) {
    int err = errno;
    std::string detail = TidDetail(tid);
    if (err == EINVAL) detail += ": no CPU of the mask is online and allowed by the thread's cpuset";
    throw MakeErrnoError(env, err, "sched_setaffinity", detail);
  }
  return env.Undefined();
}

// getCpu() -> number: the CPU the calling thread runs on now.
Napi::Value GetCpu(const Napi::CallbackInfo& info) {
  int cpu = sched_getcpu();
  if (cpu < 0) throw MakeErrnoError(info.Env(), errno, "sched_getcpu");
  return Napi::Number::New(info.Env(), cpu);
}

// getNice(tid) -> number. On Linux PRIO_PROCESS with a thread id reads that thread's nice.
Napi::Value GetNice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t tid = ArgTid(info, 0);
  errno = 0;  // -1 is a valid nice value: only errno tells an error apart
  int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  if (nice == -1 && errno != 0) throw MakeErrnoError(env, errno, "getpriority", TidDetail(tid));
  return Napi::Number::New(env, nice);
}

// setNice(tid, nice): sets that one thread's nice value (Linux threads have their own).
Napi::Value SetNice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t tid = ArgTid(info, 0);
  int64_t nice = ArgInt64(info, 1, "nice");
  if (nice < -20 || nice > 19) throw MakeError(env, "ERANGE", "nice must be from -20 to 19");
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), static_cast<int>(nice)) != 0) {
    throw MakeErrnoError(env, errno, "setpriority", TidDetail(tid));
  }
  return env.Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("getAffinity", Napi::Function::New(env, GetAffinity, "getAffinity"));
  exports.Set("setAffinity", Napi::Function::New(env, SetAffinity, "setAffinity"));
  exports.Set("getCpu", Napi::Function::New(env, GetCpu, "getCpu"));
  exports.Set("gettid", Napi::Function::New(env, Gettid, "gettid"));
  exports.Set("getNice", Napi::Function::New(env, GetNice, "getNice"));
  exports.Set("setNice", Napi::Function::New(env, SetNice, "setNice"));
}

}  // namespace

KERNKIT_MODULE(affinity, Init);

}  // namespace kernkit::affinity
