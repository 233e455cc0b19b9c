// Port of Go's test/chan/zerosize.go: channels of zero-sized element types.
//
// Go makes unbuffered and buffered channels of [0]byte and struct{}. C++ objects are never zero
// bytes, so the port uses the closest types: an empty struct, std::monostate and
// std::array<std::byte, 0>. Beyond making them, as Go does, it sends and receives through each.
#include "test_support.hpp"

#include <array>
#include <cstddef>
#include <variant>

namespace {

using gopp::chan;
using namespace gopp_test;

struct empty_struct {};

template <class T>
void exercise() {
  chan<T> unbuffered;
  chan<T> buffered(1);
  EXPECT_EQ(unbuffered.capacity(), 0u);
  EXPECT_EQ(buffered.capacity(), 1u);
  buffered.send(T{});
  EXPECT_EQ(buffered.size(), 1u);
  EXPECT_TRUE(buffered.recv().has_value());
  gopp::go([unbuffered] { unbuffered.send(T{}); });
  EXPECT_TRUE(unbuffered.recv().has_value());
  unbuffered.close();
  EXPECT_FALSE(unbuffered.recv().has_value());
}

class ZeroSize : public leak_checked {};

TEST_F(ZeroSize, EmptyStruct) {
  exercise<empty_struct>();
}
TEST_F(ZeroSize, Monostate) {
  exercise<std::monostate>();
}
TEST_F(ZeroSize, ZeroLengthArray) {
  exercise<std::array<std::byte, 0>>();
}

}  // namespace
