// Port of Go's test/chan/select5.go: channel operations and simple selects in many shapes.
//
// The Go program is a generator: it enumerates every combination of a few optional parts and
// writes one Go function per combination, each doing exactly one real send or receive on a
// one-slot channel, phrased as a plain operation or as a select with or without a default (before
// or after the real case) and with or without dummy cases on a never-ready channel and on the nil
// channel. Its "order" variants check the order in which the case expressions are evaluated.
//
// Here the combinations are enumerated at compile time (a select's cases are a parameter pack):
// each is a bit pattern turned into a tuple of cases and handed to select. C++ leaves the
// evaluation order of the case expressions unspecified (API.md), so instead of Go's order checks
// every channel and value expression goes through a counting function and must be evaluated
// exactly once. Go's five receive forms (direct, through a pointer, :=, interface, map) become
// the handler forms C++ has: by value, by rvalue reference, generic lambda. (The context of a
// failure goes into each message, not SCOPED_TRACE: GoogleTest keeps traces per OS thread, and
// these run on goroutines too.)
#include "test_support.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;

// The state of the generated program: Go's package-level variables.
struct program {
  chan<int> c{1};  // buffered, so each test is single-goroutine
  chan<int> nilch{nullptr};
  chan<int> dummy;
  int n = 1;
  int x = 0;
  int evaluations = 0;  // calls of fc and fn in the current test

  chan<int> fc(const chan<int>& ch) {
    ++evaluations;
    return ch;
  }
  int fn(int v) {
    ++evaluations;
    return v;
  }
  void check(const std::string& where = "plain") {
    EXPECT_EQ(x, n) << where << ": have " << x << " want " << n;
    ++n;
  }
};

// Optional parts of a select.
enum extra : unsigned { dummy_send = 1, dummy_recv = 2, nil_send = 4, nil_recv = 8 };
enum class where_default { none, before, after };

template <bool Present, class Make>
auto maybe(Make make) {
  if constexpr (Present) {
    return std::make_tuple(make());
  } else {
    return std::tuple<>();
  }
}

template <where_default D, where_default Here>
auto maybe_default() {
  return maybe<D == Here>([] { return default_case([] { ADD_FAILURE() << "nonblock"; }); });
}

// The dummy cases of select5.go; they must never run. Returns them as a tuple, and adds to
// `evaluations` the number of case expressions they contain.
template <unsigned Extras>
auto dummy_cases(program& p, int& expressions) {
  expressions += ((Extras & dummy_send) ? 2 : 0) + ((Extras & dummy_recv) ? 1 : 0) +
                 ((Extras & nil_send) ? 2 : 0) + ((Extras & nil_recv) ? 1 : 0);
  return std::tuple_cat(
      maybe<(Extras & dummy_send) != 0>(
          [&] { return send_case(p.fc(p.dummy), p.fn(1), [] { ADD_FAILURE() << "dummy send"; }); }),
      maybe<(Extras & dummy_recv) != 0>([&] {
        return recv_case(p.fc(p.dummy),
                         [](std::optional<int>) { ADD_FAILURE() << "dummy receive"; });
      }),
      maybe<(Extras & nil_send) != 0>(
          [&] { return send_case(p.fc(p.nilch), p.fn(1), [] { ADD_FAILURE() << "nilch send"; }); }),
      maybe<(Extras & nil_recv) != 0>([&] {
        return recv_case(p.fc(p.nilch), [](std::optional<int>) { ADD_FAILURE() << "nilch recv"; });
      }));
}

template <class Tuple>
std::size_t run(Tuple&& cases) {
  return std::apply([](auto&&... cs) { return gopp::select(std::move(cs)...); },
                    std::forward<Tuple>(cases));
}

// recv / recvOrder: send n, receive it through a select of the given shape into x.
template <unsigned Extras, where_default D, int Form>
void recv_test(program& p) {
  const std::string where = "recv extras=" + std::to_string(Extras) +
                            " default=" + std::to_string(int(D)) + " form=" + std::to_string(Form);
  p.c.send(p.n);
  p.evaluations = 0;
  int expressions = 1;  // the real case's channel
  auto real = [&] {
    if constexpr (Form == 0) {
      return recv_case(p.fc(p.c), [&](std::optional<int> v) { p.x = v.value_or(-1); });
    } else if constexpr (Form == 1) {
      return recv_case(p.fc(p.c), [&](std::optional<int>&& v) { p.x = *v; });
    } else {
      return recv_case(p.fc(p.c), [&](auto v) { p.x = v.value_or(-1); });
    }
  };
  auto cases =
      std::tuple_cat(maybe_default<D, where_default::before>(), std::make_tuple(real()),
                     maybe_default<D, where_default::after>(), dummy_cases<Extras>(p, expressions));
  std::size_t chosen = run(std::move(cases));
  EXPECT_EQ(chosen, D == where_default::before ? 1u : 0u) << where;
  EXPECT_EQ(p.evaluations, expressions)
      << where << ": a case expression was not evaluated exactly once";
  p.check(where);
}

// send / sendOrder: send n through a select of the given shape, receive it into x.
template <unsigned Extras, where_default D>
void send_test(program& p) {
  const std::string where =
      "send extras=" + std::to_string(Extras) + " default=" + std::to_string(int(D));
  p.evaluations = 0;
  int expressions = 2;  // the real case's channel and value
  auto cases = std::tuple_cat(
      maybe_default<D, where_default::before>(), std::make_tuple(send_case(p.fc(p.c), p.fn(p.n))),
      maybe_default<D, where_default::after>(), dummy_cases<Extras>(p, expressions));
  std::size_t chosen = run(std::move(cases));
  EXPECT_EQ(chosen, D == where_default::before ? 1u : 0u) << where;
  EXPECT_EQ(p.evaluations, expressions) << where;
  p.x = p.c.recv().value_or(-1);
  p.check(where);
}

// nonblock: only dummy cases and a default; nothing may be received into x.
template <unsigned Extras, bool DefaultFirst>
void nonblock_test(program& p) {
  const std::string where =
      "nonblock extras=" + std::to_string(Extras) + " first=" + std::to_string(DefaultFirst);
  p.x = p.n;
  int expressions = 0;
  auto dummies = dummy_cases<Extras>(p, expressions);
  constexpr std::size_t count = std::tuple_size_v<decltype(dummies)>;
  auto def = std::make_tuple(default_case());
  std::size_t chosen = DefaultFirst ? run(std::tuple_cat(std::move(def), std::move(dummies)))
                                    : run(std::tuple_cat(std::move(dummies), std::move(def)));
  EXPECT_EQ(chosen, DefaultFirst ? 0u : count) << where;
  p.check(where);
}

template <std::size_t... I>
void all_recv_tests(program& p, std::index_sequence<I...>) {
  // I = extras + 16 * (default placement + 3 * form)
  (recv_test<I % 16, where_default((I / 16) % 3), int(I / 48)>(p), ...);
}
template <std::size_t... I>
void all_send_tests(program& p, std::index_sequence<I...>) {
  (send_test<I % 16, where_default(I / 16)>(p), ...);
}
template <std::size_t... I>
void all_nonblock_tests(program& p, std::index_sequence<I...>) {
  (nonblock_test<I % 16, (I / 16) != 0>(p), ...);
}

class Select5 : public sides {};

TEST_P(Select5, PlainOperations) {
  start(GetParam(), [] {
    program p;
    p.c.send(p.n);  // recv, plain form
    p.x = p.c.recv().value_or(-1);
    p.check();
    p.fc(p.c).send(p.fn(p.n));  // send, plain form
    p.x = p.c.recv().value_or(-1);
    p.check();
  }).join();
}

TEST_P(Select5, ReceiveShapes) {
  start(GetParam(), [] {
    program p;
    all_recv_tests(p, std::make_index_sequence<16 * 3 * 3>());
    EXPECT_EQ(p.n, 1 + 16 * 3 * 3);
  }).join();
}

TEST_P(Select5, SendShapes) {
  start(GetParam(), [] {
    program p;
    all_send_tests(p, std::make_index_sequence<16 * 3>());
    EXPECT_EQ(p.n, 1 + 16 * 3);
  }).join();
}

TEST_P(Select5, NonBlockingShapes) {
  start(GetParam(), [] {
    program p;
    all_nonblock_tests(p, std::make_index_sequence<16 * 2>());
    EXPECT_EQ(p.n, 1 + 16 * 2);
  }).join();
}

GOPP_INSTANTIATE_SIDES(Select5);

}  // namespace
