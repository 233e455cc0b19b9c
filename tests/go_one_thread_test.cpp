// tests/go_one_thread_test.cpp: goroutine behaviours that only a single OS thread shows plainly.
// With one worker nothing runs in parallel, so every goroutine's progress depends on the others
// giving the thread up: yield must queue the yielder behind the other runnable goroutines, and
// sleep and park must release the thread (GOMAXPROCS=1 in Go's terms).
//
// The thread count is fixed once per process, before the runtime starts; this program sets it
// during static initialisation, before main() and so before any test can start the runtime.
#include <gtest/gtest.h>
#include <gopp/detail/park.hpp>
#include <gopp/go.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <vector>

#include "runtime_support.hpp"

namespace {

using namespace std::chrono_literals;
using gopp_runtime_test::clock;
using gopp_runtime_test::countdown;
using gopp_runtime_test::elapsed_since;
using gopp_runtime_test::scaled;

const bool configured = [] {
  gopp::configure({.threads = 1});
  return true;
}();

class OneThread : public gopp_runtime_test::no_leaked_goroutines {};

TEST_F(OneThread, RunsGoroutinesOnExactlyOneThread) {
  ASSERT_TRUE(configured);
  EXPECT_EQ(gopp::num_threads(), 1u);
}

TEST_F(OneThread, YieldingGoroutinesTakeTurns) {
  // n goroutines meet at a start line (each yields until all have arrived: with one thread that
  // only ends if yield lets the others run), then each bumps its counter and yields, `rounds`
  // times. Whenever one resumes, every other must be at most two rounds behind it: yield sends
  // the yielder behind the goroutines already waiting, as runtime.Gosched does.
  const std::size_t n = 8;
  const int rounds = static_cast<int>(scaled(500, 50));
  std::vector<std::atomic<int>> progress(n);
  std::atomic<std::size_t> arrived{0};
  std::atomic<int> worst_lead{0};
  countdown done(n);
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&, i] {
      arrived.fetch_add(1);
      while (arrived.load() < n) gopp::yield();
      for (int r = 1; r <= rounds; ++r) {
        progress[i].store(r);
        int lead = 0;
        for (std::size_t j = 0; j < n; ++j) {
          if (j != i) lead = std::max(lead, r - progress[j].load());
        }
        if (lead > worst_lead.load()) worst_lead.store(lead);
        gopp::yield();
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for(30s));
  EXPECT_LE(worst_lead.load(), 2) << "a yielding goroutine ran ahead of the others";
}

TEST_F(OneThread, AYieldLoopLetsTheGoroutineItWaitsForRun) {
  std::atomic<bool> flag{false};
  countdown done(2);
  gopp::go([&] {
    while (!flag.load()) gopp::yield();
    done.done();
  });
  gopp::go([&] {
    flag = true;
    done.done();
  });
  ASSERT_TRUE(done.wait_for(10s));
}

TEST_F(OneThread, ASleepingGoroutineLetsOthersRun) {
  // The sleeper goes first; the other goroutine must run (and finish) during its sleep.
  std::atomic<bool> other_ran_during_sleep{false};
  std::atomic<bool> other_done{false};
  countdown done(2);
  gopp::go([&] {
    gopp::sleep_for(300ms);
    other_ran_during_sleep = other_done.load();
    done.done();
  });
  gopp::go([&] {
    other_done = true;
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(other_ran_during_sleep);
}

TEST_F(OneThread, ManySleepersShareTheThread) {
  // 1,000 goroutines sleeping 100 ms each take about 100 ms together, not 100 s. (Fewer under the
  // sanitizers, where starting a goroutine costs milliseconds; 50 one after the other would still
  // take 5 s, well above the bound.)
  const std::size_t n = gopp_runtime_test::goroutine_count(1000, 200, 50);
  countdown done(n);
  const auto start = clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&] {
      gopp::sleep_for(100ms);
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  const auto took = elapsed_since(start);
  EXPECT_GE(took, 100ms);
  EXPECT_LT(took, 3s);
}

TEST_F(OneThread, TwoGoroutinesPingPongThroughTheirParkers) {
  // A parked goroutine made runnable by the one running on the same (only) thread.
  const int rounds = static_cast<int>(scaled(10000, 500));
  std::atomic<gopp::detail::parker*> ping_parker{nullptr}, pong_parker{nullptr};
  std::atomic<int> turn{0};
  countdown done(2);
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    ping_parker = &self;
    while (!pong_parker.load()) gopp::yield();
    for (int r = 0; r < rounds; ++r) {
      while (turn.load() != 2 * r) self.park();
      turn.store(2 * r + 1);
      pong_parker.load()->unpark();
    }
    done.done();
  });
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    pong_parker = &self;
    while (!ping_parker.load()) gopp::yield();
    for (int r = 0; r < rounds; ++r) {
      while (turn.load() != 2 * r + 1) self.park();
      turn.store(2 * r + 2);
      ping_parker.load()->unpark();
    }
    done.done();
  });
  ASSERT_TRUE(done.wait_for(30s));
  EXPECT_EQ(turn.load(), 2 * rounds);
}

TEST_F(OneThread, TheMainThreadWakesAParkedGoroutine) {
  std::atomic<gopp::detail::parker*> target{nullptr};
  std::atomic<bool> flag{false};
  countdown done(1);
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    target = &self;
    while (!flag.load()) self.park();
    done.done();
  });
  while (!target.load()) std::this_thread::yield();
  std::this_thread::sleep_for(5ms);
  flag = true;
  target.load()->unpark();
  ASSERT_TRUE(done.wait_for(10s));
}

}  // namespace
