// The shared state behind gopp::net's handles, and the helpers the net sources share: the
// network names, Go's error texts, and the resolver.
//
// socket_state: one per open socket, owned by shared_ptr from every handle copy (conn,
// listener, packet_conn). It holds the poll_fd (which makes close() safe while other callers
// are parked on the fd: see net/poll_fd.hpp), the network name the user gave (for error texts),
// and the two addresses, fixed when the socket was made. A unix listener also remembers the
// socket file it created, and removes it at close() only if the path still names that file.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gopp/context.hpp"
#include "gopp/net.hpp"
#include "net/poll_fd.hpp"

namespace gopp::net::detail {

// What a network name means. Go: net.parseNetwork.
struct network_kind {
  std::string name;        // as given: "tcp4" (error texts use it)
  std::string base;        // "tcp", "udp", "unix", "unixgram" (addr::network())
  int family = AF_UNSPEC;  // AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC for "tcp"/"udp"
  int socktype = SOCK_STREAM;
  bool ip() const noexcept { return family != AF_UNIX; }
};

// Parses "tcp", "tcp4", ..., "unixgram"; nullopt for anything else.
std::optional<network_kind> parse_network(std::string_view network);

struct socket_state {
  socket_state(int fd, std::string net, addr local_, addr remote_)
      : pfd(fd), network(std::move(net)), local(std::move(local_)), remote(std::move(remote_)) {}
  ~socket_state();

  // Closes the socket (idempotent); a unix listener removes its socket file.
  void close() noexcept;

  gopp::detail::poll_fd pfd;
  std::string network;  // as the user named it, for error texts
  addr local, remote;
  // A unix listener's socket file, removed at close() if it still is this (dev, ino).
  std::string unlink_path;
  dev_t unlink_dev = 0;
  ino_t unlink_ino = 0;
  std::atomic<bool> unlinked{false};

  // The handles' private constructors, reached through this friend.
  static conn make_conn(std::shared_ptr<socket_state> s) { return conn(std::move(s)); }
  static listener make_listener(std::shared_ptr<socket_state> s) { return listener(std::move(s)); }
  static packet_conn make_packet_conn(std::shared_ptr<socket_state> s) {
    return packet_conn(std::move(s));
  }
};

// ---- Errors -------------------------------------------------------------------------------

// Go's "<src>-><dst>" part: "a->b", or whichever of the two is not empty.
std::string endpoint_text(const addr& source, const addr& dest);
// "<op> <net> <endpoints>: " (endpoints omitted when empty).
std::string op_prefix(std::string_view op, std::string_view network, std::string_view endpoints);

// The code and Go's text of a poll_fd result (poll_fd::err_closed, err_timeout or -errno), the
// errno case as "<syscall>: <lower-case strerror>", naming the fd limit for EMFILE and ENFILE.
std::error_code code_of(long err) noexcept;
std::string cause_of(long err, std::string_view syscall);

// Throws op_error("<op> <net> <endpoints>: <cause>").
[[noreturn]] void throw_op(std::string_view op, std::string_view network,
                           std::string_view endpoints, long err, std::string_view syscall);
[[noreturn]] void throw_op(std::string_view op, std::string_view network,
                           std::string_view endpoints, std::error_code code,
                           std::string_view cause);

// ---- Resolution ---------------------------------------------------------------------------

// The addresses `host` and `port` name for `kind` (IPv4 first when kind.family is AF_UNSPEC).
// An empty host means the local system (loopback) for a dial, every address for a listen
// (`passive`). IP literals with numeric ports are parsed at once; anything else runs getaddrinfo
// on a gopp::blocking helper while the caller parks, and returns when `ctx` ends first (the
// lookup finishes on its own and is dropped). Throws op_error with `op` ("dial", "listen") for
// lookup failures, or std::system_error(ctx.err()) when ctx ended (the caller words it).
std::vector<addr> resolve(const context& ctx, std::string_view op, const network_kind& kind,
                          const std::string& host, const std::string& port, bool passive);

// A unix address from a path ("@name": the abstract namespace; "": unnamed, which a bind turns
// into an abstract name the kernel picks). nullopt when the path does not fit sockaddr_un.
std::optional<addr> unix_addr(const network_kind& kind, std::string_view path);

}  // namespace gopp::net::detail
