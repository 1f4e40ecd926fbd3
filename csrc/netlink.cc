// A netlink socket (NETLINK_ROUTE, or the protocol JavaScript asks for, such as
// NETLINK_SOCK_DIAG) driven by its own I/O thread, so that nothing on the
// event loop ever waits: a request's sendmsg runs the kernel's handler in the
// caller's context and can sleep on the rtnl mutex, and a dump is produced as
// the reader drains it. TypeScript owns every byte (lib/netlink/): this file
// sends the datagrams it is given, in order, and hands back what arrives.
//
// The socket can be opened inside another network namespace (a file such as
// /var/run/netns/NAME or /proc/PID/ns/net): the I/O thread enters it, creates
// the socket, which stays bound to that namespace for good, and returns to its
// own namespace before doing anything else. The event loop thread never changes
// namespace.
//
// The socket can join multicast groups (RTNLGRP_*) as it opens: their
// notifications arrive among the replies, and JavaScript tells them apart.
//
// Events reach JavaScript through one callback, as (type, ...):
//   ("open", portid)                    the socket is ready
//   ("data", [Buffer, ...])             datagrams received, in order
//   ("senderror", [tag, ...], error)    sendmsg failed for these requests
//   ("error", error)                    the socket reported an error (ENOBUFS: replies were lost)
//   ("closed", error | null)            the thread has finished; an error if opening failed
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "addon.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace kernkit::netlink {

namespace {

// Requests queued by JavaScript are packed into datagrams of at most this many
// bytes: the kernel handles every message of a datagram in turn and acks each.
constexpr size_t kMaxDatagram = 64 * 1024;
// Receive buffer asked for (SO_RCVBUFFORCE as root, else SO_RCVBUF, which the
// kernel caps at rmem_max): room for the acks of a whole batch of requests.
constexpr int kRcvBuf = 8 * 1024 * 1024;
constexpr int kSndBuf = 1024 * 1024;

struct Request {
  std::vector<uint8_t> bytes;
  double tag;  // chosen by JavaScript (the sequence number); echoed on send errors
};

struct Event {
  enum Type { kOpen, kData, kSendError, kError, kClosed } type;
  explicit Event(Type t) : type(t) {}
  uint32_t portid = 0;
  int err = 0;
  const char* syscall = nullptr;
  std::string detail;
  std::vector<std::vector<uint8_t>> datagrams;
  std::vector<double> tags;
};

void Deliver(Napi::Env env, Napi::Function callback, std::nullptr_t*, Event* raw);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Event, Deliver>;

// Shared by the JavaScript object and the I/O thread; whichever lets go last frees it.
struct State {
  std::string nsPath;  // empty: the caller's own namespace
  std::vector<uint32_t> groups;  // multicast groups to join
  int protocol = NETLINK_ROUTE;  // NETLINK_ROUTE, NETLINK_SOCK_DIAG, ...
  int fd = -1;
  int wake = -1;  // eventfd: JavaScript queued requests or asked to stop
  std::mutex mu;
  std::deque<Request> queue;  // guarded by mu
  std::atomic<bool> stop{false};
  Tsfn tsfn;
  std::thread thread;
  bool tsfnLive = true;  // main thread only: false once the thread has released the tsfn

  ~State() {
    if (wake >= 0) close(wake);
  }

  void Wake() {
    uint64_t one = 1;
    // An eventfd write only fails when the counter would overflow, and then a wake-up is pending anyway.
    ssize_t ignored = write(wake, &one, sizeof one);
    (void)ignored;
  }
};

void Post(State& s, Event&& ev) {
  auto* heap = new Event(std::move(ev));
  if (s.tsfn.NonBlockingCall(heap) != napi_ok) delete heap;  // the environment is going away
}

void PostErrno(State& s, Event::Type type, int err, const char* syscall, std::string detail = {}) {
  Event ev{type};
  ev.err = err;
  ev.syscall = syscall;
  ev.detail = std::move(detail);
  Post(s, std::move(ev));
}

// Opens the socket, entering the target namespace first when there is one.
// Returns the fd or -errno, and names the failing syscall.
int OpenSocket(const std::string& nsPath, int protocol, const std::vector<uint32_t>& groups, const char** syscall, std::string* detail) {
  int self = -1, target = -1;
  if (!nsPath.empty()) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
      *syscall = "open";
      *detail = "/proc/thread-self/ns/net";
      return -errno;
    }
    target = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int err = errno;
      close(self);
      *syscall = "open";
      *detail = nsPath;
      return -err;
    }
    if (setns(target, CLONE_NEWNET) != 0) {
      int err = errno;
      close(self);
      close(target);
      *syscall = "setns";
      *detail = nsPath;
      return -err;
    }
    close(target);
  }

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  int err = fd < 0 ? errno : 0;

  if (self >= 0) {
    // Back to where this thread came from; the socket keeps the namespace it was made in.
    if (setns(self, CLONE_NEWNET) != 0 && fd >= 0) {
      err = errno;
      close(fd);
      fd = -1;
      *syscall = "setns";
      *detail = "returning to the thread's own namespace";
      close(self);
      return -err;
    }
    close(self);
  }
  if (fd < 0) {
    *syscall = "socket";
    return -err;
  }

  int on = 1;
  // Extended acks: the kernel's error text and the offending attribute's offset.
  // Capped acks: errors do not echo the whole request back.
  if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on) != 0 ||
      setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on) != 0) {
    err = errno;
    close(fd);
    *syscall = "setsockopt";
    return -err;
  }
  int rcv = kRcvBuf, snd = kSndBuf;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);  // best effort without CAP_NET_ADMIN
  }
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);

  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    err = errno;
    close(fd);
    *syscall = "bind";
    return -err;
  }
  for (uint32_t group : groups) {
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0) {
      err = errno;
      close(fd);
      *syscall = "setsockopt";
      *detail = "NETLINK_ADD_MEMBERSHIP " + std::to_string(group);
      return -err;
    }
  }
  return fd;
}

// Receives every datagram waiting on the socket without blocking. Each is
// sized first (MSG_PEEK | MSG_TRUNC) so that none is ever cut short.
void Drain(State& s) {
  std::vector<std::vector<uint8_t>> got;
  for (;;) {
    ssize_t len = recv(s.fd, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      int err = errno;
      // Deliver what arrived before the error first, so replies stay in order.
      if (!got.empty()) {
        Event ev{Event::kData};
        ev.datagrams = std::move(got);
        got.clear();
        Post(s, std::move(ev));
      }
      PostErrno(s, Event::kError, err, "recvmsg");
      if (err != ENOBUFS) return;
      continue;  // ENOBUFS is reported once; the socket goes on working
    }
    std::vector<uint8_t> buf(static_cast<size_t>(len));
    sockaddr_nl from{};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(s.fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      int err = errno;
      PostErrno(s, Event::kError, err, "recvmsg");
      if (err != ENOBUFS) return;
      continue;
    }
    if (from.nl_pid != 0) continue;  // only the kernel speaks to us
    buf.resize(static_cast<size_t>(n));
    got.push_back(std::move(buf));
  }
  if (!got.empty()) {
    Event ev{Event::kData};
    ev.datagrams = std::move(got);
    Post(s, std::move(ev));
  }
}

// Sends what JavaScript queued, packed into datagrams, draining replies after
// each so that acks never pile up beyond the receive buffer.
void Flush(State& s) {
  std::deque<Request> batch;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    batch.swap(s.queue);
  }
  std::vector<uint8_t> datagram;
  std::vector<double> tags;
  auto sendOne = [&]() {
    if (datagram.empty()) return;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    iovec iov{datagram.data(), datagram.size()};
    msghdr msg{};
    msg.msg_name = &kernel;
    msg.msg_namelen = sizeof kernel;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n;
    do {
      n = sendmsg(s.fd, &msg, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      Event ev{Event::kSendError};
      ev.err = errno;
      ev.syscall = "sendmsg";
      ev.tags = std::move(tags);
      Post(s, std::move(ev));
    }
    datagram.clear();
    tags.clear();
    Drain(s);
  };
  for (auto& req : batch) {
    if (!datagram.empty() && datagram.size() + req.bytes.size() > kMaxDatagram) sendOne();
    datagram.insert(datagram.end(), req.bytes.begin(), req.bytes.end());
    tags.push_back(req.tag);
  }
  sendOne();
}

// The name the I/O thread goes by in /proc/PID/task/*/comm (at most 15 characters).
constexpr const char* kThreadName = "kernkit-netlink";

void Run(std::shared_ptr<State> state) {
  State& s = *state;
  pthread_setname_np(pthread_self(), kThreadName);
  const char* syscall = nullptr;
  std::string detail;
  int fd = OpenSocket(s.nsPath, s.protocol, s.groups, &syscall, &detail);
  if (fd < 0) {
    PostErrno(s, Event::kClosed, -fd, syscall, detail);
    s.tsfn.Release();
    return;
  }
  s.fd = fd;
  sockaddr_nl local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  Event opened{Event::kOpen};
  opened.portid = local.nl_pid;
  Post(s, std::move(opened));

  pollfd fds[2] = {{fd, POLLIN, 0}, {s.wake, POLLIN, 0}};
  while (!s.stop.load()) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      PostErrno(s, Event::kError, errno, "poll");
      break;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      ssize_t ignored = read(s.wake, &count, sizeof count);
      (void)ignored;
      if (s.stop.load()) break;
      Flush(s);
    }
    if (fds[0].revents & (POLLIN | POLLERR)) Drain(s);
  }
  close(fd);
  s.fd = -1;
  Event closed{Event::kClosed};
  Post(s, std::move(closed));
  s.tsfn.Release();
}

Napi::Value ErrorValue(Napi::Env env, const Event& ev) {
  if (!ev.err) return env.Null();
  return MakeErrnoError(env, ev.err, ev.syscall ? ev.syscall : "netlink", ev.detail).Value();
}

// Runs on the event loop for every event the I/O thread posted.
void Deliver(Napi::Env env, Napi::Function callback, std::nullptr_t*, Event* raw) {
  std::unique_ptr<Event> ev(raw);
  if (env == nullptr || callback.IsEmpty()) return;
  Napi::HandleScope scope(env);
  switch (ev->type) {
    case Event::kOpen:
      callback.Call({Napi::String::New(env, "open"), Napi::Number::New(env, ev->portid)});
      break;
    case Event::kData: {
      auto list = Napi::Array::New(env, ev->datagrams.size());
      for (size_t i = 0; i < ev->datagrams.size(); i++) {
        auto& d = ev->datagrams[i];
        list.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, d.data(), d.size()));
      }
      callback.Call({Napi::String::New(env, "data"), list});
      break;
    }
    case Event::kSendError: {
      auto tags = Napi::Array::New(env, ev->tags.size());
      for (size_t i = 0; i < ev->tags.size(); i++) tags.Set(static_cast<uint32_t>(i), ev->tags[i]);
      callback.Call({Napi::String::New(env, "senderror"), tags, ErrorValue(env, *ev)});
      break;
    }
    case Event::kError:
      callback.Call({Napi::String::New(env, "error"), ErrorValue(env, *ev)});
      break;
    case Event::kClosed:
      callback.Call({Napi::String::New(env, "closed"), ErrorValue(env, *ev)});
      break;
  }
}

class Socket : public Napi::ObjectWrap<Socket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkSocket",
                       {InstanceMethod<&Socket::Send>("send"), InstanceMethod<&Socket::Ref>("ref"),
                        InstanceMethod<&Socket::Unref>("unref"), InstanceMethod<&Socket::Close>("close")});
  }

  // new NetlinkSocket(nsPath: string | null, onEvent: (type, ...args) => void, groups?: number[], protocol?: number)
  explicit Socket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Socket>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNull() && !info[0].IsUndefined() && !info[0].IsString()) {
      throw MakeError(env, "EINVAL", "netlink: namespace path must be a string or null");
    }
    if (!info[1].IsFunction()) throw MakeError(env, "EINVAL", "netlink: expected an event callback");
    std::vector<uint32_t> groups;
    if (!info[2].IsUndefined()) {
      if (!info[2].IsArray()) throw MakeError(env, "EINVAL", "netlink: groups must be an array of group numbers");
      auto list = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); i++) {
        Napi::Value g = list.Get(i);
        if (!g.IsNumber()) throw MakeError(env, "EINVAL", "netlink: groups must be an array of group numbers");
        double n = g.As<Napi::Number>().DoubleValue();
        if (!(n >= 1 && n <= 0xffffffff) || n != static_cast<double>(static_cast<uint32_t>(n))) {
          throw MakeError(env, "ERANGE", "netlink: a group number is a positive 32-bit integer");
        }
        groups.push_back(static_cast<uint32_t>(n));
      }
    }
    int protocol = NETLINK_ROUTE;
    if (!info[3].IsUndefined()) {
      double p = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
      if (!(p >= 0 && p <= 0x7fffffff) || p != static_cast<double>(static_cast<int>(p))) {
        throw MakeError(env, "EINVAL", "netlink: protocol must be a netlink protocol number");
      }
      protocol = static_cast<int>(p);  // socket() says EPROTONOSUPPORT for one the kernel lacks
    }
    state_ = std::make_shared<State>();
    state_->groups = std::move(groups);
    state_->protocol = protocol;
    if (info[0].IsString()) {
      state_->nsPath = info[0].As<Napi::String>().Utf8Value();
      // open() would stop at a NUL byte: the path checked would not be the one opened.
      if (state_->nsPath.find('\0') != std::string::npos) throw MakeError(env, "EINVAL", "netlink: namespace path contains a NUL byte");
    }
    state_->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (state_->wake < 0) throw MakeErrnoError(env, errno, "eventfd");

    // The thread's last act is to release the tsfn; its finaliser then runs on
    // this thread: it joins the (finished) thread, marks the state closed for
    // ref/unref and drops the environment cleanup hook.
    auto* hold = new std::shared_ptr<State>(state_);
    state_->tsfn = Tsfn::New(env, info[1].As<Napi::Function>(), "kernkit.netlink", 0, 1, nullptr,
                             [hold](Napi::Env fenv, void*, std::nullptr_t*) {
                               napi_remove_env_cleanup_hook(fenv, CleanupHook, hold);
                               (*hold)->tsfnLive = false;
                               if ((*hold)->thread.joinable()) (*hold)->thread.join();
                               delete hold;
                             });
    napi_add_env_cleanup_hook(env, CleanupHook, hold);
    try {
      state_->thread = std::thread(Run, state_);
    } catch (const std::system_error& e) {
      state_->tsfn.Release();  // no thread will: let the finaliser clean up
      throw MakeErrnoError(env, e.code().value(), "pthread_create");
    }
  }

  ~Socket() override {
    // Collected without close() (JavaScript's event callback holds the socket
    // only weakly while nothing is awaited): let the thread finish on its own.
    if (state_) StopThread(*state_);
  }

 private:
  static void StopThread(State& s) {
    if (!s.stop.exchange(true)) s.Wake();
  }

  // The environment is being torn down (a worker ends, or the process exits):
  // stop the thread and wait for it, so it never outlives what it reports to.
  static void CleanupHook(void* arg) {
    auto& s = **static_cast<std::shared_ptr<State>*>(arg);
    StopThread(s);
    if (s.thread.joinable()) s.thread.join();
  }

  // send(bytes: Uint8Array, tag: number): queues a datagram's worth of messages.
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw MakeError(env, "EINVAL", "netlink.send: expected a Uint8Array");
    if (!info[1].IsNumber()) throw MakeError(env, "EINVAL", "netlink.send: expected a numeric tag");
    if (state_->stop.load() || !state_->tsfnLive) throw MakeError(env, "EBADF", "netlink.send: socket is closed");
    auto arr = info[0].As<Napi::Uint8Array>();
    Request req{std::vector<uint8_t>(arr.Data(), arr.Data() + arr.ByteLength()),
                info[1].As<Napi::Number>().DoubleValue()};
    bool wasEmpty;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      wasEmpty = state_->queue.empty();
      state_->queue.push_back(std::move(req));
    }
    if (wasEmpty) state_->Wake();  // a non-empty queue already has a wake-up pending
    return env.Undefined();
  }

  // ref()/unref(): whether the socket keeps the event loop alive (it should
  // while replies are awaited, and need not when idle).
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (state_->tsfnLive) state_->tsfn.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (state_->tsfnLive) state_->tsfn.Unref(info.Env());
    return info.Env().Undefined();
  }

  // close(): asks the thread to stop; "closed" follows once it has.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    StopThread(*state_);
    return info.Env().Undefined();
  }

  std::shared_ptr<State> state_;
};

// describeErrno(n): [name, message] for an errno value, e.g. [ "ENOENT", "No such file or directory" ].
Napi::Value DescribeErrno(const Napi::CallbackInfo& info) {
  uint32_t err = ArgUint32(info, 0, "errno");
  auto pair = Napi::Array::New(info.Env(), 2);
  pair.Set(0u, ErrnoName(static_cast<int>(err)));
  pair.Set(1u, std::string(strerror(static_cast<int>(err))));
  return pair;
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Socket", Socket::Define(env));
  exports.Set("describeErrno", Napi::Function::New(env, DescribeErrno, "describeErrno"));
}

}  // namespace

KERNKIT_MODULE(netlink, Init);

}  // namespace kernkit::netlink
