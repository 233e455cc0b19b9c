// gopp::net's sockets: listen, dial, and the conn / listener / packet_conn handles, on top of
// gopp::detail::poll_fd (net/poll_fd.hpp), which does the I/O, the parking on EAGAIN, the
// deadlines and the close-while-in-use safety.
//
// Every socket is made with SOCK_NONBLOCK | SOCK_CLOEXEC, and adopted by a poll_fd (registered
// with the netpoller) before anything can block on it. Handles share one socket_state.
//
// dial (Go's Dialer.DialContext, dialSerial):
//   1. Resolve the address (socket_state.hpp: literals at once, names on a blocking helper,
//      abandoned when ctx ends).
//   2. Try each address in turn. With a deadline (ctx's, or dial_timeout's, which is a ctx's
//      too), each try gets an equal share of the time left, at least 2 s (Go's partialDeadline):
//      the poll_fd's deadline is set to it, so a connect that the peer never answers ends.
//   3. Cancellation: a cancel_listener registered on ctx sets the current try's poll_fd deadline
//      in the past, which wakes the parked connect at once (Go's trick too). The listener holds
//      the socket_state by shared_ptr under its mutex, so it never touches a freed descriptor;
//      attach() after the ctx ended applies the deadline at once, so no cancel is missed.
//   4. A try that failed with a timeout is the ctx's error when the ctx has ended or its deadline
//      has passed; otherwise (a partial deadline) the next address is tried. The first error is
//      thrown when every address failed (Go returns the first, the most telling one).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "net/socket_state.hpp"

namespace gopp::net {

using detail::socket_state;
using gopp::detail::io_mode;
using gopp::detail::poll_fd;

// ---- socket_state -------------------------------------------------------------------------

namespace detail {

socket_state::~socket_state() {
  close();
}

void socket_state::close() noexcept {
  pfd.close();
  if (!unlink_path.empty() && !unlinked.exchange(true)) {
    struct stat st {};
    if (::stat(unlink_path.c_str(), &st) == 0 && st.st_dev == unlink_dev &&
        st.st_ino == unlink_ino) {
      ::unlink(unlink_path.c_str());
    }
  }
}

}  // namespace detail

namespace {

[[noreturn]] void throw_empty(std::string_view op) {
  std::string text(op);
  text += ": use of closed network connection";
  throw op_error(errc::closed, std::string(op), std::move(text));
}

socket_state& need(const std::shared_ptr<socket_state>& s, std::string_view op) {
  if (!s) throw_empty(op);
  return *s;
}

std::string endpoints_of(const socket_state& s) {
  return detail::endpoint_text(s.local, s.remote);
}

clock::time_point after(std::chrono::nanoseconds d) noexcept {
  const clock::time_point now = clock::now();
  if (d > clock::time_point::max() - now) return no_deadline;
  return now + d;
}

// A time certainly in the past (not time_point{}, which means "no deadline").
clock::time_point past() noexcept {
  return clock::now() - std::chrono::hours(1);
}

void set_deadline_of(socket_state& s, io_mode mode, clock::time_point t) {
  if (s.pfd.closed()) detail::throw_op("set", s.network, endpoints_of(s), poll_fd::err_closed, "");
  if (t == clock::time_point{}) t = no_deadline;
  s.pfd.set_deadline(mode, t);
}

int open_socket(int family, int socktype) noexcept {
  const int fd = ::socket(family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

addr local_of(int fd, const std::string& base) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return addr(base, reinterpret_cast<const sockaddr*>(&ss), len);
}

void set_nodelay(int fd) noexcept {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Wraps `fd` in a socket_state (registering it with the poller); the fd is closed on failure.
std::shared_ptr<socket_state> adopt(int fd, std::string_view op, const std::string& network,
                                    std::string_view endpoints) {
  try {
    return std::make_shared<socket_state>(fd, network, addr{}, addr{});
  } catch (const std::system_error& e) {
    detail::throw_op(op, network, endpoints, e.code(), e.what());
  }
}

[[noreturn]] void throw_unknown_network(std::string_view op, std::string_view network) {
  throw op_error(
      std::make_error_code(std::errc::invalid_argument), std::string(op),
      std::string(op) + " " + std::string(network) + ": unknown network " + std::string(network));
}

// Splits "host:port" for an op, with Go's text on failure ("dial tcp: address x: missing port
// in address").
std::pair<std::string, std::string> split_for(std::string_view op, const detail::network_kind& k,
                                              std::string_view address) {
  try {
    return split_host_port(address);
  } catch (const std::invalid_argument& e) {
    detail::throw_op(op, k.name, "", std::make_error_code(std::errc::invalid_argument), e.what());
  }
}

// Binds a new socket of `kind` to `a` (and listens, for streams); returns the fd or -errno,
// and the name of the failed system call in *syscall.
int bind_socket(const detail::network_kind& kind, const addr& a, bool stream_listen,
                const char** syscall) {
  *syscall = "socket";
  const int fd = open_socket(a.native()->sa_family, kind.socktype);
  if (fd < 0) return fd;
  const int one = 1;
  if (a.native()->sa_family == AF_INET6) {
    // "tcp6"/"udp6" see only IPv6; "tcp"/"udp" on [::] also take IPv4 (dual stack), Go's rule.
    const int v6only = kind.family == AF_INET6 ? 1 : 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (stream_listen && kind.ip()) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  *syscall = "bind";
  if (::bind(fd, a.native(), static_cast<socklen_t>(a.native_size())) != 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  if (stream_listen) {
    *syscall = "listen";
    if (::listen(fd, SOMAXCONN) != 0) {
      const int e = errno;
      ::close(fd);
      return -e;
    }
  }
  return fd;
}

// listen and listen_packet: the first resolved address that a socket can be made for.
std::shared_ptr<socket_state> bind_any(std::string_view op, const detail::network_kind& kind,
                                       std::string_view address, bool stream_listen) {
  std::vector<addr> candidates;
  if (kind.ip()) {
    auto [host, port] = split_for(op, kind, address);
    candidates = detail::resolve(background(), op, kind, host, port, true);
  } else {
    auto a = detail::unix_addr(kind, address);
    if (!a) {
      detail::throw_op(op, kind.name, address, -EINVAL, "bind");
    }
    candidates.push_back(std::move(*a));
  }
  int fd = -1;
  const char* syscall = "socket";
  const addr* bound = nullptr;
  for (const addr& a : candidates) {
    fd = bind_socket(kind, a, stream_listen, &syscall);
    bound = &a;
    // Only a family the machine lacks moves on (the dual-stack wildcard on an IPv4-only host).
    if (fd >= 0 || (fd != -EAFNOSUPPORT && fd != -EADDRNOTAVAIL)) break;
  }
  const std::string where = kind.ip() ? bound->to_string() : std::string(address);
  if (fd < 0) detail::throw_op(op, kind.name, where, fd, syscall);

  struct stat st {};
  const bool made_file = stream_listen && !kind.ip() && !address.empty() && address[0] != '@' &&
                         ::stat(std::string(address).c_str(), &st) == 0;
  auto s = adopt(fd, op, kind.name, where);
  s->local = local_of(fd, kind.base);
  if (made_file) {
    s->unlink_path = address;
    s->unlink_dev = st.st_dev;
    s->unlink_ino = st.st_ino;
  }
  return s;
}

// ---- dial ---------------------------------------------------------------------------------

// Sets the current try's deadline in the past when the dial's context ends.
struct dial_canceller final : gopp::detail::cancel_listener {
  std::mutex mu;
  std::shared_ptr<socket_state> current;
  bool fired = false;

  void on_cancel(std::error_code) noexcept override {
    std::lock_guard lock(mu);
    fired = true;
    if (current) current->pfd.set_deadline(io_mode::both, past());
  }
  void attach(std::shared_ptr<socket_state> s) {
    std::lock_guard lock(mu);
    current = std::move(s);
    if (fired) current->pfd.set_deadline(io_mode::both, past());
  }
  void detach() {
    std::lock_guard lock(mu);
    current.reset();
  }
};

// Go's partialDeadline: the try's share of the time left, at least 2 s (or what is left).
clock::time_point partial_deadline(clock::time_point now, clock::time_point deadline,
                                   std::size_t addrs_left) {
  const auto left = deadline - now;
  auto share = left / static_cast<long>(addrs_left);
  constexpr auto sane_minimum = std::chrono::seconds(2);
  if (share < sane_minimum) share = left < sane_minimum ? left : decltype(left)(sane_minimum);
  return now + share;
}

// The dial's context ended: its code, in Go's words.
[[noreturn]] void throw_ended(const detail::network_kind& kind, std::string_view endpoints,
                              std::error_code why, bool own_timeout) {
  if (why == gopp::errc::deadline_exceeded) {
    detail::throw_op("dial", kind.name, endpoints,
                     own_timeout ? std::error_code(errc::timeout) : why, "i/o timeout");
  }
  detail::throw_op("dial", kind.name, endpoints, why, "operation was canceled");
}

conn dial_impl(const context& ctx, std::string_view network, std::string_view address,
               bool own_timeout) {
  const auto kind = detail::parse_network(network);
  if (!kind) throw_unknown_network("dial", network);

  std::vector<addr> targets;
  if (kind->ip()) {
    auto [host, port] = split_for("dial", *kind, address);
    try {
      targets = detail::resolve(ctx, "dial", *kind, host, port, false);
    } catch (const op_error&) {
      throw;
    } catch (const std::system_error& e) {  // ctx ended during the lookup
      throw_ended(*kind, "", e.code(), own_timeout);
    }
  } else {
    auto a = detail::unix_addr(*kind, address);
    if (!a) detail::throw_op("dial", kind->name, address, -EINVAL, "connect");
    targets.push_back(std::move(*a));
  }

  const std::optional<clock::time_point> deadline = ctx.deadline();
  auto canceller = std::make_shared<dial_canceller>();
  const bool registered = gopp::detail::add_cancel_listener(ctx, canceller);
  struct unregister {
    const context& ctx;
    dial_canceller* c;
    bool on;
    ~unregister() {
      if (on) gopp::detail::remove_cancel_listener(ctx, c);
    }
  } unregister_at_exit{ctx, canceller.get(), registered};

  std::exception_ptr first;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const addr& target = targets[i];
    const std::string endpoints = target.to_string();
    if (const std::error_code why = ctx.err()) throw_ended(*kind, endpoints, why, own_timeout);
    clock::time_point try_deadline = no_deadline;
    if (deadline) {
      const clock::time_point now = clock::now();
      if (now >= *deadline) {
        throw_ended(*kind, endpoints, gopp::errc::deadline_exceeded, own_timeout);
      }
      try_deadline = partial_deadline(now, *deadline, targets.size() - i);
    }

    const int fd = open_socket(target.native()->sa_family, kind->socktype);
    if (fd < 0) {
      try {
        detail::throw_op("dial", kind->name, endpoints, fd, "socket");
      } catch (const op_error&) {
        if (!first) first = std::current_exception();
      }
      continue;
    }
    std::shared_ptr<socket_state> s = adopt(fd, "dial", kind->name, endpoints);
    if (try_deadline != no_deadline) s->pfd.set_deadline(io_mode::both, try_deadline);
    canceller->attach(s);
    const int rc = s->pfd.connect(target.native(), static_cast<socklen_t>(target.native_size()));
    canceller->detach();

    if (rc == 0 && !ctx.err()) {
      s->pfd.set_deadline(io_mode::both, no_deadline);
      if (kind->base == "tcp") set_nodelay(fd);
      s->local = local_of(fd, kind->base);
      s->remote = target;
      return socket_state::make_conn(std::move(s));
    }
    s->close();
    if (rc == 0 || rc == poll_fd::err_timeout || rc == poll_fd::err_closed) {
      if (const std::error_code why = ctx.err()) throw_ended(*kind, endpoints, why, own_timeout);
      if (deadline && clock::now() >= *deadline) {
        throw_ended(*kind, endpoints, gopp::errc::deadline_exceeded, own_timeout);
      }
    }
    try {  // this address failed: remember why, try the next one
      detail::throw_op("dial", kind->name, endpoints, rc, "connect");
    } catch (const op_error&) {
      if (!first) first = std::current_exception();
    }
  }
  std::rethrow_exception(first);
}

}  // namespace

// ---- conn ---------------------------------------------------------------------------------

std::size_t conn::read(std::span<std::byte> buf) {
  socket_state& s = need(state_, "read");
  const long n = s.pfd.read(buf.data(), buf.size());
  if (n < 0) detail::throw_op("read", s.network, endpoints_of(s), n, "read");
  return static_cast<std::size_t>(n);
}

std::size_t conn::read_full(std::span<std::byte> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    const std::size_t n = read(buf.subspan(got));
    if (n == 0) break;
    got += n;
  }
  return got;
}

void conn::write(std::span<const std::byte> buf) {
  socket_state& s = need(state_, "write");
  const long n = s.pfd.write_all(buf.data(), buf.size());
  if (n < 0) detail::throw_op("write", s.network, endpoints_of(s), n, "write");
}

void conn::close_write() {
  socket_state& s = need(state_, "close");
  const int rc = s.pfd.close_write();
  if (rc < 0) detail::throw_op("close", s.network, endpoints_of(s), rc, "shutdown");
}

void conn::close() noexcept {
  if (state_) state_->close();
}

void conn::set_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::both, t);
}
void conn::set_read_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::read, t);
}
void conn::set_write_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::write, t);
}
void conn::set_deadline(std::chrono::nanoseconds d) {
  set_deadline(after(d));
}
void conn::set_read_deadline(std::chrono::nanoseconds d) {
  set_read_deadline(after(d));
}
void conn::set_write_deadline(std::chrono::nanoseconds d) {
  set_write_deadline(after(d));
}

addr conn::local_addr() const {
  return state_ ? state_->local : addr{};
}
addr conn::remote_addr() const {
  return state_ ? state_->remote : addr{};
}
int conn::native_handle() const noexcept {
  return state_ ? state_->pfd.sysfd() : -1;
}

// ---- listener -----------------------------------------------------------------------------

conn listener::accept() {
  socket_state& s = need(state_, "accept");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int fd = s.pfd.accept(reinterpret_cast<sockaddr*>(&ss), &len);
  if (fd < 0) detail::throw_op("accept", s.network, s.local.to_string(), fd, "accept4");
  const std::string& base = s.local.network();
  if (base == "tcp") set_nodelay(fd);
  net::addr remote(base, reinterpret_cast<const sockaddr*>(&ss), len);
  auto c = adopt(fd, "accept", s.network, s.local.to_string());
  c->local = local_of(fd, base);
  c->remote = std::move(remote);
  return socket_state::make_conn(std::move(c));
}

void listener::close() noexcept {
  if (state_) state_->close();
}
addr listener::local_addr() const {
  return state_ ? state_->local : net::addr{};
}
void listener::set_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::read, t);
}
int listener::native_handle() const noexcept {
  return state_ ? state_->pfd.sysfd() : -1;
}

// ---- packet_conn --------------------------------------------------------------------------

std::pair<std::size_t, addr> packet_conn::read_from(std::span<std::byte> buf) {
  socket_state& s = need(state_, "read");
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const long n = s.pfd.recv_from(buf.data(), buf.size(), reinterpret_cast<sockaddr*>(&ss), &len);
  if (n < 0) detail::throw_op("read", s.network, s.local.to_string(), n, "recvfrom");
  return {static_cast<std::size_t>(n),
          addr(s.local.network(), reinterpret_cast<const sockaddr*>(&ss), len)};
}

std::size_t packet_conn::write_to(std::span<const std::byte> buf, const net::addr& to) {
  socket_state& s = need(state_, "write");
  if (to.empty()) {
    detail::throw_op("write", s.network, s.local.to_string(),
                     std::make_error_code(std::errc::destination_address_required),
                     "missing address");
  }
  const long n =
      s.pfd.send_to(buf.data(), buf.size(), to.native(), static_cast<socklen_t>(to.native_size()));
  if (n < 0) {
    detail::throw_op("write", s.network, detail::endpoint_text(s.local, to), n, "sendto");
  }
  return static_cast<std::size_t>(n);
}

void packet_conn::close() noexcept {
  if (state_) state_->close();
}
void packet_conn::set_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::both, t);
}
void packet_conn::set_read_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::read, t);
}
void packet_conn::set_write_deadline(clock::time_point t) {
  set_deadline_of(need(state_, "set"), io_mode::write, t);
}
addr packet_conn::local_addr() const {
  return state_ ? state_->local : net::addr{};
}
int packet_conn::native_handle() const noexcept {
  return state_ ? state_->pfd.sysfd() : -1;
}

// ---- listen, dial -------------------------------------------------------------------------

listener listen(std::string_view network, std::string_view address) {
  const auto kind = detail::parse_network(network);
  if (!kind || kind->socktype != SOCK_STREAM) throw_unknown_network("listen", network);
  return socket_state::make_listener(bind_any("listen", *kind, address, true));
}

packet_conn listen_packet(std::string_view network, std::string_view address) {
  const auto kind = detail::parse_network(network);
  if (!kind || kind->socktype != SOCK_DGRAM) throw_unknown_network("listen", network);
  return socket_state::make_packet_conn(bind_any("listen", *kind, address, false));
}

conn dial(std::string_view network, std::string_view address) {
  return dial_impl(background(), network, address, false);
}

conn dial(const context& ctx, std::string_view network, std::string_view address) {
  return dial_impl(ctx, network, address, false);
}

conn dial_timeout(std::string_view network, std::string_view address,
                  std::chrono::nanoseconds timeout) {
  auto [ctx, cancel] = with_timeout(background(), timeout);
  struct cancel_at_exit {
    std::function<void()>& f;
    ~cancel_at_exit() { f(); }
  } at_exit{cancel};
  return dial_impl(ctx, network, address, true);
}

}  // namespace gopp::net
