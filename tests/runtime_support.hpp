// tests/runtime_support.hpp: synchronisation for the runtime's own tests, built on nothing but
// the parking primitive (gopp/detail/park.hpp) and atomics, so that these tests do not depend on
// the channels and sync types they are the foundation of.
//
//   - countdown: N parties call done(); one waiter (a goroutine or a plain thread: whoever
//     constructed it) parks until the count reaches zero.
//   - drain(): takes a stale token out of a parker, for tests that count tokens.
//   - gate: any number of goroutines and threads park in wait() until somebody calls open().
//   - no_leaked_goroutines: a fixture whose teardown checks num_goroutines() is back to baseline.
//   - elapsed_since(): milliseconds between a time point and now, for generous timing checks.
//   - scaled(n): the loop-count knob, with the same factors as test_support.hpp's test_scale()
//     (1/4 under ASan, 1/10 under TSan, times $GOPP_TEST_SCALE). It is repeated here because
//     test_support.hpp includes the umbrella header, channels and select included, and the
//     runtime's tests must build and run before and without those.
//   - goroutine_count(plain, asan, tsan): how many goroutines to start, per build (see below).
#pragma once

#include <gtest/gtest.h>
#include <gopp/detail/park.hpp>
#include <gopp/go.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace gopp_runtime_test {

using clock = std::chrono::steady_clock;

inline std::chrono::milliseconds elapsed_since(clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
}

inline constexpr bool under_address_sanitizer =
#if defined(GOPP_SANITIZER_ADDRESS)
    true;
#else
    false;
#endif
inline constexpr bool under_thread_sanitizer =
#if defined(GOPP_SANITIZER_THREAD)
    true;
#else
    false;
#endif
inline constexpr bool under_sanitizer = under_address_sanitizer || under_thread_sanitizer;

// $GOPP_TEST_SCALE, when it is a positive number (e.g. 10 for a nightly stress run), else 1.
inline double env_scale() {
  static const double scale = [] {
    if (const char* env = std::getenv("GOPP_TEST_SCALE")) {
      char* end = nullptr;
      const double m = std::strtod(env, &end);
      if (end != env && m > 0) return m;
    }
    return 1.0;
  }();
  return scale;
}

inline double test_scale() {
  return (under_thread_sanitizer ? 0.1 : under_address_sanitizer ? 0.25 : 1.0) * env_scale();
}

// n scaled by test_scale(), never below `at_least`.
inline std::size_t scaled(std::size_t n, std::size_t at_least = 1) {
  const auto v = static_cast<std::size_t>(static_cast<double>(n) * test_scale());
  return std::max(v, at_least);
}

// How many goroutines a test starts, given per build and multiplied by $GOPP_TEST_SCALE.
// Goroutines are not scaled like loop counts: under the asan preset each new goroutine costs
// about a millisecond (with detect_stack_use_after_return=1 ASan maps a fake stack for every
// goroutine at its first run and unmaps it when the goroutine ends), and TSan allows at most
// 8,128 threads and fibers alive at once (the runtime gives each goroutine a TSan fiber).
inline std::size_t goroutine_count(std::size_t plain, std::size_t asan, std::size_t tsan) {
  const std::size_t n = under_address_sanitizer ? asan : under_thread_sanitizer ? tsan : plain;
  return std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * env_scale()));
}

// Consumes a token left in `p` by an earlier, surplus unpark (a countdown whose waiter saw the
// count reach zero before the last done() unparked it leaves one; so may a goroutine record's
// previous owner), so that a test can count the tokens it gives itself.
inline void drain(gopp::detail::parker& p) {
  while (p.park_until(clock::time_point::min())) {
  }
}

// A one-shot count-down whose waiter is whoever constructed it (its current_parker()). The last
// done() unparks the waiter; done() touches nothing of the countdown after its decrement except
// the waiter's parker, so the waiter may destroy the countdown as soon as wait() returns. That
// parker must outlive the unpark: the main thread's and a goroutine's always do; a std::thread
// waiter must not exit before every done() has returned.
class countdown {
 public:
  explicit countdown(std::size_t n) : left_(n), waiter_(&gopp::detail::current_parker()) {}
  countdown(const countdown&) = delete;
  countdown& operator=(const countdown&) = delete;

  void done() noexcept {
    gopp::detail::parker* waiter = waiter_;  // read before the decrement: *this may die after it
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) waiter->unpark();
  }

  // Parks until the count is zero, or gives up at the time-out; true when it reached zero.
  // Must be called by the constructing goroutine or thread.
  bool wait_for(std::chrono::nanoseconds timeout = std::chrono::seconds(60)) {
    const auto deadline = clock::now() + timeout;
    while (left_.load(std::memory_order_acquire) != 0) {
      if (!waiter_->park_until(deadline) && left_.load(std::memory_order_acquire) != 0) {
        return false;
      }
    }
    return true;
  }

  // As wait_for(), but a time-out ends the process. For tests whose goroutines use the caller's
  // locals: if some never finish, the test cannot return (they would then write into a dead
  // frame, and a use-after-return report would bury the failure).
  void wait_or_abort(std::chrono::nanoseconds timeout, const char* what) {
    if (wait_for(timeout)) return;
    std::fprintf(stderr, "FATAL: %zu of the goroutines %s did not finish in time; aborting\n",
                 left(), what);
    std::abort();
  }

  std::size_t left() const noexcept { return left_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::size_t> left_;
  gopp::detail::parker* waiter_;
};

// Holds goroutines and threads in wait() until open(). The mutex is held only for a few
// instructions, never across a park, so taking it in a goroutine blocks no thread for long.
// open() unparks under the mutex and wait() takes it once more before returning, so no unpark
// can reach a waiter's parker after wait() has returned (a std::thread waiter may then exit).
class gate {
 public:
  void wait() {
    gopp::detail::parker& self = gopp::detail::current_parker();
    {
      std::lock_guard lock(mu_);
      if (open_.load(std::memory_order_acquire)) return;
      waiters_.push_back(&self);
    }
    while (!open_.load(std::memory_order_acquire)) self.park();
    std::lock_guard lock(mu_);  // open() has finished unparking
  }

  void open() {
    std::lock_guard lock(mu_);
    open_.store(true, std::memory_order_release);
    for (gopp::detail::parker* p : waiters_) p->unpark();
    waiters_.clear();
  }

  bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::atomic<bool> open_{false};
  std::vector<gopp::detail::parker*> waiters_;
};

// A fixture that checks at teardown that every goroutine the test started has finished (a
// goroutine that has done its last done() may still be returning: it is given a few seconds).
class no_leaked_goroutines : public ::testing::Test {
 protected:
  void SetUp() override { baseline_ = gopp::num_goroutines(); }
  void TearDown() override {
    const auto deadline = clock::now() + std::chrono::seconds(10);
    while (gopp::num_goroutines() > baseline_ && clock::now() < deadline) {
      gopp::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_LE(gopp::num_goroutines(), baseline_) << "goroutines still running at teardown";
  }

 private:
  std::size_t baseline_ = 0;
};

}  // namespace gopp_runtime_test
