// Tests of the network poller and poll_fd (src/runtime/netpoll.hpp, src/net/poll_fd.hpp), on
// socketpairs: waits park goroutines (never their threads), events wake them, close and
// deadlines wake them with the right error, plain threads use the same descriptors, nothing
// leaks. The public gopp::net layer on top has its own tests (net_test.cpp).
#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "gopp/gopp.hpp"
#include "net/poll_fd.hpp"
#include "runtime/netpoll.hpp"
#include "test_support.hpp"

namespace {

using gopp::detail::io_mode;
using gopp::detail::poll_fd;
using gopp_test::scaled;
using namespace std::chrono_literals;

std::size_t open_fd_count() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

struct pair_of_fds {
  std::shared_ptr<poll_fd> a, b;
};

pair_of_fds make_pair_of_fds(int sndbuf = 0) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw std::runtime_error("socketpair");
  if (sndbuf > 0) {
    for (int fd : sv) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf);
    }
  }
  return {std::make_shared<poll_fd>(sv[0]), std::make_shared<poll_fd>(sv[1])};
}

// Every test leaves no descriptor and no fd behind.
class Netpoll : public ::testing::Test {
 protected:
  void SetUp() override {
    fds_before_ = open_fd_count();
    descs_before_ = gopp::detail::netpoll::open_count();
  }
  void TearDown() override {
    // A goroutine of the test may still hold the last reference for a moment after the test's
    // last check (a closer that has woken the reader but not yet returned).
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (gopp::detail::netpoll::open_count() != descs_before_ &&
           std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(gopp::detail::netpoll::open_count(), descs_before_);
    // The runtime's own poller fds (epoll, eventfd) appear with the first descriptor ever opened.
    if (descs_before_ > 0 || fds_before_ > 0) {
      const std::size_t after = open_fd_count();
      EXPECT_LE(after, fds_before_ + 2);
    }
  }
  std::size_t fds_before_ = 0, descs_before_ = 0;
};

TEST_F(Netpoll, ReadParksTheGoroutineUntilThePeerWrites) {
  auto p = make_pair_of_fds();
  gopp::chan<long> got(1);
  gopp::go([&] {
    char buf[16];
    got.send(p.a->read(buf, sizeof buf));
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(got.size(), 0u);  // still parked: nothing was written
  ASSERT_EQ(p.b->write_all("hello", 5), 5);
  EXPECT_EQ(*got.recv(), 5);
}

TEST_F(Netpoll, ManyParkedReadersDoNotHoldTheirThreads) {
  // More parked readers than OS threads: if a wait blocked its thread, the runtime would run out
  // of threads and the last goroutine (which writes to every pair) would never run.
  const std::size_t n = scaled(500, 50);
  std::vector<pair_of_fds> pairs;
  for (std::size_t i = 0; i < n; ++i) pairs.push_back(make_pair_of_fds());
  gopp::wait_group wg;
  std::atomic<std::size_t> ok{0};
  for (std::size_t i = 0; i < n; ++i) {
    wg.add(1);
    gopp::go([&, i] {
      char c = 0;
      if (pairs[i].a->read(&c, 1) == 1 && c == 'x') ok.fetch_add(1);
      wg.done();
    });
  }
  wg.add(1);
  gopp::go([&] {
    gopp::sleep_for(10ms);
    for (auto& p : pairs) p.b->write_all("x", 1);
    wg.done();  // the pairs must outlive this goroutine's last write
  });
  wg.wait();
  EXPECT_EQ(ok.load(), n);
}

TEST_F(Netpoll, APlainThreadReadIsWokenByTheWrite) {
  auto p = make_pair_of_fds();
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    p.b->write_all("abc", 3);
  });
  char buf[8];
  EXPECT_EQ(p.a->read(buf, sizeof buf), 3);
  writer.join();
}

TEST_F(Netpoll, CloseWakesAParkedGoroutineReaderWithClosed) {
  auto p = make_pair_of_fds();
  gopp::chan<long> got(1);
  gopp::go([&] {
    char buf[8];
    got.send(p.a->read(buf, sizeof buf));
  });
  std::this_thread::sleep_for(20ms);
  p.a->close();
  EXPECT_EQ(*got.recv(), poll_fd::err_closed);
  char buf[1];
  EXPECT_EQ(p.a->read(buf, 1), poll_fd::err_closed);  // and every later call
}

TEST_F(Netpoll, CloseFromAGoroutineWakesAParkedPlainThread) {
  auto p = make_pair_of_fds();
  // The closer holds its own reference: the test may destroy `p` as soon as the read returns,
  // which can be before close() itself has returned (as with any object, its owner must not
  // destroy it while a member function runs on it; gopp::net's handles are shared for this).
  gopp::go([a = p.a] {
    gopp::sleep_for(20ms);
    a->close();
  });
  char buf[8];
  EXPECT_EQ(p.a->read(buf, sizeof buf), poll_fd::err_closed);
}

TEST_F(Netpoll, ADeadlineInThePastFailsAtOnceAndAClearedOneWaitsAgain) {
  auto p = make_pair_of_fds();
  p.a->set_deadline(io_mode::read, std::chrono::steady_clock::now() - 1s);
  char buf[8];
  EXPECT_EQ(p.a->read(buf, sizeof buf), poll_fd::err_timeout);
  p.a->set_deadline(io_mode::read, std::chrono::steady_clock::time_point::max());
  p.b->write_all("z", 1);
  EXPECT_EQ(p.a->read(buf, sizeof buf), 1);
}

TEST_F(Netpoll, ADeadlineEndsAParkedRead) {
  auto p = make_pair_of_fds();
  gopp::chan<long> got(1);
  gopp::go([&] {
    p.a->set_deadline(io_mode::read, std::chrono::steady_clock::now() + 30ms);
    char buf[8];
    got.send(p.a->read(buf, sizeof buf));
  });
  EXPECT_EQ(*got.recv(), poll_fd::err_timeout);
  // The write side has its own deadline, which was never set.
  EXPECT_EQ(p.a->write_all("w", 1), 1);
}

TEST_F(Netpoll, ADeadlineMovedWhileParkedAppliesToTheWaiter) {
  auto p = make_pair_of_fds();
  gopp::chan<long> got(1);
  const auto start = std::chrono::steady_clock::now();
  p.a->set_deadline(io_mode::read, start + 20ms);
  gopp::go([&] {
    char buf[8];
    got.send(p.a->read(buf, sizeof buf));
  });
  // Extend it while the reader is parked: it must not fire at 20 ms.
  p.a->set_deadline(io_mode::read, start + 10s);
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(got.size(), 0u);
  // Move it into the past: the parked reader returns at once with a time-out.
  p.a->set_deadline(io_mode::read, std::chrono::steady_clock::now() - 1ms);
  EXPECT_EQ(*got.recv(), poll_fd::err_timeout);
}

TEST_F(Netpoll, PartialWritesOfFourMebibytesThroughASmallBufferArriveWhole) {
  auto p = make_pair_of_fds(4096);
  const std::size_t total = 4u << 20;
  std::vector<unsigned char> out(total), in(total);
  for (std::size_t i = 0; i < total; ++i) out[i] = static_cast<unsigned char>(i * 131 + 7);
  gopp::chan<long> wrote(1);
  gopp::go([&] { wrote.send(p.b->write_all(out.data(), out.size())); });
  std::size_t have = 0;
  while (have < total) {
    const long n = p.a->read(in.data() + have, total - have);
    ASSERT_GT(n, 0);
    have += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(*wrote.recv(), static_cast<long>(total));
  EXPECT_EQ(std::memcmp(in.data(), out.data(), total), 0);
}

TEST_F(Netpoll, PeerCloseIsAZeroReadAndAWriteToItIsAnErrorWithoutSigpipe) {
  auto p = make_pair_of_fds();
  gopp::chan<long> got(1);
  gopp::go([&] {
    char buf[8];
    got.send(p.a->read(buf, sizeof buf));
  });
  std::this_thread::sleep_for(10ms);
  p.b->close();
  EXPECT_EQ(*got.recv(), 0);
  EXPECT_EQ(p.a->write_all("x", 1), -EPIPE);  // the process is still alive: no SIGPIPE
}

TEST_F(Netpoll, CloseWriteIsSeenAsEndOfFileWhileTheOtherDirectionStillWorks) {
  auto p = make_pair_of_fds();
  ASSERT_EQ(p.b->close_write(), 0);
  char buf[8];
  EXPECT_EQ(p.a->read(buf, sizeof buf), 0);
  EXPECT_EQ(p.a->write_all("back", 4), 4);
  EXPECT_EQ(p.b->read(buf, sizeof buf), 4);
}

TEST_F(Netpoll, AGoroutineAndAPlainThreadShareOneDescriptor) {
  auto p = make_pair_of_fds();
  const int rounds = static_cast<int>(scaled(2000, 200));
  std::thread echo([&] {  // a plain thread echoes every byte back
    char c;
    for (int i = 0; i < rounds; ++i) {
      if (p.b->read(&c, 1) != 1) return;
      p.b->write_all(&c, 1);
    }
  });
  gopp::chan<int> good(1);
  gopp::go([&] {
    int n = 0;
    for (int i = 0; i < rounds; ++i) {
      const char c = static_cast<char>('a' + i % 26);
      char r = 0;
      p.a->write_all(&c, 1);
      if (p.a->read(&r, 1) == 1 && r == c) ++n;
    }
    good.send(n);
  });
  EXPECT_EQ(*good.recv(), rounds);
  echo.join();
}

TEST_F(Netpoll, ReusedDescriptorsServeTheirNewOwnersOnly) {
  // Close and reopen in a loop while other pairs are busy: each new pair (usually on the fd
  // numbers just freed) must read exactly what its own peer wrote.
  const int rounds = static_cast<int>(scaled(300, 50));
  auto busy = make_pair_of_fds();
  std::atomic<bool> stop{false};
  std::thread noise([&] {
    while (!stop.load()) busy.b->write_all("n", 1);
  });
  gopp::chan<int> drained;
  gopp::go([a = busy.a, drained] {
    char buf[64];
    while (a->read(buf, sizeof buf) > 0) {
    }
    drained.close();
  });
  for (int i = 0; i < rounds; ++i) {
    auto p = make_pair_of_fds();
    gopp::chan<long> got(1);
    gopp::go([&] {
      char c = 0;
      const long n = p.a->read(&c, 1);
      got.send(n == 1 && c == 'k' ? 1 : -1);
    });
    if (i % 2) gopp::yield();
    p.b->write_all("k", 1);
    EXPECT_EQ(*got.recv(), 1);
  }
  stop.store(true);
  noise.join();
  busy.b->close();
  busy.a->close();
  drained.recv();
}

TEST_F(Netpoll, AnAlwaysReadySocketDoesNotStarveOtherGoroutines) {
  // As many readers as threads, each on a socket that always has data (1 byte per read, so they
  // never run out and never park). Another goroutine must still get to run and set `ran`.
  const unsigned threads = gopp::num_threads();
  std::vector<pair_of_fds> pairs;
  const std::size_t fill = 64 * 1024;
  std::vector<char> junk(fill, 'j');
  for (unsigned i = 0; i < threads; ++i) {
    pairs.push_back(make_pair_of_fds(256 * 1024));
    pairs.back().b->write_all(junk.data(), junk.size());
  }
  std::atomic<bool> ran{false};
  std::atomic<unsigned> reading{0};
  std::atomic<std::size_t> reads_before_ran{0};
  gopp::wait_group wg;
  for (unsigned i = 0; i < threads; ++i) {
    wg.add(1);
    gopp::go([&, i] {
      char c;
      std::size_t n = 0;
      while (!ran.load(std::memory_order_relaxed) && n < fill) {
        if (pairs[i].a->read(&c, 1) != 1) break;
        if (++n == 100) reading.fetch_add(1);
      }
      if (ran.load()) reads_before_ran.fetch_add(1);
      wg.done();
    });
  }
  // Only once every thread is busy reading: the goroutine below then waits in a queue behind
  // goroutines that never park, and runs only if their I/O yields now and then.
  while (reading.load() < threads) std::this_thread::yield();
  gopp::go([&] { ran.store(true); });
  wg.wait();
  EXPECT_TRUE(ran.load());
  // Every reader saw `ran` before draining its socket: it was not left to run only after them.
  EXPECT_EQ(reads_before_ran.load(), threads);
}

}  // namespace
