// Port of Go's test/chan/select4.go: a select proceeds with the case whose value is ready.
//
// In Go the receive case that is not chosen has a left-hand side (`*f() = <-c1`) that must never
// be evaluated; here the counterpart is a handler, which must not run, while the chosen case
// stores 42 into a struct field.
#include "test_support.hpp"

#include <optional>

namespace {

using gopp::chan;
using gopp::recv_case;
using namespace gopp_test;

struct holder {
  int a = 0;
};

void select4_main() {
  holder x;
  chan<int> c(1), c1;
  c.send(42);
  std::size_t chosen = gopp::select(
      recv_case(c1, [](std::optional<int>) { ADD_FAILURE() << "BUG: ran the c1 case"; }),
      recv_case(c, [&](std::optional<int> v) { x.a = v.value_or(-1); }));
  EXPECT_EQ(chosen, 1u);
  EXPECT_EQ(x.a, 42);
}

class Select4 : public sides {};

TEST_P(Select4, ProceedsWithTheReadyValue) {
  start(GetParam(), select4_main).join();
}

GOPP_INSTANTIATE_SIDES(Select4);

}  // namespace
