// tests/stack_pool_test.cpp: the runtime's stack pool (src/runtime/stack.hpp), white-box:
//   - stack descriptors lie apart from every stack and guard, so an overflow of a stack that has
//     a canary instead of a guard cannot rewrite them.
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

}  // namespace
