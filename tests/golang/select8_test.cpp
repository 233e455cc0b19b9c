// Port of Go's test/chan/select8.go: `break` inside a select case.
//
// In Go, `break` in a case body leaves the select (gccgo once mishandled it for one-, two- and
// three-case selects). A gopp case body is a handler, so the counterpart of `break` is an early
// return from the handler: it must end only the handler, and the select must still report the
// case that ran. A goroutine sends 5 forever, as in Go; here it stops through a pipeline.
#include "test_support.hpp"

#include <optional>

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;

void select8_main() {
  pipeline q;
  chan<int> ch;
  q.go([q, ch] {
    for (;;) q.send(ch, 5);
  });
  bool reached_end = false;
  auto unreachable = [&] { reached_end = true; };

  EXPECT_EQ(gopp::select(recv_case(ch,
                                   [&](std::optional<int>) {
                                     return;  // Go: break
                                     unreachable();
                                   })),
            0u);

  EXPECT_EQ(gopp::select(default_case([&] {
              return;
              unreachable();
            })),
            0u);

  std::size_t chosen = gopp::select(recv_case(ch,
                                              [&](std::optional<int>) {
                                                return;
                                                unreachable();
                                              }),
                                    default_case([&] {
                                      return;
                                      unreachable();
                                    }));
  EXPECT_LT(chosen, 2u);

  chosen =
      gopp::select(recv_case(ch,
                             [&](std::optional<int>) {
                               return;
                               unreachable();
                             }),
                   send_case(ch, 10, [&] { ADD_FAILURE() << "sent to a channel nobody reads"; }),
                   default_case([&] {
                     return;
                     unreachable();
                   }));
  EXPECT_TRUE(chosen == 0 || chosen == 2);
  EXPECT_FALSE(reached_end);
  q.stop();
}

class Select8 : public sides {};

TEST_P(Select8, EarlyReturnFromACaseEndsOnlyThatCase) {
  start(GetParam(), select8_main).join();
}

GOPP_INSTANTIATE_SIDES(Select8);

}  // namespace
