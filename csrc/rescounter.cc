// The resource counter arena (see rescounter.h): chunks of counter slots, their
// allocation with tokens, reference counts per JavaScript environment and per
// child, and the external ArrayBuffers through which JavaScript charges them.
#include "rescounter.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "addon.h"

namespace kernkit::rescounter {

namespace {

constexpr size_t kSlotBytes = kSlotLongs * sizeof(int64_t);
constexpr size_t kChunkBytes = kSlotsPerChunk * kSlotBytes;
constexpr int64_t kNoParent = -1;

// Bookkeeping of one slot; guarded by Arena::mu.
struct SlotMeta {
  uint32_t token = 0;  // 0: free
  uint32_t refs = 0;   // environments' references + native holders + live children
  int64_t parent = kNoParent;  // global id (chunk * kSlotsPerChunk + slot)
};

class Arena {
 public:
  static Arena& Get() {
    static Arena* arena = new Arena();  // never destroyed: workers may tear down after exit()
    return *arena;
  }

  std::mutex mu;
  std::atomic<int64_t*> chunks[kMaxChunks] = {};
  std::vector<SlotMeta> meta;     // by global id
  std::vector<int64_t> freeIds;   // released slots, handed out again first
  HandleTokens tokens;

  int64_t* Fields(int64_t id) {
    int64_t* base = chunks[id / kSlotsPerChunk].load(std::memory_order_acquire);
    return base + (id % kSlotsPerChunk) * kSlotLongs;
  }

  // A free slot's global id, mapping a new chunk when none is left. Caller holds mu.
  int64_t Take(Napi::Env env) {
    if (!freeIds.empty()) {
      int64_t id = freeIds.back();
      freeIds.pop_back();
      return id;
    }
    if (meta.size() % kSlotsPerChunk == 0) {
      size_t chunk = meta.size() / kSlotsPerChunk;
      if (chunk >= kMaxChunks) throw MakeError(env, "ENOMEM", "rescounter: the counter arena is full (8388608 counters)");
      void* mem = mmap(nullptr, kChunkBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mem == MAP_FAILED) throw MakeErrnoError(env, errno, "mmap", "rescounter chunk");
      chunks[chunk].store(static_cast<int64_t*>(mem), std::memory_order_release);
    }
    meta.emplace_back();
    return static_cast<int64_t>(meta.size() - 1);
  }

  bool Live(uint32_t chunk, uint32_t slot, uint32_t token) const {
    if (slot >= kSlotsPerChunk) return false;
    size_t id = size_t(chunk) * kSlotsPerChunk + slot;
    return id < meta.size() && meta[id].token != 0 && meta[id].token == token && meta[id].refs > 0;
  }

  // Drops one reference; a slot nobody holds is cleared and freed, and gives up
  // the reference it held on its parent (and so on up). Caller holds mu.
  void Unref(int64_t id) {
    while (id != kNoParent) {
      SlotMeta& m = meta[id];
      if (m.refs == 0 || --m.refs > 0) return;
      int64_t* f = Fields(id);
      int64_t parent = m.parent;
      if (parent != kNoParent) {
        // As a cgroup going offline drops its min/low: its protected usage leaves the parent's
        // children totals, or the siblings' share of the parent's protection stays lowered.
        int64_t* p = Fields(parent);
        int64_t minUsage = std::atomic_ref<int64_t>(f[kMinUsage]).load(std::memory_order_relaxed);
        int64_t lowUsage = std::atomic_ref<int64_t>(f[kLowUsage]).load(std::memory_order_relaxed);
        if (minUsage != 0) std::atomic_ref<int64_t>(p[kChildrenMinUsage]).fetch_sub(minUsage, std::memory_order_relaxed);
        if (lowUsage != 0) std::atomic_ref<int64_t>(p[kChildrenLowUsage]).fetch_sub(lowUsage, std::memory_order_relaxed);
      }
      for (uint32_t i = 0; i < kSlotLongs; i++) std::atomic_ref<int64_t>(f[i]).store(0, std::memory_order_relaxed);
      m = SlotMeta();
      freeIds.push_back(id);
      id = parent;
    }
  }
};

// What a JavaScript environment holds: its references, dropped when it goes away.
struct RescounterEnv : EnvSlotBase {
  std::unordered_map<int64_t, uint32_t> refs;  // global id -> count

  ~RescounterEnv() override {
    auto& a = Arena::Get();
    std::lock_guard<std::mutex> lock(a.mu);
    for (auto& [id, count] : refs)
      for (uint32_t i = 0; i < count; i++) a.Unref(id);
  }
};

RescounterEnv& EnvState(Napi::Env env) { return PerEnv<RescounterEnv>(env); }

}  // namespace

bool Acquire(uint32_t chunk, uint32_t slot, uint32_t token) {
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  if (!a.Live(chunk, slot, token)) return false;
  a.meta[size_t(chunk) * kSlotsPerChunk + slot].refs++;
  return true;
}

void Release(uint32_t chunk, uint32_t slot) {
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  size_t id = size_t(chunk) * kSlotsPerChunk + slot;
  if (slot < kSlotsPerChunk && id < a.meta.size()) a.Unref(static_cast<int64_t>(id));
}

int64_t* Slot(uint32_t chunk, uint32_t slot) {
  if (chunk >= kMaxChunks || slot >= kSlotsPerChunk) return nullptr;
  int64_t* base = Arena::Get().chunks[chunk].load(std::memory_order_acquire);
  return base ? base + size_t(slot) * kSlotLongs : nullptr;
}

bool Parent(uint32_t chunk, uint32_t slot, uint32_t* parentChunk, uint32_t* parentSlot) {
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  size_t id = size_t(chunk) * kSlotsPerChunk + slot;
  if (slot >= kSlotsPerChunk || id >= a.meta.size() || a.meta[id].parent == kNoParent) return false;
  *parentChunk = static_cast<uint32_t>(a.meta[id].parent / kSlotsPerChunk);
  *parentSlot = static_cast<uint32_t>(a.meta[id].parent % kSlotsPerChunk);
  return true;
}

// ---- JavaScript bindings -------------------------------------------------

namespace {

Napi::Value Constants(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("slotLongs", kSlotLongs);
  o.Set("slotsPerChunk", kSlotsPerChunk);
  o.Set("usage", static_cast<uint32_t>(kUsage));
  o.Set("max", static_cast<uint32_t>(kMax));
  o.Set("protectedFlag", static_cast<uint32_t>(kProtected));
  return o;
}

// The chain from (chunk, slot) up to its root as [chunk, slot, token, ...]. Caller holds mu.
Napi::Array Chain(Napi::Env env, Arena& a, int64_t id) {
  auto out = Napi::Array::New(env);
  uint32_t n = 0;
  for (; id != kNoParent; id = a.meta[id].parent) {
    out.Set(n++, static_cast<uint32_t>(id / kSlotsPerChunk));
    out.Set(n++, static_cast<uint32_t>(id % kSlotsPerChunk));
    out.Set(n++, a.meta[id].token);
  }
  return out;
}

// alloc() or alloc(parentChunk, parentSlot, parentToken) -> [chunk, slot, token]:
// a zeroed counter with no limit; the calling environment holds one reference,
// and the new counter holds one on its parent.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool child = info.Length() >= 3;
  uint32_t pc = 0, ps = 0, pt = 0;
  if (child) {
    pc = ArgUint32(info, 0, "parent.chunk");
    ps = ArgUint32(info, 1, "parent.slot");
    pt = ArgUint32(info, 2, "parent.token");
  }
  auto& a = Arena::Get();
  int64_t id;
  uint32_t token;
  {
    std::lock_guard<std::mutex> lock(a.mu);
    if (child && !a.Live(pc, ps, pt)) throw MakeError(env, "EINVAL", "parent: not a live resource counter (released, or from another process)");
    id = a.Take(env);
    token = a.tokens.Next();
    SlotMeta& m = a.meta[id];
    m.token = token;
    m.refs = 1;
    m.parent = child ? int64_t(pc) * kSlotsPerChunk + ps : kNoParent;
    if (child) a.meta[m.parent].refs++;
    int64_t* f = a.Fields(id);
    std::atomic_ref<int64_t>(f[kMax]).store(kUnlimited, std::memory_order_seq_cst);
  }
  EnvState(env).refs[id]++;
  auto r = Napi::Array::New(env, 3);
  r.Set(0u, static_cast<uint32_t>(id / kSlotsPerChunk));
  r.Set(1u, static_cast<uint32_t>(id % kSlotsPerChunk));
  r.Set(2u, token);
  return r;
}

// acquire(chunk, slot, token) -> [chunk, slot, token, ...] from the counter up to
// its root, with one reference for this environment on each. A forged or stale
// handle gets EINVAL.
Napi::Value AcquireJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t chunk = ArgUint32(info, 0, "handle.chunk"), slot = ArgUint32(info, 1, "handle.slot");
  uint32_t token = ArgUint32(info, 2, "handle.token");
  auto& a = Arena::Get();
  auto& st = EnvState(env);
  std::lock_guard<std::mutex> lock(a.mu);
  if (!a.Live(chunk, slot, token)) {
    throw MakeError(env, "EINVAL", "handle: does not name a live resource counter (forged, or released before attach)");
  }
  int64_t self = int64_t(chunk) * kSlotsPerChunk + slot;
  for (int64_t id = self; id != kNoParent; id = a.meta[id].parent) {
    a.meta[id].refs++;
    st.refs[id]++;
  }
  return Chain(env, a, self);
}

// release(chunk, slot): drops one of this environment's references.
Napi::Value ReleaseJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t chunk = ArgUint32(info, 0, "chunk"), slot = ArgUint32(info, 1, "slot");
  int64_t id = int64_t(chunk) * kSlotsPerChunk + slot;
  auto& st = EnvState(env);
  auto it = st.refs.find(id);
  if (it == st.refs.end()) return env.Undefined();
  if (--it->second == 0) st.refs.erase(it);
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  a.Unref(id);
  return env.Undefined();
}

// view(chunk) -> ArrayBuffer over the chunk's slots. No finalizer: chunks outlive
// every environment (a freed slot is zeroed and reused, its memory never unmapped).
Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t chunk = ArgUint32(info, 0, "chunk");
  int64_t* base = chunk < kMaxChunks ? Arena::Get().chunks[chunk].load(std::memory_order_acquire) : nullptr;
  if (!base) throw MakeError(env, "EINVAL", "chunk: no such resource counter chunk");
  return Napi::ArrayBuffer::New(env, base, kChunkBytes);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("constants", Napi::Function::New(env, Constants, "constants"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("acquire", Napi::Function::New(env, AcquireJs, "acquire"));
  exports.Set("release", Napi::Function::New(env, ReleaseJs, "release"));
  exports.Set("view", Napi::Function::New(env, View, "view"));
}

}  // namespace

KERNKIT_MODULE(rescounter, Init);

}  // namespace kernkit::rescounter
