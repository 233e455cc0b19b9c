// tests/go_four_threads_test.cpp: what must survive a goroutine resuming on another OS thread
// (RELIABILITY.md, "Thread-local state across migration" and "Exception while an exception is
// being handled, across a park"). Four worker threads, more than this machine's cores, so that
// parked goroutines are routinely resumed by a different worker.
//
// The C++ runtime keeps the caught-exception stack and the uncaught count per OS thread
// (__cxa_eh_globals). A goroutine that parks inside a catch block or in a destructor during
// unwinding must find its own exception state when it resumes, wherever that is, and must not
// leave it behind for the goroutines that run on its old thread.
//
// The thread count is fixed once per process, before the runtime starts; this program sets it
// during static initialisation, before main() and so before any test can start the runtime.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <gopp/detail/park.hpp>
#include <gopp/go.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime_support.hpp"

namespace {

using namespace std::chrono_literals;
using gopp_runtime_test::countdown;
using gopp_runtime_test::scaled;

const bool configured = [] {
  gopp::configure({.threads = 4});
  return true;
}();

class FourThreads : public gopp_runtime_test::no_leaked_goroutines {};

TEST_F(FourThreads, RunsGoroutinesOnFourThreads) {
  ASSERT_TRUE(configured);
  EXPECT_EQ(gopp::num_threads(), 4u);
}

// The calling OS thread's id. Not std::this_thread::get_id(): it calls pthread_self(), which
// glibc declares __attribute__((const)), so an optimiser may reuse one call's result across a
// park, on what is by then another thread. A system call is never reused.
long os_thread_id() {
  return static_cast<long>(::syscall(SYS_gettid));
}

// Parks the calling goroutine briefly: alternately a yield (back to a run queue, from which
// another worker may steal it) and a 1 us sleep (fired by its worker or the timer thread, and
// taken by whichever worker looks first).
void park_briefly(int i) {
  if (i % 2 == 0) {
    gopp::yield();
  } else {
    gopp::sleep_for(1us);
  }
}

TEST_F(FourThreads, AGoroutineKeepsItsIdentityAcrossMigrations) {
  // Several goroutines park 1,000 times each and check, after every resume, that the runtime
  // still knows it is in a goroutine and which one: runtime code must re-read its thread-local
  // "current worker" after each switch. The OS threads each one ran on are recorded to show
  // that the test did migrate goroutines.
  const std::size_t n = 8;
  const int parks = static_cast<int>(scaled(1000, 200));
  std::atomic<int> wrong_in_goroutine{0}, wrong_id{0};
  std::vector<std::size_t> threads_seen(n);
  countdown done(n);
  for (std::size_t g = 0; g < n; ++g) {
    gopp::go([&, g] {
      const std::uint64_t id = gopp::goroutine_id();
      std::set<long> threads{os_thread_id()};
      for (int i = 0; i < parks; ++i) {
        park_briefly(i);
        if (!gopp::in_goroutine()) ++wrong_in_goroutine;
        if (gopp::goroutine_id() != id) ++wrong_id;
        threads.insert(os_thread_id());
      }
      threads_seen[g] = threads.size();
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(wrong_in_goroutine.load(), 0);
  EXPECT_EQ(wrong_id.load(), 0);
  std::size_t migrated = 0;
  for (std::size_t t : threads_seen) migrated += t > 1 ? 1 : 0;
  EXPECT_GT(migrated, 0u) << "no goroutine ever resumed on another thread: the test proves nothing";
}

TEST_F(FourThreads, ACatchBlockSurvivesAParkAndRethrows) {
  // Inside a catch block, park (so the goroutine likely resumes on another thread), then rethrow
  // with `throw;` and catch it again: same object, same message. Many goroutines do this at once
  // so that several caught exceptions are in flight on every thread.
  const std::size_t n = scaled(64, 16);
  std::atomic<int> wrong{0};
  std::atomic<int> rethrown_and_caught{0};
  std::atomic<int> migrated{0};
  countdown done(n);
  for (std::size_t g = 0; g < n; ++g) {
    gopp::go([&, g] {
      const std::string message = "boom " + std::to_string(g);
      try {
        throw std::runtime_error(message);
      } catch (const std::runtime_error& first) {
        const std::exception_ptr before = std::current_exception();
        const long thread_before = os_thread_id();
        gopp::sleep_for(1ms);
        if (os_thread_id() != thread_before) ++migrated;
        if (std::current_exception() != before) ++wrong;
        if (std::string(first.what()) != message) ++wrong;
        try {
          throw;
        } catch (const std::runtime_error& again) {
          if (&again != &first) ++wrong;
          if (std::string(again.what()) != message) ++wrong;
          if (std::current_exception() != before) ++wrong;
          ++rethrown_and_caught;
        }
      }
      // Handled: nothing is current any more, wherever this goroutine now runs.
      if (std::current_exception() != nullptr) ++wrong;
      if (std::uncaught_exceptions() != 0) ++wrong;
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(rethrown_and_caught.load(), static_cast<int>(n));
  EXPECT_GT(migrated.load(), 0)
      << "no goroutine resumed on another thread: the test proves nothing";
}

TEST_F(FourThreads, NestedCatchBlocksSurviveParks) {
  // Two caught exceptions at once (a catch inside a catch), with parks at both depths; each
  // `throw;` rethrows the innermost one, as on a single thread.
  const std::size_t n = scaled(32, 8);
  std::atomic<int> wrong{0};
  countdown done(n);
  for (std::size_t g = 0; g < n; ++g) {
    gopp::go([&] {
      try {
        throw std::runtime_error("outer");
      } catch (const std::exception& outer) {
        gopp::sleep_for(1ms);
        try {
          throw std::logic_error("inner");
        } catch (const std::logic_error&) {
          gopp::sleep_for(1ms);
          try {
            throw;
          } catch (const std::logic_error& e) {
            if (std::string(e.what()) != "inner") ++wrong;
          }
        }
        gopp::sleep_for(1ms);
        try {
          throw;
        } catch (const std::runtime_error& e) {
          if (std::string(e.what()) != "outer" || &e != &outer) ++wrong;
        } catch (...) {
          ++wrong;
        }
      }
      if (std::current_exception() != nullptr) ++wrong;
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(wrong.load(), 0);
}

// A scope guard whose destructor parks. During unwinding, std::uncaught_exceptions() is 1
// before and after the park, wherever the goroutine resumes.
struct parking_guard {
  std::atomic<int>* wrong;
  std::atomic<int>* checked;
  ~parking_guard() {
    if (std::uncaught_exceptions() != 1) ++*wrong;
    gopp::sleep_for(1ms);
    if (std::uncaught_exceptions() != 1) ++*wrong;
    gopp::yield();
    if (std::uncaught_exceptions() != 1) ++*wrong;
    ++*checked;
  }
};

TEST_F(FourThreads, ADestructorParkingDuringUnwindingKeepsTheUncaughtCount) {
  // Half the goroutines unwind through a parking guard; the other half, running on the same
  // threads meanwhile, must see no uncaught exception and no current exception of theirs.
  const std::size_t n = scaled(128, 16);
  std::atomic<int> wrong{0}, checked{0}, caught{0}, bystander_wrong{0};
  countdown done(2 * n);
  for (std::size_t g = 0; g < n; ++g) {
    gopp::go([&] {
      try {
        parking_guard guard{&wrong, &checked};
        if (std::uncaught_exceptions() != 0) ++wrong;
        throw std::runtime_error("unwind");
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "unwind") ++caught;
      }
      if (std::uncaught_exceptions() != 0) ++wrong;
      done.done();
    });
    gopp::go([&] {
      for (int i = 0; i < 20; ++i) {
        park_briefly(i);
        if (std::uncaught_exceptions() != 0) ++bystander_wrong;
        if (std::current_exception() != nullptr) ++bystander_wrong;
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(bystander_wrong.load(), 0);
  EXPECT_EQ(checked.load(), static_cast<int>(n));
  EXPECT_EQ(caught.load(), static_cast<int>(n));
}

TEST_F(FourThreads, AnExceptionThrownFromAParkingDestructorsScopeIsCaughtWithItsMessage) {
  // The exception that is unwinding while its guard parks is the one the catch clause gets.
  const std::size_t n = scaled(64, 16);
  std::atomic<int> wrong{0}, checked{0};
  countdown done(n);
  for (std::size_t g = 0; g < n; ++g) {
    gopp::go([&, g] {
      const std::string message = "unwinding " + std::to_string(g);
      try {
        parking_guard guard{&wrong, &checked};
        throw std::runtime_error(message);
      } catch (const std::runtime_error& e) {
        if (e.what() != message) ++wrong;
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(checked.load(), static_cast<int>(n));
}

[[gnu::noinline]] long sum_after_parks(const long* values, int n, int parks) {
  long local[4] = {1, 2, 3, 4};
  for (int i = 0; i < parks; ++i) park_briefly(i);
  long sum = local[0] + local[1] + local[2] + local[3];
  for (int i = 0; i < n; ++i) sum += values[i];
  return sum;
}

TEST_F(FourThreads, LocalsStayValidAcrossMigrations) {
  // The asan preset runs this with detect_stack_use_after_return=1: each goroutine's frames
  // (ASan's fake frames there) must survive parks that resume it on other threads.
  const std::size_t n = scaled(64, 16);
  std::atomic<int> wrong{0};
  countdown done(n);
  for (std::size_t g = 0; g < n; ++g) {
    gopp::go([&, g] {
      long values[32];
      for (int i = 0; i < 32; ++i) values[i] = static_cast<long>(g) + i;
      const long expected = 10 + 32 * static_cast<long>(g) + 31 * 32 / 2;
      if (sum_after_parks(values, 32, 10) != expected) ++wrong;
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(wrong.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Timers live in the heap of the worker a sleep began on, and that worker fires them when it next
// picks a goroutine (timer.hpp). A worker held by a goroutine that never switches picks none: the
// timer thread must then fire them itself, so the sleeper wakes on another worker meanwhile.

TEST_F(FourThreads, ASleepOnAWorkerHeldByAGoroutineThatNeverSwitchesStillEnds) {
  // S starts the hog (it goes to runnext of S's worker), then sleeps; the worker runs the hog
  // next, which spins until S wakes or 3 s pass. The scenario needs both on one thread; another
  // worker may steal the hog first, so it is tried a few times and checked whenever it happened.
  int same_thread_runs = 0;
  for (int attempt = 0; attempt < 20 && same_thread_runs < 3; ++attempt) {
    std::atomic<bool> sleeper_woke{false};
    std::atomic<bool> hog_gave_up{false};
    std::atomic<long> sleeper_thread{0}, hog_thread{0};
    countdown done(2);
    gopp::go([&] {
      sleeper_thread = os_thread_id();
      gopp::go([&] {
        hog_thread = os_thread_id();
        const auto give_up = std::chrono::steady_clock::now() + 3s;
        while (!sleeper_woke.load(std::memory_order_acquire)) {
          if (std::chrono::steady_clock::now() > give_up) {
            hog_gave_up = true;
            break;
          }
        }
        done.done();
      });
      gopp::sleep_for(5ms);
      sleeper_woke.store(true, std::memory_order_release);
      done.done();
    });
    ASSERT_TRUE(done.wait_for());
    if (hog_thread.load() != sleeper_thread.load()) continue;
    ++same_thread_runs;
    EXPECT_FALSE(hog_gave_up.load()) << "the sleep ended only after its worker was free again";
  }
  EXPECT_GT(same_thread_runs, 0) << "the hog never ran on the sleeper's worker in 20 attempts";
}

TEST_F(FourThreads, ManyShortSleepsBegunOnEveryWorkerAllEndNoneEarly) {
  // Sleepers on every worker, each sleeping many short times: a timer lost between a worker's
  // heap and the timer thread (a flag nobody saw, a worker asleep with due timers) hangs one.
  const int n = static_cast<int>(scaled(400, 64));
  const int sleeps = 20;
  std::atomic<int> early{0};
  countdown done(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    gopp::go([&, i] {
      for (int k = 0; k < sleeps; ++k) {
        const auto d = std::chrono::microseconds(50 + 37 * ((i + k) % 13));
        const auto start = std::chrono::steady_clock::now();
        gopp::sleep_for(d);
        if (std::chrono::steady_clock::now() - start < d) ++early;
        if (k % 5 == 0) gopp::yield();  // move between workers now and then
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(early.load(), 0);
}

}  // namespace
