// dial_tcp: see redis_socket.hpp.
#include "dist/redis_socket.hpp"

#include <algorithm>

#include "dist/redis_client.hpp"

namespace gopp::dist::detail {

gopp::net::conn dial_tcp(const std::string& host, int port,
                         std::chrono::steady_clock::time_point deadline) {
  const auto left = std::max<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now(),
                                                       std::chrono::milliseconds(1));
  try {
    return gopp::net::dial_timeout("tcp", gopp::net::join_host_port(host, std::to_string(port)),
                                   left);
  } catch (const gopp::net::op_error& e) {
    throw redis_io_error(e.what());
  }
}

}  // namespace gopp::dist::detail
