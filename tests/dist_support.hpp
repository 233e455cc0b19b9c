// tests/dist_support.hpp: a private redis-server for gopp::dist's tests.
//
//   gopp_test::redis_server redis({.appendfsync = "always"});   // started, answers PING
//   use(redis.url());            // redis://127.0.0.1:<port>
//   redis.kill9();               // SIGKILL, as a crash
//   redis.start();               // the same port and directory: the AOF is replayed
//
// Each server runs Debian's /usr/bin/redis-server on a free loopback port in a fresh temporary
// directory, with appendonly yes, the asked appendfsync, maxmemory-policy noeviction and no RDB
// snapshots. The tests never skip: without redis-server the constructor fails the test with a
// message that says to run scripts/install-deps.sh. The destructor stops the server and removes
// its directory.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gopp_test {

inline constexpr const char* redis_server_path = "/usr/bin/redis-server";

// A loopback TCP port nobody listens on now (bound, read, released).
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    throw std::runtime_error("free_loopback_port: bind failed");
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

struct redis_server_options {
  std::string appendfsync = "everysec";
  std::vector<std::string> extra{};  // more "--name value" arguments
};

class redis_server {
 public:
  using options = redis_server_options;
  redis_server() : redis_server(options{}) {}
  explicit redis_server(options o) : opts_(std::move(o)) {
    if (::access(redis_server_path, X_OK) != 0) {
      throw std::runtime_error(std::string(redis_server_path) +
                               " not found: run scripts/install-deps.sh (it installs "
                               "redis-server and libhiredis-dev)");
    }
    char tmpl[] = "/tmp/gopp-redis-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    // A port taken between free_loopback_port() and the server's bind: try another.
    for (int attempt = 0;; ++attempt) {
      port_ = free_loopback_port();
      try {
        start();
        return;
      } catch (const std::exception&) {
        if (attempt == 4) throw;
      }
    }
  }
  ~redis_server() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  int port() const noexcept { return port_; }
  const std::string& dir() const noexcept { return dir_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const noexcept { return pid_; }

  // Starts the server on port() and dir() and waits (up to 20 s) until it answers PING.
  void start() {
    if (pid_ > 0) return;
    std::vector<std::string> args{redis_server_path,
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--dir",
                                  dir_,
                                  "--appendonly",
                                  "yes",
                                  "--appendfsync",
                                  opts_.appendfsync,
                                  "--maxmemory-policy",
                                  "noeviction",
                                  "--save",
                                  "",
                                  "--protected-mode",
                                  "no",
                                  "--daemonize",
                                  "no",
                                  "--logfile",
                                  dir_ + "/redis.log"};
    args.insert(args.end(), opts_.extra.begin(), opts_.extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      const int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!answers_ping()) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start (see " + dir_ + "/redis.log)");
      }
      if (std::chrono::steady_clock::now() > until) {
        kill9();
        throw std::runtime_error("redis-server did not answer PING within 20 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // SIGTERM and wait (the server writes its AOF and exits).
  void stop() { signal_and_wait(SIGTERM); }
  // SIGKILL and wait: a crash.
  void kill9() { signal_and_wait(SIGKILL); }
  void restart() {
    stop();
    start();
  }

  // PING over a plain blocking socket (no gopp involved): true on +PONG.
  bool answers_ping() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(static_cast<std::uint16_t>(port_));
    bool ok = false;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
        ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
      char buf[16] = {};
      ok = ::recv(fd, buf, sizeof buf - 1, 0) > 0 && std::string(buf).rfind("+PONG", 0) == 0;
    }
    ::close(fd);
    return ok;
  }

 private:
  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }

  options opts_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace gopp_test
