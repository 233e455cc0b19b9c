// Port of Go's test/chan/select7.go: selects whose received value is discarded.
//
// Three receivers (a plain receive, a one-case select, a two-case select with a dummy channel)
// meet three senders (a plain send, a one-case select, a two-case select with a dummy channel);
// each sender starts its receiver on a goroutine, yields, then sends. All nine pairings must
// complete.
#include "test_support.hpp"

namespace {

using gopp::chan;
using gopp::recv_case;
using gopp::recv_chan;
using gopp::send_case;
using namespace gopp_test;

using receiver = void (*)(recv_chan<int>);

void recv1(recv_chan<int> c) {
  (void)c.recv();
}
void recv2(recv_chan<int> c) {
  gopp::select(recv_case(c));
}
void recv3(recv_chan<int> c) {
  chan<int> c2;
  gopp::select(recv_case(c), recv_case(c2));
}

void send1(receiver recv) {
  chan<int> c;
  gopp::go(recv, c);
  gopp::yield();
  c.send(1);
}
void send2(receiver recv) {
  chan<int> c;
  gopp::go(recv, c);
  gopp::yield();
  gopp::select(send_case(c, 1));
}
void send3(receiver recv) {
  chan<int> c;
  gopp::go(recv, c);
  gopp::yield();
  chan<int> c2;
  gopp::select(send_case(c, 1), send_case(c2, 1));
}

void select7_main() {
  for (receiver r : {recv1, recv2, recv3}) {
    send1(r);
    send2(r);
    send3(r);
  }
}

class Select7 : public sides {};

TEST_P(Select7, DiscardedValuesInEveryPairing) {
  const int rounds = static_cast<int>(scaled(100, 10));
  start(GetParam(), [rounds] {
    for (int i = 0; i < rounds; ++i) select7_main();
  }).join();
}

GOPP_INSTANTIATE_SIDES(Select7);

}  // namespace
