// The per-thread counter arena (see percpu.h): chunks of shard-major slots,
// column allocation, shard ownership per thread, folding and exact sums.
#include "percpu.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "addon.h"

namespace kernkit::percpu {

namespace {

constexpr size_t kPage = 4096;

size_t RoundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }

// Allocation bookkeeping of one chunk; guarded by Arena::mu.
struct ChunkMeta {
  uint32_t used = 0;              // bump pointer: columns [0, used) were handed out
  std::vector<uint32_t> length;   // at an allocation's first column: its width; else 0
  std::vector<uint32_t> token;    // at an allocation's first column: what a handle must show
  std::vector<uint32_t> refs;     // at an allocation's first column: environments' references
};

struct ControlBlock {
  alignas(64) std::atomic<int32_t> highWater{0};
};

class Arena {
 public:
  static Arena& Get() {
    static Arena* arena = new Arena();  // never destroyed: workers may tear down after exit()
    return *arena;
  }

  uint32_t maxShards;
  ControlBlock control;
  std::mutex mu;
  std::atomic<Chunk*> chunks[kMaxChunks] = {};
  std::vector<ChunkMeta> meta;  // by chunk id
  std::vector<bool> shardTaken;
  uint32_t everHighWater = 0;   // highest shard count ever scanned; slots above are untouched
  std::unordered_map<uint32_t, std::vector<std::pair<uint32_t, uint32_t>>> freeByWidth;
  uint32_t current = UINT32_MAX;  // chunk the bump allocator fills
  HandleTokens tokens;

  Arena() {
    maxShards = kDefaultMaxShards;
    if (const char* env = getenv("KERNKIT_PERCPU_SHARDS")) {
      long v = strtol(env, nullptr, 10);
      if (v >= 1 && v <= static_cast<long>(kMaxMaxShards)) maxShards = static_cast<uint32_t>(v);
    }
    shardTaken.assign(maxShards, false);
  }

  // Creates a chunk with at least `cols` columns; returns its id. Caller holds mu.
  uint32_t NewChunk(uint32_t cols, Napi::Env env) {
    uint32_t id = static_cast<uint32_t>(meta.size());
    if (id >= kMaxChunks) throw MakeError(env, "ENOMEM", "percpu: counter arena is full (65536 chunks)");
    Layout l;
    l.cols = static_cast<uint32_t>(RoundUp(cols, kPage / sizeof(double)));
    l.totalsOffset = 0;
    l.basesOffset = l.totalsOffset + size_t(l.cols) * sizeof(int64_t);
    l.seqsOffset = l.basesOffset + size_t(l.cols) * sizeof(int64_t);
    l.slotsOffset = RoundUp(l.seqsOffset + size_t(maxShards) * kSeqStride * sizeof(uint32_t), kPage);
    l.shardBytes = RoundUp(size_t(l.cols) * sizeof(double), kPage);
    l.bytes = l.slotsOffset + size_t(maxShards) * l.shardBytes;
    // Untouched shards cost no memory: pages are only backed once written.
    void* mem = mmap(nullptr, l.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) throw MakeErrnoError(env, errno, "mmap", "percpu chunk");
    auto* chunk = new Chunk();
    chunk->id = id;
    chunk->layout = l;
    chunk->base = static_cast<uint8_t*>(mem);
    ChunkMeta m;
    m.length.assign(l.cols, 0);
    m.token.assign(l.cols, 0);
    m.refs.assign(l.cols, 0);
    meta.push_back(std::move(m));
    chunks[id].store(chunk, std::memory_order_release);
    return id;
  }

  // Zeroes a column range nobody references any more, so it can be handed out again.
  void Clear(Chunk* c, uint32_t col, uint32_t n) {
    for (uint32_t i = col; i < col + n; i++) {
      Atomic(c->totals()[i]).store(0, std::memory_order_relaxed);
      Atomic(c->bases()[i]).store(0, std::memory_order_relaxed);
      for (uint32_t s = 0; s < everHighWater; s++) {
        double& slot = c->slots(s)[i];
        if (Atomic(slot).load(std::memory_order_relaxed) != 0) Atomic(slot).store(0.0, std::memory_order_relaxed);
      }
    }
  }

  // Drops `count` references to the allocation at (chunk, col); frees it at zero. Caller holds mu.
  void Unref(uint32_t chunk, uint32_t col, uint32_t count) {
    auto& m = meta[chunk];
    m.refs[col] -= count;
    if (m.refs[col] == 0) {
      Clear(chunks[chunk].load(), col, m.length[col]);
      freeByWidth[m.length[col]].push_back({chunk, col});
      m.length[col] = 0;
      m.token[col] = 0;
    }
  }

  // Takes a reference if (chunk, col, width, token) names a live allocation. Caller holds mu.
  bool TakeRef(uint32_t chunk, uint32_t col, uint32_t width, uint32_t token) {
    bool live = chunk < meta.size() && col < meta[chunk].length.size() && meta[chunk].length[col] == width &&
                meta[chunk].token[col] == token && meta[chunk].refs[col] > 0;
    if (live) meta[chunk].refs[col]++;
    return live;
  }

  void RecomputeHighWater() {
    int32_t hw = 0;
    for (uint32_t s = 0; s < maxShards; s++)
      if (shardTaken[s]) hw = static_cast<int32_t>(s) + 1;
    control.highWater.store(hw, std::memory_order_seq_cst);
  }
};

// Moves `amount` (the slot's content plus n) into the exact total, as one step
// for readers: the shard's sequence is odd while the total and the slot disagree.
void FoldInto(Chunk* c, uint32_t shard, uint32_t col, int64_t amount) {
  std::lock_guard<std::mutex> lock(c->foldLock);
  auto seq = Atomic(*c->seq(shard));
  seq.fetch_add(1, std::memory_order_seq_cst);
  Atomic(c->totals()[col]).fetch_add(amount, std::memory_order_seq_cst);
  Atomic(c->slots(shard)[col]).store(0.0, std::memory_order_seq_cst);
  seq.fetch_add(1, std::memory_order_seq_cst);
}

// What a JavaScript environment holds: its shard and its references to allocations.
struct PercpuEnv : EnvSlotBase {
  int shard = -2;  // -2: not claimed yet; -1: no shard free, adds go to the totals
  std::unordered_map<uint64_t, uint32_t> refs;  // (chunk << 32 | col) -> count

  ~PercpuEnv() override {
    // The environment is gone (thread exit or termination): nothing it counted is lost.
    if (shard >= 0) ReleaseShard(shard);
    auto& a = Arena::Get();
    std::lock_guard<std::mutex> lock(a.mu);
    for (auto& [key, count] : refs) a.Unref(static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), count);
  }
};

}  // namespace

uint32_t MaxShards() { return Arena::Get().maxShards; }

Chunk* GetChunk(uint32_t id) {
  if (id >= kMaxChunks) return nullptr;
  return Arena::Get().chunks[id].load(std::memory_order_acquire);
}

uint32_t ShardHighWater() {
  return static_cast<uint32_t>(Arena::Get().control.highWater.load(std::memory_order_seq_cst));
}

int ClaimShard() {
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  for (uint32_t s = 0; s < a.maxShards; s++) {
    if (!a.shardTaken[s]) {
      a.shardTaken[s] = true;
      if (s + 1 > a.everHighWater) a.everHighWater = s + 1;
      a.RecomputeHighWater();
      return static_cast<int>(s);
    }
  }
  return -1;
}

void ReleaseShard(int shard) {
  if (shard < 0) return;
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  uint32_t s = static_cast<uint32_t>(shard);
  for (size_t id = 0; id < a.meta.size(); id++) {
    Chunk* c = a.chunks[id].load();
    double* slots = c->slots(s);
    for (uint32_t col = 0; col < a.meta[id].used; col++) {
      double v = Atomic(slots[col]).load(std::memory_order_relaxed);
      if (v != 0) FoldInto(c, s, col, static_cast<int64_t>(v));
    }
  }
  a.shardTaken[s] = false;
  a.RecomputeHighWater();
}

bool Acquire(uint32_t chunk, uint32_t col, uint32_t width, uint32_t token) {
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.TakeRef(chunk, col, width, token);
}

void Release(uint32_t chunk, uint32_t col) {
  auto& a = Arena::Get();
  std::lock_guard<std::mutex> lock(a.mu);
  if (chunk < a.meta.size() && col < a.meta[chunk].refs.size() && a.meta[chunk].refs[col] > 0) a.Unref(chunk, col, 1);
}

void Add(int shard, Chunk* c, uint32_t col, int64_t n) {
  if (shard < 0) return AddShared(c, col, n);
  double& slot = c->slots(static_cast<uint32_t>(shard))[col];
  double cur = Atomic(slot).load(std::memory_order_relaxed);
  double next = cur + static_cast<double>(n);
  if (next < kFoldThreshold && next > -kFoldThreshold && static_cast<double>(n) < kFoldThreshold &&
      static_cast<double>(n) > -kFoldThreshold) {
    Atomic(slot).store(next, std::memory_order_relaxed);
  } else {
    FoldInto(c, static_cast<uint32_t>(shard), col, static_cast<int64_t>(cur) + n);
  }
}

void AddShared(Chunk* c, uint32_t col, int64_t n) {
  Atomic(c->totals()[col]).fetch_add(n, std::memory_order_seq_cst);
}

namespace {

// Reads totals and every scanned shard's slots of [col, col + n) into out.
void ReadColumns(Chunk* c, uint32_t shards, uint32_t col, uint32_t n, int64_t* out) {
  for (uint32_t i = 0; i < n; i++) out[i] = Atomic(c->totals()[col + i]).load(std::memory_order_relaxed);
  for (uint32_t s = 0; s < shards; s++) {
    double* slots = c->slots(s);
    for (uint32_t i = 0; i < n; i++) out[i] += static_cast<int64_t>(Atomic(slots[col + i]).load(std::memory_order_relaxed));
  }
}

// The sum of the scanned shards' fold sequences (mod 2^32), or -1 while one is folding.
int64_t SeqState(Chunk* c, uint32_t shards) {
  uint32_t sum = 0;
  for (uint32_t s = 0; s < shards; s++) {
    uint32_t v = Atomic(*c->seq(s)).load(std::memory_order_acquire);
    if (v & 1) return -1;
    sum += v;
  }
  return sum;
}

constexpr int kOptimisticAttempts = 8;

}  // namespace

void SumRaw(Chunk* c, uint32_t col, uint32_t n, int64_t* out) {
  for (int attempt = 0; attempt < kOptimisticAttempts; attempt++) {
    uint32_t shards = ShardHighWater();
    int64_t before = SeqState(c, shards);
    if (before < 0) continue;
    ReadColumns(c, shards, col, n, out);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (SeqState(c, shards) == before) return;
  }
  // Folds keep spoiling the snapshot: hold them off. Writers' plain adds go on.
  std::lock_guard<std::mutex> lock(c->foldLock);
  ReadColumns(c, ShardHighWater(), col, n, out);
}

// ---- JavaScript bindings -------------------------------------------------

namespace {

PercpuEnv& EnvState(Napi::Env env) { return PerEnv<PercpuEnv>(env); }

uint64_t Key(uint32_t chunk, uint32_t col) { return (uint64_t(chunk) << 32) | col; }

Napi::Value Constants(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("maxShards", MaxShards());
  o.Set("foldThreshold", kFoldThreshold);
  o.Set("seqStride", kSeqStride);
  return o;
}

// The shared control block: Int32Array [0] = shard high-water mark.
Napi::Value Control(const Napi::CallbackInfo& info) {
  auto& a = Arena::Get();
  return Napi::ArrayBuffer::New(info.Env(), &a.control, sizeof(ControlBlock));
}

// Claims this environment's shard once; returns it (-1: none free).
Napi::Value ClaimShardJs(const Napi::CallbackInfo& info) {
  auto& st = EnvState(info.Env());
  if (st.shard == -2) st.shard = ClaimShard();
  return Napi::Number::New(info.Env(), st.shard);
}

// alloc(width) -> [chunk, col, token]; the calling environment holds one reference.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t width = ArgUint32(info, 0, "width");
  if (width == 0 || width > (1u << 20)) throw MakeError(env, "EINVAL", "width must be from 1 to 1048576 counters");
  auto& a = Arena::Get();
  uint32_t chunk, col, token;
  {
    std::lock_guard<std::mutex> lock(a.mu);
    auto& reuse = a.freeByWidth[width];
    if (!reuse.empty()) {
      std::tie(chunk, col) = reuse.back();
      reuse.pop_back();
    } else {
      if (width > kMinChunkCols) {
        chunk = a.NewChunk(width, env);  // a wide set gets a chunk of its own
      } else {
        if (a.current == UINT32_MAX || a.meta[a.current].used + width > a.chunks[a.current].load()->layout.cols)
          a.current = a.NewChunk(kMinChunkCols, env);
        chunk = a.current;
      }
      col = a.meta[chunk].used;
      a.meta[chunk].used += width;
    }
    token = a.tokens.Next();
    auto& m = a.meta[chunk];
    m.length[col] = width;
    m.token[col] = token;
    m.refs[col] = 1;
  }
  EnvState(env).refs[Key(chunk, col)]++;
  auto r = Napi::Array::New(env, 3);
  r.Set(0u, chunk);
  r.Set(1u, col);
  r.Set(2u, token);
  return r;
}

// acquire(chunk, col, width, token): another reference, for a handle that arrived
// from another thread. A forged or stale handle gets EINVAL.
Napi::Value AcquireJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t chunk = ArgUint32(info, 0, "handle.chunk"), col = ArgUint32(info, 1, "handle.offset");
  uint32_t width = ArgUint32(info, 2, "handle.width"), token = ArgUint32(info, 3, "handle.token");
  if (!Acquire(chunk, col, width, token)) {
    throw MakeError(env, "EINVAL", "handle does not name a live counter (forged, or its counter was released before attach)");
  }
  EnvState(env).refs[Key(chunk, col)]++;
  return env.Undefined();
}

// release(chunk, col): drops one of this environment's references.
Napi::Value ReleaseJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t chunk = ArgUint32(info, 0, "chunk"), col = ArgUint32(info, 1, "offset");
  auto& st = EnvState(env);
  auto it = st.refs.find(Key(chunk, col));
  if (it == st.refs.end()) return env.Undefined();
  if (--it->second == 0) st.refs.erase(it);
  Release(chunk, col);
  return env.Undefined();
}

// view(chunk) -> { meta, cols, offsets... }: the chunk's totals, bases and
// sequences as an external ArrayBuffer. Slots come per shard (shardView): V8
// counts an external buffer's length as memory it must watch, so a thread maps
// only the shards it writes or reads, not every possible one.
Napi::Value View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Chunk* c = GetChunk(ArgUint32(info, 0, "chunk"));
  if (!c) throw MakeError(env, "EINVAL", "no such counter chunk");
  auto o = Napi::Object::New(env);
  // No finalizer: chunks outlive every environment.
  o.Set("meta", Napi::ArrayBuffer::New(env, c->base, c->layout.slotsOffset));
  o.Set("cols", c->layout.cols);
  o.Set("totalsOffset", static_cast<double>(c->layout.totalsOffset));
  o.Set("basesOffset", static_cast<double>(c->layout.basesOffset));
  o.Set("seqsOffset", static_cast<double>(c->layout.seqsOffset));
  return o;
}

// shardView(chunk, shard) -> ArrayBuffer over that shard's slots of the chunk.
Napi::Value ShardView(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Chunk* c = GetChunk(ArgUint32(info, 0, "chunk"));
  uint32_t shard = ArgUint32(info, 1, "shard");
  if (!c || shard >= MaxShards()) throw MakeError(env, "EINVAL", "no such counter chunk or shard");
  return Napi::ArrayBuffer::New(env, c->slots(shard), c->layout.shardBytes);
}

// fold(chunk, col, n): the owner's slow path, when a slot would pass the threshold.
Napi::Value Fold(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Chunk* c = GetChunk(ArgUint32(info, 0, "chunk"));
  uint32_t col = ArgUint32(info, 1, "offset");
  int64_t n = ArgInt64(info, 2, "n");
  if (!c || col >= c->layout.cols) throw MakeError(env, "EINVAL", "no such counter");
  int shard = EnvState(env).shard;
  if (shard < 0) {
    AddShared(c, col, n);
  } else {
    double cur = Atomic(c->slots(static_cast<uint32_t>(shard))[col]).load(std::memory_order_relaxed);
    FoldInto(c, static_cast<uint32_t>(shard), col, static_cast<int64_t>(cur) + n);
  }
  return env.Undefined();
}

// sumRaw(chunk, col, width) -> bigint[]: the native reader; the JavaScript reader's
// fallback when folds keep spoiling its optimistic reads.
Napi::Value SumRawJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Chunk* c = GetChunk(ArgUint32(info, 0, "chunk"));
  uint32_t col = ArgUint32(info, 1, "offset"), n = ArgUint32(info, 2, "width");
  if (!c || n == 0 || col + n > c->layout.cols) throw MakeError(env, "EINVAL", "no such counter");
  std::vector<int64_t> out(n);
  SumRaw(c, col, n, out.data());  // may wait for a fold to finish: folds are a few stores long
  auto r = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) r.Set(i, Napi::BigInt::New(env, out[i]));
  return r;
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("constants", Napi::Function::New(env, Constants, "constants"));
  exports.Set("control", Napi::Function::New(env, Control, "control"));
  exports.Set("claimShard", Napi::Function::New(env, ClaimShardJs, "claimShard"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("acquire", Napi::Function::New(env, AcquireJs, "acquire"));
  exports.Set("release", Napi::Function::New(env, ReleaseJs, "release"));
  exports.Set("view", Napi::Function::New(env, View, "view"));
  exports.Set("shardView", Napi::Function::New(env, ShardView, "shardView"));
  exports.Set("fold", Napi::Function::New(env, Fold, "fold"));
  exports.Set("sumRaw", Napi::Function::New(env, SumRawJs, "sumRaw"));
}

}  // namespace

KERNKIT_MODULE(percpu, Init);

}  // namespace kernkit::percpu
