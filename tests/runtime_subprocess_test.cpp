// tests/runtime_subprocess_test.cpp: runtime behaviours that need a process of their own: how the
// process ends with goroutines still parked or running (API.md: "goroutines still running or
// parked then are abandoned and the process exits promptly, as in Go when main returns"), what
// go() does when no stack can be had (RELIABILITY.md "Resource exhaustion"), and the options that
// only apply before the runtime starts (configure, $GOPP_THREADS, $GOPP_STACK_SIZE).
//
// Each case runs in a child through EXPECT_EXIT in the "threadsafe" style: the child re-executes
// this program and runs only that test, so its runtime starts fresh, and whatever it does to
// itself (resource limits, environment) stays there.
#include <gtest/gtest.h>
#include <gopp/detail/park.hpp>
#include <gopp/go.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "runtime_support.hpp"

namespace {

using namespace std::chrono_literals;
using gopp_runtime_test::clock;
using gopp_runtime_test::countdown;
using gopp_runtime_test::elapsed_since;

class RuntimeSubprocess : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::FLAGS_gtest_death_test_style = "threadsafe"; }
};

// Kills the child (SIGALRM) if it is still alive after `seconds`: a child that hangs then fails
// its EXPECT_EXIT instead of hanging the test run.
void die_if_still_alive_after(unsigned seconds) {
  alarm(seconds);
}

// What returning from main does, with a deadline: the process must be gone within 2 s (5 s under
// the sanitizers, which have their own work to do at exit).
[[noreturn]] void exit_promptly(int code) {
  die_if_still_alive_after(gopp_runtime_test::under_sanitizer ? 5 : 2);
  std::exit(code);
}

// ---------------------------------------------------------------------------------------------
// Exit

[[noreturn]] void exit_with_parked_goroutines_and_a_pending_sleep() {
  die_if_still_alive_after(120);
  const std::size_t n = gopp_runtime_test::goroutine_count(1000, 1000, 100);
  countdown parked(n + 1);
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&parked] {
      parked.done();
      for (;;) gopp::detail::current_parker().park();  // never unparked
    });
  }
  gopp::go([&parked] {
    parked.done();
    gopp::sleep_for(1h);
  });
  if (!parked.wait_for(100s)) std::_Exit(2);
  gopp::sleep_for(10ms);  // let the last of them reach park()
  exit_promptly(0);
}

TEST_F(RuntimeSubprocess, ExitsPromptlyWithParkedGoroutinesAndAPendingHourLongSleep) {
  const auto start = clock::now();
  EXPECT_EXIT(exit_with_parked_goroutines_and_a_pending_sleep(), ::testing::ExitedWithCode(0), "");
  // Starting the child, 1,000 goroutines and exiting, all of it: well under the limit.
  if (!gopp_runtime_test::under_sanitizer) {
    EXPECT_LT(elapsed_since(start), 4s);
  }
}

[[noreturn]] void exit_while_goroutines_run() {
  die_if_still_alive_after(120);
  std::atomic<long> work{0};
  for (unsigned i = 0; i < 2 * gopp::num_threads(); ++i) {
    gopp::go([&work, i] {
      for (long k = 0;; ++k) {
        if (i % 2 == 0) {
          gopp::go([&work] { work.fetch_add(1, std::memory_order_relaxed); });
          gopp::yield();
        } else {
          gopp::sleep_for(std::chrono::microseconds(k % 100));
        }
      }
    });
  }
  const auto deadline = clock::now() + 60s;
  while (work.load() < 100 && clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (work.load() < 100) std::_Exit(3);
  exit_promptly(0);
}

TEST_F(RuntimeSubprocess, ExitsPromptlyWhileGoroutinesAreRunningSpawningAndSleeping) {
  // Exit while every worker is busy: goroutines spin with yields, spawn short-lived goroutines and
  // sleep, so exit() and the static destructors run while the runtime is in full swing. Repeated,
  // because what could go wrong here is a race.
  const int rounds = gopp_runtime_test::under_sanitizer ? 2 : 5;
  for (int round = 0; round < rounds; ++round) {
    EXPECT_EXIT(exit_while_goroutines_run(), ::testing::ExitedWithCode(0), "") << "round " << round;
  }
}

[[noreturn]] void exit_with_a_parked_std_thread() {
  std::atomic<bool> parked{false};
  std::thread([&parked] {
    parked = true;
    for (;;) gopp::detail::current_parker().park();
  }).detach();
  gopp::go([] { gopp::sleep_for(1h); });
  while (!parked) std::this_thread::yield();
  exit_promptly(0);
}

TEST_F(RuntimeSubprocess, ExitsPromptlyWithAStdThreadParkedOnItsParker) {
  EXPECT_EXIT(exit_with_a_parked_std_thread(), ::testing::ExitedWithCode(0), "");
}

// ---------------------------------------------------------------------------------------------
// Resource exhaustion

std::size_t virtual_memory_size() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;  // kB
  }
  return 0;
}

// Under the sanitizers the runtime and the allocator map shadow memory and their own pools as
// they go, so a lowered RLIMIT_AS makes the sanitizer itself fail first; the limit is tested in
// the plain build only.
#if defined(GOPP_SANITIZER_ADDRESS) || defined(GOPP_SANITIZER_THREAD)
#define GOPP_SKIP_UNDER_SANITIZERS() \
  GTEST_SKIP() << "a sanitizer's own mappings fail first under a lowered RLIMIT_AS"
#else
#define GOPP_SKIP_UNDER_SANITIZERS() (void)0
#endif

// The child starts the runtime, then lowers RLIMIT_AS to 256 MiB above what it uses and spawns
// parked goroutines until go() throws. It checks the error names the limit and the number of
// goroutines alive, that a goroutine calling go() gets the same error (and can catch it), and
// that the runtime still works: every parked goroutine is then woken and finishes. Exit codes
// other than 0 say which check failed.
[[noreturn]] void exhaust_stacks_under_rlimit_as() {
  die_if_still_alive_after(60);
  constexpr std::size_t max_goroutines = 1'000'000;
  // Everything the child needs after lowering the limit is allocated before it.
  auto parkers = std::make_unique<std::atomic<gopp::detail::parker*>[]>(max_goroutines);
  std::atomic<std::size_t> finished{0};
  std::atomic<bool> release{false};
  gopp::detail::parker* probe = nullptr;
  std::atomic<bool> probe_go{false};
  std::atomic<int> probe_result{0};  // 1: caught stack_exhausted_error, 2: go() worked
  countdown probe_ready(1);
  gopp::go([&] {
    probe = &gopp::detail::current_parker();
    probe_ready.done();
    while (!probe_go) probe->park();
    try {
      gopp::go([] {});
      probe_result = 2;
    } catch (const gopp::stack_exhausted_error&) {
      probe_result = 1;
    }
  });
  if (!probe_ready.wait_for(10s)) std::_Exit(10);

  const rlimit limit{virtual_memory_size() + (std::size_t{256} << 20), RLIM_INFINITY};
  if (setrlimit(RLIMIT_AS, &limit) != 0) std::_Exit(11);

  std::size_t spawned = 0;
  std::string what;
  std::size_t alive_when_thrown = 0;
  try {
    for (; spawned < max_goroutines; ++spawned) {
      gopp::go([&, spawned] {
        gopp::detail::parker& self = gopp::detail::current_parker();
        parkers[spawned].store(&self);
        while (!release) self.park();
        finished.fetch_add(1);
      });
    }
  } catch (const gopp::stack_exhausted_error& e) {
    what = e.what();
    alive_when_thrown = gopp::num_goroutines();
  }
  if (what.empty()) std::_Exit(12);  // never ran out
  std::fprintf(stderr, "caught stack_exhausted_error after %zu goroutines: %s\n", spawned,
               what.c_str());
  if (what.find("RLIMIT_AS") == std::string::npos) std::_Exit(13);
  if (what.find(std::to_string(alive_when_thrown)) == std::string::npos) std::_Exit(14);

  probe_go = true;
  probe->unpark();
  const auto deadline = clock::now() + 20s;
  while (probe_result == 0 && clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (probe_result != 1) std::_Exit(15);

  // Wake them all: each must have got its stack and run up to its park.
  release = true;
  for (std::size_t i = 0; i < spawned; ++i) {
    gopp::detail::parker* p = nullptr;
    while (!(p = parkers[i].load()) && clock::now() < deadline) std::this_thread::yield();
    if (!p) std::_Exit(16);
    p->unpark();
  }
  while (finished < spawned && clock::now() < deadline) std::this_thread::sleep_for(1ms);
  std::exit(finished == spawned ? 0 : 17);
}

TEST_F(RuntimeSubprocess, GoThrowsStackExhaustedErrorUnderALoweredAddressSpaceLimit) {
  GOPP_SKIP_UNDER_SANITIZERS();
  EXPECT_EXIT(exhaust_stacks_under_rlimit_as(), ::testing::ExitedWithCode(0),
              "^caught stack_exhausted_error after [1-9][0-9]* goroutines: [^\n]*RLIMIT_AS");
}

// Stack guards and the kernel's mapping limit (stack.hpp): on Linux 6.13+ a guard lives in the
// page tables and splits no mapping, so live goroutines, each with a guarded stack, must not
// use up vm.max_map_count. (With mprotect guards each would cost two mappings.)

// Whether this kernel has page-table guards (MADV_GUARD_INSTALL), probed as the runtime does.
bool kernel_has_page_table_guards() {
  const std::size_t len = 4096;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = madvise(p, len, 102 /* MADV_GUARD_INSTALL */) == 0;
  munmap(p, len);
  return ok;
}

std::size_t mapping_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

[[noreturn]] void hold_live_goroutines_and_count_mappings(std::size_t live) {
  die_if_still_alive_after(120);
  countdown started(1);
  gopp::go([&started] { started.done(); });  // the runtime and its threads exist from here
  if (!started.wait_for(10s)) std::_Exit(2);
  const std::size_t before = mapping_count();
  std::atomic<bool> release{false};
  countdown running(live);
  countdown finished(live);
  for (std::size_t i = 0; i < live; ++i) {
    gopp::go([&] {
      running.done();
      while (!release) gopp::sleep_for(1ms);
      finished.done();
    });
  }
  if (!running.wait_for(100s)) std::_Exit(3);
  const std::size_t grew = mapping_count() - before;
  std::fprintf(stderr, "%zu live goroutines added %zu mappings\n", live, grew);
  release = true;
  if (!finished.wait_for(100s)) std::_Exit(4);
  std::exit(grew < live / 10 ? 0 : 1);
}

TEST_F(RuntimeSubprocess, WithPageTableGuardsLiveGuardedStacksCostAlmostNoMappings) {
  // The sanitizers map memory of their own for every goroutine (TSan: about four mappings each).
  GOPP_SKIP_UNDER_SANITIZERS();
  if (!kernel_has_page_table_guards()) GTEST_SKIP() << "kernel without MADV_GUARD_INSTALL";
  const std::size_t live = 10000;
  EXPECT_EXIT(hold_live_goroutines_and_count_mappings(live), ::testing::ExitedWithCode(0),
              "live goroutines added [0-9]+ mappings");
}

// ---------------------------------------------------------------------------------------------
// Options fixed at start-up

[[noreturn]] void configure_three_threads() {
  gopp::configure({.threads = 3});
  std::exit(gopp::num_threads() == 3 ? 0 : 1);
}

TEST_F(RuntimeSubprocess, ConfigureBeforeTheFirstGoroutineSetsTheThreadCount) {
  EXPECT_EXIT(configure_three_threads(), ::testing::ExitedWithCode(0), "");
}

[[noreturn]] void gopp_threads_three() {
  setenv("GOPP_THREADS", "3", 1);
  std::exit(gopp::num_threads() == 3 ? 0 : 1);
}

TEST_F(RuntimeSubprocess, GoppThreadsEnvironmentVariableSetsTheThreadCount) {
  EXPECT_EXIT(gopp_threads_three(), ::testing::ExitedWithCode(0), "");
}

[[noreturn]] void configure_beats_gopp_threads() {
  setenv("GOPP_THREADS", "3", 1);
  gopp::configure({.threads = 2});
  std::exit(gopp::num_threads() == 2 ? 0 : 1);
}

TEST_F(RuntimeSubprocess, ConfiguredThreadsTakePrecedenceOverGoppThreads) {
  EXPECT_EXIT(configure_beats_gopp_threads(), ::testing::ExitedWithCode(0), "");
}

[[noreturn]] void zero_threads_is_hardware_concurrency() {
  unsetenv("GOPP_THREADS");
  gopp::configure({.threads = 0});
  const unsigned hw = std::thread::hardware_concurrency();
  std::exit(gopp::num_threads() == (hw == 0 ? 1 : hw) ? 0 : 1);
}

TEST_F(RuntimeSubprocess, ZeroThreadsMeansHardwareConcurrency) {
  EXPECT_EXIT(zero_threads_is_hardware_concurrency(), ::testing::ExitedWithCode(0), "");
}

[[noreturn]] void configure_after_a_goroutine() {
  countdown done(1);
  gopp::go([&done] { done.done(); });
  if (!done.wait_for(10s)) std::_Exit(2);
  try {
    gopp::configure({.threads = 1});
  } catch (const std::logic_error&) {
    std::exit(0);
  }
  std::exit(1);
}

TEST_F(RuntimeSubprocess, ConfigureThrowsLogicErrorOnceAGoroutineHasStarted) {
  EXPECT_EXIT(configure_after_a_goroutine(), ::testing::ExitedWithCode(0), "");
}

// Uses about `bytes` of stack, in 1 KiB frames, and returns normally.
[[gnu::noinline]] int use_stack(std::size_t bytes) {
  volatile char frame[1024];
  frame[0] = 1;
  if (bytes <= sizeof frame) return frame[0];
  return use_stack(bytes - sizeof frame) + frame[0];
}

[[noreturn]] void configured_one_mib_stacks() {
  gopp::configure({.stack_size = 1 << 20});
  std::atomic<int> result{0};
  countdown done(1);
  gopp::go([&] {
    result = use_stack(700 << 10);
    done.done();
  });
  std::exit(done.wait_for(10s) && result > 0 ? 0 : 1);
}

TEST_F(RuntimeSubprocess, AConfiguredStackSizeGivesGoroutinesThatMuchStack) {
  // 1 MiB stacks: 700 KiB of frames, far more than the 256 KiB default, fit.
  EXPECT_EXIT(configured_one_mib_stacks(), ::testing::ExitedWithCode(0), "");
}

[[noreturn]] void gopp_stack_size_one_mib() {
  setenv("GOPP_STACK_SIZE", "1048576", 1);
  std::atomic<int> result{0};
  countdown done(1);
  gopp::go([&] {
    result = use_stack(700 << 10);
    done.done();
  });
  std::exit(done.wait_for(10s) && result > 0 ? 0 : 1);
}

TEST_F(RuntimeSubprocess, GoppStackSizeEnvironmentVariableSetsTheStackSize) {
  EXPECT_EXIT(gopp_stack_size_one_mib(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
