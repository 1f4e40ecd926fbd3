// Native kthreads (see kthread.h): start, placement, sleeping, stopping, and
// the registry that process exit drains.
#include "kthread.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <new>
#include <system_error>

namespace kernkit::kthread {

namespace {

// Every kthread started, for StopAll. Never destroyed: threads may still be
// running while static destructors run at exit.
struct Registry {
  std::mutex mu;
  std::vector<std::weak_ptr<KThread>> threads;
};

Registry& Reg() {
  static Registry* reg = new Registry();
  return *reg;
}

void Remember(const std::shared_ptr<KThread>& t) {
  auto& r = Reg();
  std::lock_guard<std::mutex> lock(r.mu);
  std::erase_if(r.threads, [](const std::weak_ptr<KThread>& w) { return w.expired(); });
  r.threads.push_back(t);
}

// Blocks every signal in the calling thread for its lifetime, then restores the mask it found.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~AllSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

std::atomic<int> failStartsForTest{0};

void ApplyPlacement(const Placement& placement, std::atomic<pid_t>& tid,
                    std::atomic<int>& affinityErr, std::atomic<int>& niceErr) {
  pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  tid.store(self, std::memory_order_release);
  if (!placement.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : placement.cpus)
      if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    // This thread's own tid: pins the kthread, not the process.
    if (sched_setaffinity(self, sizeof set, &set) != 0) affinityErr.store(errno, std::memory_order_release);
  }
  // On Linux the nice value is per thread; PRIO_PROCESS with a tid sets just this one.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(self), placement.nice) != 0) {
    niceErr.store(errno, std::memory_order_release);
  }
}

}  // namespace

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void Context::SleepUntil(int64_t deadlineNs) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [this] { return wakePending_ || stop_.load(std::memory_order_acquire); };
  if (deadlineNs == INT64_MAX) {
    cv_.wait(lock, ready);
  } else {
    // steady_clock is CLOCK_MONOTONIC on Linux, the clock of MonotonicNs().
    auto now = MonotonicNs();
    auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(deadlineNs - now);
    cv_.wait_until(lock, until, ready);
  }
  wakePending_ = false;
}

bool Context::WaitPlaced(int64_t timeoutNs) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::nanoseconds(timeoutNs),
                      [this] { return placed_ || finished_.load(std::memory_order_acquire); });
}

void Context::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wakePending_ = true;
  }
  cv_.notify_all();
}

void FailNextStartsForTest(int n) { failStartsForTest.store(n, std::memory_order_relaxed); }

std::shared_ptr<KThread> KThread::Start(const std::string& name, const Placement& placement, Body body, int* err) {
  std::shared_ptr<KThread> t;
  try {
    t.reset(new KThread());
    t->name_ = name.substr(0, 15);  // the kernel's TASK_COMM_LEN - 1
    t->ctx_ = std::make_shared<Context>();
    std::shared_ptr<Context> ctx = t->ctx_;
    std::string threadName = t->name_;

    // Signals are for Node's threads: the new thread inherits a full block mask.
    // The guard gives the caller its own mask back however this block is left.
    AllSignalsBlocked blocked;
    if (failStartsForTest.load(std::memory_order_relaxed) > 0 && failStartsForTest.fetch_sub(1) > 0) {
      throw std::system_error(EAGAIN, std::generic_category(), "thread creation (test hook)");
    }
    t->thread_ = std::thread([ctx, placement, threadName, body = std::move(body)]() mutable {
      pthread_setname_np(pthread_self(), threadName.c_str());
      ApplyPlacement(placement, ctx->tid_, ctx->affinityErr_, ctx->niceErr_);
      {
        std::lock_guard<std::mutex> lock(ctx->mu_);
        ctx->placed_ = true;
      }
      ctx->cv_.notify_all();
      body(*ctx);
      body = nullptr;  // drop what the body holds before anyone sees us finished
      ctx->finished_.store(true, std::memory_order_release);
      ctx->Wake();
    });
  } catch (const std::system_error& e) {  // std::thread: pthread_create failed
    if (err) *err = e.code().value() ? e.code().value() : EAGAIN;
    return nullptr;
  } catch (const std::bad_alloc&) {
    if (err) *err = ENOMEM;
    return nullptr;
  }
  Remember(t);
  return t;
}

KThread::~KThread() {
  if (!thread_.joinable()) return;
  if (ctx_->Finished() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  } else {
    ctx_->stop_.store(true, std::memory_order_release);
    ctx_->Wake();
    thread_.detach();  // it holds its own Context and exits on its own
  }
}

void KThread::RequestStop() {
  ctx_->stop_.store(true, std::memory_order_release);
  ctx_->Wake();
}

void KThread::Join() {
  std::lock_guard<std::mutex> lock(joinMu_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void StopAll(int64_t timeoutNs) {
  std::vector<std::shared_ptr<KThread>> live;
  {
    auto& r = Reg();
    std::lock_guard<std::mutex> lock(r.mu);
    for (auto& w : r.threads)
      if (auto t = w.lock()) live.push_back(std::move(t));
  }
  for (auto& t : live) t->RequestStop();
  int64_t deadline = MonotonicNs() + timeoutNs;
  for (auto& t : live) {
    while (!t->Ctx().Finished() && MonotonicNs() < deadline) {
      timespec pause{0, 1000000};  // 1 ms
      nanosleep(&pause, nullptr);
    }
    if (t->Ctx().Finished()) t->Join();
  }
}

std::vector<int> AffinityOf(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (tid <= 0 || sched_getaffinity(tid, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  return out;
}

int NiceOf(pid_t tid, int fallback) {
  if (tid <= 0) return fallback;
  errno = 0;
  int v = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  return errno ? fallback : v;
}

}  // namespace kernkit::kthread
