// tests/death/runtime_death_test.cpp: the ways a goroutine ends the process, and what it prints
// (API.md "Goroutines"; RELIABILITY.md "Exception escapes a goroutine" and "Goroutine stack
// overflow").
//
//   - An exception escaping a goroutine is a panic: `panic: <what()>` (or `panic: unknown
//     exception`) and the goroutine's id on stderr, then std::terminate.
//   - Running off the end of a goroutine's stack hits the guard below it; the fault handler
//     prints Go's "fatal error: stack overflow" with the goroutine's id and its stack's bounds,
//     and aborts, also when one frame is bigger than the guard.
//   - Any other fault (a null-pointer write) is handed back to the previous handler untouched and
//     is never reported as a stack overflow.
//
// Death tests run in the "threadsafe" style: the child re-executes this program and runs only the
// one test, so the child's runtime is fresh, and its goroutine ids start at 1 (go.hpp: ids are 1,
// 2, ... in start order). Every regex is anchored at the start of the child's stderr.
#include <gtest/gtest.h>
#include <gopp/go.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <regex>
#include <stdexcept>
#include <string>

namespace {

using namespace std::chrono_literals;

class RuntimeDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::FLAGS_gtest_death_test_style = "threadsafe"; }
};

// Set by a goroutine that was expected to end the process but returned.
std::atomic<bool> survived{false};

// Keeps the dying child's main thread alive long enough for its goroutine to end the process.
// If nothing does, the statement returns (after a while, or as soon as `survived` is set) and the
// death test fails ("failed to die") instead of hanging.
void wait_for_death() {
  for (int i = 0; i < 2000 && !survived.load(); ++i) gopp::sleep_for(10ms);
}

// ---------------------------------------------------------------------------------------------
// Panics

TEST_F(RuntimeDeathTest, AnEscapingStdExceptionPrintsPanicWithItsWhatAndTheGoroutineId) {
  EXPECT_DEATH(
      {
        gopp::go([] { throw std::runtime_error("boom"); });
        wait_for_death();
      },
      "^panic: boom\n+goroutine 1 ");
}

TEST_F(RuntimeDeathTest, AnEscapingNonStdExceptionPrintsPanicUnknownException) {
  EXPECT_DEATH(
      {
        gopp::go([] { throw 42; });
        wait_for_death();
      },
      "^panic: unknown exception\n+goroutine 1 ");
}

TEST_F(RuntimeDeathTest, APanicInAGoroutineStartedByAGoroutineNamesTheInnerOne) {
  // Goroutine 1 starts another (its id comes from the worker thread's block, not 2), which
  // throws; goroutine 1 is still alive (sleeping). The report names the inner one and its parent.
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::go([] { throw std::logic_error("inner boom"); });
          gopp::sleep_for(20s);
        });
        wait_for_death();
      },
      "^panic: inner boom\n+goroutine [0-9]+ \\[running\\]\ncreated by goroutine 1\n");
}

TEST_F(RuntimeDeathTest, APanicAfterAParkStillNamesItsGoroutine) {
  // The goroutine parks first (and may resume on another thread), then throws.
  EXPECT_DEATH(
      {
        gopp::go([] {
          gopp::sleep_for(5ms);
          gopp::yield();
          throw std::runtime_error("late boom");
        });
        wait_for_death();
      },
      "^panic: late boom\n+goroutine 1 ");
}

// ---------------------------------------------------------------------------------------------
// Stack overflow
//
// Skipped under AddressSanitizer: ASan owns SIGSEGV (its handler, its own alternate signal
// stack) and instruments every frame with redzones, so an overflow is ASan's to report (as
// "stack-overflow"), and the runtime only chains to it (RELIABILITY.md allows running these in
// the other presets only).

std::atomic<bool> never{false};  // keeps the compiler from proving the recursion endless

// Prints "top=<address>": the top of the calling goroutine's stack, the page boundary just above
// one of its first locals (the frames above it, the runtime's entry and the closure call, take
// far less than a page). The overflow report must name the stack with that top, i.e. the fault
// must be caught in the overflowing goroutine's own guard, not in a neighbour's after running
// through the neighbour's stack.
[[gnu::noinline]] void announce_stack_top() {
  volatile char here = 0;
  const auto address = reinterpret_cast<std::uintptr_t>(&here);
  const std::uintptr_t page = 4096;
  std::fprintf(stderr, "top=%p\n", reinterpret_cast<void*>((address + page - 1) & ~(page - 1)));
}

// Matches the overflow report for goroutine `id` after announce_stack_top(): the stack it names
// must end at the announced top. (A back-reference does that; GoogleTest's own death-test regexes
// cannot hold one, as it wraps them in a group, so this is a matcher over std::regex.)
class overflow_report_matcher : public ::testing::MatcherInterface<const std::string&> {
 public:
  explicit overflow_report_matcher(int id)
      : pattern_(
            "^top=(0x[0-9a-f]+)\n"
            "runtime: goroutine stack exceeds [0-9]+-byte limit\n"
            "runtime: goroutine " +
            std::to_string(id) +
            " stack=\\[0x[0-9a-f]+, \\1\\)[^\n]*\n"
            "fatal error: stack overflow\n") {}
  bool MatchAndExplain(const std::string& err, ::testing::MatchResultListener*) const override {
    return std::regex_search(err, std::regex(pattern_));
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "starts with the overflow report for the announced stack: " << pattern_;
  }

 private:
  std::string pattern_;
};

::testing::Matcher<const std::string&> overflow_report(int id) {
  return ::testing::MakeMatcher(new overflow_report_matcher(id));
}

[[gnu::noinline]] int recurse_small_frames(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  if (never.load(std::memory_order_relaxed)) return depth;
  return recurse_small_frames(depth + 1) + frame[0];
}

// Frames bigger than the runtime's 16 KiB guard. 40 KiB rather than 64: a 256 KiB stack is not a
// whole number of them, so the first frame past the end reaches 24 KiB or more below it, beyond
// the guard (with 64 KiB frames the fourth frame's bottom happens to land inside the guard).
constexpr std::size_t big_frame = 40 * 1024;
constexpr std::size_t stack_size = 256 * 1024;

// Each frame writes its whole array, lowest address first, as memset would.
[[gnu::noinline]] int recurse_big_frames_filled(int depth) {
  volatile char frame[big_frame];
  for (std::size_t i = 0; i < big_frame; i += 64) frame[i] = static_cast<char>(depth);
  if (never.load(std::memory_order_relaxed)) return depth;
  return recurse_big_frames_filled(depth + 1) + frame[0] + frame[big_frame - 1];
}

// Each frame writes only the lowest byte of its array before calling deeper, so the first access
// past the stack's end lies below the guard: only a compiler that probes every page of a big
// frame as it allocates it (-fstack-clash-protection, which gopp's CMake target passes on to the
// code that links it, as goroutine bodies are its users' code) makes it fault in the guard.
[[gnu::noinline]] int recurse_big_frames_touched_at_the_bottom(int depth) {
  volatile char frame[big_frame];
  frame[0] = static_cast<char>(depth);
  if (never.load(std::memory_order_relaxed)) return depth;
  return recurse_big_frames_touched_at_the_bottom(depth + 1) + frame[0];
}

#if defined(GOPP_SANITIZER_ADDRESS)
#define GOPP_SKIP_UNDER_ASAN() \
  GTEST_SKIP() << "ASan owns SIGSEGV and its alternate signal stack; see the comment above"
#else
#define GOPP_SKIP_UNDER_ASAN() (void)0
#endif

TEST_F(RuntimeDeathTest, UnboundedRecursionInAGoroutineIsReportedAsStackOverflow) {
  GOPP_SKIP_UNDER_ASAN();
  EXPECT_DEATH(
      {
        gopp::go([] {
          announce_stack_top();
          recurse_small_frames(0);
        });
        wait_for_death();
      },
      overflow_report(1));
}

TEST_F(RuntimeDeathTest, OverflowWithFilledFramesBiggerThanTheGuardIsReported) {
  GOPP_SKIP_UNDER_ASAN();
  EXPECT_DEATH(
      {
        gopp::configure({.stack_size = stack_size});
        gopp::go([] {
          announce_stack_top();
          recurse_big_frames_filled(0);
        });
        wait_for_death();
      },
      overflow_report(1));
}

TEST_F(RuntimeDeathTest, OverflowWithFramesBiggerThanTheGuardTouchedAtTheBottomIsCaughtInItsGuard) {
  GOPP_SKIP_UNDER_ASAN();
  // Other goroutines hold the stacks next to the overflowing one's, as in any real program. A
  // fault caught only in a neighbour's guard means the overflow first ran through (and wrote
  // into) that neighbour's stack.
  EXPECT_DEATH(
      {
        gopp::configure({.stack_size = stack_size});
        for (int i = 0; i < 40; ++i) gopp::go([] { gopp::sleep_for(20s); });
        gopp::go([] {
          announce_stack_top();
          recurse_big_frames_touched_at_the_bottom(0);
        });
        wait_for_death();
      },
      overflow_report(41));
}

// One frame bigger than the whole stack, touched at its bottom only.
[[gnu::noinline]] int one_frame_bigger_than_the_stack() {
  volatile char frame[stack_size + 2 * big_frame];
  frame[0] = 1;
  return frame[0];
}

TEST_F(RuntimeDeathTest, AFrameBiggerThanTheWholeStackIsCaughtInItsGuard) {
  GOPP_SKIP_UNDER_ASAN();
  EXPECT_DEATH(
      {
        gopp::configure({.stack_size = stack_size});
        for (int i = 0; i < 40; ++i) gopp::go([] { gopp::sleep_for(20s); });
        gopp::go([] {
          announce_stack_top();
          one_frame_bigger_than_the_stack();
          survived = true;
        });
        wait_for_death();
      },
      overflow_report(41));
}

TEST_F(RuntimeDeathTest, OverflowAfterParksIsReportedForTheRightGoroutine) {
  GOPP_SKIP_UNDER_ASAN();
  // Goroutine 1 sleeps on; goroutine 2 parks a few times (changing threads), then overflows.
  EXPECT_DEATH(
      {
        gopp::go([] { gopp::sleep_for(20s); });
        gopp::go([] {
          for (int i = 0; i < 5; ++i) gopp::sleep_for(1ms);
          announce_stack_top();
          recurse_small_frames(0);
        });
        wait_for_death();
      },
      overflow_report(2));
}

// ---- Stacks without a guard page (past the vm.max_map_count budget; here $GOPP_GUARDED_STACKS=0)

// Recurses in 256-byte frames, each filled with non-zero bytes, until a frame lies below
// `target`; then calls `at_bottom` there and unwinds.
template <class F>
[[gnu::noinline]] int recurse_filled_until(std::uintptr_t target, F& at_bottom, int depth = 0) {
  volatile char frame[256];
  for (std::size_t i = 0; i < sizeof frame; ++i) frame[i] = 1;
  if (reinterpret_cast<std::uintptr_t>(&frame[0]) < target) {
    at_bottom();
    return depth;
  }
  return recurse_filled_until(target, at_bottom, depth + 1) + frame[0];
}

// The top of the calling goroutine's stack, as announce_stack_top() computes and prints it.
[[gnu::noinline]] std::uintptr_t stack_top_of_caller() {
  volatile char here = 0;
  return (reinterpret_cast<std::uintptr_t>(&here) + 4095) & ~std::uintptr_t{4095};
}

TEST_F(RuntimeDeathTest, AnUnguardedStackWhoseCanaryWasWrittenIsReportedWhenItsGoroutineEnds) {
  GOPP_SKIP_UNDER_ASAN();
  // The recursion runs 2 KiB past the stack's end (into its unprotected guard, writing the
  // canary), unwinds, and the goroutine ends: the end-of-goroutine check must report it.
  EXPECT_DEATH(
      {
        setenv("GOPP_GUARDED_STACKS", "0", 1);
        gopp::go([] {
          announce_stack_top();
          const std::uintptr_t bottom = stack_top_of_caller() - stack_size;
          auto nothing = [] {};
          recurse_filled_until(bottom - 2048, nothing);
        });
        wait_for_death();
      },
      overflow_report(1));
}

TEST_F(RuntimeDeathTest, AnUnguardedStackThatSwitchesPastItsEndIsReportedAtTheSwitch) {
  GOPP_SKIP_UNDER_ASAN();
  // The goroutine yields from past its stack's end and then never ends: only the check at the
  // switch can report it (without it the test fails to die).
  EXPECT_DEATH(
      {
        setenv("GOPP_GUARDED_STACKS", "0", 1);
        gopp::go([] {
          announce_stack_top();
          const std::uintptr_t bottom = stack_top_of_caller() - stack_size;
          auto yield_there = [] { gopp::yield(); };
          recurse_filled_until(bottom, yield_there);
          gopp::sleep_for(20s);
        });
        wait_for_death();
      },
      overflow_report(1));
}

TEST_F(RuntimeDeathTest, AnUnguardedStackUsedWithinItsBoundsIsNotReported) {
  // Under ASan the frames live on its fake stack (detect_stack_use_after_return), so the
  // recursion never reaches the goroutine stack's end and runs into ASan's own limits instead.
  GOPP_SKIP_UNDER_ASAN();
  // The control for the two above: deep use that stays 1 KiB above the end, a switch there,
  // and a normal end. EXPECT_EXIT with status 0: nothing reported, nothing aborted.
  EXPECT_EXIT(
      {
        setenv("GOPP_GUARDED_STACKS", "0", 1);
        std::atomic<bool> finished{false};
        gopp::go([&finished] {
          const std::uintptr_t bottom = stack_top_of_caller() - stack_size;
          auto yield_there = [] { gopp::yield(); };
          recurse_filled_until(bottom + 1024, yield_there);
          finished = true;
        });
        while (!finished) gopp::sleep_for(1ms);
        gopp::sleep_for(10ms);  // the goroutine's end (and its check) follows its last store
        std::fprintf(stderr, "survived\n");
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "survived");
}

// ---------------------------------------------------------------------------------------------
// Faults that are not overflows

int* volatile null_pointer = nullptr;  // volatile: the compiler cannot see it is null

// What the child's stderr starts with when it dies of a null-pointer write that nobody reports
// as an overflow: nothing at all in a plain build (the default action kills the process
// silently); UBSan's report in the asan preset (it is built with -fsanitize=undefined too, which
// checks the store before it faults); TSan's own SEGV report under TSan.
#if defined(GOPP_SANITIZER_ADDRESS)
constexpr const char* plain_segv =
    "^[^\n]*runtime_death_test.cpp:[0-9]+:[0-9]+: runtime error: store to null pointer";
#elif defined(GOPP_SANITIZER_THREAD)
constexpr const char* plain_segv =
    "^ThreadSanitizer:DEADLYSIGNAL\n=+[0-9]+=+ERROR: "
    "ThreadSanitizer: SEGV on unknown address (0x0+|\\(nil\\))";
#else
constexpr const char* plain_segv = "^$";
#endif

// A write to an unmapped address just above null: the same SIGSEGV, but one UBSan does not check,
// so under ASan it reaches the runtime's handler, which must hand it on to ASan's.
int* volatile near_null_pointer = reinterpret_cast<int*>(64);

#if defined(GOPP_SANITIZER_ADDRESS)
constexpr const char* plain_near_null_segv =
    "^AddressSanitizer:DEADLYSIGNAL\n=+\n=+[0-9]+=+ERROR: "
    "AddressSanitizer: SEGV on unknown address 0x0*40 ";
#else
constexpr const char* plain_near_null_segv = plain_segv;
#endif

TEST_F(RuntimeDeathTest, ANullPointerWriteInAGoroutineIsNotReportedAsStackOverflow) {
  EXPECT_DEATH(
      {
        gopp::go([] { *null_pointer = 1; });
        wait_for_death();
      },
      plain_segv);
}

#if !defined(GOPP_SANITIZER_ADDRESS) && !defined(GOPP_SANITIZER_THREAD)
TEST_F(RuntimeDeathTest, ANullPointerWriteInAGoroutineDiesOfSigsegv) {
  // The handler reinstalls the previous disposition (the default) and lets the write fault again.
  EXPECT_EXIT(
      {
        gopp::go([] { *null_pointer = 1; });
        wait_for_death();
      },
      ::testing::KilledBySignal(SIGSEGV), "^$");
}
#endif

TEST_F(RuntimeDeathTest, ANearNullWriteInAGoroutineIsNotReportedAsStackOverflow) {
  EXPECT_DEATH(
      {
        gopp::go([] { *near_null_pointer = 1; });
        wait_for_death();
      },
      plain_near_null_segv);
}

TEST_F(RuntimeDeathTest, ANullPointerWriteOnAPlainThreadIsNotReportedAsStackOverflow) {
  // The runtime's handler is installed process-wide once the runtime starts.
  EXPECT_DEATH(
      {
        (void)gopp::num_threads();
        *null_pointer = 1;
        wait_for_death();
      },
      plain_segv);
}

// A handler installed before the runtime (here one that recovers from a probe's fault with
// siglongjmp, as a JVM or a memory prober does) gets every fault that is not an overflow, and
// the runtime's handler stays installed after it: a later overflow is still reported.
sigjmp_buf g_probe_jump;
std::atomic<int> g_probe_faults{0};

void recovering_handler(int, siginfo_t*, void*) {
  g_probe_faults.fetch_add(1);
  siglongjmp(g_probe_jump, 1);
}

// Reads *p; true if that faulted (and the fault was recovered from).
bool probe_faults(const volatile int* p) {
  if (sigsetjmp(g_probe_jump, 1) != 0) return true;
  (void)*p;
  return false;
}

TEST_F(RuntimeDeathTest, AForeignFaultGoesToThePreviousHandlerAndOursStaysInstalled) {
  GOPP_SKIP_UNDER_ASAN();
  EXPECT_DEATH(
      {
        struct sigaction sa {};
        sa.sa_sigaction = &recovering_handler;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, nullptr);
        (void)gopp::num_threads();  // starts the runtime, which installs its handler
        for (int i = 0; i < 3; ++i) {
          if (!probe_faults(null_pointer)) std::fprintf(stderr, "the probe did not fault\n");
        }
        struct sigaction now {};
        sigaction(SIGSEGV, nullptr, &now);
        const bool replaced =
            (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == &recovering_handler;
        std::fprintf(stderr, "recovered %d faults; runtime handler %s\n", g_probe_faults.load(),
                     replaced ? "replaced" : "kept");
        gopp::go([] {
          announce_stack_top();
          recurse_small_frames(0);
        });
        wait_for_death();
      },
      "^recovered 3 faults; runtime handler kept\n(.|\n)*fatal error: stack overflow");
}

}  // namespace
