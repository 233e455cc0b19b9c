// tests/death/sync_death_test.cpp: the one fatal misuse of sync.hpp (API.md "sync";
// RELIABILITY.md "Misuse with fixed Go messages"): unlocking a gopp::mutex that is not locked
// prints Go's "fatal error: sync: unlock of unlocked mutex" and aborts, on a plain thread and in a
// goroutine alike. It is not an exception: unlock() runs in lock_guard's destructor, where an
// exception would end the program anyway (and less clearly). The controls check that balanced
// use, and an unlock by another party than the locker (legal in Go), do not die.
//
// Death tests run in the "threadsafe" style: the child re-executes this program and runs only the
// one test, so the child's runtime is fresh. Every regex is anchored at the start of the child's
// stderr.
#include <gtest/gtest.h>
#include <gopp/go.hpp>
#include <gopp/sync.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace {

using namespace std::chrono_literals;

class SyncDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::FLAGS_gtest_death_test_style = "threadsafe"; }
};

constexpr const char* unlock_of_unlocked = "^fatal error: sync: unlock of unlocked mutex\n";

// Set by a goroutine that was expected to end the process but returned.
std::atomic<bool> survived{false};

// Keeps the dying child's main thread alive long enough for its goroutine to end the process.
// If nothing does, the statement returns (after a while, or as soon as `survived` is set) and the
// death test fails ("failed to die") instead of hanging.
void wait_for_death() {
  for (int i = 0; i < 2000 && !survived.load(); ++i) gopp::sleep_for(10ms);
}

// A wait_group reused too early (Go's "reused before previous Wait has returned"): on one worker,
// the goroutine whose done() releases the waiter goes on to add() for a new round before the
// waiter has run again, so the waiter deterministically finds the counter non-zero. Its wait()
// throws; the child prints what and exits 0.
[[noreturn]] void reuse_before_wait_returns() {
  gopp::configure({.threads = 1});
  gopp::wait_group wg;
  wg.add(1);
  gopp::wait_group finished;
  finished.add(2);
  gopp::go([&] {
    try {
      wg.wait();
      std::fprintf(stderr, "wait returned\n");
    } catch (const std::logic_error& e) {
      std::fprintf(stderr, "threw: %s\n", e.what());
    }
    finished.done();
  });
  gopp::go([&] {
    gopp::yield();  // let the waiter queue itself first
    wg.done();      // releases it: it runs next on this worker, once this goroutine parks
    wg.add(1);      // a new round, before that wait() has returned
    finished.done();
  });
  finished.wait();
  std::exit(0);
}

TEST_F(SyncDeathTest, AWaitGroupReusedBeforeTheLastWaitReturnedThrowsGosMessage) {
  EXPECT_EXIT(reuse_before_wait_returns(), ::testing::ExitedWithCode(0),
              "^threw: sync: WaitGroup is reused before previous Wait has returned\n");
}

TEST_F(SyncDeathTest, UnlockingANeverLockedMutexOnAPlainThreadIsFatal) {
  EXPECT_DEATH(
      {
        gopp::mutex mu;
        mu.unlock();
      },
      unlock_of_unlocked);
}

TEST_F(SyncDeathTest, UnlockingANeverLockedMutexInAGoroutineIsFatal) {
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::mutex mu;
          mu.unlock();
          survived = true;
        });
        wait_for_death();
      },
      unlock_of_unlocked);
}

TEST_F(SyncDeathTest, UnlockingTwiceOnAPlainThreadIsFatal) {
  EXPECT_DEATH(
      {
        gopp::mutex mu;
        mu.lock();
        mu.unlock();
        mu.unlock();
      },
      unlock_of_unlocked);
}

TEST_F(SyncDeathTest, UnlockingTwiceInAGoroutineAfterAParkIsFatal) {
  // The goroutine parks while holding the mutex (it may resume on another thread) first.
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::mutex mu;
          mu.lock();
          gopp::sleep_for(1ms);
          gopp::yield();
          mu.unlock();
          mu.unlock();
          survived = true;
        });
        wait_for_death();
      },
      unlock_of_unlocked);
}

TEST_F(SyncDeathTest, ALockGuardOverAMutexUnlockedByHandIsFatalAtScopeExit) {
  // The case that rules out an exception: the second unlock runs in lock_guard's destructor.
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::mutex mu;
          {
            std::lock_guard lock(mu);
            mu.unlock();
          }
          survived = true;
        });
        wait_for_death();
      },
      unlock_of_unlocked);
}

TEST_F(SyncDeathTest, BalancedUseAndAnUnlockByAnotherPartyDoNotDie) {
  // The control: nothing reported, nothing aborted. A goroutine locks, the main thread unlocks.
  EXPECT_EXIT(
      {
        gopp::mutex mu;
        { std::lock_guard lock(mu); }
        std::atomic<bool> locked{false};
        gopp::go([&] {
          mu.lock();
          locked = true;
        });
        while (!locked) gopp::sleep_for(1ms);
        mu.unlock();
        std::fprintf(stderr, "survived\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^survived\n");
}

}  // namespace
