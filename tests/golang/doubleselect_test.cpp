// Port of Go's test/chan/doubleselect.go: two cases of one select must never both run.
//
// A sender runs a select with four send cases (four unbuffered channels) for each counter value;
// four mux goroutines forward what they receive onto one shared channel; a receiver checks that no
// value arrives twice (if two cases of one select ran, the same value would leave on two
// channels). This port also checks that every value arrives. Go runs 100,000 iterations with
// GOMAXPROCS(2); here the count is scaled and the thread count is whatever the process has.
#include "test_support.hpp"

#include <vector>

namespace {

using gopp::chan;
using gopp::recv_chan;
using gopp::send_case;
using gopp::send_chan;
using namespace gopp_test;

void sender(int n, send_chan<int> c1, send_chan<int> c2, send_chan<int> c3, send_chan<int> c4) {
  for (int i = 0; i < n; ++i) {
    gopp::select(send_case(c1, i), send_case(c2, i), send_case(c3, i), send_case(c4, i));
  }
  c4.close();  // Go closes them in deferred order: c4 first
  c3.close();
  c2.close();
  c1.close();
}

void mux(send_chan<int> out, recv_chan<int> in, send_chan<bool> done) {
  for (int v : in) out.send(v);
  done.send(true);
}

void recver(recv_chan<int> in, int n) {
  std::vector<bool> seen(static_cast<std::size_t>(n), false);
  int count = 0;
  for (int v : in) {
    ASSERT_TRUE(v >= 0 && v < n) << "invented value " << v;
    ASSERT_FALSE(seen[static_cast<std::size_t>(v)]) << "got duplicate value: " << v;
    seen[static_cast<std::size_t>(v)] = true;
    ++count;
  }
  EXPECT_EQ(count, n) << "values went missing";
}

void doubleselect_main(int iterations) {
  chan<int> c1, c2, c3, c4;
  chan<bool> done;
  chan<int> cmux;
  gopp::go(sender, iterations, c1, c2, c3, c4);
  gopp::go(mux, cmux, c1, done);
  gopp::go(mux, cmux, c2, done);
  gopp::go(mux, cmux, c3, done);
  gopp::go(mux, cmux, c4, done);
  gopp::go([done, cmux] {
    for (int i = 0; i < 4; ++i) (void)done.recv();
    cmux.close();
  });
  recver(cmux, iterations);
}

class DoubleSelect : public sides {};

TEST_P(DoubleSelect, NoValueIsSentTwice) {
  const int iterations = static_cast<int>(scaled(20000, 1000));
  start(GetParam(), [iterations] { doubleselect_main(iterations); }).join();
}

GOPP_INSTANTIATE_SIDES(DoubleSelect);

}  // namespace
