// Tests of gopp/fd.hpp: waiting on descriptors the user owns (pipes here), from goroutines and
// plain threads, with deadlines, close, and the one-off waits.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "gopp/gopp.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct pipe_fds {
  int r = -1, w = -1;
  pipe_fds() {
    int p[2];
    if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r = p[0];
    w = p[1];
  }
  ~pipe_fds() {
    ::close(r);
    ::close(w);
  }
};

TEST(FdWatch, AGoroutineWaitsForReadableAndIsWokenByTheWrite) {
  pipe_fds p;
  gopp::fd_watch watch(p.r);
  gopp::chan<gopp::fd_wait> got(1);
  gopp::go([&] { got.send(watch.wait_readable()); });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(got.size(), 0u);
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_EQ(*got.recv(), gopp::fd_wait::ready);
  char c;
  EXPECT_EQ(::read(p.r, &c, 1), 1);
}

TEST(FdWatch, DataAlreadyThereBeforeTheWatchIsReportedAtOnce) {
  pipe_fds p;
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  gopp::fd_watch watch(p.r);  // edge-triggered: no new edge will come for this byte
  EXPECT_EQ(watch.wait_readable(clock_type::now() + 5s), gopp::fd_wait::ready);
}

TEST(FdWatch, ADeadlineEndsTheWaitAndTheNextWaitHasNone) {
  pipe_fds p;
  gopp::fd_watch watch(p.r);
  gopp::chan<gopp::fd_wait> got(1);
  gopp::go([&] { got.send(watch.wait_readable(clock_type::now() + 30ms)); });
  EXPECT_EQ(*got.recv(), gopp::fd_wait::timeout);
  gopp::go([&] { got.send(watch.wait_readable()); });
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(got.size(), 0u);  // the old deadline does not linger
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_EQ(*got.recv(), gopp::fd_wait::ready);
}

TEST(FdWatch, CloseWakesAParkedGoroutineAndAPlainThread) {
  pipe_fds p;
  gopp::fd_watch watch(p.r);
  // Fill the pipe so that a writer has to wait too; watch it only then, so that no event from
  // when it had room is left to report (a wait may return `ready` for such an old event).
  char block[4096] = {};
  while (::write(p.w, block, sizeof block) > 0) {
  }
  gopp::fd_watch wwatch(p.w);
  gopp::chan<gopp::fd_wait> got(1);
  gopp::go([&] { got.send(wwatch.wait_writable()); });
  gopp::fd_wait thread_result = gopp::fd_wait::ready;
  pipe_fds q;
  gopp::fd_watch qwatch(q.r);
  std::thread t([&] { thread_result = qwatch.wait_readable(); });
  std::this_thread::sleep_for(20ms);
  wwatch.close();
  qwatch.close();
  EXPECT_EQ(*got.recv(), gopp::fd_wait::closed);
  t.join();
  EXPECT_EQ(thread_result, gopp::fd_wait::closed);
  EXPECT_EQ(qwatch.wait_readable(), gopp::fd_wait::closed);
}

TEST(FdWatch, OneOffWaitsFromAGoroutineAndFromAThread) {
  pipe_fds p;
  gopp::chan<gopp::fd_wait> got(1);
  gopp::go([&] { got.send(gopp::wait_readable(p.r, clock_type::now() + 5s)); });
  std::this_thread::sleep_for(10ms);
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_EQ(*got.recv(), gopp::fd_wait::ready);
  EXPECT_EQ(gopp::wait_writable(p.w), gopp::fd_wait::ready);  // a pipe with room
  pipe_fds q;
  EXPECT_EQ(gopp::wait_readable(q.r, clock_type::now() + 20ms), gopp::fd_wait::timeout);
}

TEST(FdWatch, ASecondWaitInTheSameDirectionIsRefused) {
  pipe_fds p;
  gopp::fd_watch watch(p.r);
  gopp::chan<gopp::fd_wait> first(1);
  gopp::go([&] { first.send(watch.wait_readable()); });
  std::this_thread::sleep_for(20ms);  // the first wait is parked by now
  EXPECT_THROW(watch.wait_readable(), std::logic_error);
  ASSERT_EQ(::write(p.w, "x", 1), 1);
  EXPECT_EQ(*first.recv(), gopp::fd_wait::ready);  // the first wait was left alone
}

TEST(FdWatch, ARegularFileCannotBeWatched) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  try {
    gopp::fd_watch watch(::fileno(f));
    ADD_FAILURE() << "a regular file was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
  }
  std::fclose(f);
}

}  // namespace
