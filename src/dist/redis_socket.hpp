// The one place the Redis client touches sockets: a TCP connection to host:port as a poll_fd,
// so reads and writes park the calling goroutine (plain threads block). When gopp::net lands,
// this file becomes a call to gopp::net::dial and nothing else changes.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "net/poll_fd.hpp"

namespace gopp::dist::detail {

// Resolves host (numeric IPv4, or a name through getaddrinfo on a helper thread), connects
// before `deadline`, sets TCP_NODELAY. Throws redis_io_error with the address and the reason.
std::unique_ptr<gopp::detail::poll_fd> dial_tcp(const std::string& host, int port,
                                                std::chrono::steady_clock::time_point deadline);

}  // namespace gopp::dist::detail
