// Shared plumbing for kernkit's subsystems: self-registration, per-environment
// state and errors that reach JavaScript as KernkitError.
#pragma once

#include <napi.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

namespace kernkit {

// Random, never-zero 32-bit tokens for the handles of shared slots (splitmix64 over a getrandom
// seed), so that a forged or stale handle does not match a reused slot by accident. Not
// thread-safe: callers hold the lock of the arena that hands out the slots.
class HandleTokens {
 public:
  HandleTokens() {
    if (getrandom(&state_, sizeof state_, 0) != sizeof state_) state_ = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(getpid());
  }
  uint32_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    uint32_t t = static_cast<uint32_t>(z ^ (z >> 31));
    return t ? t : 1;
  }

 private:
  uint64_t state_;
};

// Each subsystem file registers an init function with KERNKIT_MODULE; addon.cc
// calls every one of them with its own exports object (exports.<name>), so that
// adding a subsystem never touches another file.
using ModuleInit = void (*)(Napi::Env env, Napi::Object exports);
int RegisterModule(const char* name, ModuleInit init);

#define KERNKIT_MODULE(name, fn) \
  static const int kernkit_module_##name = ::kernkit::RegisterModule(#name, fn)

// State a subsystem keeps per JavaScript environment (main thread or worker).
// Created on first use and destroyed with the environment.
struct EnvSlotBase {
  virtual ~EnvSlotBase() = default;
};
EnvSlotBase* GetEnvSlot(Napi::Env env, const void* key);
void SetEnvSlot(Napi::Env env, const void* key, std::unique_ptr<EnvSlotBase> slot);

// One address per slot type, as its key (the addon is built without RTTI).
template <class T>
const void* EnvSlotKey() {
  static const char key = 0;
  return &key;
}

template <class T>
T& PerEnv(Napi::Env env) {
  auto* slot = GetEnvSlot(env, EnvSlotKey<T>());
  if (!slot) {
    auto fresh = std::make_unique<T>();
    slot = fresh.get();
    SetEnvSlot(env, EnvSlotKey<T>(), std::move(fresh));
  }
  return *static_cast<T*>(slot);
}

// The addon's init, called by NODE_API_MODULE.
Napi::Object InitAddon(Napi::Env env, Napi::Object exports);

// The errno name ("EINVAL") for an errno value, or "E<number>" if unknown.
std::string ErrnoName(int err);

// Builds a KernkitError (the class lib/errors.ts hands over at load time).
Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message,
                      int err = 0, const char* syscall = nullptr);
// A KernkitError for a failed syscall: code from errno, message "<syscall>: <strerror>".
Napi::Error MakeErrnoError(Napi::Env env, int err, const char* syscall,
                           const std::string& detail = std::string());

// Argument helpers that throw EINVAL naming the argument.
int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i, const char* name);
uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* name);

// Atomic access to a plain field that threads share (a slot in shared memory,
// a counter column): std::atomic_ref with the type deduced.
template <class T>
std::atomic_ref<T> Atomic(T& v) {
  return std::atomic_ref<T>(v);
}

// The kernel's id of the calling thread (gettid(2)).
inline pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// gettid() -> number: CurrentTid() for JavaScript. One function, exported by
// both exports.affinity (lib/cpu) and exports.spawn (lib/cgroup); defined in affinity.cc.
Napi::Value Gettid(const Napi::CallbackInfo& info);

}  // namespace kernkit
