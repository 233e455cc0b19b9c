// dial_tcp: see redis_socket.hpp.
#include "dist/redis_socket.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "dist/redis_client.hpp"
#include "gopp/pool.hpp"

namespace gopp::dist::detail {

namespace {

std::string describe(long err) {
  if (err == gopp::detail::poll_fd::err_timeout) return "i/o timeout";
  if (err == gopp::detail::poll_fd::err_closed) return "use of closed network connection";
  return std::strerror(static_cast<int>(-err));
}

in_addr resolve(const std::string& host) {
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) == 1) return a;
  // getaddrinfo blocks its thread: run it on gopp's helper threads.
  return gopp::blocking([&host] {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
      throw redis_io_error("dial tcp " + host + ": lookup failed: " + ::gai_strerror(rc));
    }
    const in_addr out = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    ::freeaddrinfo(res);
    return out;
  });
}

}  // namespace

std::unique_ptr<gopp::detail::poll_fd> dial_tcp(const std::string& host, int port,
                                                std::chrono::steady_clock::time_point deadline) {
  const std::string where = host + ":" + std::to_string(port);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr = resolve(host);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw redis_io_error("dial tcp " + where + ": socket: " + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto pfd = std::make_unique<gopp::detail::poll_fd>(fd);
  pfd->set_deadline(gopp::detail::io_mode::write, deadline);
  const int rc = pfd->connect(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  if (rc != 0) throw redis_io_error("dial tcp " + where + ": " + describe(rc));
  pfd->set_deadline(gopp::detail::io_mode::write, {});
  return pfd;
}

}  // namespace gopp::dist::detail
