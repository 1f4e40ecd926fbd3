// The addon's entry point: runs every registered subsystem's init and keeps the
// per-environment state (the KernkitError class, subsystem slots).
#include "addon.h"

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kernkit {

namespace {

struct Registered {
  const char* name;
  ModuleInit init;
};

std::vector<Registered>& Registry() {
  static std::vector<Registered> modules;  // filled during static initialisation
  return modules;
}

struct EnvData {
  Napi::FunctionReference errorClass;
  std::unordered_map<const void*, std::unique_ptr<EnvSlotBase>> slots;
};

EnvData& Data(Napi::Env env) {
  auto* data = env.GetInstanceData<EnvData>();
  if (!data) {
    data = new EnvData();
    env.SetInstanceData(data);  // deleted by node-addon-api when the environment goes away
  }
  return *data;
}

// lib/native.ts calls this once per environment with the KernkitError class.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass: expected a class");
  Data(info.Env()).errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  Data(env);
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  for (const auto& module : Registry()) {
    auto sub = Napi::Object::New(env);
    module.init(env, sub);
    exports.Set(module.name, sub);
  }
  return exports;
}

int RegisterModule(const char* name, ModuleInit init) {
  Registry().push_back({name, init});
  return static_cast<int>(Registry().size());
}

EnvSlotBase* GetEnvSlot(Napi::Env env, const void* key) {
  auto& slots = Data(env).slots;
  auto it = slots.find(key);
  return it == slots.end() ? nullptr : it->second.get();
}

void SetEnvSlot(Napi::Env env, const void* key, std::unique_ptr<EnvSlotBase> slot) {
  Data(env).slots[key] = std::move(slot);
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? std::string(name) : "E" + std::to_string(err);
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message, int err,
                      const char* syscall) {
  auto& cls = Data(env).errorClass;
  if (cls.IsEmpty()) {
    auto plain = Napi::Error::New(env, message);
    plain.Set("code", code);
    return plain;
  }
  auto props = Napi::Object::New(env);
  props.Set("code", code);
  if (err) props.Set("errno", -err);  // negative, as Node's own errors report it
  if (syscall) props.Set("syscall", syscall);
  Napi::Value instance = cls.New({Napi::String::New(env, message), props});
  return Napi::Error(env, instance);
}

Napi::Error MakeErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  std::string message = std::string(syscall) + ": " + std::strerror(err);
  if (!detail.empty()) message += " (" + detail + ")";
  return MakeError(env, ErrnoName(err), message, err, syscall);
}

int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) {
    throw MakeError(info.Env(), "EINVAL", std::string(name) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= -9007199254740991.0 && v <= 9007199254740991.0) || v != static_cast<double>(static_cast<int64_t>(v))) {
    throw MakeError(info.Env(), "EINVAL", std::string(name) + " must be a safe integer");
  }
  return static_cast<int64_t>(v);
}

uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  int64_t v = ArgInt64(info, i, name);
  if (v < 0 || v > 0xffffffffLL) {
    throw MakeError(info.Env(), "EINVAL", std::string(name) + " must be an integer from 0 to 4294967295");
  }
  return static_cast<uint32_t>(v);
}

}  // namespace kernkit

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return kernkit::InitAddon(env, exports); }

NODE_API_MODULE(kernkit, Init)
