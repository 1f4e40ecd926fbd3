// Native threads for kernkit's background work, in the spirit of the kernel's
// kthreads: each one names itself, pins itself to a set of CPUs with
// sched_setaffinity on its own tid, takes a nice value with setpriority on its
// own tid, and then runs its body, which sleeps on a condition variable until
// its next deadline (no busy waiting, nothing polled from JavaScript).
//
// Stopping is cooperative, as kthread_stop(): RequestStop() sets a flag and
// wakes the thread; its body returns at the next check; Join() waits for that.
// Every thread ever started is in a registry, so that process exit can stop and
// join whatever is still running (see StopAll).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kernkit::kthread {

// CLOCK_MONOTONIC in nanoseconds: the clock every deadline here is on.
int64_t MonotonicNs();

// Where and how a kthread runs. An empty cpu list leaves the inherited affinity.
struct Placement {
  std::vector<int> cpus;
  int nice = 0;
};

// The part of a kthread its body sees; shared by the thread and its owner, so it
// stays valid for whichever of them lets go last.
class Context {
 public:
  bool StopRequested() const { return stop_.load(std::memory_order_acquire); }
  // Sleeps until `deadlineNs` (MonotonicNs clock; INT64_MAX: no deadline), an
  // earlier Wake() or RequestStop(). Returns at once if a wake is pending.
  void SleepUntil(int64_t deadlineNs);
  void Wake();

  pid_t Tid() const { return tid_.load(std::memory_order_acquire); }
  // Waits until the thread has placed itself (or exited); true if it did in time.
  bool WaitPlaced(int64_t timeoutNs);
  bool Finished() const { return finished_.load(std::memory_order_acquire); }
  // errno of the thread's own sched_setaffinity / setpriority, 0 if they worked.
  int AffinityError() const { return affinityErr_.load(std::memory_order_acquire); }
  int NiceError() const { return niceErr_.load(std::memory_order_acquire); }

 private:
  friend class KThread;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wakePending_ = false;
  bool placed_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> finished_{false};
  std::atomic<pid_t> tid_{0};
  std::atomic<int> affinityErr_{0};
  std::atomic<int> niceErr_{0};
};

class KThread {
 public:
  using Body = std::function<void(Context&)>;

  // Starts a thread called `name` (at most 15 characters are kept) that places
  // itself as asked and then runs `body`. The thread blocks every signal: they
  // belong to Node's own threads; the caller's signal mask is left as it was.
  // Returns nullptr if the thread cannot be created (pthread_create's EAGAIN at
  // RLIMIT_NPROC or out of memory), with the errno in *err; never throws.
  static std::shared_ptr<KThread> Start(const std::string& name, const Placement& placement, Body body,
                                        int* err = nullptr);

  ~KThread();  // joins a finished thread, detaches one still running
  KThread(const KThread&) = delete;
  KThread& operator=(const KThread&) = delete;

  const std::string& Name() const { return name_; }
  Context& Ctx() { return *ctx_; }
  const Context& Ctx() const { return *ctx_; }

  // Asks the body to return and wakes it; does not wait.
  void RequestStop();
  // Waits until the thread has exited (any number of callers, from any thread
  // but the kthread itself).
  void Join();

 private:
  KThread() = default;
  std::string name_;
  std::shared_ptr<Context> ctx_;
  std::thread thread_;
  std::mutex joinMu_;
};

// Test hook: the next `n` calls of KThread::Start fail as if thread creation
// returned EAGAIN (the kthread's placement and body never run).
void FailNextStartsForTest(int n);

// Stops every kthread that is still running and joins those that exit within
// `timeoutNs` (the rest are detached: exit takes them down). Used at process exit.
void StopAll(int64_t timeoutNs);

// The CPUs a thread may run on (sched_getaffinity of `tid`), ascending; empty
// if the thread is gone.
std::vector<int> AffinityOf(pid_t tid);
// The thread's nice value (getpriority), or `fallback` if it is gone.
int NiceOf(pid_t tid, int fallback);

}  // namespace kernkit::kthread
