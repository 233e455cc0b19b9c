// Port of Go's test/chan/select.go: a simple select with two send cases and a default.
//
// The Go program loops on a select that sends a fresh power of two on a or b, and switches a
// channel off (sets it to nil) once it has been used, until only default is left. The value
// expressions of all cases are evaluated on every pass, used or not, so after the two runs the
// value function has been called exactly 10 times. Here a channel is switched off by replacing
// its handle with the nil channel, as in Go.
#include "test_support.hpp"

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::send_case;
using namespace gopp_test;

struct select_program {
  unsigned counter = 0;
  unsigned shift = 0;

  unsigned get_value() {
    ++counter;
    return 1u << shift;
  }

  // Sends on a and b until neither can take a value; returns how many sends happened.
  int send(chan<unsigned> a, chan<unsigned> b) {
    int sent = 0;
    for (;;) {
      bool done = false;
      gopp::select(send_case(a, get_value(),
                             [&] {
                               ++sent;
                               a = chan<unsigned>(nullptr);
                             }),
                   send_case(b, get_value(),
                             [&] {
                               ++sent;
                               b = chan<unsigned>(nullptr);
                             }),
                   default_case([&] { done = true; }));
      if (done) break;
      ++shift;
    }
    return sent;
  }
};

void select_main() {
  select_program p;
  chan<unsigned> a(1), b(1);
  EXPECT_EQ(p.send(a, b), 2);
  auto av = a.recv(), bv = b.recv();
  ASSERT_TRUE(av && bv);
  EXPECT_EQ(*av | *bv, 3u) << "values " << *av << " and " << *bv;
  EXPECT_EQ(p.send(a, chan<unsigned>(nullptr)), 1);
  EXPECT_EQ(p.counter, 10u);
}

class Select : public sides {};

TEST_P(Select, SendWithNilledCasesAndDefault) {
  start(GetParam(), select_main).join();
}

GOPP_INSTANTIATE_SIDES(Select);

}  // namespace
