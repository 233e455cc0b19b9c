// tests/stack_pool_test.cpp: the runtime's stack pool (src/runtime/stack.hpp), white-box:
//   - stack descriptors lie apart from every stack and guard, so an overflow of a stack that has
//     a canary instead of a guard cannot rewrite them;
//   - reserve() keeps enough stacks mapped for the allocate() that follows it to succeed without
//     mapping more, however many threads hide free stacks in their caches.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "runtime/stack.hpp"

namespace {

namespace stack_pool = gopp::detail::stack_pool;
using gopp::detail::stack;

#if defined(GOPP_SANITIZER_ADDRESS) || defined(GOPP_SANITIZER_THREAD)
constexpr bool under_sanitizer = true;
#else
constexpr bool under_sanitizer = false;
#endif

std::vector<stack*> take(std::size_t n) {
  std::vector<stack*> out;
  for (std::size_t i = 0; i < n; ++i) {
    if (!stack_pool::reserve()) break;
    stack* s = stack_pool::allocate();
    if (!s) {
      stack_pool::unreserve();
      break;
    }
    out.push_back(s);
  }
  return out;
}

void give_back(const std::vector<stack*>& stacks) {
  for (stack* s : stacks) stack_pool::release(s);
}

TEST(StackPool, DescriptorsLieApartFromEveryStackAndGuard) {
  const std::vector<stack*> stacks = take(96);  // three slabs' worth
  ASSERT_EQ(stacks.size(), 96u);
  for (const stack* d : stacks) {
    const char* p = reinterpret_cast<const char*>(d);
    for (const stack* t : stacks) {
      const char* from = t->bottom - stack_pool::guard_size;
      EXPECT_FALSE(p + sizeof(stack) > from && p < t->top())
          << "the descriptor of the stack at " << static_cast<const void*>(d->bottom)
          << " lies in the guard or stack at " << static_cast<const void*>(t->bottom);
    }
    EXPECT_FALSE(stack_pool::in_guard(d, nullptr)) << "a descriptor lies in a guard";
  }
  // in_guard still names the right stack for an address in each guard.
  for (const stack* t : stacks) {
    const stack* which = nullptr;
    EXPECT_TRUE(stack_pool::in_guard(t->bottom - 1, &which));
    EXPECT_EQ(which, t);
  }
  give_back(stacks);
}

// In a child: `threads` threads each fill their cache with free stacks and keep it; then this
// thread reserves `wanted` stacks, forbids any further mapping (RLIMIT_AS) and allocates them.
[[noreturn]] void allocate_after_caches_hide_stacks(int threads, std::size_t wanted) {
  alarm(60);
  std::atomic<int> ready{0};
  std::atomic<bool> finish{false};
  std::vector<std::thread> holders;
  for (int t = 0; t < threads; ++t) {
    holders.emplace_back([&] {
      give_back(take(64));  // the cache's capacity: all 64 stay in this thread's cache
      ready.fetch_add(1);
      while (!finish.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  }
  while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (std::size_t i = 0; i < wanted; ++i) {
    if (!stack_pool::reserve()) {
      std::fprintf(stderr, "reserve failed\n");
      _exit(2);
    }
  }
  // No more address space from here on: the reservations must already cover the allocations.
  long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  const rlim_t limit =
      static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (rlim_t{1} << 20);
  const rlimit rl{limit, limit};
  if (pages == 0 || setrlimit(RLIMIT_AS, &rl) != 0) {
    std::fprintf(stderr, "cannot limit the address space\n");
    _exit(3);
  }
  std::size_t missing = 0;
  for (std::size_t i = 0; i < wanted; ++i) {
    if (!stack_pool::allocate()) ++missing;
  }
  std::fprintf(stderr, "%zu of %zu reserved stacks could not be had\n", missing, wanted);
  _exit(missing == 0 ? 0 : 1);
}

TEST(StackPool, ReservedStacksAreThereThoughOtherThreadsCachesHideFreeOnes) {
  if (under_sanitizer) GTEST_SKIP() << "the sanitizers' own mappings need RLIMIT_AS unlimited";
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_EXIT(allocate_after_caches_hide_stacks(8, 300), ::testing::ExitedWithCode(0),
              "^0 of 300 reserved stacks could not be had");
}

}  // namespace
