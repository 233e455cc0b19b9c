// Port of Go's test/chan/fifo.go: channels deliver values first in, first out.
//
// The Go program checks a buffered channel filled and then drained by one goroutine, and an
// unbuffered channel read by a daisy chain of goroutines that take turns: goroutine i may receive
// only after goroutine i-1 has, so goroutine i must see value i. Both run here with the program's
// "main" on the test thread and on a goroutine.
#include "test_support.hpp"

#include <vector>

namespace {

using gopp::chan;
using gopp::recv_chan;
using gopp::send_chan;
using namespace gopp_test;

constexpr int N = 10;  // as in fifo.go

void buffered_fifo() {
  chan<int> c(N);
  for (int i = 0; i < N; ++i) c.send(i);
  for (int i = 0; i < N; ++i) EXPECT_EQ(c.recv(), i) << "buffered channel out of order";
}

// One link of the chain: wait for the turn token, take one value, pass the token on.
void link(recv_chan<int> values, int expect, recv_chan<int> my_turn, send_chan<int> next_turn) {
  (void)my_turn.recv();
  EXPECT_EQ(values.recv(), expect) << "link " << expect << " got another link's value";
  next_turn.send(1);
}

void unbuffered_fifo() {
  chan<int> values;
  chan<int> first_turn;
  chan<int> turn = first_turn;
  for (int i = 0; i < N; ++i) {
    chan<int> next;
    gopp::go(link, values, i, turn, next);
    turn = next;
  }
  first_turn.send(0);
  for (int i = 0; i < N; ++i) values.send(i);
  (void)turn.recv();  // the last link has finished
}

class Fifo : public sides {};

TEST_P(Fifo, AsynchFifo) {
  start(GetParam(), buffered_fifo).join();
}

TEST_P(Fifo, SynchFifo) {
  start(GetParam(), unbuffered_fifo).join();
}

TEST_P(Fifo, SynchFifoRepeated) {
  const int rounds = static_cast<int>(scaled(200, 20));
  start(GetParam(), [rounds] {
    for (int r = 0; r < rounds && !::testing::Test::HasFailure(); ++r) unbuffered_fifo();
  }).join();
}

GOPP_INSTANTIATE_SIDES(Fifo);

}  // namespace
