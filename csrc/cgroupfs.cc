// Batches of cgroup filesystem operations, run in order on one libuv pool
// thread: one hop off the event loop per batch instead of three or four per
// file (open, read/write, close) with fs/promises. Only the system calls live
// here; which files, which values, in which order and what the results mean is
// decided in lib/cgroup (TypeScript).
//
// run(ops, stopOnError) -> Promise<Array<[errno, data]>>; an op is an array:
//   ["read", path]             data: the file's text
//   ["write", path, value]     one write(2) of the value (cgroup files take one command per write)
//   ["mkdir", path]
//   ["rmdir", path]            one attempt (lib/cgroup retries EBUSY with timers, off the pool)
//   ["isdir", path]            data: true / false (ENOENT, ENOTDIR are false, not errors)
//   ["resolve", path]          data: realpath of the path or of its deepest existing ancestor
//   ["walk", path]             data: the directory and every directory below it, parents first
//   ["copy", from, to]         write `from`'s trimmed text to `to` unless it is empty
// With stopOnError, the ops after a failed one report errno -1 (not run).
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "addon.h"

namespace kernkit::cgroupfs {

namespace {

enum Kind { kRead, kWrite, kMkdir, kRmdir, kIsdir, kResolve, kWalk, kCopy };

struct Op {
  Kind kind;
  std::string path;
  std::string arg;  // write: value; copy: destination
  // results
  int err = 0;
  bool flag = false;
  std::string text;
  std::vector<std::string> list;
};

int ReadAll(const std::string& path, std::string& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[8192];
  out.clear();
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return 0;
}

int WriteOnce(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n;
  do n = write(fd, value.data(), value.size());
  while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : (static_cast<size_t>(n) != value.size() ? EIO : 0);
  close(fd);
  return e;
}

int Walk(const std::string& dir, std::vector<std::string>& out) {
  out.push_back(dir);
  DIR* d = opendir(dir.c_str());
  if (!d) return errno;
  std::vector<std::string> children;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
    bool isDir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      isDir = lstat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (isDir) children.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  for (auto& c : children) {
    int e = Walk(c, out);
    if (e && e != ENOENT) return e;  // a child removed meanwhile is fine
  }
  return 0;
}

void RunOne(Op& op) {
  switch (op.kind) {
    case kRead:
      op.err = ReadAll(op.path, op.text);
      break;
    case kWrite:
      op.err = WriteOnce(op.path, op.arg);
      break;
    case kMkdir:
      op.err = mkdir(op.path.c_str(), 0755) < 0 ? errno : 0;
      break;
    case kRmdir:
      op.err = rmdir(op.path.c_str()) < 0 ? errno : 0;
      break;
    case kIsdir: {
      struct stat st;
      if (stat(op.path.c_str(), &st) == 0) op.flag = S_ISDIR(st.st_mode);
      else if (errno != ENOENT && errno != ENOTDIR) op.err = errno;
      break;
    }
    case kResolve: {
      std::string probe = op.path;
      for (;;) {
        char* real = realpath(probe.c_str(), nullptr);
        if (real) {
          op.text = real;
          free(real);
          break;
        }
        size_t slash = probe.find_last_of('/');
        if (errno != ENOENT || slash == std::string::npos || slash == 0) {
          op.err = errno;
          break;
        }
        probe.resize(slash);
      }
      break;
    }
    case kWalk:
      op.err = Walk(op.path, op.list);
      break;
    case kCopy: {
      std::string text;
      op.err = ReadAll(op.path, text);
      if (op.err) break;
      size_t b = text.find_first_not_of(" \t\n");
      size_t e = text.find_last_not_of(" \t\n");
      if (b == std::string::npos) break;
      op.err = WriteOnce(op.arg, text.substr(b, e - b + 1));
      break;
    }
  }
}

class BatchWorker : public Napi::AsyncWorker {
 public:
  BatchWorker(Napi::Env env, std::vector<Op> ops, bool stopOnError)
      : Napi::AsyncWorker(env), ops_(std::move(ops)), stop_(stopOnError), deferred_(Napi::Promise::Deferred::New(env)) {}

  void Execute() override {
    bool failed = false;
    for (auto& op : ops_) {
      if (failed) {
        op.err = -1;
        continue;
      }
      RunOne(op);
      if (op.err && stop_) failed = true;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto results = Napi::Array::New(env, ops_.size());
    for (uint32_t i = 0; i < ops_.size(); i++) {
      const Op& op = ops_[i];
      auto r = Napi::Array::New(env, 2);
      r.Set(0u, op.err == -1 ? Napi::Value(Napi::Number::New(env, -1))
                              : op.err ? Napi::Value(Napi::String::New(env, ErrnoName(op.err)))
                                       : Napi::Value(Napi::Number::New(env, 0)));
      Napi::Value data = env.Null();
      if (!op.err) {
        if (op.kind == kRead || op.kind == kResolve) data = Napi::String::New(env, op.text);
        else if (op.kind == kIsdir) data = Napi::Boolean::New(env, op.flag);
        else if (op.kind == kWalk) {
          auto list = Napi::Array::New(env, op.list.size());
          for (uint32_t j = 0; j < op.list.size(); j++) list.Set(j, op.list[j]);
          data = list;
        }
      }
      r.Set(1u, data);
      results.Set(i, r);
    }
    deferred_.Resolve(results);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

 private:
  std::vector<Op> ops_;
  bool stop_;
  Napi::Promise::Deferred deferred_;
};

Kind KindOf(Napi::Env env, const std::string& name) {
  if (name == "read") return kRead;
  if (name == "write") return kWrite;
  if (name == "mkdir") return kMkdir;
  if (name == "rmdir") return kRmdir;
  if (name == "isdir") return kIsdir;
  if (name == "resolve") return kResolve;
  if (name == "walk") return kWalk;
  if (name == "copy") return kCopy;
  throw MakeError(env, "EINVAL", "cgroupfs: unknown op " + name);
}

// A path with a NUL byte would be cut short by open(2): the file checked would not be the file
// used. lib/cgroup refuses such paths first; this is the last line.
std::string PathArg(Napi::Env env, Napi::Value v) {
  std::string s = v.ToString().Utf8Value();
  if (s.find('\0') != std::string::npos) throw MakeError(env, "EINVAL", "cgroupfs: a path contains a NUL byte");
  return s;
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw MakeError(env, "EINVAL", "cgroupfs.run(ops, stopOnError): ops must be an array");
  auto arr = info[0].As<Napi::Array>();
  std::vector<Op> ops;
  ops.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsArray()) throw MakeError(env, "EINVAL", "cgroupfs.run: each op must be an array");
    auto a = v.As<Napi::Array>();
    Op op;
    op.kind = KindOf(env, a.Get(0u).ToString().Utf8Value());
    op.path = PathArg(env, a.Get(1u));
    if (a.Length() > 2) op.arg = op.kind == kCopy ? PathArg(env, a.Get(2u)) : a.Get(2u).ToString().Utf8Value();
    ops.push_back(std::move(op));
  }
  auto* worker = new BatchWorker(env, std::move(ops), info[1].ToBoolean().Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

void Init(Napi::Env env, Napi::Object exports) { exports.Set("run", Napi::Function::New(env, Run, "run")); }

}  // namespace

KERNKIT_MODULE(cgroupfs, Init);

}  // namespace kernkit::cgroupfs
