// The one place the Redis client makes its connection: a gopp::net TCP conn to host:port, so
// reads and writes park the calling goroutine on the network poller (plain threads block).
#pragma once

#include <chrono>
#include <string>

#include "gopp/net.hpp"

namespace gopp::dist::detail {

// Dials host:port (an IP literal, or a name resolved on a helper thread) before `deadline`; TCP
// conns have TCP_NODELAY. Throws redis_io_error with gopp::net's (Go's) text of the failure.
gopp::net::conn dial_tcp(const std::string& host, int port,
                         std::chrono::steady_clock::time_point deadline);

}  // namespace gopp::dist::detail
