// tests/death/sync_rw_death_test.cpp: the fatal misuses of gopp::rw_mutex and gopp::cond
// (sync.hpp). As in Go, they are fatal errors, not exceptions (unlock runs in lock destructors):
// "fatal error: sync: RUnlock of unlocked RWMutex", "fatal error: sync: Unlock of unlocked
// RWMutex", and a cond::wait() without its mutex held is the mutex's own "unlock of unlocked
// mutex". The controls check that balanced use does not die. Threadsafe style, as
// sync_death_test.cpp: the child re-executes the program with a fresh runtime.
#include <gtest/gtest.h>
#include <gopp/go.hpp>
#include <gopp/sync.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>

namespace {

using namespace std::chrono_literals;

class SyncRWDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::FLAGS_gtest_death_test_style = "threadsafe"; }
};

constexpr const char* runlock_of_unlocked = "^fatal error: sync: RUnlock of unlocked RWMutex\n";
constexpr const char* unlock_of_unlocked = "^fatal error: sync: Unlock of unlocked RWMutex\n";

std::atomic<bool> survived{false};

void wait_for_death() {
  for (int i = 0; i < 2000 && !survived.load(); ++i) gopp::sleep_for(10ms);
}

TEST_F(SyncRWDeathTest, UnlockSharedOfANeverLockedRWMutexIsFatal) {
  EXPECT_DEATH(
      {
        gopp::rw_mutex rw;
        rw.unlock_shared();
      },
      runlock_of_unlocked);
}

TEST_F(SyncRWDeathTest, UnlockSharedWhileWriteLockedIsFatalInAGoroutine) {
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::rw_mutex rw;
          rw.lock();
          gopp::yield();
          rw.unlock_shared();
          survived = true;
        });
        wait_for_death();
      },
      runlock_of_unlocked);
}

TEST_F(SyncRWDeathTest, UnlockOfANeverLockedRWMutexIsFatal) {
  EXPECT_DEATH(
      {
        gopp::rw_mutex rw;
        rw.unlock();
      },
      unlock_of_unlocked);
}

TEST_F(SyncRWDeathTest, UnlockingTwiceAfterASharedLockIsFatalInAGoroutine) {
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::rw_mutex rw;
          {
            std::unique_lock lock(rw);
            rw.unlock();
          }  // the unique_lock's destructor unlocks a second time
          survived = true;
        });
        wait_for_death();
      },
      unlock_of_unlocked);
}

TEST_F(SyncRWDeathTest, CondWaitWithoutItsMutexIsTheMutexsFatalError) {
  EXPECT_DEATH(
      {
        gopp::mutex mu;
        gopp::cond c(mu);
        c.wait();
      },
      "^fatal error: sync: unlock of unlocked mutex\n");
}

TEST_F(SyncRWDeathTest, BalancedUseDoesNotDie) {
  EXPECT_EXIT(
      {
        gopp::rw_mutex rw;
        { std::shared_lock r(rw); }
        { std::unique_lock w(rw); }
        std::atomic<bool> locked{false};
        gopp::go([&] {
          rw.lock_shared();
          locked = true;
        });
        while (!locked) gopp::sleep_for(1ms);
        rw.unlock_shared();  // by another party than the locker: legal
        std::fprintf(stderr, "survived\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "^survived\n");
}

}  // namespace
