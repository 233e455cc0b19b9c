// tests/test_support.hpp: helpers shared by gopp's test programs.
//
//   - test_scale() / scaled(n): one knob for loop counts. 1.0 in plain builds, smaller under the
//     sanitizers (they slow code 5-15x, and the suite also runs on a 2-core machine), multiplied
//     by $GOPP_TEST_SCALE (e.g. 10 for a nightly stress run). Go's testing.Short() and
//     crossbeam's Miri constants play the same role.
//   - settle(): waits long enough for a goroutine started just before to reach its blocking call.
//     Tests that need "A is already blocked before B arrives" use it, as Go's own tests use
//     time.Sleep(time.Millisecond). It is generous, never a tight bound.
//   - side / task / start(): runs a test's counterpart (the other end of a channel) either on a
//     goroutine or on a plain std::thread, so that every channel behaviour is checked from both
//     (API.md: "everything works both inside goroutines and on ordinary threads"). Parameterise a
//     suite with GOPP_INSTANTIATE_SIDES(suite). An exception thrown by the counterpart is caught
//     and rethrown by task::join(), so a failure is reported by GoogleTest instead of ending the
//     process as an escaping panic would. GoogleTest assertions work from goroutines, but never
//     use SCOPED_TRACE there: GoogleTest keeps the trace stack per OS thread, and a goroutine that
//     parks between the push and the pop may resume on another thread (it crashes gtest).
//   - leak_checked: a fixture base that checks at teardown that every goroutine a test started
//     has finished (marl's teardown check). A test that strands a goroutine on purpose (nil
//     channel, empty select) declares it with expect_stranded(n).
//   - pipeline: stops the endless goroutines of ported Go programs (sieves, power series).
//   - chi_square_uniform(): the statistic for "select picks uniformly at random" tests.
//   - expect_order_eventually(attempt, want): FIFO tests that retry with longer pauses.
//   - what_of<E>(f): the what() of the E that f throws (a failure if it throws nothing or else).
//   - allocations(): with GOPP_TEST_COUNT_ALLOCATIONS defined before the include, a counting
//     global operator new, for "the fast path does not allocate" tests.
//
// Thread counts: gopp fixes its number of OS threads once per process (gopp::configure, or
// $GOPP_THREADS when nothing was configured), so a test program cannot sweep thread counts itself.
// Run the same program under several values instead, e.g.
//   for t in 1 2 4; do GOPP_THREADS=$t ctest --preset debug -L 'unit|golang'; done
// Every test here is written to pass with any thread count, 1 included.
#pragma once

#include <gtest/gtest.h>
#include <gopp/gopp.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace gopp_test {

// ---------------------------------------------------------------------------------------------
// Scale

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

// The factor applied to every loop count: 1 normally, 1/4 under ASan, 1/10 under TSan, times
// $GOPP_TEST_SCALE when it is set to a positive number.
inline double test_scale() {
  static const double scale = [] {
    double s = under_thread_sanitizer ? 0.1 : under_address_sanitizer ? 0.25 : 1.0;
    if (const char* env = std::getenv("GOPP_TEST_SCALE")) {
      char* end = nullptr;
      double m = std::strtod(env, &end);
      if (end != env && m > 0) s *= m;
    }
    return s;
  }();
  return scale;
}

// n scaled by test_scale(), never below `at_least`.
inline std::size_t scaled(std::size_t n, std::size_t at_least = 1) {
  auto v = static_cast<std::size_t>(static_cast<double>(n) * test_scale());
  return std::max(v, at_least);
}

// For loops whose cost is starting goroutines: as scaled(), and 10x smaller again under TSan,
// where starting a goroutine costs milliseconds (TSan creates and clears a fiber state for it).
inline std::size_t scaled_goroutines(std::size_t n, std::size_t at_least = 1) {
  return scaled(under_thread_sanitizer ? n / 10 : n, at_least);
}

// ---------------------------------------------------------------------------------------------
// Exceptions

// Runs f and returns the what() of the E it throws; fails the test if it throws nothing or
// something else.
template <class E, class F>
std::string what_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw the wrong type; what(): " << e.what();
    return {};
  } catch (...) {
    ADD_FAILURE() << "threw something that is not a std::exception";
    return {};
  }
  ADD_FAILURE() << "threw nothing";
  return {};
}

// ---------------------------------------------------------------------------------------------
// Time

// How long to wait so that a goroutine or thread started just before has reached its blocking
// call. Generous on purpose: a too-short wait only weakens a test, it must never fail one on a
// slow machine, but the FIFO tests rely on it for arrival order.
inline std::chrono::milliseconds settle_time() {
  return std::chrono::milliseconds(under_sanitizer ? 60 : 20);
}

// Sleeps settle_time(): parks the goroutine when called in one, sleeps the thread otherwise.
inline void settle() {
  gopp::sleep_for(settle_time());
}

// Waits until pred() holds, polling; returns false if it still does not after `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    gopp::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

// The arrival order of blocked parties can only be arranged by pausing between their starts, so
// on an overloaded machine a party may not have reached its blocking call before the next one
// starts. Order tests therefore retry with longer pauses (1x, 5x, 25x settle_time()) and fail
// only when every attempt saw the wrong order: a real FIFO bug fails all three.
template <class Attempt>
void expect_order_eventually(Attempt attempt, const std::vector<int>& want) {
  std::string seen;
  for (int factor : {1, 5, 25}) {
    std::vector<int> got = attempt(settle_time() * factor);
    if (got == want) return;
    seen += " [";
    for (int v : got) {
      seen += ' ';  // not `" " + std::to_string(v)`: g++ 12 -O2 warns on it (-Wstringop-overflow)
      seen += std::to_string(v);
    }
    seen += " ]";
  }
  ADD_FAILURE() << "wrong order in every attempt:" << seen;
}

// ---------------------------------------------------------------------------------------------
// Statistics

// Pearson's chi-square statistic of `counts` against the uniform distribution.
inline double chi_square_uniform(const std::vector<long>& counts) {
  double total = 0;
  for (long c : counts) total += static_cast<double>(c);
  const double expected = total / static_cast<double>(counts.size());
  double chi2 = 0;
  for (long c : counts) {
    const double d = static_cast<double>(c) - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

// The chi-square value that a uniform source exceeds with probability 1e-6, for 1 to 7 degrees
// of freedom (k - 1 for k outcomes). A test that fails above it is wrong once in a million runs.
inline double chi_square_limit_1e6(std::size_t degrees_of_freedom) {
  static constexpr double limits[] = {0, 23.93, 27.63, 30.66, 33.38, 35.89, 38.26, 40.52};
  return limits[std::min<std::size_t>(degrees_of_freedom, 7)];
}

// ---------------------------------------------------------------------------------------------
// Counterparts: the same test body with the other side on a goroutine or on a std::thread.

enum class side { goroutine, thread };

inline std::string to_string(side s) {
  return s == side::goroutine ? "goroutine" : "thread";
}
inline void PrintTo(side s, std::ostream* os) {
  *os << to_string(s);
}

// A join handle for a body started by start(). join() waits for the body and rethrows whatever it
// threw. The destructor joins too (and swallows the exception: call join() to see it).
class task {
 public:
  task() = default;
  task(task&&) noexcept = default;
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      wait_quietly();
      state_ = std::move(other.state_);
      thread_ = std::move(other.thread_);
    }
    return *this;
  }
  ~task() { wait_quietly(); }

  // Waits for the body to finish; rethrows its exception, if any. From a plain thread it blocks
  // on a condition variable; from a goroutine it polls with short sleeps, so that it parks the
  // goroutine and never its OS thread.
  void join() {
    if (!state_) return;
    if (thread_.joinable()) {
      thread_.join();
    } else if (gopp::in_goroutine()) {
      while (!finished()) gopp::sleep_for(std::chrono::microseconds(100));
    } else {
      std::unique_lock lock(state_->mu);
      state_->cv.wait(lock, [&] { return state_->done; });
    }
    auto error = std::exchange(state_->error, nullptr);
    state_.reset();
    if (error) std::rethrow_exception(error);
  }

  // True once the body has returned or thrown.
  bool finished() const {
    if (!state_) return true;
    std::lock_guard lock(state_->mu);
    return state_->done;
  }

  template <class F>
  friend task start(side where, F&& body);

 private:
  struct shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::exception_ptr error;
  };

  void wait_quietly() noexcept {
    try {
      join();
    } catch (...) {
    }
  }

  std::shared_ptr<shared> state_;
  std::thread thread_;
};

// Starts body() on a new goroutine or a new std::thread.
template <class F>
task start(side where, F&& body) {
  task t;
  t.state_ = std::make_shared<task::shared>();
  auto run = [state = t.state_, f = std::forward<F>(body)]() mutable {
    try {
      f();
    } catch (...) {
      state->error = std::current_exception();
    }
    std::lock_guard lock(state->mu);
    state->done = true;
    state->cv.notify_all();
  };
  if (where == side::goroutine) {
    gopp::go(std::move(run));
  } else {
    t.thread_ = std::thread(std::move(run));
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Teardown check

// Base fixture: at teardown, the number of live goroutines is back to what it was at SetUp, plus
// the goroutines the test stranded on purpose. Goroutines that have done their last channel
// operation may still be returning, so the check waits a little for them.
class leak_checked : public ::testing::Test {
 protected:
  void SetUp() override { baseline_ = gopp::num_goroutines(); }
  void TearDown() override {
    const std::size_t allowed = baseline_ + stranded_;
    bool settled = eventually([&] { return gopp::num_goroutines() <= allowed; });
    EXPECT_TRUE(settled) << "goroutines still running at teardown: " << gopp::num_goroutines()
                         << ", expected at most " << allowed << " (" << stranded_
                         << " stranded on purpose)";
  }
  // The test leaves n goroutines blocked forever on purpose (a nil channel, an empty select);
  // gopp abandons them at exit, as Go does.
  void expect_stranded(std::size_t n) { stranded_ += n; }

 private:
  std::size_t baseline_ = 0;
  std::size_t stranded_ = 0;
};

// leak_checked with a test parameter, for TEST_P suites.
template <class Param>
class leak_checked_with_param : public leak_checked, public ::testing::WithParamInterface<Param> {};

// A TEST_P fixture whose parameter says where the counterpart runs.
using sides = leak_checked_with_param<side>;

}  // namespace gopp_test

// Instantiates a TEST_P suite (whose parameter is gopp_test::side) for both counterparts, with
// readable names: Suite/Counterpart.Test/goroutine and .../thread.
#define GOPP_INSTANTIATE_SIDES(suite)                                             \
  INSTANTIATE_TEST_SUITE_P(                                                       \
      Counterpart, suite,                                                         \
      ::testing::Values(::gopp_test::side::goroutine, ::gopp_test::side::thread), \
      [](const ::testing::TestParamInfo<::gopp_test::side>& info) {               \
        return ::gopp_test::to_string(info.param);                                \
      })

// ---------------------------------------------------------------------------------------------
// Allocation counting. A test program that defines GOPP_TEST_COUNT_ALLOCATIONS before including
// this header replaces the global operator new (every form) with one that counts calls in
// gopp_test::allocations(); the program must then include this header from one file only. (The
// replacements are noinline: inlined, GCC pairs their malloc/free with new/delete and warns.)
#if defined(GOPP_TEST_COUNT_ALLOCATIONS)
#include <cstdlib>
#include <new>

namespace gopp_test {
inline std::atomic<std::size_t> allocation_count{0};
// Heap allocations made so far by the whole process, through operator new.
inline std::size_t allocations() {
  return allocation_count.load(std::memory_order_relaxed);
}
namespace detail {
inline void* counted_alloc(std::size_t n) noexcept {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
inline void* counted_aligned_alloc(std::size_t n, std::align_val_t al) noexcept {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  void* p = nullptr;
  return posix_memalign(&p, a, n == 0 ? 1 : n) == 0 ? p : nullptr;
}
}  // namespace detail
}  // namespace gopp_test

[[gnu::noinline]] void* operator new(std::size_t n) {
  if (void* p = gopp_test::detail::counted_alloc(n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) {
  if (void* p = gopp_test::detail::counted_alloc(n)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return gopp_test::detail::counted_alloc(n);
}
[[gnu::noinline]] void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return gopp_test::detail::counted_alloc(n);
}
[[gnu::noinline]] void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = gopp_test::detail::counted_aligned_alloc(n, a)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = gopp_test::detail::counted_aligned_alloc(n, a)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t n, std::align_val_t a,
                                     const std::nothrow_t&) noexcept {
  return gopp_test::detail::counted_aligned_alloc(n, a);
}
[[gnu::noinline]] void* operator new[](std::size_t n, std::align_val_t a,
                                       const std::nothrow_t&) noexcept {
  return gopp_test::detail::counted_aligned_alloc(n, a);
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete[](void* p, std::align_val_t,
                                         const std::nothrow_t&) noexcept {
  std::free(p);
}
#endif  // GOPP_TEST_COUNT_ALLOCATIONS

namespace gopp_test {

// Tear-down for ported Go programs whose goroutines run forever (generators, sieves, power
// series): Go simply abandons them when main returns. Here every goroutine of such a pipeline is
// started with go() and does each channel operation through send() and recv(), which also watch a
// quit channel; stop() closes it, every operation then throws `stopped`, and go()'s wrapper
// swallows that, so all the pipeline's goroutines return and the teardown check holds.
class pipeline {
 public:
  struct stopped {};

  template <class F, class... Args>
  void go(F&& f, Args&&... args) const {
    gopp::go(
        [](auto fn, auto... as) {
          try {
            std::invoke(std::move(fn), std::move(as)...);
          } catch (const stopped&) {
          }
        },
        std::forward<F>(f), std::forward<Args>(args)...);
  }

  // Go: c <- v, or throws stopped once stop() was called.
  template <class C, class V>
  void send(const C& c, V&& v) const {
    if (gopp::select(gopp::send_case(c, std::forward<V>(v)), gopp::recv_case(quit_)) != 0) {
      throw stopped{};
    }
  }

  // Go: v, ok := <-c (nullopt once c is closed and drained), or throws stopped.
  template <class C>
  auto recv(const C& c) const {
    using value = typename decltype(c.recv())::value_type;
    std::optional<value> out;
    if (gopp::select(gopp::recv_case(c, [&](std::optional<value>&& v) { out = std::move(v); }),
                     gopp::recv_case(quit_)) != 0) {
      throw stopped{};
    }
    return out;
  }

  // The quit channel, for selects of the ported program that need it as an extra case.
  gopp::recv_chan<std::monostate> quit() const { return quit_; }

  void stop() const { quit_.close(); }

 private:
  gopp::chan<std::monostate> quit_;
};

}  // namespace gopp_test
