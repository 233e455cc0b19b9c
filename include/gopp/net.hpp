// gopp/net.hpp: TCP, UDP and Unix-domain sockets for goroutines. Go: package net.
//
//   // An echo server: one goroutine per connection, Go's shape.
//   gopp::net::listener ln = gopp::net::listen("tcp", "127.0.0.1:7000");
//   for (;;) {
//     gopp::net::conn c = ln.accept();            // parks the goroutine, not the thread
//     gopp::go([c]() mutable {
//       std::array<std::byte, 4096> buf;
//       while (std::size_t n = c.read(buf)) {     // 0: the client closed (EOF is no error)
//         c.write(std::span(buf).first(n));       // writes all n bytes, as Go's Write
//       }
//       c.close();
//     });
//   }
//
//   // A client with a deadline: the dial and the whole exchange end by it.
//   auto [ctx, cancel] = gopp::with_timeout(gopp::background(), std::chrono::seconds(2));
//   gopp::net::conn c = gopp::net::dial(ctx, "tcp", "localhost:7000");
//   c.set_deadline(*ctx.deadline());
//   c.write("ping");
//   char reply[4];
//   c.read_full(std::span(reply));                // 4, or less at EOF; throws on i/o timeout
//   cancel();
//
// Every blocking call (accept, dial, read, write, read_from, write_to) parks a goroutine and
// blocks a plain thread (in the kernel, through the runtime's netpoller: runtime/netpoll.hpp), so
// both may use the same objects at once.
//
// Networks and addresses (Go's rules):
//   - "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6": "host:port". The host is an IP literal
//     ("127.0.0.1", "[::1]" with brackets), a name ("localhost"), or empty (":0": every local
//     address; for "tcp"/"udp" a dual-stack [::] socket when the machine has IPv6, else 0.0.0.0).
//     The port is a number (0: the kernel picks one; read it back from addr()) or a service name
//     from /etc/services ("http"). IP literals skip the resolver; names are resolved with
//     getaddrinfo on a gopp::blocking helper thread, so the caller parks.
//   - "unix" (stream) and "unixgram" (datagrams): a path, or "@name" for Linux's abstract
//     namespace. listen("unix", path) creates the socket file and fails with "bind: address
//     already in use" if the path exists: gopp never removes a file it did not create. The
//     listener's close() removes the file it created (Go's default), and only if the path still
//     names that same socket.
//   - addr: network() ("tcp", "udp", "unix", "unixgram") and to_string() in Go's form:
//     "127.0.0.1:80", "[::1]:80", "/tmp/s.sock" (an unnamed unix socket prints "").
//
// Handles: listener, conn and packet_conn are cheap handles on shared state (Go's net.Conn is an
// interface value that goroutines share): copies refer to the same socket. Any number of
// goroutines and threads may use one socket at once; reads are serialised among themselves, and
// so are writes (a write() is never interleaved with another's bytes), but a read and a write run
// concurrently. close() from any copy, any goroutine or thread wakes every parked call at once
// with "use of closed network connection"; the fd itself is closed when the last call using it
// has returned (so a number reused by the kernel never sees a stale call). Destroying the last
// copy closes the socket. A default-constructed handle is empty: every call on it throws the
// `closed` error. Every socket is SOCK_NONBLOCK | SOCK_CLOEXEC; TCP conns have TCP_NODELAY set
// (Go's default); TCP listeners set SO_REUSEADDR and listen with a backlog of SOMAXCONN; writes
// use MSG_NOSIGNAL, so a write to a reset connection is an error, never a SIGPIPE.
//
// Deadlines (Go's SetDeadline): an absolute std::chrono::steady_clock time point after which
// a read (write, accept) that has not completed fails with "i/o timeout" (errc::timeout). They
// apply to calls already parked too: moving the deadline while a call waits takes effect at
// once, and a deadline in the past fails waiting and future calls at once. net::no_deadline
// (time_point::max()) or a default-constructed time_point{} (Go's zero Time) removes it. The
// duration overloads mean now + d. A deadline is not reset by a successful call.
//
// Errors: every failure throws net::op_error, a std::system_error whose what() is Go's text,
// "<op> <net> [<local>->]<remote>: <cause>":
//   "dial tcp 127.0.0.1:1: connect: connection refused"         std::errc::connection_refused
//   "read tcp 127.0.0.1:5000->127.0.0.1:40000: i/o timeout"     net::errc::timeout
//   "read tcp 127.0.0.1:5000->127.0.0.1:40000: use of closed network connection"
//                                                                net::errc::closed
//   "read tcp ...: read: connection reset by peer"              std::errc::connection_reset
//   "write tcp ...: write: broken pipe"                         std::errc::broken_pipe
//   "accept tcp 127.0.0.1:5000: accept4: too many open files (RLIMIT_NOFILE is 1024)"
//                                                                std::errc::too_many_files_open
//   "dial tcp: lookup nosuch.invalid: no such host"             net::errc::no_such_host
//   "dial tcp: address 127.0.0.1: missing port in address"     std::errc::invalid_argument
//   "dial tcp 10.0.0.1:80: operation was canceled"              gopp::errc::canceled (ctx)
//   "dial tcp 10.0.0.1:80: i/o timeout"                         gopp::errc::deadline_exceeded
//                                                  (the ctx's deadline), net::errc::timeout
//                                                  (dial_timeout's)
// net::errc::timeout, gopp::errc::deadline_exceeded and ETIMEDOUT all compare equal to
// std::errc::timed_out, so `e.code() == std::errc::timed_out` is Go's Timeout(). End of file is
// never an error: read() returns 0.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "gopp/context.hpp"

struct sockaddr;  // <sys/socket.h>

namespace gopp::net {

// Error codes of their own (category "gopp.net"); system errors keep std::generic_category's
// errno (std::errc::connection_refused, connection_reset, broken_pipe, ...).
enum class errc {
  closed = 1,         // "use of closed network connection" (Go: net.ErrClosed)
  timeout = 2,        // "i/o timeout" (Go: os.ErrDeadlineExceeded); == std::errc::timed_out
  no_such_host = 3,   // "no such host" (getaddrinfo: EAI_NONAME, EAI_NODATA)
  lookup_failed = 4,  // any other resolver failure; what() has getaddrinfo's text
};

// The category of net::errc: name() is "gopp.net".
const std::error_category& net_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), net_category()};
}

}  // namespace gopp::net

template <>
struct std::is_error_code_enum<gopp::net::errc> : std::true_type {};

namespace gopp::net {

using clock = std::chrono::steady_clock;

// Removes a deadline (Go: SetDeadline(time.Time{})); time_point{} means the same.
inline constexpr clock::time_point no_deadline = clock::time_point::max();

// Go: *net.OpError. what() is Go's full text (see the top of this file); code() the cause.
class op_error : public std::system_error {
 public:
  op_error(std::error_code code, std::string op, std::string text);
  const char* what() const noexcept override { return text_->c_str(); }
  // "dial", "listen", "accept", "read", "write", "close", "set", ...
  const std::string& op() const noexcept { return *op_; }

 private:
  std::shared_ptr<const std::string> op_, text_;  // shared: copying must not throw
};

// A socket address: an IP address and port, or a unix path. Go: net.Addr (TCPAddr, UDPAddr,
// UnixAddr).
class addr {
 public:
  addr() noexcept = default;  // empty: network() "" and to_string() ""
  // From a system address (AF_INET, AF_INET6, AF_UNIX); network is "tcp", "udp", "unix"...
  addr(std::string_view network, const sockaddr* sa, std::size_t len);

  // "tcp", "udp", "unix" or "unixgram" (Go's Addr.Network()).
  const std::string& network() const noexcept { return network_; }
  // Go's Addr.String(): "127.0.0.1:80", "[::1]:80", "[fe80::1%eth0]:80", a unix path, "@name".
  std::string to_string() const;
  // The IP in text ("127.0.0.1", "::1"), "" for unix addresses.
  std::string ip() const;
  // The port, 0 for unix addresses.
  int port() const noexcept;

  bool empty() const noexcept { return len_ == 0; }
  const sockaddr* native() const noexcept;
  std::size_t native_size() const noexcept { return len_; }

  friend bool operator==(const addr& a, const addr& b) noexcept;

 private:
  std::string network_;
  alignas(8) std::array<std::byte, 128> storage_{};  // a sockaddr_storage
  std::size_t len_ = 0;
};

// Go: net.SplitHostPort. "[::1]:80" -> {"::1", "80"}, ":0" -> {"", "0"}. Throws
// std::invalid_argument with Go's text ("address 127.0.0.1: missing port in address",
// "address ::1:80: too many colons in address", ...).
std::pair<std::string, std::string> split_host_port(std::string_view hostport);
// Go: net.JoinHostPort. Brackets the host if it holds a colon.
std::string join_host_port(std::string_view host, std::string_view port);

// Go: net.ResolveTCPAddr / ResolveUDPAddr / ResolveUnixAddr: the first address `address` names
// (IPv4 first for "tcp"/"udp"). Parks while the resolver runs. Throws op_error("lookup" errors).
addr resolve_addr(std::string_view network, std::string_view address);

namespace detail {
struct socket_state;  // src/net/socket.cpp
}

// A stream connection (TCP, unix). Go: net.Conn.
class conn {
 public:
  conn() noexcept = default;

  // Go: c.Read(b). Reads what is there (at least one byte, at most buf.size()), parking until
  // something arrives; returns the count, 0 at end of file (or for an empty buf).
  std::size_t read(std::span<std::byte> buf);
  std::size_t read(std::span<char> buf) { return read(std::as_writable_bytes(buf)); }
  // io.ReadFull: reads until buf is full or end of file; returns the count (< buf.size() only
  // at end of file).
  std::size_t read_full(std::span<std::byte> buf);
  std::size_t read_full(std::span<char> buf) { return read_full(std::as_writable_bytes(buf)); }
  // Go: c.Write(b). Writes all of buf (continuing partial writes) or throws; a throw after a
  // partial write leaves the bytes before it sent.
  void write(std::span<const std::byte> buf);
  void write(std::string_view s) { write(std::as_bytes(std::span(s.data(), s.size()))); }

  // Go: (*TCPConn).CloseWrite / (*UnixConn).CloseWrite: shutdown(SHUT_WR). The peer reads end
  // of file; this side can still read.
  void close_write();
  // Go: c.Close(). Idempotent from any copy: a second close() does nothing (Go returns an
  // error; nothing here needs it). Wakes every parked call on the socket.
  void close() noexcept;

  // Go: SetDeadline / SetReadDeadline / SetWriteDeadline (see the top of this file).
  void set_deadline(clock::time_point t);
  void set_read_deadline(clock::time_point t);
  void set_write_deadline(clock::time_point t);
  // now + d (saturating: a huge d means no deadline in practice).
  void set_deadline(std::chrono::nanoseconds d);
  void set_read_deadline(std::chrono::nanoseconds d);
  void set_write_deadline(std::chrono::nanoseconds d);

  // Go: LocalAddr / RemoteAddr (fixed when the connection was made).
  net::addr local_addr() const;
  net::addr remote_addr() const;

  // The socket's fd, for setsockopt and the like (-1 for an empty handle). Do not close it.
  int native_handle() const noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend struct detail::socket_state;
  explicit conn(std::shared_ptr<detail::socket_state> s) noexcept : state_(std::move(s)) {}
  std::shared_ptr<detail::socket_state> state_;
};

// A listening socket. Go: net.Listener.
class listener {
 public:
  listener() noexcept = default;

  // Go: l.Accept(). Parks until a connection arrives. Errors (out of fds: "accept4: too many
  // open files") leave the listener open: a later accept() works once the cause is gone.
  conn accept();
  // Go: l.Close(). Wakes a parked accept() with "use of closed network connection".
  void close() noexcept;
  // Go: l.Addr(). The bound address, with the kernel's port for ":0".
  net::addr local_addr() const;
  net::addr addr() const { return local_addr(); }
  // Go: (*TCPListener).SetDeadline: accept() fails with "i/o timeout" after t.
  void set_deadline(clock::time_point t);

  int native_handle() const noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend struct detail::socket_state;
  explicit listener(std::shared_ptr<detail::socket_state> s) noexcept : state_(std::move(s)) {}
  std::shared_ptr<detail::socket_state> state_;
};

// A datagram socket. Go: net.PacketConn.
class packet_conn {
 public:
  packet_conn() noexcept = default;

  // Go: ReadFrom. One datagram (truncated to buf.size()) and its sender.
  std::pair<std::size_t, net::addr> read_from(std::span<std::byte> buf);
  std::pair<std::size_t, net::addr> read_from(std::span<char> buf) {
    return read_from(std::as_writable_bytes(buf));
  }
  // Go: WriteTo. Sends one datagram to `to`; returns its size.
  std::size_t write_to(std::span<const std::byte> buf, const net::addr& to);
  std::size_t write_to(std::string_view s, const net::addr& to) {
    return write_to(std::as_bytes(std::span(s.data(), s.size())), to);
  }

  void close() noexcept;
  void set_deadline(clock::time_point t);
  void set_read_deadline(clock::time_point t);
  void set_write_deadline(clock::time_point t);
  net::addr local_addr() const;

  int native_handle() const noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend struct detail::socket_state;
  explicit packet_conn(std::shared_ptr<detail::socket_state> s) noexcept : state_(std::move(s)) {}
  std::shared_ptr<detail::socket_state> state_;
};

// Go: net.Listen. "tcp", "tcp4", "tcp6", "unix". Throws op_error ("listen tcp 127.0.0.1:80:
// bind: address already in use").
listener listen(std::string_view network, std::string_view address);
// Go: net.ListenPacket. "udp", "udp4", "udp6", "unixgram".
packet_conn listen_packet(std::string_view network, std::string_view address);

// Go: net.Dial / Dialer.DialContext / net.DialTimeout. "tcp", "tcp4", "tcp6", "unix", and
// "udp"... (a connected datagram socket: read and write exchange datagrams with that peer).
// Each resolved address is tried in turn (IPv4 first for "tcp") until one connects; with a
// deadline, each try gets an equal share of the time left (at least 2 s, Go's rule). When ctx
// ends first, the dial stops at once (a parked connect or lookup included) and throws the ctx's
// code: gopp::errc::canceled ("operation was canceled") or gopp::errc::deadline_exceeded
// ("i/o timeout"). dial_timeout's own time limit throws net::errc::timeout ("i/o timeout").
conn dial(std::string_view network, std::string_view address);
conn dial(const context& ctx, std::string_view network, std::string_view address);
conn dial_timeout(std::string_view network, std::string_view address,
                  std::chrono::nanoseconds timeout);

}  // namespace gopp::net
