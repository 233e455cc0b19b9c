// Port of Go's test/chan/sendstmt.go: send statements in unusual positions.
//
// Go checks two parsing cases: `case <-cc <- 2:` in a select (send 2 on the channel received
// from cc), and `c <- false || true` (the operand is the whole expression). The C++ counterparts
// are a send_case whose channel is the value just received from a channel of channels, and a send
// whose argument is an expression.
#include "test_support.hpp"

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::send_case;
using namespace gopp_test;

class SendStmt : public leak_checked {};

TEST_F(SendStmt, ChanOfChan) {
  chan<chan<int>> cc(1);
  chan<int> c(1);
  cc.send(c);
  std::size_t chosen = gopp::select(send_case(cc.recv().value(), 2),
                                    default_case([] { ADD_FAILURE() << "nonblock"; }));
  EXPECT_EQ(chosen, 0u);
  EXPECT_EQ(c.recv(), 2) << "bad receive";
}

TEST_F(SendStmt, SendPrecedence) {
  chan<bool> c(1);
  bool f = false, t = true;
  c.send(f || t);
  EXPECT_EQ(c.recv(), true) << "sent false";
}

}  // namespace
