// tests/net_test.cpp: gopp/net.hpp. Go's net package behaviours, and the faults of
// RELIABILITY.md's "Network and broker faults" that belong to the public layer: close while a
// read or accept is parked (from a goroutine and from a plain thread), deadlines in the past and
// moved while parked, peer reset, half-close, 4 MiB through small socket buffers, connection
// refused, a dial cancelled while its SYN goes unanswered, an fd reused right after close under
// load, fds running out (in a subprocess), 5,000 concurrent loopback connections, plain threads
// and goroutines on one conn, UDP, unix sockets and tcp6.
//
// Every test runs in the fd_checked fixture: at teardown the process has as many open fds
// (/proc/self/fd) and poll descriptors as at the start, and no goroutine left.
#include <gtest/gtest.h>
#include <gopp/gopp.hpp>
#include <gopp/net.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "runtime/netpoll.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
namespace net = gopp::net;
using gopp_test::side;
using gopp_test::what_of;
using clock_type = std::chrono::steady_clock;

// Reads exactly n bytes (or to EOF) and returns them as a string.
std::string read_string(net::conn& c, std::size_t n) {
  std::string s(n, '\0');
  s.resize(c.read_full(std::span(s.data(), s.size())));
  return s;
}

std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
  }
  return n;
}

// The error code and what() of the net::op_error that f throws.
template <class F>
std::pair<std::error_code, std::string> op_error_of(F&& f) {
  try {
    f();
  } catch (const net::op_error& e) {
    return {e.code(), e.what()};
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw something else than net::op_error: " << e.what();
    return {};
  }
  ADD_FAILURE() << "threw nothing";
  return {};
}

// Opens the poller's own fds (epoll, eventfd) once, before any fixture takes its baseline.
class warm_poller : public ::testing::Environment {
 public:
  void SetUp() override {
    net::listener l = net::listen("tcp", "127.0.0.1:0");
    net::conn c = net::dial("tcp", l.addr().to_string());
    net::conn s = l.accept();
  }
};
const auto* const warm = ::testing::AddGlobalTestEnvironment(new warm_poller);

// At teardown: open fds, poll descriptors and goroutines are back to their count at SetUp.
class fd_checked : public gopp_test::leak_checked {
 protected:
  void SetUp() override {
    leak_checked::SetUp();
    fds_ = open_fds();
    descriptors_ = gopp::detail::netpoll::open_count();
  }
  void TearDown() override {
    leak_checked::TearDown();
    const bool fds_back = gopp_test::eventually([&] { return open_fds() <= fds_; });
    EXPECT_TRUE(fds_back) << "fds open at teardown: " << open_fds() << ", at start: " << fds_;
    const bool pds_back =
        gopp_test::eventually([&] { return gopp::detail::netpoll::open_count() <= descriptors_; });
    EXPECT_TRUE(pds_back) << "poll descriptors at teardown: " << gopp::detail::netpoll::open_count()
                          << ", at start: " << descriptors_;
  }

 private:
  std::size_t fds_ = 0, descriptors_ = 0;
};

class Net : public fd_checked {};
class fd_checked_sides : public fd_checked, public ::testing::WithParamInterface<side> {};

// An echo server in the test process: one goroutine accepts, one goroutine per connection echoes
// until the client closes. The destructor closes the listener and waits for every goroutine.
class echo_server {
 public:
  explicit echo_server(std::string_view network = "tcp", std::string_view address = "127.0.0.1:0")
      : ln_(net::listen(network, address)) {
    running_.add(1);
    gopp::go([this] { serve(); });
  }
  ~echo_server() {
    ln_.close();
    running_.wait();
  }
  std::string address() const { return ln_.addr().to_string(); }
  net::listener& listener() { return ln_; }

 private:
  void serve() {
    try {
      for (;;) {
        net::conn c = ln_.accept();
        running_.add(1);
        gopp::go([this, c]() mutable {
          std::array<std::byte, 4096> buf;
          try {
            while (std::size_t n = c.read(buf)) c.write(std::span(buf).first(n));
          } catch (const net::op_error&) {
          }
          c.close();
          running_.done();
        });
      }
    } catch (const net::op_error& e) {
      EXPECT_EQ(e.code(), net::errc::closed) << e.what();
    }
    running_.done();
  }

  net::listener ln_;
  gopp::wait_group running_;
};

// A connected pair over loopback: {client end, server end}.
std::pair<net::conn, net::conn> tcp_pair() {
  net::listener l = net::listen("tcp", "127.0.0.1:0");
  net::conn c = net::dial("tcp", l.addr().to_string());
  net::conn s = l.accept();
  l.close();
  return {c, s};
}

// ---------------------------------------------------------------------------------------------
// Addresses and error texts

TEST(NetAddresses, SplitHostPortFollowsGo) {
  EXPECT_EQ(net::split_host_port("127.0.0.1:80"),
            std::make_pair(std::string("127.0.0.1"), std::string("80")));
  EXPECT_EQ(net::split_host_port("[::1]:80"),
            std::make_pair(std::string("::1"), std::string("80")));
  EXPECT_EQ(net::split_host_port(":0"), std::make_pair(std::string(""), std::string("0")));
  EXPECT_EQ(net::split_host_port("localhost:http"),
            std::make_pair(std::string("localhost"), std::string("http")));
  EXPECT_EQ(what_of<std::invalid_argument>([] { net::split_host_port("127.0.0.1"); }),
            "address 127.0.0.1: missing port in address");
  EXPECT_EQ(what_of<std::invalid_argument>([] { net::split_host_port("::1:80"); }),
            "address ::1:80: too many colons in address");
  EXPECT_EQ(what_of<std::invalid_argument>([] { net::split_host_port("[::1:80"); }),
            "address [::1:80: missing ']' in address");
  EXPECT_EQ(what_of<std::invalid_argument>([] { net::split_host_port("[::1]"); }),
            "address [::1]: missing port in address");
  EXPECT_EQ(net::join_host_port("::1", "80"), "[::1]:80");
  EXPECT_EQ(net::join_host_port("127.0.0.1", "80"), "127.0.0.1:80");
}

TEST(NetAddresses, ResolveAddrGivesGoStrings) {
  const net::addr a = net::resolve_addr("tcp", "127.0.0.1:8080");
  EXPECT_EQ(a.network(), "tcp");
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(a.ip(), "127.0.0.1");
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(net::resolve_addr("udp6", "[::1]:53").to_string(), "[::1]:53");
  EXPECT_EQ(net::resolve_addr("unix", "/tmp/x.sock").to_string(), "/tmp/x.sock");
  EXPECT_EQ(net::resolve_addr("tcp4", "localhost:7").to_string(), "127.0.0.1:7");
  if (::access("/etc/services", R_OK) == 0) {
    EXPECT_EQ(net::resolve_addr("tcp", "127.0.0.1:http").port(), 80);
  }
}

TEST(NetAddresses, BadAddressesAndNetworksGetGoTexts) {
  auto [code, text] = op_error_of([] { net::dial("tcp", "127.0.0.1"); });
  EXPECT_EQ(code, std::errc::invalid_argument);
  EXPECT_EQ(text, "dial tcp: address 127.0.0.1: missing port in address");
  std::tie(code, text) = op_error_of([] { net::dial("tcp", "127.0.0.1:70000"); });
  EXPECT_EQ(text, "dial tcp: address 70000: invalid port");
  std::tie(code, text) = op_error_of([] { net::dial("sctp", "127.0.0.1:80"); });
  EXPECT_EQ(code, std::errc::invalid_argument);
  EXPECT_EQ(text, "dial sctp: unknown network sctp");
  std::tie(code, text) = op_error_of([] { net::listen("udp", "127.0.0.1:0"); });
  EXPECT_EQ(text, "listen udp: unknown network udp");
}

TEST(NetErrors, CategoryAndEquivalences) {
  const std::error_code timeout = net::errc::timeout;
  EXPECT_STREQ(timeout.category().name(), "gopp.net");
  EXPECT_EQ(timeout.message(), "i/o timeout");
  EXPECT_EQ(timeout, std::errc::timed_out);
  EXPECT_EQ(std::error_code(net::errc::closed).message(), "use of closed network connection");
  EXPECT_NE(std::error_code(net::errc::closed), std::errc::timed_out);
}

TEST(NetErrors, EmptyHandlesThrowClosed) {
  net::conn c;
  EXPECT_FALSE(c);
  std::array<std::byte, 4> buf;
  auto [code, text] = op_error_of([&] { c.read(buf); });
  EXPECT_EQ(code, net::errc::closed);
  EXPECT_EQ(text, "read: use of closed network connection");
  EXPECT_TRUE(c.remote_addr().empty());
  c.close();  // does nothing
}

// ---------------------------------------------------------------------------------------------
// Echo

class NetEcho : public fd_checked_sides {};

// The client runs on a goroutine or a plain thread; the server is goroutines.
TEST_P(NetEcho, RoundTripsAndAddresses) {
  echo_server server;
  const std::string address = server.address();
  gopp_test::task client = gopp_test::start(GetParam(), [address] {
    net::conn c = net::dial("tcp", address);
    EXPECT_EQ(c.remote_addr().to_string(), address);
    EXPECT_EQ(c.remote_addr().network(), "tcp");
    EXPECT_EQ(c.local_addr().ip(), "127.0.0.1");
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    ::getsockopt(c.native_handle(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len);
    EXPECT_NE(nodelay, 0) << "TCP_NODELAY is the default";
    EXPECT_TRUE(::fcntl(c.native_handle(), F_GETFD) & FD_CLOEXEC);
    for (int i = 0; i < 100; ++i) {
      const std::string msg = "message " + std::to_string(i);
      c.write(msg);
      EXPECT_EQ(read_string(c, msg.size()), msg);
    }
    c.close_write();
    std::array<std::byte, 16> buf;
    EXPECT_EQ(c.read(buf), 0u) << "the server closes after our half-close: end of file";
    c.close();
  });
  client.join();
}

TEST_P(NetEcho, LocalhostNameIsResolved) {
  echo_server server;
  const std::string port = std::to_string(server.listener().addr().port());
  gopp_test::start(GetParam(), [port] {
    net::conn c = net::dial("tcp", "localhost:" + port);
    EXPECT_EQ(c.remote_addr().to_string(), "127.0.0.1:" + port);
    c.write("hi");
    EXPECT_EQ(read_string(c, 2), "hi");
  }).join();
}

GOPP_INSTANTIATE_SIDES(NetEcho);

TEST_F(Net, AcceptedConnSeesTheDialersAddresses) {
  auto [c, s] = tcp_pair();
  EXPECT_EQ(s.remote_addr(), c.local_addr());
  EXPECT_EQ(s.local_addr(), c.remote_addr());
}

// ---------------------------------------------------------------------------------------------
// Close while parked

class NetClose : public fd_checked_sides {};

// A goroutine parks in read(); close() from a goroutine or a thread wakes it at once with Go's
// text, and the fd is released.
TEST_P(NetClose, CloseWakesAParkedRead) {
  auto [c, s] = tcp_pair();
  const std::string endpoints = c.local_addr().to_string() + "->" + c.remote_addr().to_string();
  std::atomic<bool> returned{false};
  std::pair<std::error_code, std::string> got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, c]() mutable {
    std::array<std::byte, 16> buf;
    got = op_error_of([&] { c.read(buf); });
    returned = true;
    wg.done();
  });
  gopp_test::settle();
  EXPECT_FALSE(returned) << "the read did not park";
  const auto start = clock_type::now();
  gopp_test::start(GetParam(), [c]() mutable { c.close(); }).join();
  wg.wait();
  EXPECT_LT(clock_type::now() - start, 2s);
  EXPECT_EQ(got.first, net::errc::closed);
  EXPECT_EQ(got.second, "read tcp " + endpoints + ": use of closed network connection");
}

TEST_P(NetClose, CloseWakesAParkedAccept) {
  net::listener l = net::listen("tcp", "127.0.0.1:0");
  const std::string address = l.addr().to_string();
  std::pair<std::error_code, std::string> got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, l]() mutable {
    got = op_error_of([&] { l.accept(); });
    wg.done();
  });
  gopp_test::settle();
  const auto start = clock_type::now();
  gopp_test::start(GetParam(), [l]() mutable { l.close(); }).join();
  wg.wait();
  EXPECT_LT(clock_type::now() - start, 2s);
  EXPECT_EQ(got.first, net::errc::closed);
  EXPECT_EQ(got.second, "accept tcp " + address + ": use of closed network connection");
  // A closed listener's port is free again for a new one (SO_REUSEADDR, nothing left behind).
  net::listener again = net::listen("tcp", address);
}

// The reader is a plain thread blocked in the kernel; a goroutine or another thread closes.
TEST_P(NetClose, CloseWakesAThreadBlockedInRead) {
  auto [c, s] = tcp_pair();
  std::pair<std::error_code, std::string> got;
  std::thread reader([&, c]() mutable {
    std::array<std::byte, 16> buf;
    got = op_error_of([&] { c.read(buf); });
  });
  gopp_test::settle();
  gopp_test::start(GetParam(), [c]() mutable { c.close(); }).join();
  reader.join();
  EXPECT_EQ(got.first, net::errc::closed);
}

GOPP_INSTANTIATE_SIDES(NetClose);

// ---------------------------------------------------------------------------------------------
// Deadlines

TEST_F(Net, DeadlineInThePastFailsAtOnce) {
  auto [c, s] = tcp_pair();
  const std::string endpoints = c.local_addr().to_string() + "->" + c.remote_addr().to_string();
  c.set_read_deadline(clock_type::now() - 1s);
  std::array<std::byte, 16> buf;
  const auto start = clock_type::now();
  auto [code, text] = op_error_of([&] { c.read(buf); });
  EXPECT_LT(clock_type::now() - start, 1s);
  EXPECT_EQ(code, net::errc::timeout);
  EXPECT_EQ(code, std::errc::timed_out) << "Go's Timeout()";
  EXPECT_EQ(text, "read tcp " + endpoints + ": i/o timeout");
  // Writes have their own deadline; removing the read deadline makes reads work again.
  c.write("x");
  c.set_read_deadline(net::no_deadline);
  EXPECT_EQ(read_string(s, 1), "x");
  s.write("y");
  EXPECT_EQ(read_string(c, 1), "y");
  c.set_deadline(clock_type::time_point{});  // Go's zero Time: none
  s.write("z");
  EXPECT_EQ(read_string(c, 1), "z");
}

TEST_F(Net, DeadlineMovedEarlierWhileParked) {
  auto [c, s] = tcp_pair();
  c.set_read_deadline(1h);
  std::pair<std::error_code, std::string> got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, c]() mutable {
    std::array<std::byte, 16> buf;
    got = op_error_of([&] { c.read(buf); });
    wg.done();
  });
  gopp_test::settle();
  const auto start = clock_type::now();
  c.set_read_deadline(50ms);
  wg.wait();
  const auto waited = clock_type::now() - start;
  EXPECT_GE(waited, 40ms);
  EXPECT_LT(waited, 5s);
  EXPECT_EQ(got.first, net::errc::timeout);
}

TEST_F(Net, DeadlineRemovedWhileParked) {
  auto [c, s] = tcp_pair();
  c.set_read_deadline(gopp_test::settle_time() * 5);
  std::string got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, c]() mutable {
    got = read_string(c, 5);
    wg.done();
  });
  gopp_test::settle();
  c.set_read_deadline(net::no_deadline);
  gopp::sleep_for(gopp_test::settle_time() * 10);  // well past the old deadline
  s.write("hello");
  wg.wait();
  EXPECT_EQ(got, "hello");
}

TEST_F(Net, AcceptDeadline) {
  net::listener l = net::listen("tcp", "127.0.0.1:0");
  l.set_deadline(clock_type::now() + 30ms);
  auto [code, text] = op_error_of([&] { l.accept(); });
  EXPECT_EQ(code, net::errc::timeout);
  EXPECT_EQ(text, "accept tcp " + l.addr().to_string() + ": i/o timeout");
}

// A writer parked on a full socket buffer (the peer reads nothing) is ended by its write
// deadline, and by close() from elsewhere.
TEST_F(Net, WriteDeadlineEndsAWriteParkedOnAFullBuffer) {
  auto [c, s] = tcp_pair();
  const int small = 4096;
  ::setsockopt(c.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const std::string endpoints = c.local_addr().to_string() + "->" + c.remote_addr().to_string();
  const std::vector<std::byte> big(8 << 20);
  const auto start = clock_type::now();
  c.set_write_deadline(start + 100ms);
  auto [code, text] = op_error_of([&] { c.write(big); });
  EXPECT_GE(clock_type::now() - start, 80ms);
  EXPECT_EQ(code, net::errc::timeout);
  EXPECT_EQ(text, "write tcp " + endpoints + ": i/o timeout");
}

TEST_F(Net, CloseWakesAWriteParkedOnAFullBuffer) {
  auto [c, s] = tcp_pair();
  const std::vector<std::byte> big(8 << 20);
  std::error_code got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, c]() mutable {
    got = op_error_of([&] { c.write(big); }).first;
    wg.done();
  });
  gopp_test::settle();
  c.close();
  wg.wait();
  EXPECT_EQ(got, net::errc::closed);
}

// The worked example at the top of gopp/net.hpp, as written there.
TEST_F(Net, HeaderBannerExample) {
  net::listener ln = net::listen("tcp", "127.0.0.1:0");
  gopp::wait_group served;
  served.add(1);
  gopp::go([ln, &served]() mutable {
    gopp::net::conn c = ln.accept();
    gopp::go([c, &served]() mutable {
      std::array<std::byte, 4096> buf;
      while (std::size_t n = c.read(buf)) {
        c.write(std::span(buf).first(n));
      }
      c.close();
      served.done();
    });
  });
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), std::chrono::seconds(2));
  gopp::net::conn c = gopp::net::dial(ctx, "tcp", ln.addr().to_string());
  c.set_deadline(*ctx.deadline());
  c.write("ping");
  char reply[4];
  EXPECT_EQ(c.read_full(std::span(reply)), 4u);
  EXPECT_EQ(std::string(reply, 4), "ping");
  cancel();
  c.close();
  served.wait();
}

// ---------------------------------------------------------------------------------------------
// Peer faults

TEST_F(Net, PeerResetIsAnErrorNotEof) {
  auto [c, s] = tcp_pair();
  const linger lg{1, 0};  // close() sends RST instead of FIN
  ASSERT_EQ(::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  s.close();
  std::array<std::byte, 16> buf;
  auto [code, text] = op_error_of([&] { c.read(buf); });
  EXPECT_EQ(code, std::errc::connection_reset);
  EXPECT_NE(text.find("read: connection reset by peer"), std::string::npos) << text;
  // Writing to a reset connection is an error (EPIPE or ECONNRESET), never a SIGPIPE.
  std::tie(code, text) = op_error_of([&] {
    for (int i = 0; i < 100; ++i) c.write("after reset");
  });
  EXPECT_TRUE(code == std::errc::broken_pipe || code == std::errc::connection_reset) << text;
}

TEST_F(Net, HalfCloseLetsThePeerFinish) {
  auto [c, s] = tcp_pair();
  c.write("request");
  c.close_write();
  EXPECT_EQ(read_string(s, 100), "request") << "read_full stops at end of file";
  std::array<std::byte, 4> buf;
  EXPECT_EQ(s.read(buf), 0u) << "end of file again";
  s.write("response");
  s.close();
  EXPECT_EQ(read_string(c, 100), "response");
  // After the half-close, writes fail: "write: broken pipe".
  auto [code, text] = op_error_of([&] { c.write("more"); });
  EXPECT_EQ(code, std::errc::broken_pipe);
  EXPECT_NE(text.find("write: broken pipe"), std::string::npos) << text;
}

TEST_F(Net, FourMiBThroughSmallSocketBuffers) {
  auto [c, s] = tcp_pair();
  // The writer's buffer is tiny, so one write() is many partial writes. The reader's is larger:
  // with a 4 KiB receive window loopback TCP crawls (delayed ACKs against silly-window
  // avoidance: 80 s for 4 MiB), whatever the poller does.
  const int small = 4096;
  const int rcv = 16384;
  ::setsockopt(c.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  const std::size_t size = 4 << 20;
  std::vector<std::byte> data(size);
  for (std::size_t i = 0; i < size; ++i)
    data[i] = static_cast<std::byte>((i * 7 + i / 4096) & 0xff);
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, c]() mutable {
    c.write(data);  // one call: many partial writes inside
    c.close_write();
    wg.done();
  });
  std::vector<std::byte> got;
  std::array<std::byte, 1000> buf;  // an odd size, so reads and writes do not line up
  while (std::size_t n = s.read(buf)) got.insert(got.end(), buf.begin(), buf.begin() + n);
  wg.wait();
  ASSERT_EQ(got.size(), size);
  EXPECT_TRUE(got == data);
}

TEST_F(Net, ConnectToAClosedPortIsRefused) {
  std::string address;
  {
    net::listener l = net::listen("tcp", "127.0.0.1:0");
    address = l.addr().to_string();
  }
  auto [code, text] = op_error_of([&] { net::dial("tcp", address); });
  EXPECT_EQ(code, std::errc::connection_refused);
  EXPECT_EQ(text, "dial tcp " + address + ": connect: connection refused");
}

// A port whose SYNs go unanswered: a raw listening socket with backlog 0 that never accepts.
// Linux queues backlog + 1 connections; once that is full it drops further SYNs, so a connect to
// it stays in SYN_SENT (the kernel retries for about two minutes). The fixture fills the queue
// with dials that succeed, until one times out.
class full_backlog {
 public:
  full_backlog() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof in;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&in), len) != 0 || ::listen(fd_, 0) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&in), &len) != 0) {
      ADD_FAILURE() << "raw listener";
    }
    address_ = "127.0.0.1:" + std::to_string(ntohs(in.sin_port));
    for (int i = 0; i < 64; ++i) {
      try {
        queued_.push_back(net::dial_timeout("tcp", address_, 200ms));
      } catch (const net::op_error& e) {
        EXPECT_EQ(e.code(), net::errc::timeout) << e.what();
        full_ = true;
        break;
      }
    }
    EXPECT_TRUE(full_) << "the backlog never filled";
  }
  ~full_backlog() {
    for (auto& c : queued_) c.close();
    ::close(fd_);
  }
  const std::string& address() const { return address_; }

 private:
  int fd_ = -1;
  std::string address_;
  std::vector<net::conn> queued_;
  bool full_ = false;
};

TEST_F(Net, DialCancelledByItsContextWhileTheSynIsUnanswered) {
  full_backlog target;
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  std::pair<std::error_code, std::string> got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, ctx = ctx] {
    got = op_error_of([&] { net::dial(ctx, "tcp", target.address()); });
    wg.done();
  });
  gopp_test::settle();
  const auto start = clock_type::now();
  cancel();
  wg.wait();
  EXPECT_LT(clock_type::now() - start, 2s);
  EXPECT_EQ(got.first, gopp::errc::canceled);
  EXPECT_EQ(got.second, "dial tcp " + target.address() + ": operation was canceled");
}

TEST_F(Net, DialEndsAtItsContextsDeadline) {
  full_backlog target;
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 100ms);
  const auto start = clock_type::now();
  auto [code, text] = op_error_of([&, ctx = ctx] { net::dial(ctx, "tcp", target.address()); });
  const auto took = clock_type::now() - start;
  cancel();
  EXPECT_GE(took, 80ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(code, gopp::errc::deadline_exceeded);
  EXPECT_EQ(code, std::errc::timed_out);
  EXPECT_EQ(text, "dial tcp " + target.address() + ": i/o timeout");
}

TEST_F(Net, DialTimeoutIsAnIoTimeout) {
  full_backlog target;
  auto [code, text] = op_error_of([&] { net::dial_timeout("tcp", target.address(), 100ms); });
  EXPECT_EQ(code, net::errc::timeout);
  EXPECT_EQ(text, "dial tcp " + target.address() + ": i/o timeout");
}

TEST_F(Net, DialWithAnEndedContextFailsWithoutConnecting) {
  echo_server server;
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  cancel();
  auto [code, text] = op_error_of([&, ctx = ctx] { net::dial(ctx, "tcp", server.address()); });
  EXPECT_EQ(code, gopp::errc::canceled);
}

// ---------------------------------------------------------------------------------------------
// fd reuse

// Close a conn that has a parked reader and at once open another, which usually takes the same
// fd number, while other connections keep the poller busy. A late event for the old fd must
// never complete a read on the new one: the new conn's reader sees only its own bytes, and with
// nothing sent it times out.
TEST_F(Net, FdReusedRightAfterCloseGetsNoStaleEvent) {
  echo_server server;
  std::atomic<bool> stop{false};
  gopp::wait_group load;
  for (int i = 0; i < 4; ++i) {  // background traffic
    load.add(1);
    gopp::go([&] {
      net::conn c = net::dial("tcp", server.address());
      std::array<std::byte, 64> buf{};
      while (!stop) {
        c.write(buf);
        c.read_full(buf);
      }
      load.done();
    });
  }
  const std::size_t rounds = gopp_test::scaled(200, 20);
  std::size_t reused = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    auto [a, a_peer] = tcp_pair();
    const int old_fd = a.native_handle();
    gopp::wait_group parked;
    parked.add(1);
    gopp::go([&parked, a]() mutable {
      std::array<std::byte, 8> buf;
      try {  // the bytes below may arrive before the close: only the new conn is checked
        while (a.read(buf) > 0) {
        }
      } catch (const net::op_error& e) {
        EXPECT_EQ(e.code(), net::errc::closed) << e.what();
      }
      parked.done();
    });
    gopp::yield();
    a_peer.write("stale?");  // an event for the old fd, racing with its close
    a.close();
    a_peer.close();
    parked.wait();
    auto [b, b_peer] = tcp_pair();
    if (b.native_handle() == old_fd || b_peer.native_handle() == old_fd) ++reused;
    b.set_read_deadline(5ms);
    std::array<std::byte, 8> buf;
    auto [code, text] = op_error_of([&] { b.read(buf); });
    EXPECT_EQ(code, net::errc::timeout) << "round " << r << ": " << text;
    b.set_read_deadline(net::no_deadline);
    b_peer.write("fresh");
    EXPECT_EQ(read_string(b, 5), "fresh");
  }
  stop = true;
  load.wait();
  std::printf("[          ] %zu of %zu rounds reused the closed fd number\n", reused, rounds);
}

// ---------------------------------------------------------------------------------------------
// Threads and goroutines on one conn

// Two threads and two goroutines write records of 8 bytes through one conn: each write() is
// whole (never interleaved with another's bytes) and each writer's records arrive in order.
// Then a thread and a goroutine read one stream concurrently, and between them get every byte.
TEST_F(Net, PlainThreadsAndGoroutinesShareOneConn) {
  auto [c, s] = tcp_pair();
  const std::uint32_t per_writer = static_cast<std::uint32_t>(gopp_test::scaled(2000, 100));
  auto writer = [c, per_writer](std::uint32_t id) mutable {
    for (std::uint32_t seq = 0; seq < per_writer; ++seq) {
      std::array<std::uint32_t, 2> rec{id, seq};
      c.write(std::as_bytes(std::span(rec)));
    }
  };
  std::vector<gopp_test::task> writers;
  writers.push_back(gopp_test::start(side::thread, [=]() mutable { writer(0); }));
  writers.push_back(gopp_test::start(side::thread, [=]() mutable { writer(1); }));
  writers.push_back(gopp_test::start(side::goroutine, [=]() mutable { writer(2); }));
  writers.push_back(gopp_test::start(side::goroutine, [=]() mutable { writer(3); }));
  std::array<std::uint32_t, 4> next{};
  for (std::uint32_t i = 0; i < 4 * per_writer; ++i) {
    std::array<std::uint32_t, 2> rec{};
    ASSERT_EQ(s.read_full(std::as_writable_bytes(std::span(rec))), 8u);
    ASSERT_LT(rec[0], 4u) << "a torn record";
    ASSERT_EQ(rec[1], next[rec[0]]) << "writer " << rec[0] << " out of order";
    ++next[rec[0]];
  }
  for (auto& w : writers) w.join();

  const std::size_t total = 1 << 20;
  std::atomic<std::size_t> got{0};
  auto reader = [c, &got]() mutable {
    std::array<std::byte, 777> buf;
    while (std::size_t n = c.read(buf)) got += n;
  };
  auto r1 = gopp_test::start(side::thread, reader);
  auto r2 = gopp_test::start(side::goroutine, reader);
  s.write(std::vector<std::byte>(total));
  s.close();
  r1.join();
  r2.join();
  EXPECT_EQ(got.load(), total);
}

// ---------------------------------------------------------------------------------------------
// Many connections

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now.
rlim_t raise_fd_limit() {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

// 5,000 connections (both ends here: 10,000 fds) open at once, each echoing once while all are
// open, then all closed.
TEST_F(Net, FiveThousandConcurrentLoopbackConnections) {
  const rlim_t limit = raise_fd_limit();
  std::size_t n = gopp_test::scaled(5000, 50);
  if (2 * n + 200 > limit) {
    n = (limit - 200) / 2;
    std::printf("[          ] RLIMIT_NOFILE is %llu: %zu connections only\n",
                static_cast<unsigned long long>(limit), n);
  }
  echo_server server;
  const std::string address = server.address();
  gopp::wait_group echoed, finished;
  gopp::chan<std::monostate> release;
  std::atomic<std::size_t> failures{0};
  for (std::size_t i = 0; i < n; ++i) {
    echoed.add(1);
    finished.add(1);
    gopp::go([&, i] {
      bool counted = false;
      try {
        net::conn c = net::dial("tcp", address);
        const std::string msg = "conn " + std::to_string(i);
        c.write(msg);
        if (read_string(c, msg.size()) != msg) ++failures;
        echoed.done();
        counted = true;
        release.recv();  // hold the conn open until every one has echoed
        c.close();
      } catch (const std::exception& e) {
        if (failures++ < 5) ADD_FAILURE() << "connection " << i << ": " << e.what();
        if (!counted) echoed.done();
      }
      finished.done();
    });
  }
  echoed.wait();
  const std::size_t open_now = open_fds();
  release.close();
  finished.wait();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GE(open_now, 2 * n) << "the connections were not all open at once";
}

// ---------------------------------------------------------------------------------------------
// fds run out (in a child process, whose RLIMIT_NOFILE is lowered)

class NetSubprocess : public fd_checked {
 protected:
  void SetUp() override {
    ::testing::FLAGS_gtest_death_test_style = "threadsafe";
    fd_checked::SetUp();
  }
};

#define CHILD_CHECK(cond, ...)                    \
  do {                                            \
    if (!(cond)) {                                \
      std::fprintf(stderr, "FAILED: " #cond " "); \
      std::fprintf(stderr, __VA_ARGS__);          \
      std::fprintf(stderr, "\n");                 \
      std::_Exit(1);                              \
    }                                             \
  } while (0)

[[noreturn]] void run_out_of_fds() {
  ::alarm(60);
  net::listener l = net::listen("tcp", "127.0.0.1:0");
  net::conn client = net::dial("tcp", l.addr().to_string());  // queued, not yet accepted
  // UBSan's vptr check (asan preset) tests memory through a pipe on a type-cache miss, and with
  // no fd left it reports every object as having an invalid vptr. Fill its cache first by
  // catching and reading an op_error with a system error code, as the checks below will.
  try {
    net::dial("tcp", "127.0.0.1:1");
  } catch (const net::op_error& e) {
    CHILD_CHECK(e.code() != std::errc::too_many_files_open && e.what()[0] != '\0', "warm-up");
  }
  // Lower the limit just above the fds open now, then use up the rest.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  int highest = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) highest = fd;
  }
  rl.rlim_cur = static_cast<rlim_t>(highest + 8);
  CHILD_CHECK(::setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
  std::vector<int> filler;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);
  CHILD_CHECK(!filler.empty(), "no filler fds");

  std::string text;
  std::error_code code;
  try {
    l.accept();
  } catch (const net::op_error& e) {
    text = e.what();
    code = e.code();
  }
  const std::string want = "accept tcp " + l.addr().to_string() +
                           ": accept4: too many open files (RLIMIT_NOFILE is " +
                           std::to_string(rl.rlim_cur) + ")";
  CHILD_CHECK(text == want, "got \"%s\", want \"%s\"", text.c_str(), want.c_str());
  CHILD_CHECK(code == std::errc::too_many_files_open, "code %d", code.value());
  try {
    net::dial("tcp", l.addr().to_string());
    CHILD_CHECK(false, "a dial with no fd left succeeded");
  } catch (const net::op_error& e) {
    CHILD_CHECK(std::string(e.what()).find(": socket: too many open files (RLIMIT_NOFILE is ") !=
                    std::string::npos,
                "dial: %s", e.what());
  }
  // Free fds: the same listener serves the waiting client.
  for (int i = 0; i < 2; ++i) {
    ::close(filler.back());
    filler.pop_back();
  }
  net::conn served = l.accept();
  client.write("still serving");
  std::string got(13, '\0');
  served.read_full(std::span(got.data(), got.size()));
  CHILD_CHECK(got == "still serving", "got \"%s\"", got.c_str());
  std::fflush(stderr);
  std::_Exit(0);
}

TEST_F(NetSubprocess, FdsRunningOutGiveAClearErrorAndTheListenerKeepsServing) {
  EXPECT_EXIT(run_out_of_fds(), ::testing::ExitedWithCode(0), "");
}

// ---------------------------------------------------------------------------------------------
// UDP, unix sockets, IPv6

TEST_F(Net, UdpReadFromAndWriteTo) {
  net::packet_conn a = net::listen_packet("udp", "127.0.0.1:0");
  net::packet_conn b = net::listen_packet("udp4", "127.0.0.1:0");
  EXPECT_EQ(a.local_addr().network(), "udp");
  EXPECT_EQ(a.write_to("ping", b.local_addr()), 4u);
  std::array<char, 64> buf;
  auto [n, from] = b.read_from(buf);
  EXPECT_EQ(std::string(buf.data(), n), "ping");
  EXPECT_EQ(from, a.local_addr());
  b.write_to("pong", from);
  auto [m, from_b] = a.read_from(buf);
  EXPECT_EQ(std::string(buf.data(), m), "pong");
  EXPECT_EQ(from_b.to_string(), b.local_addr().to_string());

  a.set_read_deadline(clock_type::now() + 20ms);
  auto [code, text] = op_error_of([&] { a.read_from(buf); });
  EXPECT_EQ(code, net::errc::timeout);
  EXPECT_EQ(text, "read udp " + a.local_addr().to_string() + ": i/o timeout");

  // A dialed ("connected") UDP socket is a conn.
  net::conn c = net::dial("udp", b.local_addr().to_string());
  c.write("via conn");
  auto [k, from_c] = b.read_from(buf);
  EXPECT_EQ(std::string(buf.data(), k), "via conn");
  EXPECT_EQ(from_c, c.local_addr());
}

TEST_F(Net, UdpCloseWakesAParkedReadFrom) {
  net::packet_conn a = net::listen_packet("udp", "127.0.0.1:0");
  std::error_code got;
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&, a]() mutable {
    std::array<std::byte, 16> buf;
    got = op_error_of([&] { a.read_from(buf); }).first;
    wg.done();
  });
  gopp_test::settle();
  a.close();
  wg.wait();
  EXPECT_EQ(got, net::errc::closed);
}

std::string temp_socket_path(const char* name) {
  return "/tmp/gopp_net_test_" + std::to_string(::getpid()) + "_" + name;
}

TEST_F(Net, UnixSocketsEchoAndTheListenerRemovesOnlyItsFile) {
  const std::string path = temp_socket_path("echo.sock");
  {
    echo_server server("unix", path);
    EXPECT_EQ(server.address(), path);
    EXPECT_EQ(server.listener().addr().network(), "unix");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    net::conn c = net::dial("unix", path);
    EXPECT_EQ(c.remote_addr().to_string(), path);
    c.write("over unix");
    EXPECT_EQ(read_string(c, 9), "over unix");
    // A second listen on the same path fails and leaves the file alone.
    auto [code, text] = op_error_of([&] { net::listen("unix", path); });
    EXPECT_EQ(code, std::errc::address_in_use);
    EXPECT_EQ(text, "listen unix " + path + ": bind: address already in use");
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
    c.close();
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the listener's close() removes its socket file";

  // A path that is not ours: listen fails, and the file stays.
  const std::string mine = temp_socket_path("regular_file");
  std::FILE* f = std::fopen(mine.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_EQ(op_error_of([&] { net::listen("unix", mine); }).first, std::errc::address_in_use);
  EXPECT_EQ(::access(mine.c_str(), F_OK), 0);
  ::unlink(mine.c_str());
}

TEST_F(Net, UnixAbstractNamespace) {
  const std::string name = "@gopp_net_test_" + std::to_string(::getpid());
  echo_server server("unix", name);
  EXPECT_EQ(server.address(), name);
  net::conn c = net::dial("unix", name);
  c.write("abstract");
  EXPECT_EQ(read_string(c, 8), "abstract");
}

bool have_ipv6_loopback() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&in6), sizeof in6) == 0;
  ::close(fd);
  return ok;
}

TEST_F(Net, Tcp6OnLoopback) {
  if (!have_ipv6_loopback()) {
    std::printf("[  SKIPPED ] this machine has no IPv6 loopback (::1 cannot be bound)\n");
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  }
  echo_server server("tcp6", "[::1]:0");
  const std::string address = server.address();
  EXPECT_EQ(address.rfind("[::1]:", 0), 0u) << address;
  net::conn c = net::dial("tcp6", address);
  EXPECT_EQ(c.remote_addr().to_string(), address);
  c.write("six");
  EXPECT_EQ(read_string(c, 3), "six");
  // "tcp4" cannot reach an IPv6 literal.
  EXPECT_EQ(op_error_of([&] { net::dial("tcp4", address); }).first, net::errc::no_such_host);
}

TEST_F(Net, DualStackWildcardListenerTakesIpv4) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  echo_server server("tcp", ":0");
  const int port = server.listener().addr().port();
  EXPECT_EQ(server.address(), "[::]:" + std::to_string(port));
  net::conn c = net::dial("tcp", "127.0.0.1:" + std::to_string(port));
  c.write("v4");
  EXPECT_EQ(read_string(c, 2), "v4");
}

}  // namespace
