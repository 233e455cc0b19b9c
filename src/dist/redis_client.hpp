// A goroutine-native Redis client, internal to gopp::dist.
//
// Protocol: hiredis (Debian's 0.14) encodes commands (redisFormatCommandArgv) and parses replies
// (redisReader); it never touches the socket. The socket is a gopp::net::conn (redis_socket.hpp),
// so a call parks the calling goroutine on the network poller, never an OS thread.
//
// Invariants:
//   - One request/response stream per connection: call() and pipeline() hold the client's
//     mutex from the first byte written to the last reply read, so replies are matched to
//     commands by order (pipelining: N commands written at once, N replies read back).
//   - An I/O error, a protocol error or a deadline leaves the stream in an unknown state: the
//     connection is closed at once and the call throws redis_io_error. The next call dials
//     again, with exponential backoff and jitter between failed dials (min_backoff doubling up
//     to max_backoff), each dial bounded by the call's deadline. A command is never resent
//     by the client: the caller knows whether it is safe to repeat.
//   - An error reply ("-ERR ...") is not a connection fault: it comes back as a reply of type
//     error from pipeline(), and call() throws redis_error with the server's text.
//   - evalsha(): EVALSHA; on NOSCRIPT (a restarted or flushed server) SCRIPT LOAD and EVALSHA
//     once more.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gopp/net.hpp"
#include "gopp/sync.hpp"

struct redisReader;

namespace gopp::dist::detail {

// The connection failed (refused, reset, timed out, closed): what() names the address.
class redis_io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The server answered with an error reply: what() is its text ("NOGROUP ...").
class redis_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct reply {
  enum class kind { string, array, integer, nil, status, error };
  kind type = kind::nil;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<reply> elements;

  bool is_error() const noexcept { return type == kind::error; }
  bool is_nil() const noexcept { return type == kind::nil; }
  // Throws redis_error if this is an error reply; returns *this.
  const reply& check() const;
  // The string of a string or status reply, the decimal form of an integer; "" for nil.
  std::string as_string() const;
  long long as_integer() const;  // integer, or a string that holds one
};

struct redis_address {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
};

// redis://[:password@]host[:port][/db]. Throws std::invalid_argument with a one-line reason.
redis_address parse_redis_url(std::string_view url);

struct redis_options {
  redis_address address;
  std::chrono::milliseconds call_timeout{5000};  // per call unless the call gives its own
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  std::string client_name;  // CLIENT SETNAME after each dial, if not empty
};

using command = std::vector<std::string>;

class redis_client {
 public:
  using clock = std::chrono::steady_clock;

  explicit redis_client(redis_options opts);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // One command; throws redis_error on an error reply, redis_io_error on a connection fault.
  // timeout: the whole call (dialling included); zero means options' call_timeout.
  reply call(const command& cmd, std::chrono::milliseconds timeout = {});
  // N commands written at once, N replies (error replies included, not thrown).
  std::vector<reply> pipeline(const std::vector<command>& cmds,
                              std::chrono::milliseconds timeout = {});
  // EVALSHA of `script` (its SHA1 is computed by the server at the first SCRIPT LOAD).
  reply eval(const std::string& script, const std::vector<std::string>& keys,
             const std::vector<std::string>& args, std::chrono::milliseconds timeout = {});

  // Drops the connection (the next call dials again); wakes a call parked on it.
  void disconnect() noexcept;
  // True while a connection is open.
  bool connected() const noexcept;
  const redis_options& options() const noexcept { return opts_; }

 private:
  void ensure_connected(clock::time_point deadline);  // requires mu_
  void drop() noexcept;                               // requires mu_
  std::vector<reply> exchange(const std::vector<command>& cmds, clock::time_point deadline);
  std::vector<reply> roundtrip(const std::vector<command>& cmds, clock::time_point deadline);

  redis_options opts_;
  gopp::mutex mu_;
  gopp::net::conn fd_;  // guarded by mu_ (read under fd_mu_ by disconnect)
  gopp::mutex fd_mu_;
  std::atomic<bool> disconnected_{false};  // disconnect() closed fd_: the next call dials again
  redisReader* reader_ = nullptr;
  std::chrono::milliseconds backoff_{0};
  clock::time_point next_dial_{};
  std::minstd_rand rng_;
  std::vector<std::pair<std::string, std::string>> shas_;  // script -> sha, guarded by mu_
};

}  // namespace gopp::dist::detail
