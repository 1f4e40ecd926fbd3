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
// Who receives: the event loop itself, with uv_poll and non-blocking
// recvmsg, while the kernel runs no dump for the socket. Reading queued acks,
// replies and notifications never waits (netlink_recvmsg only copies what is
// queued), and the loop saves the hop through the thread-safe function on
// every reply. A recvmsg while a dump runs is different: it has the kernel
// produce the dump's next part in the reader's context (netlink_dump, under
// the rtnl lock for tc), so from the moment a dump is sent until JavaScript
// has seen its end the I/O thread receives instead. Replies stay in order
// across the hand-overs: the loop gives up the socket before the dump request
// is queued (what it read is already delivered), and takes it back only once
// the thread's "handover" event, posted after everything the thread read,
// comes through the thread-safe function.
//
// Events reach JavaScript through one callback, as (type, ...):
//   ("open", portid)                    the socket is ready
//   ("data", [Buffer, ...])             datagrams received, in order
//   ("senderror", [tag, ...], error)    sendmsg failed for these requests
//   ("error", error)                    the socket reported an error (ENOBUFS: replies were lost)
//   ("closed", error | null)            the thread has finished; an error if opening failed
// "data" and "error" come from the loop's own reads or through the thread.
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

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
  enum Type { kOpen, kData, kSendError, kError, kClosed, kHandover } type;
  explicit Event(Type t) : type(t) {}
  uint32_t portid = 0;
  uint32_t generation = 0;  // kHandover: the dump count when the loop asked for the socket back
  int err = 0;
  const char* syscall = nullptr;
  std::string detail;
  std::vector<std::vector<uint8_t>> datagrams;
  std::vector<double> tags;
};

struct State;
void Deliver(Napi::Env env, Napi::Function callback, State* state, Event* raw);
using Tsfn = Napi::TypedThreadSafeFunction<State, Event, Deliver>;

// The event loop's side of receiving: a uv_poll on the socket. Freed by its
// close callback; main thread only.
struct LoopReader {
  uv_poll_t handle;
  napi_env env = nullptr;
  napi_ref callback = nullptr;
  napi_async_context async = nullptr;
  State* state = nullptr;  // cleared when the state lets go of the reader
  bool polling = false;
  bool referenced = false;  // keeps the loop alive (while replies are awaited)
};

// Shared by the JavaScript object and the I/O thread; whichever lets go last frees it.
struct State {
  std::string nsPath;  // empty: the caller's own namespace
  std::vector<uint32_t> groups;  // multicast groups to join
  int protocol = NETLINK_ROUTE;  // NETLINK_ROUTE, NETLINK_SOCK_DIAG, ...
  int fd = -1;
  int wake = -1;  // eventfd: JavaScript queued requests or asked to stop
  bool bigBuffer = false;  // the receive buffer holds the acks of many requests (set before "open")
  std::mutex mu;
  std::deque<Request> queue;  // guarded by mu
  // The I/O thread receives (a dump may be running); otherwise the loop does.
  // Set by the loop before it queues a dump, cleared by the thread on hand-over.
  std::atomic<bool> threadReceives{false};
  bool handoverWanted = false;      // guarded by mu: the loop asked for the socket back
  uint32_t handoverGeneration = 0;  // guarded by mu
  std::atomic<bool> stop{false};
  Tsfn tsfn;
  std::thread thread;
  bool tsfnLive = true;  // main thread only: false once the thread has released the tsfn
  // Main thread only:
  bool receiveOnLoop = true;  // false: the thread does all the receiving (for comparison)
  bool referenced = true;     // the socket keeps the loop alive
  uint32_t dumpsSent = 0;
  LoopReader* reader = nullptr;  // set while the loop can receive

  ~State();

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
// *bigBuffer: whether the receive buffer is the size asked for (SO_RCVBUFFORCE worked).
int OpenSocket(const std::string& nsPath, int protocol, const std::vector<uint32_t>& groups, const char** syscall, std::string* detail,
               bool* bigBuffer) {
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
  *bigBuffer = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) == 0;
  if (!*bigBuffer) {
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

// Receives every datagram waiting on the socket without blocking, handing
// each batch of datagrams and each error to `emit` in order. Each datagram is
// sized first (MSG_PEEK | MSG_TRUNC) so that none is ever cut short.
template <class Emit>
void Drain(int fd, Emit&& emit) {
  std::vector<std::vector<uint8_t>> got;
  auto flushGot = [&]() {
    if (got.empty()) return;
    Event ev{Event::kData};
    ev.datagrams = std::move(got);
    got.clear();
    emit(std::move(ev));
  };
  auto fail = [&](int err) {
    flushGot();  // what arrived before the error first, so replies stay in order
    Event ev{Event::kError};
    ev.err = err;
    ev.syscall = "recvmsg";
    emit(std::move(ev));
  };
  for (;;) {
    ssize_t len = recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      int err = errno;
      fail(err);
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
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      int err = errno;
      fail(err);
      if (err != ENOBUFS) return;
      continue;
    }
    if (from.nl_pid != 0) continue;  // only the kernel speaks to us
    buf.resize(static_cast<size_t>(n));
    got.push_back(std::move(buf));
  }
  flushGot();
}

// The I/O thread's receiving: what it reads goes through the thread-safe function.
void Drain(State& s) {
  Drain(s.fd, [&](Event&& ev) { Post(s, std::move(ev)); });
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
    if (s.threadReceives.load()) Drain(s);
  };
  for (auto& req : batch) {
    if (!datagram.empty() && datagram.size() + req.bytes.size() > kMaxDatagram) sendOne();
    datagram.insert(datagram.end(), req.bytes.begin(), req.bytes.end());
    tags.push_back(req.tag);
  }
  sendOne();
}

// The loop asked for the socket back (the dump it waited for has ended): stop
// receiving here, and say so after everything read so far.
void HandOver(State& s) {
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.handoverWanted) return;
  }
  // Whatever is queued now goes out before the handover event.
  if (s.threadReceives.load()) Drain(s);
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.handoverWanted) return;
    s.handoverWanted = false;
    s.threadReceives.store(false);
    generation = s.handoverGeneration;
  }
  Event ev{Event::kHandover};
  ev.generation = generation;
  Post(s, std::move(ev));
}

// The name the I/O thread goes by in /proc/PID/task/*/comm (at most 15 characters).
constexpr const char* kThreadName = "kernkit-netlink";

void Run(std::shared_ptr<State> state) {
  State& s = *state;
  pthread_setname_np(pthread_self(), kThreadName);
  const char* syscall = nullptr;
  std::string detail;
  bool bigBuffer = false;
  int fd = OpenSocket(s.nsPath, s.protocol, s.groups, &syscall, &detail, &bigBuffer);
  if (fd < 0) {
    PostErrno(s, Event::kClosed, -fd, syscall, detail);
    s.tsfn.Release();
    return;
  }
  s.fd = fd;
  s.bigBuffer = bigBuffer;  // read by the loop once "open" has reached it
  sockaddr_nl local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  Event opened{Event::kOpen};
  opened.portid = local.nl_pid;
  Post(s, std::move(opened));

  pollfd fds[2] = {{fd, POLLIN, 0}, {s.wake, POLLIN, 0}};
  while (!s.stop.load()) {
    fds[0].fd = s.threadReceives.load() ? fd : -1;  // a negative fd is left out of poll
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      PostErrno(s, Event::kError, errno, "poll");
      break;
    }
    // Read before a possible handover, never after it: what the thread reads must reach the
    // loop before the handover event, or the loop could deliver later datagrams first.
    if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLERR))) Drain(s);
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      ssize_t ignored = read(s.wake, &count, sizeof count);
      (void)ignored;
      if (s.stop.load()) break;
      Flush(s);
      HandOver(s);
    }
  }
  // The loop closes the socket when "closed" reaches it: it may still be polling it.
  Event closed{Event::kClosed};
  Post(s, std::move(closed));
  s.tsfn.Release();
}

Napi::Value ErrorValue(Napi::Env env, const Event& ev) {
  if (!ev.err) return env.Null();
  return MakeErrnoError(env, ev.err, ev.syscall ? ev.syscall : "netlink", ev.detail).Value();
}

// The arguments of the JavaScript callback for an event.
std::vector<napi_value> EventArgs(Napi::Env env, Event& ev) {
  switch (ev.type) {
    case Event::kOpen:
      return {Napi::String::New(env, "open"), Napi::Number::New(env, ev.portid)};
    case Event::kData: {
      auto list = Napi::Array::New(env, ev.datagrams.size());
      for (size_t i = 0; i < ev.datagrams.size(); i++) {
        auto& d = ev.datagrams[i];
        list.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, d.data(), d.size()));
      }
      return {Napi::String::New(env, "data"), list};
    }
    case Event::kSendError: {
      auto tags = Napi::Array::New(env, ev.tags.size());
      for (size_t i = 0; i < ev.tags.size(); i++) tags.Set(static_cast<uint32_t>(i), ev.tags[i]);
      return {Napi::String::New(env, "senderror"), tags, ErrorValue(env, ev)};
    }
    case Event::kError:
      return {Napi::String::New(env, "error"), ErrorValue(env, ev)};
    case Event::kClosed:
      return {Napi::String::New(env, "closed"), ErrorValue(env, ev)};
    case Event::kHandover:
      break;
  }
  return {};
}

void OnReaderClosed(uv_handle_t* h) { delete static_cast<LoopReader*>(h->data); }

// Stops the loop's polling for good and frees the reader (once libuv lets go of it).
void CloseReader(State& s) {
  LoopReader* r = s.reader;
  if (!r) return;
  s.reader = nullptr;
  r->state = nullptr;
  if (r->callback) napi_delete_reference(r->env, r->callback);
  if (r->async) napi_async_destroy(r->env, r->async);
  r->callback = nullptr;
  r->async = nullptr;
  if (r->polling) uv_poll_stop(&r->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&r->handle), OnReaderClosed);
}

State::~State() {
  CloseReader(*this);
  if (wake >= 0) close(wake);
  if (fd >= 0) close(fd);  // the environment went away before "closed" was delivered
}

// Calls the JavaScript callback from a uv callback, in an async context so
// that promise reactions run before the loop goes on. An exception it throws
// is uncaught, as in any callback.
void CallFromLoop(LoopReader& r, Event& ev) {
  napi_env env = r.env;
  napi_handle_scope scope;
  if (!r.callback || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value resource, fn, global, ret;
  napi_callback_scope callbackScope = nullptr;
  bool ok = napi_create_object(env, &resource) == napi_ok &&
            napi_open_callback_scope(env, resource, r.async, &callbackScope) == napi_ok &&
            napi_get_reference_value(env, r.callback, &fn) == napi_ok && fn != nullptr &&
            napi_get_global(env, &global) == napi_ok;
  if (ok) {
    try {
      std::vector<napi_value> args = EventArgs(Napi::Env(env), ev);
      if (napi_call_function(env, global, fn, args.size(), args.data(), &ret) != napi_ok) {
        bool pending = false;
        napi_value exception;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
          napi_fatal_exception(env, exception);
        }
      }
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    } catch (...) {
      // building the arguments failed (out of memory): the event is lost, as a reply the kernel drops
    }
  }
  if (callbackScope) napi_close_callback_scope(env, callbackScope);
  napi_close_handle_scope(env, scope);
}

// The socket is readable and the loop holds it: read what is queued (this
// never waits, no dump running) and hand it to JavaScript at once.
void OnReadable(uv_poll_t* h, int status, int events) {
  auto* r = static_cast<LoopReader*>(h->data);
  if (!r->state || !r->polling) return;
  std::vector<Event> events_;
  Drain(r->state->fd, [&](Event&& ev) { events_.push_back(std::move(ev)); });
  // An error (ENOBUFS after an overflow: POLLERR) makes libuv stop the handle before calling
  // here; start it again, before JavaScript runs and may send a dump or close.
  if (status < 0 && r->polling) r->polling = uv_poll_start(&r->handle, UV_READABLE, OnReadable) == 0;
  for (auto& ev : events_) {
    if (!r->state) break;  // JavaScript closed the socket meanwhile
    CallFromLoop(*r, ev);
  }
}

// The loop takes the socket (again): no dump is running.
void StartPolling(State& s) {
  LoopReader* r = s.reader;
  if (!r || r->polling) return;
  r->polling = uv_poll_start(&r->handle, UV_READABLE, OnReadable) == 0;
}

// The loop lets go of the socket before a dump is queued; the thread reads from then on.
void StopPolling(State& s) {
  LoopReader* r = s.reader;
  if (!r || !r->polling) return;
  uv_poll_stop(&r->handle);
  r->polling = false;
}

// The socket is open: the loop starts receiving on it. Not with a small
// receive buffer (no CAP_NET_ADMIN for SO_RCVBUFFORCE): acks of requests in
// flight would overflow it (ENOBUFS) while JavaScript keeps the loop busy,
// where the thread drains it after every datagram it sends.
void OpenReader(State& s, napi_env env, napi_value callback) {
  auto* r = new LoopReader();
  r->env = env;
  r->state = &s;
  r->referenced = s.referenced;
  uv_loop_t* loop = nullptr;
  napi_value name;
  auto threadReceives = [&s]() {  // the loop cannot: the thread receives for good
    std::lock_guard<std::mutex> lock(s.mu);
    s.threadReceives.store(true);
    s.receiveOnLoop = false;
    s.Wake();
  };
  if (!s.bigBuffer || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &r->handle, s.fd) != 0) {
    delete r;
    threadReceives();
    return;
  }
  r->handle.data = r;
  s.reader = r;
  if (napi_create_reference(env, callback, 1, &r->callback) != napi_ok ||
      napi_create_string_utf8(env, "kernkit.netlink", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, nullptr, name, &r->async) != napi_ok) {
    CloseReader(s);
    threadReceives();
    return;
  }
  if (!r->referenced) uv_unref(reinterpret_cast<uv_handle_t*>(&r->handle));
  StartPolling(s);
}

// Runs on the event loop for every event the I/O thread posted.
void Deliver(Napi::Env env, Napi::Function callback, State* state, Event* raw) {
  std::unique_ptr<Event> ev(raw);
  if (env == nullptr || callback.IsEmpty()) return;
  Napi::HandleScope scope(env);
  State& s = *state;
  switch (ev->type) {
    case Event::kOpen:
      if (s.receiveOnLoop) OpenReader(s, env, callback);
      break;
    case Event::kHandover:
      // Everything the thread read has been delivered; a dump sent since keeps the socket with the thread.
      if (ev->generation == s.dumpsSent) StartPolling(s);
      return;
    case Event::kClosed:
      CloseReader(s);
      if (s.fd >= 0) close(s.fd);
      s.fd = -1;
      break;
    default:
      break;
  }
  std::vector<napi_value> args = EventArgs(env, *ev);
  callback.Call(args);
}

class Socket : public Napi::ObjectWrap<Socket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetlinkSocket",
                       {InstanceMethod<&Socket::Send>("send"), InstanceMethod<&Socket::ReceiveOnLoop>("receiveOnLoop"),
                        InstanceMethod<&Socket::Ref>("ref"),
                        InstanceMethod<&Socket::Unref>("unref"), InstanceMethod<&Socket::Close>("close")});
  }

  // new NetlinkSocket(nsPath: string | null, onEvent: (type, ...args) => void, groups?: number[],
  //                   threadReceives?: boolean,
  //                   protocol?: number)  (threadReceives true: the I/O thread receives everything,
  //                   as before, for comparison; protocol: NETLINK_ROUTE unless given)
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
    if (!info[4].IsUndefined()) {
      double p = info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : -1;
      if (!(p >= 0 && p <= 0x7fffffff) || p != static_cast<double>(static_cast<int>(p))) {
        throw MakeError(env, "EINVAL", "netlink: protocol must be a netlink protocol number");
      }
      protocol = static_cast<int>(p);  // socket() says EPROTONOSUPPORT for one the kernel lacks
    }
    state_ = std::make_shared<State>();
    state_->groups = std::move(groups);
    state_->protocol = protocol;
    if (info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value()) state_->receiveOnLoop = false;
    state_->threadReceives.store(!state_->receiveOnLoop);
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
    state_->tsfn = Tsfn::New(env, info[1].As<Napi::Function>(), "kernkit.netlink", 0, 1, state_.get(),
                             [hold](Napi::Env fenv, void*, State*) {
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
    if (state_) {
      StopThread(*state_);
      CloseReader(*state_);
    }
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
    CloseReader(s);
    if (s.thread.joinable()) s.thread.join();
  }

  // send(bytes: Uint8Array, tag: number, dump?: boolean): queues a datagram's
  // worth of messages. A dump moves receiving to the I/O thread until
  // receiveOnLoop() (netlink_recvmsg continues a running dump, under the rtnl lock).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw MakeError(env, "EINVAL", "netlink.send: expected a Uint8Array");
    if (!info[1].IsNumber()) throw MakeError(env, "EINVAL", "netlink.send: expected a numeric tag");
    if (state_->stop.load() || !state_->tsfnLive) throw MakeError(env, "EBADF", "netlink.send: socket is closed");
    auto arr = info[0].As<Napi::Uint8Array>();
    Request req{std::vector<uint8_t>(arr.Data(), arr.Data() + arr.ByteLength()),
                info[1].As<Napi::Number>().DoubleValue()};
    bool dump = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
    if (dump && state_->receiveOnLoop) {
      state_->dumpsSent++;
      StopPolling(*state_);  // what the loop read is delivered already; the rest is the thread's
    }
    bool wasEmpty;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (dump && state_->receiveOnLoop) {
        state_->threadReceives.store(true);
        state_->handoverWanted = false;
      }
      wasEmpty = state_->queue.empty();
      state_->queue.push_back(std::move(req));
    }
    if (wasEmpty) state_->Wake();  // a non-empty queue already has a wake-up pending
    return env.Undefined();
  }

  // receiveOnLoop(): the dump sent last has ended (JavaScript saw its end):
  // the loop takes the socket back once the thread has delivered what it read.
  Napi::Value ReceiveOnLoop(const Napi::CallbackInfo& info) {
    State& s = *state_;
    if (!s.receiveOnLoop || !s.reader || s.reader->polling || s.stop.load()) return info.Env().Undefined();
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.handoverWanted = true;
      s.handoverGeneration = s.dumpsSent;
    }
    s.Wake();
    return info.Env().Undefined();
  }

  // ref()/unref(): whether the socket keeps the event loop alive (it should
  // while replies are awaited, and need not when idle).
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    SetReferenced(info.Env(), true);
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    SetReferenced(info.Env(), false);
    return info.Env().Undefined();
  }
  void SetReferenced(Napi::Env env, bool on) {
    State& s = *state_;
    s.referenced = on;
    if (s.tsfnLive) on ? s.tsfn.Ref(env) : s.tsfn.Unref(env);
    if (s.reader && s.reader->referenced != on) {
      s.reader->referenced = on;
      auto* h = reinterpret_cast<uv_handle_t*>(&s.reader->handle);
      on ? uv_ref(h) : uv_unref(h);
    }
  }

  // close(): asks the thread to stop; "closed" follows once it has.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseReader(*state_);
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
