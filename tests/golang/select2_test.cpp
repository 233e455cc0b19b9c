// Port of Go's test/chan/select2.go: selects do not consume undue memory.
//
// The Go program runs 100,000 two-case selects (a receive that a sender goroutine feeds, and a
// dummy receive that is never ready), measures the heap, runs 100,000 more and checks that the
// heap grew by less than 110,000 bytes. Here the heap in use is read from glibc (mallinfo2) or,
// in sanitizer builds, from the sanitizer's allocator; the count is scaled by test_scale().
#include "test_support.hpp"

#include <malloc.h>

#include <cstddef>
#include <optional>

#if defined(GOPP_SANITIZER_ADDRESS) || defined(GOPP_SANITIZER_THREAD)
// From the sanitizer runtimes' allocator interface (GCC does not ship its header).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace {

using gopp::chan;
using gopp::recv_case;
using namespace gopp_test;

std::size_t heap_in_use() {
#if defined(GOPP_SANITIZER_ADDRESS) || defined(GOPP_SANITIZER_THREAD)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

void sender(chan<int> c, int n) {
  for (int i = 0; i < n; ++i) c.send(1);
}

void receiver(chan<int> c, chan<int> dummy, int n) {
  for (int i = 0; i < n; ++i) {
    gopp::select(recv_case(c),
                 recv_case(dummy, [](std::optional<int>) { ADD_FAILURE() << "dummy was ready"; }));
  }
}

class Select2 : public sides {};

TEST_P(Select2, SelectsDoNotGrowTheHeap) {
  const int n = static_cast<int>(scaled(30000, 2000));
  chan<int> c, dummy;
  const std::size_t idle = gopp::num_goroutines();
  auto round = [&] {
    gopp::go(sender, c, n);
    start(GetParam(), [&] { receiver(c, dummy, n); }).join();
    // the sender may still be returning from its last send
    ASSERT_TRUE(eventually([&] { return gopp::num_goroutines() <= idle; }));
  };
  round();  // warm up
  const std::size_t before = heap_in_use();
  round();
  const std::size_t after = heap_in_use();
  if (after > before) {
    EXPECT_LT(after - before, 110000u) << "too much memory for " << n << " selects";
  }
}

GOPP_INSTANTIATE_SIDES(Select2);

}  // namespace
