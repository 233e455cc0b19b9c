// Port of Go's test/chan/select6.go, Go issue 2075: a select corrupted the wait queue of a channel
// whose case lost, when that select was the last of several waiters on it.
//
// Interleaving: goroutine A waits to receive on c1; goroutine B selects on c1 and c2 (so B queues
// on c1 behind A); C sends on c2, which wakes B through c2. B must leave c1's queue cleanly: B
// then signals c3 and receives on c1 again, and main sends twice on c1 - one value for A, one for
// B. With the bug, a waiter was lost and main's second send blocked forever.
#include "test_support.hpp"

#include <optional>

namespace {

using gopp::chan;
using gopp::recv_case;
using namespace gopp_test;

void select6_main() {
  chan<bool> c1, c2, c3;
  gopp::go([c1] { (void)c1.recv(); });
  gopp::go([c1, c2, c3] {
    gopp::select(recv_case(c1, [](std::optional<bool>) { ADD_FAILURE() << "dummy"; }),
                 recv_case(c2, [&](std::optional<bool>) { c3.send(true); }));
    (void)c1.recv();
  });
  gopp::go([c2] { c2.send(true); });
  (void)c3.recv();
  c1.send(true);
  c1.send(true);
}

class Select6 : public sides {};

TEST_P(Select6, Issue2075LosingCaseKeepsTheQueueIntact) {
  const int rounds = static_cast<int>(scaled(500, 50));
  start(GetParam(), [rounds] {
    for (int i = 0; i < rounds; ++i) select6_main();
  }).join();
}

GOPP_INSTANTIATE_SIDES(Select6);

}  // namespace
