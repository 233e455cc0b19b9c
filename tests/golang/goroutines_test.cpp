// Port of Go's test/chan/goroutines.go: a torture test that threads many goroutines together and
// tears them down cleanly.
//
// Each of n goroutines waits for a value from its right neighbour's channel and passes it to its
// left; a last goroutine injects the value at the right end, and main waits for it at the left
// end. Go uses n = 10,000; here n is scaled (and the whole chain is built several times).
#include "test_support.hpp"

namespace {

using gopp::chan;
using gopp::recv_chan;
using gopp::send_chan;
using namespace gopp_test;

void f(send_chan<int> left, recv_chan<int> right) {
  left.send(right.recv().value());
}

void goroutines_main(int n) {
  chan<int> leftmost;
  chan<int> left = leftmost;
  chan<int> right = leftmost;
  for (int i = 0; i < n; ++i) {
    right = chan<int>();
    gopp::go(f, left, right);
    left = right;
  }
  gopp::go([](chan<int> c) { c.send(1); }, right);
  EXPECT_EQ(leftmost.recv(), 1);
}

class Goroutines : public sides {};

TEST_P(Goroutines, ChainOfTenThousand) {
  const int n = static_cast<int>(scaled_goroutines(10000, 100));
  start(GetParam(), [n] { goroutines_main(n); }).join();
}

TEST_P(Goroutines, ShortChainsManyTimes) {
  const int rounds = static_cast<int>(scaled_goroutines(200, 4));
  start(GetParam(), [rounds] {
    for (int i = 0; i < rounds; ++i) goroutines_main(50);
  }).join();
}

GOPP_INSTANTIATE_SIDES(Goroutines);

}  // namespace
