// tests/context_test.cpp: gopp/context.hpp, as API.md "Cancellation (context) and groups
// (errgroup)" and Go's context and errgroup packages specify it. Blocking checks run with the
// counterpart on a goroutine and on a std::thread.
#include <gopp/context.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using gopp_test::side;
using clock_type = std::chrono::steady_clock;

static_assert(std::is_error_code_enum_v<gopp::errc>);
static_assert(std::is_copy_constructible_v<gopp::context>);
static_assert(std::is_nothrow_move_constructible_v<gopp::context>);

// True if ctx.done() is closed now (a receive would not block).
bool is_closed(const gopp::context& ctx) {
  return gopp::select(gopp::recv_case(ctx.done()), gopp::default_case()) == 0;
}

// Waits (parking or blocking) until ctx.done() is closed; false after `limit`.
bool ends_within(const gopp::context& ctx, std::chrono::milliseconds limit) {
  gopp::timer limit_timer(limit);
  return gopp::select(gopp::recv_case(ctx.done()), gopp::recv_case(limit_timer.c())) == 0;
}

// The fixtures start the runtime first (gopp::num_threads() does), so that each test also passes
// alone (ctest runs every test in its own process) despite the timer bug pinned down below.
template <class Base>
class runtime_started : public Base {
 protected:
  void SetUp() override {
    gopp::num_threads();
    Base::SetUp();
  }
};
class Context : public runtime_started<gopp_test::leak_checked> {};
class ContextSides : public runtime_started<gopp_test::sides> {};
GOPP_INSTANTIATE_SIDES(ContextSides);
class Group : public runtime_started<gopp_test::leak_checked> {};
class GroupSides : public runtime_started<gopp_test::sides> {};
GOPP_INSTANTIATE_SIDES(GroupSides);

// ---- regression tests for runtime bugs found while writing this file ----

// Bug (found here, fixed in d1bfe1e "timers: start the timer thread on the first timer"): the
// timer thread was started only by scheduler::instance(), so a timer armed on a plain thread
// before anything had started the runtime never fired: gopp::after(10ms).recv() as the first
// line of main() blocked forever, and so did a deadline set there. This test must be the first
// in the file to touch the runtime (gtest runs tests in definition order; ctest runs each test
// in its own process). It is bounded: if the deadline does not fire, cancel() releases the
// waiting thread.
TEST(ContextBeforeTheRuntimeStarts, ADeadlineFiresEvenWhenNothingHasStartedTheRuntime) {
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 10ms);
  auto waiter = std::async(std::launch::async, [ctx = ctx] { ctx.done().recv(); });
  const bool fired = waiter.wait_for(3s) == std::future_status::ready;
  cancel();
  waiter.get();
  EXPECT_TRUE(fired) << "a 10 ms deadline set before the runtime started did not fire in 3 s";
  EXPECT_EQ(ctx.err(), fired ? gopp::errc::deadline_exceeded : gopp::errc::canceled);
}

// ---- the header's example ----

TEST_F(Context, TheHeadersExampleWorks) {
  std::mutex mu;
  std::vector<std::string> stored;
  auto store = [&](const std::string& page) {
    std::lock_guard lock(mu);
    stored.push_back(page);
  };
  auto fetch = [](const std::string& url) {  // a reply channel fed by a goroutine
    gopp::chan<std::string> reply(1);
    gopp::go([reply, url] {
      gopp::sleep_for(1ms);
      reply.send("<" + url + ">");
    });
    return gopp::recv_chan<std::string>(reply);
  };
  const std::vector<std::string> urls = {"a", "b", "c"};

  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), std::chrono::seconds(2));
  gopp::group g(ctx);
  for (const std::string& url : urls) {
    g.go([url, &fetch, &store](gopp::context ctx) {
      gopp::select(gopp::recv_case(fetch(url), [&](auto page) { store(*page); }),
                   gopp::recv_case(ctx.done(), [&](auto) { ctx.throw_if_done(); }));
    });
  }
  g.wait();
  cancel();

  std::sort(stored.begin(), stored.end());
  EXPECT_EQ(stored, (std::vector<std::string>{"<a>", "<b>", "<c>"}));
}

// ---- error codes ----

TEST(ContextErrors, CanceledAndDeadlineExceededCarryGosMessagesAndCategory) {
  std::error_code canceled = gopp::errc::canceled;
  std::error_code deadline = gopp::errc::deadline_exceeded;
  EXPECT_EQ(canceled.message(), "context canceled");
  EXPECT_EQ(deadline.message(), "context deadline exceeded");
  EXPECT_STREQ(canceled.category().name(), "gopp.context");
  EXPECT_EQ(&canceled.category(), &gopp::context_category());
  EXPECT_NE(canceled, deadline);
  EXPECT_TRUE(canceled);
}

TEST(ContextErrors, MapToTheStandardConditions) {
  EXPECT_EQ(std::error_code(gopp::errc::canceled), std::errc::operation_canceled);
  EXPECT_EQ(std::error_code(gopp::errc::deadline_exceeded), std::errc::timed_out);
}

// ---- background ----

TEST_F(Context, BackgroundNeverEndsAndItsDoneIsTheNilChannel) {
  gopp::context bg = gopp::background();
  EXPECT_FALSE(bg.err());
  EXPECT_FALSE(bg.deadline().has_value());
  EXPECT_TRUE(bg.done().is_nil());
  EXPECT_FALSE(is_closed(bg));  // a nil channel's case is never ready
  gopp::timer t(10ms);
  EXPECT_EQ(gopp::select(gopp::recv_case(bg.done()), gopp::recv_case(t.c())), 1u);
  EXPECT_NO_THROW(bg.throw_if_done());
}

TEST_F(Context, DefaultConstructedContextIsBackground) {
  gopp::context c;
  EXPECT_EQ(c, gopp::background());
  EXPECT_TRUE(c.done().is_nil());
}

// ---- with_cancel ----

TEST_F(Context, WithCancelIsLiveUntilCancelled) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(ctx.done().is_nil());
  EXPECT_FALSE(is_closed(ctx));
  cancel();
  EXPECT_TRUE(is_closed(ctx));
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);
  EXPECT_EQ(ctx.err().message(), "context canceled");
}

TEST_F(Context, CancelIsIdempotent) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  cancel();
  cancel();
  cancel();
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);
}

TEST_F(Context, CancelFromManyGoroutinesAtOnceEndsItOnce) {
  for (int round = 0; round < 20; ++round) {
    auto [ctx, cancel] = gopp::with_cancel(gopp::background());
    gopp::wait_group wg;
    for (int i = 0; i < 8; ++i) {
      wg.add(1);
      gopp::go([&wg, cancel = cancel] {
        cancel();
        wg.done();
      });
    }
    wg.wait();
    EXPECT_EQ(ctx.err(), gopp::errc::canceled);
  }
}

TEST_F(Context, CopiesShareTheirState) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  gopp::context copy = ctx;
  EXPECT_EQ(copy, ctx);
  cancel();
  EXPECT_EQ(copy.err(), gopp::errc::canceled);
  EXPECT_EQ(copy.done(), ctx.done());
}

TEST_P(ContextSides, CancelWakesAWaiterBlockedOnDone) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  std::atomic<bool> woke{false};
  auto t = gopp_test::start(GetParam(), [&, ctx = ctx] {
    EXPECT_FALSE(ctx.done().recv().has_value());  // closed: nullopt
    EXPECT_EQ(ctx.err(), gopp::errc::canceled);   // err is set before done closes
    woke = true;
  });
  gopp_test::settle();
  EXPECT_FALSE(woke.load());
  cancel();
  t.join();
  EXPECT_TRUE(woke.load());
}

TEST_P(ContextSides, CancelFromTheCounterpartWakesThisSide) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  auto t = gopp_test::start(GetParam(), [cancel = cancel] {
    gopp_test::settle();
    cancel();
  });
  for ([[maybe_unused]] auto v : ctx.done()) {
  }
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);
  t.join();
}

TEST_F(Context, ErrIsVisibleToWhoeverSeesDoneClosed) {
  for (std::size_t round = 0; round < gopp_test::scaled(200, 20); ++round) {
    auto [ctx, cancel] = gopp::with_cancel(gopp::background());
    std::atomic<bool> ok{false};
    gopp::wait_group wg;
    wg.add(1);
    gopp::go([&, ctx = ctx] {
      ctx.done().recv();
      ok = ctx.err() == gopp::errc::canceled;
      wg.done();
    });
    cancel();
    wg.wait();
    EXPECT_TRUE(ok.load());
  }
}

TEST_F(Context, DoneWorksInASelectWithOtherChannels) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  gopp::chan<int> work;
  gopp::chan<int> got(1);
  gopp::go([ctx = ctx, work, got] {
    int seen = 0;
    for (;;) {
      bool stop = false;
      gopp::select(gopp::recv_case(work, [&](std::optional<int> v) { seen += *v; }),
                   gopp::recv_case(ctx.done(), [&](auto) { stop = true; }));
      if (stop) break;
    }
    got.send(seen);
  });
  work.send(1);
  work.send(2);
  cancel();
  EXPECT_EQ(got.recv(), 3);
}

TEST_F(Context, ThrowIfDoneThrowsSystemErrorWithTheReason) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  EXPECT_NO_THROW(ctx.throw_if_done());
  cancel();
  try {
    ctx.throw_if_done();
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), gopp::errc::canceled);
    EXPECT_NE(std::string(e.what()).find("context canceled"), std::string::npos) << e.what();
  }
}

// ---- the tree ----

TEST_F(Context, CancellingAParentCancelsEveryDescendant) {
  auto [root, cancel_root] = gopp::with_cancel(gopp::background());
  auto [child, cancel_child] = gopp::with_cancel(root);
  auto [grandchild, cancel_grandchild] = gopp::with_cancel(child);
  auto [sibling, cancel_sibling] = gopp::with_cancel(root);
  cancel_root();
  for (const gopp::context& c : {root, child, grandchild, sibling}) {
    EXPECT_TRUE(is_closed(c));
    EXPECT_EQ(c.err(), gopp::errc::canceled);
  }
}

TEST_F(Context, CancellingAChildLeavesItsParentAndSiblingsAlone) {
  auto [root, cancel_root] = gopp::with_cancel(gopp::background());
  auto [child, cancel_child] = gopp::with_cancel(root);
  auto [sibling, cancel_sibling] = gopp::with_cancel(root);
  cancel_child();
  EXPECT_EQ(child.err(), gopp::errc::canceled);
  EXPECT_FALSE(root.err());
  EXPECT_FALSE(sibling.err());
  EXPECT_FALSE(is_closed(root));
  cancel_root();
  EXPECT_EQ(sibling.err(), gopp::errc::canceled);
}

TEST_F(Context, AChildOfAnEndedParentIsBornEnded) {
  auto [root, cancel_root] = gopp::with_cancel(gopp::background());
  cancel_root();
  auto [child, cancel_child] = gopp::with_cancel(root);
  EXPECT_TRUE(is_closed(child));
  EXPECT_EQ(child.err(), gopp::errc::canceled);
  auto [timed, cancel_timed] = gopp::with_timeout(root, 1h);
  EXPECT_EQ(timed.err(), gopp::errc::canceled);  // the parent's reason, not a deadline
}

TEST_F(Context, ChildrenInheritTheParentsReason) {
  auto [root, cancel_root] = gopp::with_timeout(gopp::background(), 20ms);
  auto [child, cancel_child] = gopp::with_cancel(root);
  ASSERT_TRUE(ends_within(child, 10s));
  EXPECT_EQ(child.err(), gopp::errc::deadline_exceeded);
  EXPECT_EQ(root.err(), gopp::errc::deadline_exceeded);
}

TEST_F(Context, TheFirstReasonWins) {
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 30ms);
  cancel();
  gopp::sleep_for(60ms);  // the deadline passes: nothing changes
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);
}

TEST_F(Context, ChildrenOfValueContextsAreCancelledThroughThem) {
  static const gopp::context_key<int> key;
  auto [root, cancel_root] = gopp::with_cancel(gopp::background());
  gopp::context valued = gopp::with_value(root, key, 7);
  auto [child, cancel_child] = gopp::with_cancel(valued);
  EXPECT_EQ(valued.done(), root.done());
  cancel_root();
  EXPECT_EQ(valued.err(), gopp::errc::canceled);
  EXPECT_EQ(child.err(), gopp::errc::canceled);
  EXPECT_EQ(*child.value(key), 7);
}

TEST_F(Context, ADroppedChildNeedsNoCancelAndALongLivedParentStaysUsable) {
  auto [root, cancel_root] = gopp::with_cancel(gopp::background());
  for (int i = 0; i < 10000; ++i) {
    auto [child, cancel_child] = gopp::with_cancel(root);  // dropped without cancel
    auto [timed, cancel_timed] = gopp::with_timeout(child, 1h);
  }
  auto [last, cancel_last] = gopp::with_cancel(root);
  cancel_root();
  EXPECT_EQ(last.err(), gopp::errc::canceled);
}

TEST_F(Context, ConcurrentCancelAndChildCreationNeverLoseAChild) {
  const std::size_t rounds = gopp_test::scaled(200, 20);
  for (std::size_t round = 0; round < rounds; ++round) {
    auto [root, cancel_root] = gopp::with_cancel(gopp::background());
    std::vector<gopp::context> children(16);
    gopp::wait_group wg;
    for (std::size_t i = 0; i < children.size(); ++i) {
      wg.add(1);
      gopp::go([&, i, root = root] {
        children[i] = gopp::with_cancel(root).first;
        wg.done();
      });
    }
    cancel_root();
    wg.wait();
    for (const gopp::context& c : children) EXPECT_EQ(c.err(), gopp::errc::canceled);
  }
}

// ---- deadlines ----

TEST_F(Context, WithTimeoutEndsWithDeadlineExceededAfterTheTimeout) {
  const auto start = clock_type::now();
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 50ms);
  ASSERT_TRUE(ctx.deadline().has_value());
  EXPECT_GE(*ctx.deadline(), start + 50ms);
  EXPECT_FALSE(ctx.err());
  ASSERT_TRUE(ends_within(ctx, 10s));
  EXPECT_GE(clock_type::now() - start, 50ms);
  EXPECT_EQ(ctx.err(), gopp::errc::deadline_exceeded);
  EXPECT_EQ(ctx.err().message(), "context deadline exceeded");
  cancel();  // after the deadline: no effect
  EXPECT_EQ(ctx.err(), gopp::errc::deadline_exceeded);
}

TEST_F(Context, WithDeadlineInThePastIsBornEnded) {
  auto [ctx, cancel] = gopp::with_deadline(gopp::background(), clock_type::now() - 1s);
  EXPECT_TRUE(is_closed(ctx));
  EXPECT_EQ(ctx.err(), gopp::errc::deadline_exceeded);
  auto [zero, cancel_zero] = gopp::with_timeout(gopp::background(), 0ns);
  EXPECT_EQ(zero.err(), gopp::errc::deadline_exceeded);
}

TEST_F(Context, AChildsDeadlineIsTheEarlierOfItsOwnAndItsParents) {
  // The parent's 2 s must outlast the check that the 1 ms child left it alone, even on a
  // loaded machine under a sanitizer (40 ms did not).
  auto [parent, cancel_parent] = gopp::with_timeout(gopp::background(), 2s);
  auto [later, cancel_later] = gopp::with_timeout(parent, 1h);
  auto [sooner, cancel_sooner] = gopp::with_timeout(parent, 1ms);
  EXPECT_EQ(later.deadline(), parent.deadline());
  ASSERT_TRUE(sooner.deadline().has_value());
  EXPECT_LT(*sooner.deadline(), *parent.deadline());
  ASSERT_TRUE(ends_within(sooner, 10s));
  EXPECT_EQ(sooner.err(), gopp::errc::deadline_exceeded);
  EXPECT_FALSE(parent.err()) << "a child's deadline must not end its parent";
  ASSERT_TRUE(ends_within(later, 10s));
  EXPECT_EQ(later.err(), gopp::errc::deadline_exceeded);
}

TEST_F(Context, ValueAndCancelChildrenInheritTheDeadline) {
  static const gopp::context_key<int> key;
  auto [parent, cancel_parent] = gopp::with_timeout(gopp::background(), 1h);
  EXPECT_EQ(gopp::with_value(parent, key, 1).deadline(), parent.deadline());
  EXPECT_EQ(gopp::with_cancel(parent).first.deadline(), parent.deadline());
  EXPECT_FALSE(gopp::with_cancel(gopp::background()).first.deadline().has_value());
}

TEST_F(Context, AHugeTimeoutDoesNotOverflowIntoThePast) {
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), std::chrono::nanoseconds::max());
  gopp::sleep_for(20ms);
  EXPECT_FALSE(ctx.err());
  cancel();
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);
}

TEST_F(Context, CancelBeforeTheDeadlineLeavesNoTimerGoroutineBehind) {
  // A deadline that fired after cancel() would start a goroutine (after_func runs in one); the
  // count is checked while such goroutines would still be starting.
  const std::size_t before = gopp::num_goroutines();
  for (int i = 0; i < 100; ++i) {
    auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 30ms);
    cancel();
  }
  for (int i = 0; i < 40; ++i) {
    gopp::sleep_for(2ms);
    EXPECT_LE(gopp::num_goroutines(), before);
  }
}

TEST_P(ContextSides, ADeadlineWakesAWaiterOnEitherSide) {
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 30ms);
  auto t = gopp_test::start(GetParam(), [ctx = ctx] {
    ctx.done().recv();
    EXPECT_EQ(ctx.err(), gopp::errc::deadline_exceeded);
  });
  t.join();
}

// ---- values ----

TEST_F(Context, ValueFindsTheNearestBindingOfItsKey) {
  static const gopp::context_key<std::string> user;
  static const gopp::context_key<int> id;
  static const gopp::context_key<int> other;
  gopp::context a = gopp::with_value(gopp::background(), user, "ann");
  gopp::context b = gopp::with_value(a, id, 42);
  auto [c, cancel] = gopp::with_cancel(b);
  gopp::context d = gopp::with_value(c, user, std::string("bob"));
  EXPECT_EQ(*a.value(user), "ann");
  EXPECT_EQ(a.value(id), nullptr);
  EXPECT_EQ(*c.value(user), "ann");
  EXPECT_EQ(*c.value(id), 42);
  EXPECT_EQ(*d.value(user), "bob");
  EXPECT_EQ(*d.value(id), 42);
  EXPECT_EQ(d.value(other), nullptr);
  EXPECT_EQ(gopp::background().value(user), nullptr);
}

TEST_F(Context, ValuesMayBeMoveOnlyAndLiveAsLongAsTheContext) {
  static const gopp::context_key<std::unique_ptr<int>> key;
  gopp::context ctx = gopp::with_value(gopp::background(), key, std::make_unique<int>(5));
  gopp::context copy = ctx;
  ctx = gopp::background();
  ASSERT_NE(copy.value(key), nullptr);
  EXPECT_EQ(**copy.value(key), 5);
}

// ---- after_func ----

TEST_F(Context, AfterFuncRunsInItsOwnGoroutineWhenTheContextEnds) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  gopp::chan<bool> ran(1);
  auto stop = gopp::after_func(ctx, [ran] { ran.send(gopp::in_goroutine()); });
  EXPECT_FALSE(ran.try_recv().has_value());
  cancel();
  EXPECT_EQ(ran.recv(), true);
  EXPECT_FALSE(stop()) << "already started";
}

TEST_F(Context, AfterFuncStoppedInTimeNeverRuns) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  std::atomic<bool> ran{false};
  auto stop = gopp::after_func(ctx, [&] { ran = true; });
  EXPECT_TRUE(stop());
  EXPECT_FALSE(stop());
  cancel();
  gopp::sleep_for(20ms);
  EXPECT_FALSE(ran.load());
}

TEST_F(Context, AfterFuncOnAnEndedContextRunsAtOnceAndOnBackgroundNever) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  cancel();
  gopp::chan<int> ran(1);
  gopp::after_func(ctx, [ran] { ran.send(1); });  // the stop function is dropped: still runs
  EXPECT_EQ(ran.recv(), 1);
  auto never = gopp::after_func(gopp::background(), [ran] { ran.send(2); });
  EXPECT_TRUE(never());
}

TEST_F(Context, AfterFuncRunsWhenADeadlinePasses) {
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 10ms);
  gopp::chan<std::error_code> why(1);
  gopp::after_func(ctx, [why, ctx = ctx] { why.send(ctx.err()); });
  EXPECT_EQ(why.recv(), gopp::errc::deadline_exceeded);
}

// ---- with_cancel_cause / cause (Go 1.20's context.WithCancelCause / context.Cause) ----

TEST_F(Context, CancelWithACauseEndsWithCanceledAndCauseReportsTheCause) {
  auto [ctx, cancel] = gopp::with_cancel_cause(gopp::background());
  EXPECT_EQ(gopp::cause(ctx), std::error_code()) << "a live context has no cause";
  cancel(std::make_error_code(std::errc::connection_reset));
  EXPECT_TRUE(is_closed(ctx));
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);  // Err is still Canceled, as in Go
  EXPECT_EQ(gopp::cause(ctx), std::errc::connection_reset);
  cancel(std::make_error_code(std::errc::io_error));  // later calls change nothing
  EXPECT_EQ(gopp::cause(ctx), std::errc::connection_reset);
}

TEST_F(Context, CancelWithNoCauseGivesCanceledAsTheCause) {
  auto [ctx, cancel] = gopp::with_cancel_cause(gopp::background());
  cancel({});  // Go: cancel(nil) sets the cause to Canceled
  EXPECT_EQ(gopp::cause(ctx), gopp::errc::canceled);
}

TEST_F(Context, ChildrenAndValuesInheritTheCauseOfTheAncestorThatEnded) {
  static const gopp::context_key<int> key;
  auto [parent, cancel] = gopp::with_cancel_cause(gopp::background());
  auto [child, cancel_child] = gopp::with_cancel(parent);
  gopp::context value = gopp::with_value(child, key, 1);
  cancel(std::make_error_code(std::errc::host_unreachable));
  EXPECT_EQ(child.err(), gopp::errc::canceled);
  EXPECT_EQ(gopp::cause(child), std::errc::host_unreachable);
  EXPECT_EQ(gopp::cause(value), std::errc::host_unreachable);
  // A child made after the parent ended is born ended, with the parent's cause.
  auto [late, cancel_late] = gopp::with_cancel(parent);
  EXPECT_EQ(gopp::cause(late), std::errc::host_unreachable);
  cancel_child();
  cancel_late();
}

TEST_F(Context, WithoutACauseTheCauseIsErr) {
  EXPECT_EQ(gopp::cause(gopp::background()), std::error_code());
  auto [plain, cancel] = gopp::with_cancel(gopp::background());
  cancel();
  EXPECT_EQ(gopp::cause(plain), gopp::errc::canceled);
  auto [timed, cancel_timed] = gopp::with_timeout(gopp::background(), 1ms);
  ASSERT_TRUE(ends_within(timed, 10s));
  EXPECT_EQ(gopp::cause(timed), gopp::errc::deadline_exceeded);
  cancel_timed();
  // A cause-carrying child whose own cancel was not called ends with its parent's cause.
  auto [parent, cancel_parent] = gopp::with_cancel(gopp::background());
  auto [child, cancel_child] = gopp::with_cancel_cause(parent);
  cancel_parent();
  EXPECT_EQ(gopp::cause(child), gopp::errc::canceled);
  cancel_child(std::make_error_code(std::errc::io_error));  // too late: already ended
  EXPECT_EQ(gopp::cause(child), gopp::errc::canceled);
}

// ---- group ----

TEST_F(Group, WaitWaitsForEveryTask) {
  gopp::group g;
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    g.go([&done, i] {
      gopp::sleep_for(std::chrono::microseconds(100 * (i % 5)));
      ++done;
    });
  }
  g.wait();
  EXPECT_EQ(done.load(), 50);
  EXPECT_EQ(g.active(), 0u);
}

TEST_F(Group, WaitRethrowsTheFirstExceptionWithItsTypeAndMessage) {
  gopp::group g;
  gopp::chan<std::monostate> first_thrown;
  g.go([] { throw std::invalid_argument("first"); });
  g.go([ctx = g.ctx()] {
    ctx.done().recv();  // runs until the first failure cancels the group
    throw std::runtime_error("second");
  });
  try {
    g.wait();
    FAIL() << "wait() did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  // Each wait() rethrows it again, as errgroup's Wait returns the same error.
  EXPECT_THROW(g.wait(), std::invalid_argument);
}

TEST_F(Group, TheFirstFailureCancelsTheGroupsContext) {
  gopp::group g;
  std::atomic<bool> saw_cancel{false};
  g.go([&](gopp::context ctx) {
    ctx.done().recv();
    saw_cancel = ctx.err() == gopp::errc::canceled;
  });
  g.go([] { throw std::runtime_error("boom"); });
  EXPECT_THROW(g.wait(), std::runtime_error);
  EXPECT_TRUE(saw_cancel.load());
  EXPECT_EQ(g.ctx().err(), gopp::errc::canceled);
}

TEST_F(Group, WaitCancelsTheContextEvenWhenEveryTaskSucceeds) {
  gopp::group g;
  g.go([] {});
  EXPECT_FALSE(g.ctx().err());
  g.wait();
  EXPECT_EQ(g.ctx().err(), gopp::errc::canceled);
}

TEST_F(Group, AGroupsContextEndsWithItsParent) {
  auto [parent, cancel] = gopp::with_cancel(gopp::background());
  gopp::group g(parent);
  g.go([](gopp::context ctx) { ctx.done().recv(); });
  cancel();
  g.wait();
  EXPECT_EQ(g.ctx().err(), gopp::errc::canceled);
}

TEST_F(Group, TasksMayBeMoveOnlyMutableAndRvalueQualified) {
  struct rvalue_only {
    std::unique_ptr<int> p;
    std::atomic<int>* out;
    void operator()() && { *out += *p; }
  };
  std::atomic<int> sum{0};
  gopp::group g;
  auto owned = std::make_unique<int>(3);
  g.go([p = std::move(owned), &sum]() mutable {
    sum += *p;
    p.reset();
  });
  g.go(rvalue_only{std::make_unique<int>(4), &sum});
  EXPECT_TRUE(g.try_go(rvalue_only{std::make_unique<int>(5), &sum}));
  g.wait();
  EXPECT_EQ(sum.load(), 12);
}

// Deterministic on a loaded machine: the tasks hold their slot until the test releases them, so
// "two ran at once" is observed, not hoped for (an earlier version slept 2 ms per task and saw a
// peak of 1 when CI's workers were starved), and go() is seen to block while both slots are held.
TEST_F(Group, SetLimitBoundsTheTasksRunningAtOnce) {
  constexpr int tasks = 12;
  gopp::group g;
  g.set_limit(2);
  gopp::chan<std::monostate> release;
  std::atomic<int> now{0};
  std::atomic<int> peak{0};
  std::atomic<int> launched{0};
  std::thread launcher([&] {
    for (int i = 0; i < tasks; ++i) {
      g.go([&, release] {
        const int n = ++now;
        int p = peak.load();
        while (n > p && !peak.compare_exchange_weak(p, n)) {
        }
        release.recv();
        --now;
      });
      ++launched;
    }
  });
  ASSERT_TRUE(gopp_test::eventually([&] { return now.load() == 2; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(launched.load(), 2) << "a third go() returned while two tasks held both slots";
  EXPECT_EQ(g.active(), 2u);
  for (int i = 0; i < tasks; ++i) {
    release.send({});
  }
  launcher.join();
  g.wait();
  EXPECT_EQ(peak.load(), 2);
  EXPECT_EQ(launched.load(), tasks);
}

TEST_F(Group, TryGoRefusesWhileTheLimitIsReached) {
  gopp::group g;
  g.set_limit(1);
  gopp::chan<std::monostate> release;
  EXPECT_TRUE(g.try_go([release] { release.recv(); }));
  EXPECT_FALSE(g.try_go([] { ADD_FAILURE() << "must not run"; }));
  release.close();
  g.wait();
  EXPECT_TRUE(g.try_go([] {}));
  g.wait();
}

TEST_F(Group, SetLimitWhileTasksRunThrowsErrgroupsMessage) {
  gopp::group g;
  gopp::chan<std::monostate> release;
  g.go([release] { release.recv(); });
  g.go([release] { release.recv(); });
  try {
    g.set_limit(4);
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(),
                 "errgroup: modify limit while 2 goroutines in the group are still active");
  }
  release.close();
  g.wait();
  EXPECT_NO_THROW(g.set_limit(4));  // idle again
}

TEST_F(Group, NoLimitRemovesTheLimitAndZeroAdmitsNothing) {
  gopp::group g;
  g.set_limit(0);  // Go's SetLimit(0): no goroutine can be added
  EXPECT_FALSE(g.try_go([] {}));
  g.set_limit(gopp::group::no_limit);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(g.try_go([&ran] { ++ran; }));
  g.wait();
  EXPECT_EQ(ran.load(), 100);
}

TEST_P(GroupSides, GoBlocksWhileTheLimitIsReachedUntilATaskEnds) {
  gopp::group g;
  g.set_limit(1);
  gopp::chan<std::monostate> release;
  g.go([release] { release.recv(); });
  std::atomic<bool> second_started{false};
  auto t = gopp_test::start(GetParam(), [&] {
    g.go([&] { second_started = true; });  // blocks: one task already runs
  });
  gopp_test::settle();
  EXPECT_FALSE(t.finished());
  EXPECT_FALSE(second_started.load());
  release.close();
  t.join();
  g.wait();
  EXPECT_TRUE(second_started.load());
}

TEST_P(GroupSides, WaitWorksFromAGoroutineAndFromAThread) {
  gopp::group g;
  std::atomic<int> n{0};
  for (int i = 0; i < 20; ++i) {
    g.go([&n] {
      gopp::sleep_for(1ms);
      ++n;
    });
  }
  auto t = gopp_test::start(GetParam(), [&] {
    g.wait();
    EXPECT_EQ(n.load(), 20);
  });
  t.join();
}

TEST_F(Group, TasksMayStartMoreTasksInTheSameGroup) {
  gopp::group g;
  std::atomic<int> leaves{0};
  std::function<void(int)> tree = [&](int depth) {
    if (depth == 0) {
      ++leaves;
      return;
    }
    g.go([&tree, depth] { tree(depth - 1); });
    g.go([&tree, depth] { tree(depth - 1); });
  };
  g.go([&] { tree(6); });
  g.wait();
  EXPECT_EQ(leaves.load(), 64);
}

TEST_F(Group, TheDestructorWaitsAndReportsAnExceptionNobodyWaitedFor) {
  std::atomic<bool> finished{false};
  testing::internal::CaptureStderr();
  {
    gopp::group g;
    g.go([&] {
      gopp::sleep_for(20ms);
      finished = true;
      throw std::runtime_error("lost?");
    });
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(finished.load());
  EXPECT_NE(err.find("gopp: group destroyed with an unobserved task exception: lost?"),
            std::string::npos)
      << err;
}

TEST_F(Group, AnExceptionThatWaitRethrewIsNotReportedAgain) {
  testing::internal::CaptureStderr();
  {
    gopp::group g;
    g.go([] { throw std::runtime_error("seen"); });
    EXPECT_THROW(g.wait(), std::runtime_error);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(Group, ANonStandardExceptionIsRethrownAsIs) {
  gopp::group g;
  g.go([] { throw 42; });
  try {
    g.wait();
    FAIL();
  } catch (int v) {
    EXPECT_EQ(v, 42);
  }
}

// ---- tasks returning std::error_code (Go's func() error), issue 15 ----

TEST_F(Group, ATaskReturningANonZeroErrorCodeFailsTheGroupWithIt) {
  gopp::group g;
  gopp::context ctx = g.ctx();
  g.go([]() -> std::error_code { return std::make_error_code(std::errc::io_error); });
  g.go([](gopp::context c) {
    c.done().recv();  // ends only because the first task's error cancelled the group
  });
  try {
    g.wait();
    FAIL() << "wait() did not report the task's error";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::io_error);
  }
  EXPECT_EQ(ctx.err(), gopp::errc::canceled);
  // As errgroup's Wait, every call reports the same error.
  EXPECT_THROW(g.wait(), std::system_error);
}

TEST_F(Group, AZeroErrorCodeIsSuccessAndNeitherCancelsNorFails) {
  gopp::group g;
  gopp::context ctx = g.ctx();
  gopp::chan<std::monostate> release;
  g.go([release]() -> std::error_code {
    release.recv();
    return {};
  });
  g.go([] { return std::error_code(); });
  gopp_test::settle();
  EXPECT_EQ(ctx.err(), std::error_code()) << "a zero error_code cancelled the group";
  release.close();
  EXPECT_NO_THROW(g.wait());
}

TEST_F(Group, ATaskTakingTheContextMayReturnItsErrAndTheFirstFailureWins) {
  gopp::group g;
  g.go([](gopp::context ctx) -> std::error_code {
    ctx.done().recv();
    return ctx.err();  // canceled: a later failure, not the first
  });
  g.go([] { throw std::runtime_error("first"); });
  try {
    g.wait();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
}

TEST_F(Group, AnErrorCodeNobodyWaitedForIsReportedByTheDestructor) {
  testing::internal::CaptureStderr();
  {
    gopp::group g;
    g.go([] { return std::error_code(gopp::errc::deadline_exceeded); });
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gopp: group destroyed with an unobserved task exception: context deadline "
                     "exceeded"),
            std::string::npos)
      << err;
}

// ---- a go() at the limit; go_or_run (issue 15) ----

// The hang of issue 15, made visible: a task that calls go() on its own group while the limit is
// reached waits for a slot, and the dump names that wait. Here a second task holds the other
// slot and is then released, so the wait ends; had every task been waiting so, none would.
TEST_F(Group, AGoWaitingForTheLimitShowsAsErrgroupLimitInTheDump) {
  gopp::group g;
  g.set_limit(2);
  gopp::chan<std::monostate> release;
  std::atomic<std::uint64_t> spawner_id{0};
  std::atomic<bool> child_ran{false};
  g.go([release] { release.recv(); });
  g.go([&] {
    spawner_id = gopp::goroutine_id();
    g.go([&] { child_ran = true; });  // the group is full: waits for a slot
  });
  const auto line = [&] {
    return "goroutine " + std::to_string(spawner_id.load()) + " [errgroup limit]:";
  };
  EXPECT_TRUE(gopp_test::eventually([&] {
    return spawner_id.load() != 0 && gopp::goroutine_dump().find(line()) != std::string::npos;
  })) << gopp::goroutine_dump();
  EXPECT_FALSE(child_ran.load());
  release.close();
  g.wait();
  EXPECT_TRUE(child_ran.load());
}

TEST_F(Group, GoOrRunStartsAGoroutineWhenASlotIsFree) {
  gopp::group g;
  g.set_limit(1);
  std::atomic<std::uint64_t> ran_on{0};
  EXPECT_TRUE(g.go_or_run([&] { ran_on = gopp::goroutine_id(); }));
  g.wait();
  EXPECT_NE(ran_on.load(), 0u);
  EXPECT_NE(ran_on.load(), gopp::goroutine_id());
}

TEST_P(GroupSides, GoOrRunRunsTheTaskOnTheCallerWhenTheGroupIsFull) {
  gopp::group g;
  g.set_limit(1);
  gopp::chan<std::monostate> release;
  g.go([release] { release.recv(); });
  auto t = gopp_test::start(GetParam(), [&] {
    bool here = false;
    EXPECT_FALSE(g.go_or_run([&](gopp::context ctx) {
      here = true;
      EXPECT_EQ(ctx, g.ctx());
      EXPECT_EQ(g.active(), 1u);  // an inline run holds no slot
    }));
    EXPECT_TRUE(here) << "go_or_run returned before running the task";
  });
  t.join();
  release.close();
  g.wait();
}

TEST_F(Group, GoOrRunReportsAnInlineFailureThroughWaitNotToTheCaller) {
  gopp::group g;
  g.set_limit(0);  // every slot taken: go_or_run always runs inline
  bool returned = false;
  EXPECT_NO_THROW(returned = g.go_or_run([] { throw std::runtime_error("inline"); }));
  EXPECT_FALSE(returned);
  EXPECT_EQ(g.ctx().err(), gopp::errc::canceled);  // the failure cancelled the group
  EXPECT_FALSE(g.go_or_run([] { return std::make_error_code(std::errc::io_error); }));
  try {
    g.wait();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "inline");
  }
}

// The shape that hangs with go() (issue 15: a crawler whose tasks add tasks to their own group
// of limit n): with go_or_run a full group makes the caller do the work, so it always ends.
TEST_F(Group, GoOrRunLetsTasksSpawnIntoTheirOwnFullGroup) {
  gopp::group g;
  g.set_limit(2);
  std::atomic<int> leaves{0};
  std::atomic<std::size_t> peak{0};
  std::function<void(int)> tree = [&](int depth) {
    std::size_t a = g.active(), p = peak.load();
    while (a > p && !peak.compare_exchange_weak(p, a)) {
    }
    if (depth == 0) {
      ++leaves;
      gopp::yield();
      return;
    }
    g.go_or_run([&tree, depth] { tree(depth - 1); });
    g.go_or_run([&tree, depth] { tree(depth - 1); });
  };
  g.go([&] { tree(8); });
  g.wait();
  EXPECT_EQ(leaves.load(), 256);
  EXPECT_LE(peak.load(), 2u);
}

// ---- regression test for a second runtime bug found while writing this file ----

// Bug (found here, fixed in 188fd15 "fix after() use-after-free"): the timer thread's loop
// (src/runtime/timer.cpp, run()) read `n->period` after calling `n->fire(n)`, but a
// gopp::after() timer frees itself inside its fire callback (src/time.cpp,
// timer_state::on_fire). So every after() that fired was a heap-use-after-free: ASan aborted here
// ("READ of size 8 ... timer.cpp:79"); without ASan a freed node could be pushed back on the
// heap. The other tests of this file use a gopp::timer for their time-outs, which they did to
// keep running under ASan while the bug was open.
TEST_F(Context, TimerBug_AfterFiresWithoutReadingItsFreedNode) {
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(gopp::after(1ms).recv().has_value());
}

// ---- runtime bug found while writing this file (open; reported, not fixed here) ----

// Bug: timer_state::start (src/time.cpp) computes `when = steady_clock::now() + d`, and
// sleep_for (src/runtime/runtime.cpp) `sleep_until(steady_clock::now() + d)`: both overflow for
// a huge d, so gopp::timer(nanoseconds::max()) and after_func(nanoseconds::max(), f) fire AT
// ONCE instead of never, and sleep_for(nanoseconds::max()) returns at once (Go saturates
// such a `when` to its maximum, so time.NewTimer(math.MaxInt64) never fires). with_timeout
// saturates its deadline itself and does not arm a timer for time_point::max() (see
// AHugeTimeoutDoesNotOverflowIntoThePast); this test fails until both saturate too.
TEST_F(Context, TimerBug_AHugeDurationMeansNeverNotAtOnce) {
  gopp::timer huge(std::chrono::nanoseconds::max());
  std::atomic<bool> ran{false};
  gopp::timer huge_func = gopp::after_func(std::chrono::nanoseconds::max(), [&ran] { ran = true; });
  gopp::timer guard(50ms);
  EXPECT_EQ(gopp::select(gopp::recv_case(huge.c()), gopp::recv_case(guard.c())), 1u)
      << "a timer of nanoseconds::max() fired within 50 ms";
  EXPECT_FALSE(ran.load()) << "after_func(nanoseconds::max(), f) ran f within 50 ms";
  huge.stop();
  huge_func.stop();
  gopp::sleep_for(5ms);  // let a wrongly started f finish before `ran` goes out of scope
  // sleep_for has the same overflow (on goroutines and on threads alike): it returns at once.
  gopp::chan<int> woke(1);
  expect_stranded(1);  // once fixed, this goroutine sleeps for ~292 years, abandoned at exit
  gopp::go([woke] {
    gopp::sleep_for(std::chrono::nanoseconds::max());
    woke.send(1);
  });
  gopp::timer guard2(50ms);
  EXPECT_EQ(gopp::select(gopp::recv_case(woke), gopp::recv_case(guard2.c())), 1u)
      << "sleep_for(nanoseconds::max()) returned within 50 ms";
}

}  // namespace
