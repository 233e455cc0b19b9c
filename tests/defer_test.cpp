// Tests for gopp/defer.hpp: the guard runs its callable exactly once at scope exit, on every way
// out of the scope, in Go's last-in-first-out order.
#include "gopp/defer.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace {

// The header's banner example, with a counter standing in for the file.
TEST(Defer, BannerExampleClosesOnEveryReturn) {
  int open_files = 0;
  auto use_file = [&](bool early) {
    ++open_files;  // "fopen"
    gopp::defer close_in{[&] { --open_files; }};
    if (early) return;
    EXPECT_EQ(open_files, 1);  // still open inside the scope
  };
  use_file(true);
  EXPECT_EQ(open_files, 0);
  use_file(false);
  EXPECT_EQ(open_files, 0);
}

TEST(Defer, RunsAtScopeExitNotBefore) {
  int runs = 0;
  {
    gopp::defer d{[&] { ++runs; }};
    EXPECT_EQ(runs, 0);
  }
  EXPECT_EQ(runs, 1);
}

// Go runs deferred calls while a panic unwinds; the C++ counterpart is an exception.
TEST(Defer, RunsDuringUnwinding) {
  int runs = 0;
  try {
    gopp::defer d{[&] { ++runs; }};
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
    EXPECT_EQ(runs, 1);  // already ran before the handler was entered
  }
  EXPECT_EQ(runs, 1);
}

TEST(Defer, SeveralRunLastInFirstOutLikeGo) {
  std::string order;
  {
    gopp::defer a{[&] { order += 'a'; }};
    gopp::defer b{[&] { order += 'b'; }};
    gopp::defer c{[&] { order += 'c'; }};
  }
  EXPECT_EQ(order, "cba");
}

// Unlike Go (function scope), a guard in a loop body runs at the end of each iteration.
TEST(Defer, InLoopBodyRunsOncePerIteration) {
  std::vector<int> seen;
  for (int i = 0; i < 3; ++i) {
    gopp::defer d{[&seen, i] { seen.push_back(i); }};
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(i));
  }
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
}

// Captures by value are fixed at the defer, as Go evaluates a deferred call's arguments there;
// captures by reference are read at exit.
TEST(Defer, ValueCapturesAreFixedAtTheDefer) {
  int x = 1;
  int by_value = 0, by_reference = 0;
  {
    gopp::defer d{[&by_value, &by_reference, &x, snapshot = x] {
      by_value = snapshot;
      by_reference = x;
    }};
    x = 2;
  }
  EXPECT_EQ(by_value, 1);
  EXPECT_EQ(by_reference, 2);
}

TEST(Defer, AcceptsMoveOnlyCallable) {
  auto owned = std::make_unique<int>(7);
  int seen = 0;
  {
    gopp::defer d{[p = std::move(owned), &seen] { seen = *p; }};
  }
  EXPECT_EQ(seen, 7);
}

// The callable is invoked as an lvalue, so a mutable lambda can change its own state.
TEST(Defer, AcceptsMutableLambda) {
  int out = 0;
  {
    gopp::defer d{[n = 41, &out]() mutable { out = ++n; }};
  }
  EXPECT_EQ(out, 42);
}

int counter = 0;
void bump() {
  ++counter;
}

TEST(Defer, AcceptsPlainFunction) {
  counter = 0;
  {
    gopp::defer d{bump};
    static_assert(std::is_same_v<decltype(d), gopp::defer<void (*)()>>);
  }
  EXPECT_EQ(counter, 1);
}

// Usable in noexcept code: constructing from a lambda cannot throw, destruction never does.
TEST(Defer, UsableInNoexceptFunctions) {
  int runs = 0;
  auto f = [&]() noexcept { gopp::defer d{[&] { ++runs; }}; };
  static_assert(noexcept(f()));
  f();
  EXPECT_EQ(runs, 1);
}

// Properties the guard promises at compile time.
struct noop {
  void operator()() const noexcept {}
};
struct thrower {
  void operator()() const { throw 1; }
};
static_assert(std::is_same_v<decltype(gopp::defer{noop{}}), gopp::defer<noop>>, "CTAD");
static_assert(!std::is_copy_constructible_v<gopp::defer<noop>>);
static_assert(!std::is_copy_assignable_v<gopp::defer<noop>>);
static_assert(!std::is_move_constructible_v<gopp::defer<noop>>);
static_assert(!std::is_move_assignable_v<gopp::defer<noop>>);
static_assert(std::is_nothrow_constructible_v<gopp::defer<noop>, noop>);
// A callable that may throw still gets a noexcept destructor: throwing from it terminates.
static_assert(std::is_nothrow_destructible_v<gopp::defer<thrower>>);
// Not constructible from something that cannot be called with no arguments.
template <class T>
concept deferrable = requires(T t) {
  gopp::defer{t};
};
static_assert(deferrable<noop>);
static_assert(!deferrable<int>);
static_assert(!deferrable<void (*)(int)>);

}  // namespace
