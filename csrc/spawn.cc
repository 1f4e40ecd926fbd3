// Starting a child directly inside a cgroup, and watching it without blocking
// the event loop.
//
// - cgroup v2 (unified hierarchy): clone3(CLONE_INTO_CGROUP) places the child in
//   the target group atomically, before it runs a single instruction. Where
//   clone3 is refused (ENOSYS: Docker's default seccomp profile, kernels before
//   5.3; E2BIG for a cgroup: kernels before 5.7), clone() is used instead and
//   the child attaches itself to the unified group as it does for v1.
// - cgroup v1 (and the v1 half of a hybrid layout): the child writes "0" (the
//   kernel's "myself") into every hierarchy's cgroup.procs before exec.
// - pids limits: a move into a group is never checked against pids.max (the
//   pids controller charges migrations unconditionally), while a fork in the
//   group is. So once attached, the child reads pids.current and pids.max of
//   the group and its ancestors in every pids hierarchy and, if over a limit,
//   reports EAGAIN (as that fork would get) and exits before exec.
//
// Everything that allocates or may fail for reasons of its own (paths, fds,
// pipes) is prepared before the clone; between clone and exec the child makes
// raw system calls only (async-signal-safe). The clone runs on a libuv pool
// thread (a clone with CLONE_INTO_CGROUP takes cgroup_mutex, which others may
// hold) with CLONE_VFORK: that thread sleeps until the child has exec'd or
// exited. A child that cannot exec writes a ChildReport to a close-on-exec,
// non-blocking pipe before it exits, so once the clone returns the pool thread
// reads the pipe without waiting: a report means failure, nothing means the
// exec succeeded. (Waiting for end-of-file instead would wait for every other
// child cloned meanwhile, which holds a copy of the write end until it execs.)
// The main thread then waits for the exit with uv_poll on a pidfd, so nothing
// ever blocks the event loop.
//
// A child may outlive the environment (worker thread) that started it, as a
// child_process child outlives its parent: when the environment ends, an async
// cleanup hook closes the child's handles (Node waits for the close callbacks,
// so none runs after the addon is unloaded) and hands its pidfd to the Reaper,
// one process-wide thread that reaps such children when they exit.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "addon.h"

#ifndef CLONE_VFORK
#define CLONE_VFORK 0x00004000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif

namespace kernkit::spawn {

namespace {

// struct clone_args up to the cgroup field (CLONE_ARGS_SIZE_VER2, Linux 5.7),
// spelled out so that old kernel headers do not matter.
struct CloneArgs {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};
static_assert(sizeof(CloneArgs) == 88, "clone_args v2 is 88 bytes");

// What the child writes to the report pipe when it cannot exec.
enum Stage : int32_t { kStageAttach = 1, kStageSetsid = 2, kStageStdio = 3, kStageChdir = 4, kStageExec = 5, kStagePids = 6 };
struct ChildReport {
  int32_t stage;
  int32_t index;  // which cgroup.procs file / stdio slot / exec candidate / pids directory
  int32_t err;
  int32_t value;  // kStagePids: the pids.max that was reached
};

// The files of one pids-controller directory the child checks after attaching.
struct PidsFiles {
  std::string dir;
  std::string max;      // dir + "/pids.max"
  std::string current;  // dir + "/pids.current"
};

enum StdioMode { kInherit = 0, kPipe = 1, kIgnore = 2 };

// Everything the child needs, prepared by the parent before the clone.
struct ChildPlan {
  std::vector<std::string> candidates;  // paths to try with execve, in order (PATH already searched)
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string cwd;                      // empty: inherit
  std::string cgroupDir;                // cgroup2 directory for CLONE_INTO_CGROUP, or empty
  std::vector<std::string> procsFiles;  // v1 cgroup.procs files the child attaches itself to
  std::vector<PidsFiles> pidsLimits;    // the group and its ancestors in each pids hierarchy
  StdioMode stdio[3] = {kInherit, kInherit, kInherit};
  bool setsid = false;
  bool noClone3 = false;      // use the clone() fallback (tests, diagnosis)
  bool noCloseRange = false;  // use the close_range fallback (tests, diagnosis)
};

// The fds and pointer arrays of one spawn; owned by the pool thread until the
// clone, then by the main thread.
struct Prepared {
  std::vector<char*> argv, envp, candidates;
  std::vector<int> procsFds;               // cgroup.procs files the child writes itself into
  std::vector<std::string> procsNames;     // ... and their paths, for error messages
  int cgroupFd = -1;
  int childStdio[3] = {-1, -1, -1};   // the child's ends (or /dev/null)
  int parentStdio[3] = {-1, -1, -1};  // our ends of the pipes
  int reportRead = -1, reportWrite = -1;
  int fdLimit = 0;  // RLIMIT_NOFILE: how far the last-resort close-on-exec loop goes
};

// Set once clone3 has been refused: every later spawn goes straight to clone().
std::atomic<bool> clone3Unusable{false};

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// Moves fd above 2, so that the child's dup2 onto 0..2 cannot clobber another source.
int AboveStdio(int fd) {
  if (fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int saved = errno;
  close(fd);
  errno = saved;
  return moved;
}

// waitid on a child: P_PIDFD needs Linux 5.4; on 5.3 (EINVAL) P_PID does the
// same safely, since the pid of a child nobody has reaped cannot be reused.
int WaitChild(int pidfd, int pid, siginfo_t* info, int options) {
  int r = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), info, options);
  if (r < 0 && errno == EINVAL && pid > 0) r = waitid(P_PID, static_cast<id_t>(pid), info, options);
  return r;
}

// The kernel's record of a directory entry (getdents64), spelled out: glibc's
// readdir allocates, which the child must not do.
struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

void SetCloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// Marks every fd above 2 close-on-exec, in the child (async-signal-safe):
// close_range(CLOSE_RANGE_CLOEXEC) from Linux 5.11; else the fds /proc/self/fd
// lists, read with raw getdents64; else every fd below RLIMIT_NOFILE.
void MarkOthersCloexec(const Prepared& p, bool noCloseRange) {
  if (!noCloseRange && syscall(__NR_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(8) char buf[4096];
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
        off += d->d_reclen;
        int fd = 0;
        const char* c = d->d_name;
        if (*c < '0' || *c > '9') continue;  // . and ..
        for (; *c >= '0' && *c <= '9'; c++) fd = fd * 10 + (*c - '0');
        if (fd > 2 && fd != dir) SetCloexec(fd);
      }
    }
    close(dir);
    if (n == 0) return;
  }
  for (int fd = 3; fd < p.fdLimit; fd++) SetCloexec(fd);
}

[[noreturn]] void ChildFail(int reportFd, int32_t stage, int32_t index, int err, int32_t value = 0) {
  ChildReport r{stage, index, err, value};
  ssize_t ignored = write(reportFd, &r, sizeof r);
  (void)ignored;
  _exit(127);
}

// Reads a pids.max or pids.current file in the child (open/read/close only):
// 0 and the count (-1 for "max"), or the errno. ENOENT: no such limit here
// (a v2 level where pids is not enabled).
int ReadPidsValue(const char* file, int64_t* value) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[32];
  ssize_t n;
  do n = read(fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return err;
  if (n >= 3 && buf[0] == 'm' && buf[1] == 'a' && buf[2] == 'x') {
    *value = -1;
    return 0;
  }
  int64_t v = 0;
  ssize_t i = 0;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (buf[i] - '0');
  if (i == 0) return EIO;
  *value = v;
  return 0;
}

// Fails the child with EAGAIN if, now that it is counted, any pids directory is over its pids.max:
// what a fork inside the group would get from pids_can_fork.
void CheckPidsLimits(const ChildPlan& plan, int reportFd) {
  for (size_t i = 0; i < plan.pidsLimits.size(); i++) {
    int64_t max = 0, current = 0;
    int err = ReadPidsValue(plan.pidsLimits[i].max.c_str(), &max);
    if (err == ENOENT) continue;
    if (err != 0) ChildFail(reportFd, kStagePids, static_cast<int32_t>(i), err);
    if (max < 0) continue;
    err = ReadPidsValue(plan.pidsLimits[i].current.c_str(), &current);
    if (err != 0) ChildFail(reportFd, kStagePids, static_cast<int32_t>(i), err);
    if (current > max) ChildFail(reportFd, kStagePids, static_cast<int32_t>(i), EAGAIN, static_cast<int32_t>(max));
  }
}

// Runs in the child, between clone and exec: async-signal-safe calls only.
[[noreturn]] void ChildMain(const ChildPlan& plan, Prepared& p, const sigset_t& emptyMask) {
  // Node's handlers must not run here, nor be inherited by the new program:
  // back to the defaults (exec would keep SIG_IGN, e.g. Node's SIGPIPE), then unblock.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);  // fails harmlessly for the C library's internal signals
  }
  sigprocmask(SIG_SETMASK, &emptyMask, nullptr);

  if (plan.setsid && setsid() < 0) ChildFail(p.reportWrite, kStageSetsid, 0, errno);

  // "0" is the writer itself. Every hierarchy before exec: the program starts inside the group.
  for (size_t i = 0; i < p.procsFds.size(); i++) {
    ssize_t n;
    do n = write(p.procsFds[i], "0", 1);
    while (n < 0 && errno == EINTR);
    if (n < 0) ChildFail(p.reportWrite, kStageAttach, static_cast<int32_t>(i), errno);
  }
  CheckPidsLimits(plan, p.reportWrite);

  for (int slot = 0; slot < 3; slot++) {
    int fd = p.childStdio[slot];
    if (fd >= 0) {
      if (dup2(fd, slot) < 0) ChildFail(p.reportWrite, kStageStdio, slot, errno);
      continue;
    }
    // Inherited: our own 0..2 may be close-on-exec (Node's often are); the program must keep them.
    int flags = fcntl(slot, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) && fcntl(slot, F_SETFD, flags & ~FD_CLOEXEC) < 0) {
      ChildFail(p.reportWrite, kStageStdio, slot, errno);
    }
  }

  if (!plan.cwd.empty() && chdir(plan.cwd.c_str()) < 0) ChildFail(p.reportWrite, kStageChdir, 0, errno);

  // Whatever else this process had open (without O_CLOEXEC) is not the new program's business.
  MarkOthersCloexec(p, plan.noCloseRange);

  // execvp's search order and error choice: keep going on ENOENT/ENOTDIR, remember EACCES.
  int err = ENOENT;
  bool sawEacces = false;
  for (size_t i = 0; i < p.candidates.size(); i++) {
    execve(p.candidates[i], p.argv.data(), p.envp.data());
    err = errno;
    if (err == EACCES) {
      sawEacces = true;
      continue;
    }
    if (err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG) continue;
    break;
  }
  if (sawEacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  ChildFail(p.reportWrite, kStageExec, 0, err);
}

// Reaps children whose environment ended before they did. Their pidfds are
// polled by one thread, started on first use; the addon is pinned in memory
// (RTLD_NODELETE) then, since a worker that loaded it unloads it on exit.
// Never destroyed: it runs until the process exits.
class Reaper {
 public:
  // Takes the pidfd of an unreaped child (and its pid, for waitid before 5.4).
  static void Adopt(int pidfd, int pid) {
    static Reaper* instance = new Reaper();
    instance->Add(pidfd, pid);
  }

 private:
  struct Orphan {
    int pidfd;
    int pid;
  };

  void Add(int pidfd, int pid) {
    std::lock_guard<std::mutex> lock(mu_);
    if (wake_ < 0) Start();
    incoming_.push_back({pidfd, pid});
    uint64_t one = 1;
    ssize_t ignored = write(wake_, &one, sizeof one);
    (void)ignored;
  }

  void Start() {
    Dl_info self;
    if (dladdr(reinterpret_cast<void*>(&Reaper::Adopt), &self) && self.dli_fname) {
      dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    // Signals are for Node's threads: the new thread inherits a full block mask.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    std::thread([this] { Run(); }).detach();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }

  void Run() {
    pthread_setname_np(pthread_self(), "kernkit-reaper");
    std::vector<Orphan> orphans;
    std::vector<pollfd> fds;
    for (;;) {
      fds.assign(1, pollfd{wake_, POLLIN, 0});
      for (auto& o : orphans) fds.push_back(pollfd{o.pidfd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
      std::vector<Orphan> still;
      for (size_t i = 0; i < orphans.size(); i++) {
        if (!(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
          still.push_back(orphans[i]);
          continue;
        }
        siginfo_t info;
        std::memset(&info, 0, sizeof info);
        if (WaitChild(orphans[i].pidfd, orphans[i].pid, &info, WEXITED | WNOHANG) == 0 && info.si_pid == 0) {
          still.push_back(orphans[i]);  // not yet
          continue;
        }
        close(orphans[i].pidfd);  // reaped (or ECHILD: someone else did)
      }
      orphans.swap(still);
      if (fds[0].revents & POLLIN) {
        uint64_t n;
        ssize_t ignored = read(wake_, &n, sizeof n);
        (void)ignored;
        std::lock_guard<std::mutex> lock(mu_);
        orphans.insert(orphans.end(), incoming_.begin(), incoming_.end());
        incoming_.clear();
      }
    }
  }

  std::mutex mu_;
  std::vector<Orphan> incoming_;
  int wake_ = -1;
};

struct SpawnState;

// A spawned child as the main thread tracks it: the pidfd until exit.
struct Child {
  uint32_t id = 0;
  int pid = 0;
  int pidfd = -1;
  int parentStdio[3] = {-1, -1, -1};
  ChildPlan plan;
  uv_poll_t exitPoll;
  bool exitPolling = false;
  int openHandles = 0;
  bool reaped = false;
  bool viaClone3 = true;  // which system call started it
  napi_env env = nullptr;
  napi_deferred deferred = nullptr;  // raw: settling it must not throw while the environment goes away
  napi_value promise = nullptr;      // (valid only in Spawn's scope)
  Napi::FunctionReference onExit;
  std::unique_ptr<Napi::AsyncContext> async;  // so promise reactions run after our uv callbacks
  SpawnState* state = nullptr;

  explicit Child(napi_env e) : env(e) {
    if (napi_create_promise(e, &deferred, &promise) != napi_ok) throw MakeError(Napi::Env(e), "EIO", "spawn: cannot create a promise");
  }
};

// Per environment: its children, and the cleanup hook that ends them with it.
// The hook holds the environment (and this state) until it is removed, which
// happens once every handle has closed and no spawn is under way.
struct SpawnState : EnvSlotBase {
  uint32_t nextId = 1;
  std::map<uint32_t, Child*> children;
  int inFlight = 0;           // SpawnWorkers queued or running
  bool hooked = false;        // the async cleanup hook is registered
  bool tearingDown = false;   // ... and has started: the environment is going away
  napi_async_cleanup_hook_handle hook = nullptr;
};

void MaybeFree(Child* c);

// Ends the environment's cleanup once nothing of ours can call back into it.
void MaybeFinishCleanup(SpawnState* st) {
  if (!st->tearingDown || st->hook == nullptr || !st->children.empty() || st->inFlight > 0) return;
  napi_async_cleanup_hook_handle hook = st->hook;
  st->hook = nullptr;
  napi_remove_async_cleanup_hook(hook);  // may free the environment's state (st) later; not used after
}

// The child outlives its environment: its pidfd goes to the Reaper, our fds are closed.
void Abandon(Child* c) {
  if (c->pidfd >= 0 && !c->reaped) {
    Reaper::Adopt(c->pidfd, c->pid);
    c->pidfd = -1;
  }
  CloseFd(c->pidfd);
}

void OnHandleClosed(uv_handle_t* h) {
  auto* c = static_cast<Child*>(h->data);
  c->openHandles--;
  MaybeFree(c);
}

void StopExit(Child* c) {
  if (c->exitPolling) {
    uv_poll_stop(&c->exitPoll);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->exitPoll), OnHandleClosed);
    c->exitPolling = false;
  }
  CloseFd(c->pidfd);
}

SpawnState& State(napi_env env) { return PerEnv<SpawnState>(Napi::Env(env)); }

void MaybeFree(Child* c) {
  if (c->openHandles > 0 || c->exitPolling) return;
  SpawnState* st = c->state;
  if (st) st->children.erase(c->id);
  delete c;
  if (st) MaybeFinishCleanup(st);
}

std::string StageText(const ChildPlan& plan, const std::vector<std::string>& procsNames, const ChildReport& r) {
  switch (r.stage) {
    case kStageAttach:
      return "attach to " + (r.index >= 0 && static_cast<size_t>(r.index) < procsNames.size() ? procsNames[r.index]
                                                                                                : std::string("a cgroup"));
    case kStageSetsid: return "setsid";
    case kStageStdio: return "dup2 onto fd " + std::to_string(r.index);
    case kStageChdir: return "chdir to " + plan.cwd;
    case kStagePids: {
      if (r.index < 0 || static_cast<size_t>(r.index) >= plan.pidsLimits.size()) return "pids limit";
      const std::string& dir = plan.pidsLimits[r.index].dir;
      if (r.err != EAGAIN) return "read pids.max / pids.current of " + dir;
      return "cgroup " + dir + " is at its pids.max of " + std::to_string(r.value) +
             " (a fork inside it would be refused; the child was stopped before exec)";
    }
    default: return "execve " + (plan.candidates.size() == 1 ? plan.candidates[0] : plan.argv[0]);
  }
}

const char* StageSyscall(int32_t stage) {
  switch (stage) {
    case kStageAttach: return "write";
    case kStageExec: return "execve";
    case kStageChdir: return "chdir";
    case kStageStdio: return "dup2";
    case kStagePids: return "fork";
    default: return "setsid";
  }
}

// Calls onExit(code, signal) in the child's async context. Raw N-API: this
// runs from the loop, also while a terminated worker winds down, when calls
// into JavaScript fail; that must not throw. An exception onExit throws is
// uncaught, as in any callback.
void CallOnExit(Child* c, const siginfo_t& info) {
  napi_env env = c->env;
  napi_handle_scope scope;
  if (c->onExit.IsEmpty() || !c->async || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource, fn, global, ret, argv[2];
  napi_callback_scope callbackScope = nullptr;
  bool ok = napi_create_object(env, &resource) == napi_ok &&
            napi_open_callback_scope(env, resource, static_cast<napi_async_context>(*c->async), &callbackScope) == napi_ok &&
            napi_get_reference_value(env, static_cast<napi_ref>(c->onExit), &fn) == napi_ok && fn != nullptr &&
            napi_get_global(env, &global) == napi_ok && napi_get_null(env, &argv[0]) == napi_ok && napi_get_null(env, &argv[1]) == napi_ok;
  if (ok && info.si_code == CLD_EXITED) ok = napi_create_int32(env, info.si_status, &argv[0]) == napi_ok;
  if (ok && (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED)) ok = napi_create_int32(env, info.si_status, &argv[1]) == napi_ok;
  if (ok && napi_call_function(env, global, fn, 2, argv, &ret) != napi_ok) {
    bool pending = false;
    napi_value exception;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
      napi_fatal_exception(env, exception);
    }
  }
  if (callbackScope) napi_close_callback_scope(env, callbackScope);
  napi_close_handle_scope(env, scope);
}

void OnExitReadable(uv_poll_t* h, int status, int events) {
  auto* c = static_cast<Child*>(h->data);
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (WaitChild(c->pidfd, c->pid, &info, WEXITED | WNOHANG) < 0) {
    if (errno == EINTR) return;
    info.si_pid = c->pid;  // ECHILD: someone else reaped it; report an unknown end
    info.si_code = 0;
  }
  if (info.si_pid == 0) return;  // not yet (spurious wakeup)
  c->reaped = true;
  StopExit(c);
  CallOnExit(c, info);
  c->onExit.Reset();  // the handle is closing; OnHandleClosed frees the child
}

// The environment is going away (worker exit): children still running go to
// the Reaper, their handles close, and the hook ends when the last one has.
void CleanupEnv(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* st = static_cast<SpawnState*>(arg);
  st->tearingDown = true;
  st->hook = hook;
  std::vector<Child*> all;
  for (auto& kv : st->children) all.push_back(kv.second);
  for (Child* c : all) {
    c->onExit.Reset();
    c->async.reset();
    Abandon(c);
    StopExit(c);  // OnHandleClosed frees the child
  }
  MaybeFinishCleanup(st);
}

// The clone itself, on a pool thread. On success the Child goes to the main thread.
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, Child* child, SpawnState* state) : Napi::AsyncWorker(env), child_(child), state_(state) {
    state_->inFlight++;
  }
  ~SpawnWorker() override {
    if (child_) Discard();
    state_->inFlight--;
    MaybeFinishCleanup(state_);
  }

  void Execute() override {
    const ChildPlan& plan = child_->plan;
    Prepared& p = prep_;
    for (auto& s : plan.argv) p.argv.push_back(const_cast<char*>(s.c_str()));
    p.argv.push_back(nullptr);
    for (auto& s : plan.envp) p.envp.push_back(const_cast<char*>(s.c_str()));
    p.envp.push_back(nullptr);
    for (auto& s : plan.candidates) p.candidates.push_back(const_cast<char*>(s.c_str()));

    bool viaClone3 = !plan.noClone3 && !clone3Unusable.load(std::memory_order_relaxed);
    if (!plan.cgroupDir.empty() && viaClone3) {
      p.cgroupFd = open(plan.cgroupDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (p.cgroupFd < 0) return Fail(errno, "open", plan.cgroupDir);
    }
    for (auto& f : plan.procsFiles) {
      if (!OpenProcs(f, false)) return;
    }
    if (!plan.cgroupDir.empty() && !viaClone3 && !OpenProcs(plan.cgroupDir + "/cgroup.procs", true)) return;
    for (int slot = 0; slot < 3; slot++) {
      if (plan.stdio[slot] == kPipe) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0) return Fail(errno, "pipe2", "stdio");
        int childEnd = slot == 0 ? fds[0] : fds[1];
        int parentEnd = slot == 0 ? fds[1] : fds[0];
        p.parentStdio[slot] = parentEnd;
        p.childStdio[slot] = AboveStdio(childEnd);
        if (p.childStdio[slot] < 0) return Fail(errno, "fcntl", "stdio");
      } else if (plan.stdio[slot] == kIgnore) {
        int fd = open("/dev/null", (slot == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
        if (fd < 0) return Fail(errno, "open", "/dev/null");
        p.childStdio[slot] = AboveStdio(fd);
        if (p.childStdio[slot] < 0) return Fail(errno, "fcntl", "/dev/null");
      }
    }
    rlimit nofile;
    // Capped at fs.nr_open's default: no fd can be above it unless nr_open was raised.
    const rlim_t kMaxFds = 1 << 20;
    p.fdLimit = static_cast<int>(getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < kMaxFds ? nofile.rlim_cur : kMaxFds);
    int reportPipe[2];
    if (pipe2(reportPipe, O_CLOEXEC | O_NONBLOCK) < 0) return Fail(errno, "pipe2", "report");
    p.reportRead = reportPipe[0];
    p.reportWrite = reportPipe[1];

    int pidfd = -1;
    long pid = Clone(viaClone3, pidfd);
    int cloneErr = errno;
    if (pid < 0 && viaClone3 && (cloneErr == ENOSYS || (cloneErr == E2BIG && p.cgroupFd >= 0))) {
      // No clone3 here (seccomp, an old kernel) or none that knows CLONE_INTO_CGROUP: clone() from now on.
      clone3Unusable.store(true, std::memory_order_relaxed);
      viaClone3 = false;
      CloseFd(p.cgroupFd);
      if (!plan.cgroupDir.empty() && !OpenProcs(plan.cgroupDir + "/cgroup.procs", true)) return;
      pid = Clone(false, pidfd);
      cloneErr = errno;
    }
    if (pid < 0) {
      return Fail(cloneErr, viaClone3 ? "clone3" : "clone", p.cgroupFd >= 0 ? "into " + plan.cgroupDir : std::string());
    }

    // The child has exec'd (nothing to read: EAGAIN, or end-of-file) or written its report and exited.
    ChildReport report;
    ssize_t n;
    do n = read(p.reportRead, &report, sizeof report);
    while (n < 0 && errno == EINTR);
    int readErr = errno;
    if (n != 0 && !(n < 0 && readErr == EAGAIN)) {
      ReapFailed(static_cast<int>(pid), pidfd);
      if (n == static_cast<ssize_t>(sizeof report)) {
        childFailed_ = true;
        return Fail(report.err > 0 ? report.err : EIO, StageSyscall(report.stage), StageText(plan, p.procsNames, report));
      }
      return Fail(n < 0 ? readErr : EIO, "read", "spawn report pipe");
    }

    child_->pid = static_cast<int>(pid);
    child_->pidfd = pidfd;
    child_->viaClone3 = viaClone3;
    for (int i = 0; i < 3; i++) {
      child_->parentStdio[i] = p.parentStdio[i];
      p.parentStdio[i] = -1;
    }
    CloseAll();
  }

  // On the main thread, also while the environment is being torn down: then
  // nothing may be handed to JavaScript (N-API calls fail), and a started child
  // goes to the Reaper. No exception may leave here.
  void OnOK() override {
    napi_env env = Env();
    Child* c = child_;
    if (err_) {
      if (state_->tearingDown) return;  // the destructor frees the child
      try {
        Napi::Error error = childFailed_ ? MakeError(Env(), ErrnoName(err_),
                                                     "spawn " + c->plan.argv[0] + ": " + detail_ + ": " + std::strerror(err_), err_, syscall_)
                                         : MakeErrnoError(Env(), err_, syscall_, detail_);
        napi_reject_deferred(env, c->deferred, error.Value());
      } catch (...) {
        // the environment is going away: nobody is waiting for this promise
      }
      return;
    }
    if (state_->tearingDown || !Start(c)) return;  // the destructor hands the child to the Reaper
    child_ = nullptr;
  }

  Napi::Value Promise() { return Napi::Value(Env(), child_->promise); }

 private:
  // Resolves the spawn promise and watches the exit; false (and nothing kept) if the environment refuses.
  bool Start(Child* c) {
    napi_env env = Env();
    napi_value result, fds, value;
    bool ok = napi_create_object(env, &result) == napi_ok && napi_create_array_with_length(env, 3, &fds) == napi_ok;
    for (uint32_t i = 0; ok && i < 3; i++) {
      ok = napi_create_int32(env, c->parentStdio[i], &value) == napi_ok && napi_set_element(env, fds, i, value) == napi_ok;
    }
    auto set = [&](const char* key, napi_value v) { ok = ok && napi_set_named_property(env, result, key, v) == napi_ok; };
    uint32_t id = state_->nextId;
    if (ok && napi_create_int32(env, c->pid, &value) == napi_ok) set("pid", value); else ok = false;
    if (ok && napi_create_uint32(env, id, &value) == napi_ok) set("id", value); else ok = false;
    if (ok && napi_create_string_utf8(env, c->viaClone3 ? "clone3" : "clone", NAPI_AUTO_LENGTH, &value) == napi_ok) set("via", value);
    else ok = false;
    set("stdio", fds);
    try {
      c->async = std::make_unique<Napi::AsyncContext>(Env(), "kernkit:spawn");
    } catch (...) {
      ok = false;
    }
    if (!ok || napi_resolve_deferred(env, c->deferred, result) != napi_ok) {
      c->async.reset();
      return false;
    }
    // Resolved: from here the JS side owns the child and its pipe ends.
    c->state = state_;
    c->id = state_->nextId++;
    state_->children[c->id] = c;
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    c->exitPoll.data = c;
    if (uv_poll_init(loop, &c->exitPoll, c->pidfd) != 0) {
      // Cannot be watched (it does not happen with a valid pidfd): the Reaper takes it, exited stays pending.
      state_->children.erase(c->id);
      c->onExit.Reset();
      c->async.reset();
      Abandon(c);
      delete c;
      return true;
    }
    c->openHandles++;
    c->exitPolling = true;
    uv_poll_start(&c->exitPoll, UV_READABLE, OnExitReadable);
    return true;
  }

  // Opens a cgroup.procs file for the child to write itself into (the unified one first).
  bool OpenProcs(const std::string& file, bool first) {
    int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(errno, "open", file);
      return false;
    }
    prep_.procsFds.insert(first ? prep_.procsFds.begin() : prep_.procsFds.end(), fd);
    prep_.procsNames.insert(first ? prep_.procsNames.begin() : prep_.procsNames.end(), file);
    return true;
  }

  // clone3 (into the cgroup when there is one) or clone; returns in the parent
  // once the child has exec'd or exited (CLONE_VFORK), with errno on failure.
  long Clone(bool viaClone3, int& pidfd) {
    Prepared& p = prep_;
    sigset_t all, old, empty;
    sigfillset(&all);
    sigemptyset(&empty);
    // Blocked across the clone so that no handler of ours runs in the child before it resets them.
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid;
    if (viaClone3) {
      CloneArgs args;
      std::memset(&args, 0, sizeof args);
      args.flags = CLONE_PIDFD | CLONE_VFORK;
      args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
      args.exit_signal = SIGCHLD;
      if (p.cgroupFd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<uint64_t>(p.cgroupFd);
      }
      pid = syscall(__NR_clone3, &args, sizeof args);
    } else {
      // Like fork (no new stack: the child runs on a copy of ours); CLONE_PIDFD puts the pidfd in parent_tid.
#if defined(__s390__)
      pid = syscall(SYS_clone, nullptr, CLONE_PIDFD | CLONE_VFORK | SIGCHLD, &pidfd, nullptr, 0);
#else
      pid = syscall(SYS_clone, CLONE_PIDFD | CLONE_VFORK | SIGCHLD, nullptr, &pidfd, nullptr, 0);
#endif
    }
    int err = errno;
    if (pid == 0) ChildMain(child_->plan, p, empty);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = err;
    return pid;
  }

  void Fail(int err, const char* syscall, const std::string& detail) {
    err_ = err;
    syscall_ = syscall;
    detail_ = detail;
    for (int& fd : prep_.parentStdio) CloseFd(fd);
    CloseAll();
  }
  void CloseAll() {
    CloseFd(prep_.cgroupFd);
    for (int& fd : prep_.procsFds) CloseFd(fd);
    for (int& fd : prep_.childStdio) CloseFd(fd);
    CloseFd(prep_.reportRead);
    CloseFd(prep_.reportWrite);
  }
  // A child that could not exec has exited (or is exiting): reap it here, on the pool thread.
  static void ReapFailed(int pid, int& pidfd) {
    siginfo_t info;
    while (WaitChild(pidfd, pid, &info, WEXITED) < 0 && errno == EINTR) {
    }
    CloseFd(pidfd);
  }
  // The child never reached JavaScript (a failure, or an environment going away).
  void Discard() {
    for (int& fd : child_->parentStdio) CloseFd(fd);
    Abandon(child_);
    child_->onExit.Reset();
    delete child_;
    child_ = nullptr;
  }

  Child* child_;
  SpawnState* state_;
  Prepared prep_;
  bool childFailed_ = false;  // err_ is the child's own (from its report), not ours
  int err_ = 0;
  const char* syscall_ = "";
  std::string detail_;
};

// A string for the child as a C string: a NUL byte would cut it short (lib/cgroup/spawn.ts refuses
// it first; this is the last line).
std::string CString(Napi::Env env, Napi::Value v, const char* name) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw MakeError(env, "EINVAL", std::string(name) + " contains a NUL byte");
  return s;
}

std::vector<std::string> StringArray(Napi::Env env, Napi::Value v, const char* name) {
  if (!v.IsArray()) throw MakeError(env, "EINVAL", std::string(name) + " must be an array of strings");
  auto arr = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsString()) throw MakeError(env, "EINVAL", std::string(name) + " must be an array of strings");
    out.push_back(CString(env, e, name));
  }
  return out;
}

// spawn(plan, onExit) -> Promise<{ pid, id, stdio: [fd, fd, fd] }>.
// The plan is built and validated by lib/cgroup/spawn.ts.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction()) throw MakeError(env, "EINVAL", "spawn(plan, onExit) expected");
  auto o = info[0].As<Napi::Object>();
  auto* c = new Child(env);
  try {
    c->plan.candidates = StringArray(env, o.Get("candidates"), "candidates");
    c->plan.argv = StringArray(env, o.Get("argv"), "argv");
    c->plan.envp = StringArray(env, o.Get("envp"), "envp");
    c->plan.procsFiles = StringArray(env, o.Get("procsFiles"), "procsFiles");
    for (auto& dir : StringArray(env, o.Get("pidsDirs"), "pidsDirs")) {
      c->plan.pidsLimits.push_back({dir, dir + "/pids.max", dir + "/pids.current"});
    }
    if (o.Get("cwd").IsString()) c->plan.cwd = CString(env, o.Get("cwd"), "cwd");
    if (o.Get("cgroupDir").IsString()) c->plan.cgroupDir = CString(env, o.Get("cgroupDir"), "cgroupDir");
    c->plan.setsid = o.Get("setsid").ToBoolean().Value();
    c->plan.noClone3 = o.Get("noClone3").ToBoolean().Value();
    c->plan.noCloseRange = o.Get("noCloseRange").ToBoolean().Value();
    auto modes = StringArray(env, o.Get("stdio"), "stdio");
    if (modes.size() != 3) throw MakeError(env, "EINVAL", "stdio must have 3 entries");
    for (int i = 0; i < 3; i++) {
      c->plan.stdio[i] = modes[i] == "pipe" ? kPipe : modes[i] == "ignore" ? kIgnore : kInherit;
    }
    if (c->plan.argv.empty() || c->plan.candidates.empty()) throw MakeError(env, "EINVAL", "argv and candidates must not be empty");
    c->onExit = Napi::Persistent(info[1].As<Napi::Function>());
  } catch (...) {
    delete c;
    throw;
  }
  auto& st = State(env);
  if (!st.hooked) {
    if (napi_add_async_cleanup_hook(env, CleanupEnv, &st, nullptr) != napi_ok) {
      delete c;
      throw MakeError(env, "EIO", "spawn: cannot register the environment's cleanup hook");
    }
    st.hooked = true;
  }
  auto* worker = new SpawnWorker(env, c, &st);
  Napi::Value promise = worker->Promise();
  worker->Queue();
  return promise;
}

Child* Find(const Napi::CallbackInfo& info) {
  uint32_t id = ArgUint32(info, 0, "id");
  auto& st = State(info.Env());
  auto it = st.children.find(id);
  return it == st.children.end() ? nullptr : it->second;
}

// kill(id, signal): pidfd_send_signal, so a recycled pid can never be hit.
Napi::Value Kill(const Napi::CallbackInfo& info) {
  Child* c = Find(info);
  uint32_t sig = ArgUint32(info, 1, "signal");
  if (!c || c->reaped || c->pidfd < 0) throw MakeErrnoError(info.Env(), ESRCH, "pidfd_send_signal", "the child has exited");
  if (syscall(__NR_pidfd_send_signal, c->pidfd, static_cast<int>(sig), nullptr, 0) < 0) {
    throw MakeErrnoError(info.Env(), errno, "pidfd_send_signal");
  }
  return info.Env().Undefined();
}

// setRef(id, ref): whether waiting for this child keeps the event loop alive.
Napi::Value SetRef(const Napi::CallbackInfo& info) {
  Child* c = Find(info);
  bool ref = info[1].ToBoolean().Value();
  if (c && c->exitPolling) {
    auto* h = reinterpret_cast<uv_handle_t*>(&c->exitPoll);
    if (ref) uv_ref(h);
    else uv_unref(h);
  }
  return info.Env().Undefined();
}

// gettid(): the calling thread's kernel thread id (for cgroup v1 tasks / v2
// cgroup.threads) is kernkit::Gettid of addon.h, the same function as lib/cpu's.

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("setRef", Napi::Function::New(env, SetRef, "setRef"));
  exports.Set("gettid", Napi::Function::New(env, Gettid, "gettid"));
}

}  // namespace

KERNKIT_MODULE(spawn, Init);

}  // namespace kernkit::spawn
