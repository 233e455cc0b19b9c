// bench/echo/loadgen.cpp: B9's load generator (bench/README.md). One thread, one epoll instance,
// plain non-blocking sockets and no gopp, so that it costs every server under test the same.
//
//   echo-loadgen --server 127.0.0.1:7000 --pid 1234 --mode pingpong --conns 1000 --size 64
//   B9 echo_pp1000x64 roundtrips_per_s=98765 server_cpu_us_per_roundtrip=9.61 p50_us=10.2 ...
//
// Modes:
//   pingpong   each connection writes a message of --size bytes, waits for all of it to come back,
//              and writes the next one; a round trip's latency runs from just before its write
//              to the read that completes its echo (exact below 2,048 ns, 0.1% above: the
//              histogram below);
//   streaming  each connection writes --size-byte chunks (16 KiB by default) while less than
//              256 KiB of its own data is on the way back, and reads everything that comes back;
//   idle       opens --conns connections, holds them, and reads the server's VmRSS before and
//              after.
// Every connection starts with a one-byte probe echoed back, so a connection counts as open only
// once the server has accepted it and is reading it. After --warmup seconds of traffic the
// measured window opens: the server's CPU time (utime + stime of /proc/<pid>/stat, all its
// threads, 10 ms ticks) and this process's are read at both ends of it; the window closes after
// --duration seconds or --roundtrips round trips. Then no new message is written, the
// outstanding echoes are read (so no connection closes with unread data, which would reset it),
// and every connection is closed.
//
// Every byte read is checked against what was written: each connection's traffic is one stream
// whose byte at offset o is pattern[o % kPatternLength], with kPatternLength prime, so a lost,
// doubled or reordered byte shows. Every wait is bounded: epoll_wait waits at most 100 ms at a
// time and each phase has a deadline, past which the program says what did not happen and exits
// 1. It connects only to 127.0.0.1 and ::1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void die(const char* fmt, ...) {
  std::va_list args;
  va_start(args, fmt);
  std::fputs("echo-loadgen: ", stderr);
  std::vfprintf(stderr, fmt, args);
  std::fputc('\n', stderr);
  va_end(args);
  std::exit(1);
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Latencies in nanoseconds: one bucket per nanosecond below 2,048 ns, then 1,024 buckets per
// power of two (a bucket's width is at most 0.1% of its values) up to 2^41 ns; larger values land
// in the last bucket. A quantile is the midpoint of the bucket holding the value of that rank.
class histogram {
 public:
  void record(std::int64_t ns) {
    ++counts_[index(ns < 0 ? 0 : std::uint64_t(ns))];
    ++total_;
  }
  void clear() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
  }
  std::uint64_t total() const { return total_; }
  double quantile(double q) const {
    if (total_ == 0) return std::nan("");
    auto rank = std::uint64_t(std::ceil(q * double(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return value(i);
    }
    return value(counts_.size() - 1);
  }

 private:
  static constexpr std::uint64_t kExact = 2048;  // 2^11
  static constexpr int kSubBits = 10;            // 1,024 buckets per power of two above
  static constexpr int kMaxBits = 41;

  static std::size_t index(std::uint64_t v) {
    if (v < kExact) return std::size_t(v);
    int k = std::bit_width(v) - 1;  // 11 and up
    if (k >= kMaxBits) {
      k = kMaxBits - 1;
      v = (std::uint64_t{1} << kMaxBits) - 1;
    }
    std::uint64_t m = v >> (k - kSubBits);  // 1024 .. 2047
    return std::size_t(kExact + std::uint64_t(k - 11) * 1024 + (m - 1024));
  }
  static double value(std::size_t i) {
    if (i < kExact) return double(i);
    std::size_t j = i - kExact;
    int shift = int(j / 1024) + 11 - kSubBits;
    std::uint64_t m = 1024 + j % 1024;
    return double(m << shift) + double(std::uint64_t{1} << shift) / 2;
  }

  std::vector<std::uint64_t> counts_ =
      std::vector<std::uint64_t>(kExact + std::size_t(kMaxBits - 11) * 1024);
  std::uint64_t total_ = 0;
};

// --- the server process, through /proc --------------------------------------------------------

// utime + stime of every thread the process has had, in seconds; NaN if it cannot be read.
double server_cpu_seconds(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return std::nan("");
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  // After the name: state (field 3) ... utime is field 14, stime field 15.
  double utime = 0, stime = 0;
  for (int f = 3; f <= 15 && fields >> field; ++f) {
    if (f == 14) utime = std::strtod(field.c_str(), nullptr);
    if (f == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  if (!fields) return std::nan("");
  return (utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// A "<key>: <n> kB" line of /proc/<pid>/status, in KiB; -1 if absent.
long status_kib(long pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ':') {
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](timeval tv) { return double(tv.tv_sec) + double(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

// --- options -----------------------------------------------------------------------------------

enum class mode { pingpong, streaming, idle };

struct options {
  std::string server;
  long pid = 0;  // 0: no server CPU or memory figures
  mode m = mode::pingpong;
  int conns = 1;
  std::size_t size = 0;  // 0: 64 (pingpong) or 16 KiB (streaming)
  double duration_s = 1.0;
  long roundtrips = 0;  // 0: the duration alone closes the window
  double warmup_s = 0.2;
  std::string name;  // default: from the mode, connections and size
};

constexpr int kMaxConns = 100'000;
constexpr std::size_t kMaxSize = 1 << 20;
constexpr double kMaxSeconds = 600;

void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: echo-loadgen --server 127.0.0.1:PORT|[::1]:PORT [--pid SERVER_PID]\n"
               "         [--mode pingpong|streaming|idle] [--conns N] [--size BYTES]\n"
               "         [--duration S] [--roundtrips N] [--warmup S] [--name NAME]\n");
  std::exit(code);
}

double number(const char* flag, const char* text, double lo, double hi) {
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= lo && v <= hi)) {
    die("%s takes a number from %g to %g, not \"%s\"", flag, lo, hi, text);
  }
  return v;
}

std::string size_name(std::size_t n) {
  if (n >= 1024 && n % 1024 == 0) return std::to_string(n / 1024) + "k";
  return std::to_string(n);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") usage(0);
    if (i + 1 >= argc) usage(2);
    const char* v = argv[++i];
    if (a == "--server") {
      o.server = v;
    } else if (a == "--pid") {
      o.pid = long(number("--pid", v, 1, 1e9));
    } else if (a == "--mode") {
      std::string_view m = v;
      if (m == "pingpong") {
        o.m = mode::pingpong;
      } else if (m == "streaming") {
        o.m = mode::streaming;
      } else if (m == "idle") {
        o.m = mode::idle;
      } else {
        die("--mode takes pingpong, streaming or idle, not \"%s\"", v);
      }
    } else if (a == "--conns") {
      o.conns = int(number("--conns", v, 1, kMaxConns));
    } else if (a == "--size") {
      o.size = std::size_t(number("--size", v, 1, kMaxSize));
    } else if (a == "--duration") {
      o.duration_s = number("--duration", v, 0.01, kMaxSeconds);
    } else if (a == "--roundtrips") {
      o.roundtrips = long(number("--roundtrips", v, 1, 1e12));
    } else if (a == "--warmup") {
      o.warmup_s = number("--warmup", v, 0, kMaxSeconds);
    } else if (a == "--name") {
      o.name = v;
    } else {
      std::fprintf(stderr, "echo-loadgen: unknown option %s\n", argv[i - 1]);
      usage(2);
    }
  }
  if (o.server.empty()) usage(2);
  if (o.size == 0) o.size = o.m == mode::streaming ? 16 * 1024 : 64;
  if (o.name.empty()) {
    switch (o.m) {
      case mode::pingpong:
        o.name = "echo_pp" + std::to_string(o.conns) + "x" + size_name(o.size);
        break;
      case mode::streaming:
        o.name = "echo_stream" + std::to_string(o.conns) + "x" + size_name(o.size);
        break;
      case mode::idle:
        o.name = "echo_idle" + std::to_string(o.conns);
        break;
    }
  }
  return o;
}

// 127.0.0.1:PORT or [::1]:PORT, nothing else: this program only ever talks to its own machine.
sockaddr_storage loopback_address(const std::string& text, socklen_t& len) {
  sockaddr_storage ss{};
  auto colon = text.rfind(':');
  if (colon == std::string::npos) die("--server takes 127.0.0.1:PORT or [::1]:PORT");
  std::string host = text.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) die("bad port in \"%s\"", text.c_str());
  if (host == "127.0.0.1") {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(std::uint16_t(port));
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(sockaddr_in);
  } else if (host == "[::1]") {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(std::uint16_t(port));
    sin6->sin6_addr = in6addr_loopback;
    len = sizeof(sockaddr_in6);
  } else {
    die("--server must be 127.0.0.1:PORT or [::1]:PORT (loopback only), not \"%s\"", text.c_str());
  }
  return ss;
}

// --- connections ---------------------------------------------------------------------------------

constexpr std::size_t kPatternLength = 16411;  // prime, a little over 16 KiB
constexpr std::size_t kReadBuffer = 64 * 1024;
constexpr std::size_t kStreamWindow = 256 * 1024;  // streaming: most unechoed bytes per connection
constexpr int kConnectsInFlight = 256;             // well under the listen backlog of every server
constexpr std::int64_t kSecond = 1'000'000'000;

struct conn {
  int fd = -1;
  enum { connecting, probing, open } state = connecting;
  std::uint64_t sent = 0;     // stream bytes written
  std::uint64_t recvd = 0;    // stream bytes read back (and checked)
  std::uint64_t msg_end = 0;  // pingpong: stream offset where the current message ends
  std::int64_t t0 = 0;        // pingpong: when the current message's write began
  bool out_armed = false;     // pingpong: EPOLLOUT registered (a write was short)
};

class loadgen {
 public:
  explicit loadgen(const options& o) : o_(o), conns_(std::size_t(o.conns)) {
    addr_ = loopback_address(o.server, addr_len_);
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) die("epoll_create1: %s", std::strerror(errno));
    std::size_t extra = std::max(kReadBuffer, o.size);
    pattern_.resize(kPatternLength + extra);
    for (std::size_t i = 0; i < pattern_.size(); ++i) {
      auto x = std::uint32_t(i % kPatternLength) * 2654435761u;
      pattern_[i] = static_cast<unsigned char>(x >> 24);
    }
    rbuf_.resize(kReadBuffer);
  }

  ~loadgen() {
    for (conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(ep_);
  }

  void run() {
    switch (o_.m) {
      case mode::pingpong:
        open_all();
        pingpong();
        break;
      case mode::streaming:
        open_all();
        streaming();
        break;
      case mode::idle:
        idle();
        break;
    }
  }

 private:
  const unsigned char* pattern_at(std::uint64_t offset) const {
    return pattern_.data() + offset % kPatternLength;
  }

  void check(conn& c, const unsigned char* data, std::size_t n) {
    if (std::memcmp(data, pattern_at(c.recvd), n) != 0) {
      die("connection %zu: the echo differs from what was written, within bytes %llu..%llu",
          std::size_t(&c - conns_.data()), (unsigned long long)c.recvd,
          (unsigned long long)(c.recvd + n));
    }
    c.recvd += n;
  }

  void set_events(conn& c, std::uint32_t events, int op = EPOLL_CTL_MOD) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = std::uint32_t(&c - conns_.data());
    if (epoll_ctl(ep_, op, c.fd, &ev) != 0) die("epoll_ctl: %s", std::strerror(errno));
  }

  int wait(epoll_event* evs, int max) {
    int n = epoll_wait(ep_, evs, max, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait: %s", std::strerror(errno));
    return n < 0 ? 0 : n;
  }

  // Exits if the server has exited (a zombie counts: its parent, the runner, has not reaped it).
  void server_alive() const {
    if (o_.pid == 0) return;
    std::ifstream in("/proc/" + std::to_string(o_.pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    char state = close != std::string::npos && close + 2 < text.size() ? text[close + 2] : 'X';
    if (state == 'Z' || state == 'X') die("the server (pid %ld) is gone", o_.pid);
  }

  // A read or write failed: say so, or that the server is gone, which is the likelier reason
  // (a dying process resets its connections a moment before it turns into a zombie).
  [[noreturn]] void io_failed(const char* call) const {
    int err = errno;
    for (int i = 0; i < 10; ++i) {
      server_alive();
      usleep(10'000);
    }
    die("%s: %s", call, std::strerror(err));
  }

  // Connects every connection, at most kConnectsInFlight at a time, each one open once its
  // one-byte probe has come back.
  void open_all() {
    const std::int64_t deadline = now_ns() + 30 * kSecond + std::int64_t(o_.conns) * 2'000'000;
    std::size_t next = 0, open = 0;
    int in_flight = 0;
    std::vector<epoll_event> evs(1024);
    while (open < conns_.size()) {
      while (in_flight < kConnectsInFlight && next < conns_.size()) {
        conn& c = conns_[next++];
        c.fd = socket(addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
          if (errno == EMFILE || errno == ENFILE) {
            rlimit rl{};
            getrlimit(RLIMIT_NOFILE, &rl);
            die("socket: %s after %zu connections (RLIMIT_NOFILE %llu)", std::strerror(errno),
                next - 1, (unsigned long long)rl.rlim_cur);
          }
          die("socket: %s", std::strerror(errno));
        }
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), addr_len_) != 0 &&
            errno != EINPROGRESS) {
          die("connect to %s: %s", o_.server.c_str(), std::strerror(errno));
        }
        set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
        ++in_flight;
      }
      int n = wait(evs.data(), int(evs.size()));
      for (int i = 0; i < n; ++i) {
        conn& c = conns_[evs[i].data.u32];
        if (c.state == conn::connecting) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) die("connect to %s: %s", o_.server.c_str(), std::strerror(err));
          const char probe = 'p';
          if (write(c.fd, &probe, 1) != 1) die("probe write: %s", std::strerror(errno));
          c.state = conn::probing;
          set_events(c, EPOLLIN);
        } else if (c.state == conn::probing) {
          char got = 0;
          ssize_t r = read(c.fd, &got, 1);
          if (r == 0) die("the server closed connection %zu before echoing its probe", open);
          if (r < 0 && errno == EAGAIN) continue;
          if (r < 0) die("probe read: %s", std::strerror(errno));
          if (got != 'p') die("the server echoed '%c' for the probe 'p'", got);
          c.state = conn::open;
          ++open;
          --in_flight;
        }
      }
      if (now_ns() > deadline) {
        server_alive();
        die("only %zu of %d connections opened before the deadline (the server accepts too "
            "slowly, or stopped accepting: look at its output)",
            open, o_.conns);
      }
    }
  }

  struct snapshot {
    std::int64_t wall;
    double server_cpu, self_cpu;
  };
  snapshot take() const {
    return {now_ns(), o_.pid ? server_cpu_seconds(o_.pid) : std::nan(""), self_cpu_seconds()};
  }

  // --- pingpong ----------------------------------------------------------------------------------

  // Writes what is left of the current message; arms EPOLLOUT while some is left.
  void send_rest(conn& c) {
    while (c.sent < c.msg_end) {
      ssize_t w = write(c.fd, pattern_at(c.sent), std::size_t(c.msg_end - c.sent));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) break;
      if (w < 0) io_failed("write");
      c.sent += std::uint64_t(w);
    }
    bool want_out = c.sent < c.msg_end;
    if (want_out != c.out_armed) {
      set_events(c, want_out ? EPOLLIN | EPOLLOUT : EPOLLIN);
      c.out_armed = want_out;
    }
  }

  void start_message(conn& c, std::int64_t t) {
    c.t0 = t;
    c.msg_end = c.sent + o_.size;
    send_rest(c);
  }

  void pingpong() {
    std::vector<epoll_event> evs(1024);
    const std::int64_t start = now_ns();
    const std::int64_t warm_end = start + std::int64_t(o_.warmup_s * 1e9);
    const std::int64_t duration = std::int64_t(o_.duration_s * 1e9);
    std::int64_t end = warm_end + duration;
    for (conn& c : conns_) start_message(c, now_ns());

    histogram hist;
    bool measuring = false, stopping = false;
    std::uint64_t done = 0;
    snapshot first{}, last{};
    std::size_t busy = conns_.size();  // connections with a message under way
    std::int64_t drain_deadline = 0;
    while (busy > 0) {
      int n = wait(evs.data(), int(evs.size()));
      for (int i = 0; i < n; ++i) {
        conn& c = conns_[evs[i].data.u32];
        if ((evs[i].events & EPOLLOUT) && c.sent < c.msg_end) send_rest(c);
        if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
        // At most what is still owed: the server cannot echo what was not written.
        std::size_t want = std::size_t(c.sent - c.recvd);
        if (want == 0) continue;
        ssize_t r = read(c.fd, rbuf_.data(), std::min(want, rbuf_.size()));
        if (r == 0) {
          server_alive();
          die("the server closed a connection in the middle of an echo");
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r < 0) io_failed("read");
        check(c, rbuf_.data(), std::size_t(r));
        if (c.recvd < c.msg_end) continue;
        std::int64_t t = now_ns();
        if (measuring) {
          hist.record(t - c.t0);
          ++done;
        }
        if (stopping) {
          --busy;
        } else {
          start_message(c, t);
        }
      }
      std::int64_t t = now_ns();
      if (!measuring && !stopping && t >= warm_end) {
        measuring = true;
        first = take();
        end = first.wall + duration;
      } else if (measuring &&
                 (t >= end || (o_.roundtrips > 0 && done >= std::uint64_t(o_.roundtrips)))) {
        last = take();
        measuring = false;
        stopping = true;
        drain_deadline = t + 10 * kSecond;
      }
      if (!stopping && t > end + 10 * kSecond) {
        die("no progress: the measured window never closed (is the server stuck?)");
      }
      if (stopping && t > drain_deadline) {
        die("%zu echoes still missing 10 s after the window closed", busy);
      }
      if (n == 0) server_alive();
    }

    double secs = double(last.wall - first.wall) / 1e9;
    std::printf("B9 %s roundtrips_per_s=%.0f", o_.name.c_str(), double(done) / secs);
    if (o_.pid) {
      double server = last.server_cpu - first.server_cpu;
      std::printf(" server_cpu_us_per_roundtrip=%.3f", server * 1e6 / double(done));
    }
    std::printf(" p50_us=%.2f p99_us=%.2f", hist.quantile(0.50) / 1e3, hist.quantile(0.99) / 1e3);
    print_cpu_pct(first, last);
    std::printf("\n");
  }

  void print_cpu_pct(const snapshot& first, const snapshot& last) {
    double secs = double(last.wall - first.wall) / 1e9;
    if (o_.pid)
      std::printf(" server_cpu_pct=%.1f", 100 * (last.server_cpu - first.server_cpu) / secs);
    std::printf(" client_cpu_pct=%.1f", 100 * (last.self_cpu - first.self_cpu) / secs);
  }

  // --- streaming ---------------------------------------------------------------------------------

  // Reads until EAGAIN (the registration is edge-triggered); returns the bytes read.
  std::uint64_t drain_reads(conn& c) {
    std::uint64_t total = 0;
    for (;;) {
      ssize_t r = read(c.fd, rbuf_.data(), rbuf_.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) return total;
      if (r < 0) io_failed("read");
      if (r == 0) {
        server_alive();
        die("the server closed a connection in the middle of the stream");
      }
      if (c.recvd + std::uint64_t(r) > c.sent) die("the server echoed more than was written");
      check(c, rbuf_.data(), std::size_t(r));
      total += std::uint64_t(r);
    }
  }

  // Writes chunks (the rest of a short one first) while the window has room, until EAGAIN.
  void fill_window(conn& c) {
    const std::uint64_t chunk = o_.size;
    while (c.sent - c.recvd + (chunk - c.sent % chunk) <= kStreamWindow) {
      std::size_t len = std::size_t(chunk - c.sent % chunk);
      ssize_t w = write(c.fd, pattern_at(c.sent), len);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EAGAIN) return;
      if (w < 0) io_failed("write");
      c.sent += std::uint64_t(w);
    }
  }

  void streaming() {
    if (o_.size > kStreamWindow) die("streaming: --size is at most %zu", kStreamWindow);
    std::vector<epoll_event> evs(1024);
    for (conn& c : conns_) set_events(c, EPOLLIN | EPOLLOUT | EPOLLET);
    const std::int64_t warm_end = now_ns() + std::int64_t(o_.warmup_s * 1e9);
    const std::int64_t duration = std::int64_t(o_.duration_s * 1e9);
    std::int64_t end = warm_end + duration;
    for (conn& c : conns_) fill_window(c);

    bool measuring = false, stopping = false;
    std::uint64_t bytes = 0;
    snapshot first{}, last{};
    std::int64_t drain_deadline = 0;
    for (;;) {
      int n = wait(evs.data(), int(evs.size()));
      for (int i = 0; i < n; ++i) {
        conn& c = conns_[evs[i].data.u32];
        std::uint64_t got = drain_reads(c);
        if (measuring) bytes += got;
        if (!stopping) fill_window(c);
      }
      std::int64_t t = now_ns();
      if (!measuring && !stopping && t >= warm_end) {
        measuring = true;
        bytes = 0;
        first = take();
        end = first.wall + duration;
      } else if (measuring && t >= end) {
        last = take();
        measuring = false;
        stopping = true;
        drain_deadline = t + 10 * kSecond;
      }
      if (stopping) {
        bool drained = std::all_of(conns_.begin(), conns_.end(),
                                   [](const conn& c) { return c.recvd == c.sent; });
        if (drained) break;
        if (t > drain_deadline) die("echoes still missing 10 s after the window closed");
      }
      if (!stopping && t > end + 10 * kSecond) die("no progress: the window never closed");
      if (n == 0) server_alive();
    }

    double secs = double(last.wall - first.wall) / 1e9;
    double mb = double(bytes) / 1e6;
    std::printf("B9 %s mb_per_s=%.1f", o_.name.c_str(), mb / secs);
    if (o_.pid) {
      std::printf(" server_cpu_us_per_mb=%.1f", (last.server_cpu - first.server_cpu) * 1e6 / mb);
    }
    print_cpu_pct(first, last);
    std::printf("\n");
  }

  // --- idle --------------------------------------------------------------------------------------

  void idle() {
    if (o_.pid == 0) die("idle mode reads the server's memory: it needs --pid");
    long before = status_kib(o_.pid, "VmRSS");
    if (before < 0) die("cannot read VmRSS of pid %ld", o_.pid);
    open_all();
    // Let the server finish whatever its accepts left behind before reading its memory.
    usleep(300'000);
    server_alive();
    long after = status_kib(o_.pid, "VmRSS");
    long hwm = status_kib(o_.pid, "VmHWM");
    std::printf("B9 %s kb_per_idle_conn=%.2f server_rss_mb=%.1f server_vmhwm_mb=%.1f\n",
                o_.name.c_str(), double(after - before) / double(o_.conns), double(after) / 1024,
                double(hwm) / 1024);
  }

  options o_;
  std::vector<conn> conns_;
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  int ep_ = -1;
  std::vector<unsigned char> pattern_;
  std::vector<unsigned char> rbuf_;
};

}  // namespace

int main(int argc, char** argv) {
  options o = parse(argc, argv);
  // Each connection is one descriptor here: take the hard limit (10,000 idle connections need it).
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rlim_t(o.conns) + 16 > rl.rlim_cur) {
    die("%d connections need %d descriptors; RLIMIT_NOFILE is %llu", o.conns, o.conns + 16,
        (unsigned long long)rl.rlim_cur);
  }
  loadgen(o).run();
  std::fflush(stdout);
  return 0;
}
