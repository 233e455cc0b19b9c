// tests/sync_rw_cond_test.cpp: gopp::rw_mutex and gopp::cond (sync.hpp), behaviour by behaviour,
// with Go's sync/rwmutex_test.go and sync/cond_test.go ported in our own words (parallel
// readers, the hammer with an activity counter, TryLock/TryRLock, Signal, Broadcast, the
// generations test of FIFO order) plus gopp's own: a writer is not starved by 8 reader
// goroutines, readers that arrive behind a waiting writer wait for it, and everything from a
// goroutine and from a plain thread alike. (A separate file from sync_test.cpp: wait_group, mutex
// and once are being reworked there; the fatal misuses are in death/sync_death_test.cpp.)
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace {

using namespace gopp_test;
using namespace std::chrono_literals;

template <class F>
std::vector<task> start_n(side where, int n, F body) {
  std::vector<task> ts;
  for (int i = 0; i < n; ++i) ts.push_back(start(where, [body, i] { body(i); }));
  return ts;
}

void join_all(std::vector<task>& ts) {
  for (auto& t : ts) t.join();
}

// =============================================================================================
// rw_mutex

class RWMutex : public leak_checked {};
class RWMutexSides : public sides {};

TEST_P(RWMutexSides, ReadersHoldTheLockTogether) {
  // Go's TestParallelReaders: every reader takes the read lock and waits, still holding it, until
  // all the others hold it too; with exclusive readers this would never end.
  const int readers = 4;
  gopp::rw_mutex rw;
  std::atomic<int> inside{0};
  auto ts = start_n(GetParam(), readers, [&](int) {
    std::shared_lock lock(rw);
    ++inside;
    ASSERT_TRUE(eventually([&] { return inside.load() == readers; }));
  });
  join_all(ts);
  EXPECT_EQ(inside.load(), readers);
}

TEST_P(RWMutexSides, HammerKeepsWritersAloneAndReadersTogether) {
  // Go's HammerRWMutex: an activity counter that readers raise by 1 and writers by 10,000. A
  // reader must never see a writer inside; a writer must see nobody but itself.
  const int iterations = static_cast<int>(scaled(2000, 100));
  gopp::rw_mutex rw;
  std::atomic<int> activity{0};
  std::atomic<int> violations{0};
  auto reader = [&](int) {
    for (int i = 0; i < iterations; ++i) {
      std::shared_lock lock(rw);
      const int n = activity.fetch_add(1) + 1;
      if (n < 1 || n >= 10000) ++violations;
      if (i % 7 == 0) gopp::yield();
      activity.fetch_sub(1);
    }
  };
  auto writer = [&](int) {
    for (int i = 0; i < iterations / 4; ++i) {
      std::unique_lock lock(rw);
      const int n = activity.fetch_add(10000) + 10000;
      if (n != 10000) ++violations;
      if (i % 5 == 0) gopp::yield();
      activity.fetch_sub(10000);
    }
  };
  auto rs = start_n(GetParam(), 6, reader);
  auto ws = start_n(side::goroutine, 2, writer);  // writers on both sides at once
  auto wt = start_n(side::thread, 1, writer);
  join_all(rs);
  join_all(ws);
  join_all(wt);
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(activity.load(), 0);
}

TEST_F(RWMutex, TryLockAndTryLockSharedAnswerForTheCurrentHolders) {
  // Go's TestRWMutexTry / TryLock and TryRLock.
  gopp::rw_mutex rw;
  EXPECT_TRUE(rw.try_lock());
  EXPECT_FALSE(rw.try_lock());
  EXPECT_FALSE(rw.try_lock_shared());
  rw.unlock();
  EXPECT_TRUE(rw.try_lock_shared());
  EXPECT_TRUE(rw.try_lock_shared());  // readers share
  EXPECT_FALSE(rw.try_lock());        // no writer while readers hold it
  rw.unlock_shared();
  EXPECT_FALSE(rw.try_lock());
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();
}

TEST_P(RWMutexSides, ReadersArrivingBehindAWaitingWriterWaitForIt) {
  // Writer preference: reader A holds the lock; writer W waits for it; reader B, arriving after
  // W, cannot get in (even though only readers hold the lock) until W has been in and out.
  gopp::rw_mutex rw;
  std::atomic<int> step{0};
  std::vector<int> order;  // written by W and B in turn, under the lock
  rw.lock_shared();        // reader A: this test
  auto w = start(GetParam(), [&] {
    step = 1;
    std::unique_lock lock(rw);
    order.push_back(1);
  });
  ASSERT_TRUE(eventually([&] { return step.load() == 1; }));
  settle();  // W is now waiting in lock()
  EXPECT_FALSE(rw.try_lock_shared()) << "a reader got in ahead of a waiting writer";
  auto b = start(GetParam(), [&] {
    std::shared_lock lock(rw);
    order.push_back(2);
  });
  settle();
  EXPECT_TRUE(order.empty());
  rw.unlock_shared();  // A leaves: W goes first, then B
  w.join();
  b.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST_P(RWMutexSides, ReadersThatQueuedBehindAWriterAllGetInWhenItLeaves) {
  // When the writer unlocks, every reader that waited for it is let in together (Go releases
  // readerSem once per waiting reader), not one at a time: they all hold the lock at once.
  const int readers = 5;
  gopp::rw_mutex rw;
  rw.lock();
  std::atomic<int> inside{0};
  auto rs = start_n(GetParam(), readers, [&](int) {
    std::shared_lock lock(rw);
    ++inside;
    ASSERT_TRUE(eventually([&] { return inside.load() == readers; }));
  });
  settle();
  EXPECT_EQ(inside.load(), 0);
  rw.unlock();
  join_all(rs);
  EXPECT_EQ(inside.load(), readers);
}

TEST_P(RWMutexSides, AWriterIsNotStarvedByEightBusyReaderGoroutines) {
  // Eight readers take and release the read lock back to back, overlapping (each yields while
  // holding it), so without writer preference the reader count would hardly ever be zero. The
  // writer (on either side) must still get in, 50 times, while they run; then they stop.
  gopp::rw_mutex rw;
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  std::vector<task> rs;
  for (int i = 0; i < 8; ++i) {
    rs.push_back(start(side::goroutine, [&] {
      while (!stop.load()) {
        std::shared_lock lock(rw);
        ++reads;
        gopp::yield();
      }
    }));
  }
  ASSERT_TRUE(eventually([&] { return reads.load() > 100; }));
  std::atomic<int> writes{0};
  auto w = start(GetParam(), [&] {
    for (int i = 0; i < 50; ++i) {
      std::unique_lock lock(rw);
      ++writes;
    }
  });
  const bool got_in = eventually([&] { return writes.load() == 50; }, 20s);
  stop = true;
  w.join();
  join_all(rs);
  EXPECT_TRUE(got_in) << "the writer got in only " << writes.load() << " times in 20 s";
}

TEST_P(RWMutexSides, AnUnlockByAnotherPartyReleasesTheLock) {
  // As with Go's RWMutex, the lock is not tied to a goroutine: one side locks, the other unlocks.
  gopp::rw_mutex rw;
  auto t = start(GetParam(), [&] { rw.lock(); });
  t.join();
  EXPECT_FALSE(rw.try_lock_shared());
  rw.unlock();
  auto r = start(GetParam(), [&] { rw.lock_shared(); });
  r.join();
  EXPECT_FALSE(rw.try_lock());
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();
}

TEST_P(RWMutexSides, AWriteHappensBeforeTheNextReadAndReadsBeforeTheNextWrite) {
  // A plain (non-atomic) variable written under the write lock and read under the read lock:
  // TSan checks the happens-before edges; the totals check nothing is lost.
  const int rounds = static_cast<int>(scaled(5000, 200));
  gopp::rw_mutex rw;
  long value = 0;
  std::atomic<long> seen_sum{0};
  auto w = start(GetParam(), [&] {
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock lock(rw);
      ++value;
    }
  });
  auto r = start(side::goroutine, [&] {
    long last = 0;
    for (int i = 0; i < rounds; ++i) {
      std::shared_lock lock(rw);
      EXPECT_GE(value, last);
      last = value;
    }
    seen_sum = last;
  });
  w.join();
  r.join();
  std::shared_lock lock(rw);
  EXPECT_EQ(value, rounds);
  EXPECT_LE(seen_sum.load(), rounds);
}

GOPP_INSTANTIATE_SIDES(RWMutexSides);

// =============================================================================================
// cond

class Cond : public leak_checked {};
class CondSides : public sides {};

// Starts n waiters that each wait once on c (under c.locker()), in order: waiter i has queued
// before waiter i+1 starts. Each appends its index to `woken` once it returns from wait().
std::vector<task> start_waiters_in_order(side where, int n, gopp::cond& c, int& queued,
                                         std::vector<int>& woken) {
  std::vector<task> ts;
  for (int i = 0; i < n; ++i) {
    ts.push_back(start(where, [&c, &queued, &woken, i] {
      std::unique_lock lock(c.locker());
      ++queued;
      c.wait();  // queues before it unlocks: whoever locks after sees it queued
      woken.push_back(i);
    }));
    // Once `queued` shows i+1 under the mutex, waiter i is queued (it let go in wait()).
    EXPECT_TRUE(eventually([&] {
      std::lock_guard lock(c.locker());
      return queued == i + 1;
    }));
  }
  return ts;
}

TEST_P(CondSides, SignalWakesOneWaiterAtATimeInTheOrderTheyWaited) {
  // Go's TestCondSignalGenerations: FIFO, as the notify list.
  const int n = 6;
  gopp::mutex mu;
  gopp::cond c(mu);
  int queued = 0;
  std::vector<int> woken;
  auto ts = start_waiters_in_order(GetParam(), n, c, queued, woken);
  for (int i = 0; i < n; ++i) {
    c.signal();
    ASSERT_TRUE(eventually([&] {
      std::lock_guard lock(mu);
      return static_cast<int>(woken.size()) == i + 1;
    }));
    settle();  // nobody else wakes
    std::lock_guard lock(mu);
    ASSERT_EQ(static_cast<int>(woken.size()), i + 1);
    EXPECT_EQ(woken.back(), i);
  }
  join_all(ts);
}

TEST_P(CondSides, BroadcastWakesEveryWaiter) {
  // Go's TestCondBroadcast.
  const int n = 5;
  gopp::mutex mu;
  gopp::cond c(mu);
  int queued = 0;
  std::vector<int> woken;
  auto ts = start_waiters_in_order(GetParam(), n, c, queued, woken);
  c.broadcast();
  join_all(ts);
  EXPECT_EQ(static_cast<int>(woken.size()), n);
  c.broadcast();  // nobody waits: nothing happens
  c.signal();
}

TEST_P(CondSides, ASignalWithNobodyWaitingIsNotKeptForALaterWait) {
  gopp::mutex mu;
  gopp::cond c(mu);
  c.signal();
  c.broadcast();
  int queued = 0;
  std::vector<int> woken;
  auto ts = start_waiters_in_order(GetParam(), 1, c, queued, woken);
  settle();
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(woken.empty()) << "an old signal woke a later wait";
  }
  c.signal();
  join_all(ts);
  EXPECT_EQ(woken, std::vector<int>{0});
}

TEST_P(CondSides, PingPongThroughOneCondLosesNoWakeUp) {
  // Go's TestRace shape: two parties hand a turn back and forth through one cond, signalling
  // right after the other has queued (possibly before it has parked). A lost wake-up hangs.
  const int rounds = static_cast<int>(scaled(5000, 200));
  gopp::mutex mu;
  gopp::cond c(mu);
  int turn = 0;  // guarded by mu
  auto player = [&](int me) {
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock lock(mu);
      while (turn != me) c.wait();
      turn = 1 - me;
      c.signal();
    }
  };
  auto a = start(GetParam(), [&] { player(0); });
  auto b = start(side::goroutine, [&] { player(1); });
  a.join();
  b.join();
  EXPECT_EQ(turn, 0);
}

TEST_P(CondSides, WaitParksOnlyTheWaiter) {
  // More waiting goroutines than OS threads: if wait() held its thread, nothing could signal.
  const int n = static_cast<int>(gopp::num_threads()) + 1;
  gopp::mutex mu;
  gopp::cond c(mu);
  bool go_ahead = false;
  std::atomic<int> done{0};
  std::vector<task> ts;
  for (int i = 0; i < n; ++i) {
    ts.push_back(start(side::goroutine, [&] {
      std::unique_lock lock(mu);
      while (!go_ahead) c.wait();
      ++done;
    }));
  }
  auto waker = start(GetParam(), [&] {
    gopp::sleep_for(settle_time());
    {
      std::lock_guard lock(mu);
      go_ahead = true;
    }
    c.broadcast();
  });
  waker.join();
  join_all(ts);
  EXPECT_EQ(done.load(), n);
}

GOPP_INSTANTIATE_SIDES(CondSides);

}  // namespace
