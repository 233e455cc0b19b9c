// tests/time_test.cpp: the behaviours include/gopp/time.hpp and API.md ("Time") promise for
// gopp::after, gopp::timer, gopp::ticker and gopp::after_func, one by one, with Go 1.23's
// semantics: a timer's channel holds at most one value, stop() and reset() leave no stale value
// behind, a ticker drops ticks for a slow receiver and does not drift, destroying a timer stops
// it, and after_func runs its function in a goroutine. The last suites exercise the runtime's
// timer heap (a 4-ary heap with cancellation by index) with many timers at once, and a
// parameterised suite runs the timer's user on a goroutine and on a plain std::thread.
//
// Timing: the suite runs on a loaded 2-core machine and under the sanitizers. Lower bounds
// ("not before the deadline") are exact, because a timer never fires early; upper bounds are
// seconds, never tight. Waits for a value poll try_recv (see recv_within), so that a timer that
// never fires fails the test instead of hanging it.
#include "test_support.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using gopp::chan;
using gopp::recv_case;
using gopp::recv_chan;
using gopp::select;
using namespace gopp_test;
using namespace std::chrono_literals;

using steady = std::chrono::steady_clock;
using time_point = steady::time_point;

// The base duration of a test timer: long enough that the scheduler's noise is small next to it,
// short enough that the suite stays quick.
const std::chrono::milliseconds tick = under_sanitizer ? 50ms : 20ms;
// A deadline that a test relies on not having passed before its next few statements ran (stop
// before it fires). Generous: the main thread would have to stall this long for a flake.
const std::chrono::milliseconds later = under_sanitizer ? 1000ms : 300ms;
// The upper bound on any wait for something that must happen.
constexpr std::chrono::milliseconds patience = 10s;

// Polls c until it yields a value or `limit` passes (nullopt then). Polling instead of a blocking
// recv(): a missing value fails the test instead of hanging it, and the value (the fire time) does
// not depend on when it is picked up.
std::optional<time_point> recv_within(const recv_chan<time_point>& c,
                                      std::chrono::milliseconds limit = patience) {
  std::optional<time_point> v;
  eventually(
      [&] {
        v = c.try_recv();
        return v.has_value();
      },
      limit);
  return v;
}

// Sleeps `d`, then reports whether c has a value (it must not, in the tests that call it).
bool receives_within(const recv_chan<time_point>& c, std::chrono::nanoseconds d) {
  gopp::sleep_for(d);
  return c.try_recv().has_value();
}

static_assert(std::is_same_v<decltype(gopp::after(1ms)), recv_chan<time_point>>);
static_assert(
    std::is_same_v<decltype(std::declval<const gopp::timer&>().c()), recv_chan<time_point>>);
static_assert(
    std::is_same_v<decltype(std::declval<const gopp::ticker&>().c()), recv_chan<time_point>>);
static_assert(!std::is_copy_constructible_v<gopp::timer>);
static_assert(!std::is_copy_constructible_v<gopp::ticker>);
static_assert(std::is_nothrow_move_constructible_v<gopp::timer>);
static_assert(std::is_nothrow_move_assignable_v<gopp::timer>);
static_assert(std::is_nothrow_move_constructible_v<gopp::ticker>);
static_assert(std::is_nothrow_move_assignable_v<gopp::ticker>);

// ---------------------------------------------------------------------------------------------
// gopp::tick (Go's time.Tick)

class Tick : public leak_checked {};

TEST_F(Tick, DeliversATickEveryIntervalFromItsStart) {
  const time_point start = steady::now();
  recv_chan<time_point> c = gopp::tick(tick);
  ASSERT_FALSE(c.is_nil());
  time_point previous = start;
  for (int i = 1; i <= 3; ++i) {
    auto v = recv_within(c);
    ASSERT_TRUE(v) << "tick " << i << " never came";
    EXPECT_GE(*v, start + i * tick) << "tick " << i << " came early: ticks are one interval apart";
    EXPECT_GT(*v, previous);
    previous = *v;
  }
}

TEST_F(Tick, ANonPositiveIntervalGivesTheNilChannel) {
  // Go: "Tick returns nil if d <= 0" (not a panic, unlike NewTicker).
  EXPECT_TRUE(gopp::tick(0ns).is_nil());
  EXPECT_TRUE(gopp::tick(-1ms).is_nil());
}

// ---------------------------------------------------------------------------------------------
// gopp::after

class After : public leak_checked {};

TEST_F(After, DeliversATimePointNoEarlierThanStartPlusTheDuration) {
  const time_point start = steady::now();
  recv_chan<time_point> c = gopp::after(tick);
  ASSERT_FALSE(c.is_nil());
  auto v = recv_within(c);
  const time_point received = steady::now();
  ASSERT_TRUE(v) << "after(" << tick.count() << "ms) never fired";
  EXPECT_GE(*v, start + tick) << "fired before its duration";
  EXPECT_LE(*v, received) << "the time sent is the time it fired, not a later one";
  EXPECT_GE(received - start, tick);
}

TEST_F(After, DeliversExactlyOnce) {
  recv_chan<time_point> c = gopp::after(tick);
  ASSERT_TRUE(recv_within(c));
  EXPECT_FALSE(receives_within(c, 5 * tick)) << "a second value arrived";
  EXPECT_EQ(c.size(), 0u);
}

TEST_F(After, ZeroDurationFiresPromptly) {
  const time_point start = steady::now();
  auto v = recv_within(gopp::after(0ns));
  ASSERT_TRUE(v);
  EXPECT_GE(*v, start);
  EXPECT_LT(steady::now() - start, patience);
}

TEST_F(After, NegativeDurationFiresPromptly) {
  const time_point start = steady::now();
  auto a = gopp::after(-1ms);
  auto b = gopp::after(-std::chrono::hours(24 * 365));
  auto va = recv_within(a);
  auto vb = recv_within(b);
  ASSERT_TRUE(va);
  ASSERT_TRUE(vb);
  EXPECT_GE(*va, start) << "the time sent is when it fired, not the (past) deadline";
  EXPECT_GE(*vb, start);
  EXPECT_FALSE(receives_within(a, tick));
  EXPECT_FALSE(b.try_recv());
}

TEST_F(After, WorksInsideAGoroutine) {
  gopp::wait_group wg;
  std::atomic<bool> fired_once{false};
  std::atomic<bool> was_goroutine{false};
  wg.add(1);
  gopp::go([&] {
    was_goroutine = gopp::in_goroutine();
    const time_point start = steady::now();
    auto c = gopp::after(tick);
    auto v = c.recv();  // parks the goroutine until the timer fires
    fired_once = v.has_value() && *v >= start + tick && !c.try_recv();
    wg.done();
  });
  wg.wait();
  EXPECT_TRUE(was_goroutine);
  EXPECT_TRUE(fired_once) << "no value, an early value, or two values";
}

TEST_F(After, ManyGoroutinesEachGetTheirOwnValue) {
  const std::size_t n = scaled_goroutines(200, 10);
  chan<bool> results(n);
  const time_point start = steady::now();
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&results, start, i] {
      const auto d = tick + std::chrono::microseconds(100 * (i % 50));
      auto v = gopp::after(d).recv();
      results.send(v.has_value() && *v >= start + d);
    });
  }
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(results.recv(), true) << "goroutine " << i;
}

// ---------------------------------------------------------------------------------------------
// gopp::timer

class Timer : public leak_checked {};

TEST_F(Timer, FiresOnceAfterItsDuration) {
  const time_point start = steady::now();
  gopp::timer t(tick);
  auto v = recv_within(t.c());
  ASSERT_TRUE(v);
  EXPECT_GE(steady::now() - start, tick);
  EXPECT_FALSE(receives_within(t.c(), 5 * tick)) << "a one-shot timer fired twice";
}

TEST_F(Timer, ValueIsASteadyClockTimePointNotBeforeTheDeadline) {
  const time_point before = steady::now();
  gopp::timer t(2 * tick);
  const time_point after = steady::now();
  auto v = recv_within(t.c());
  ASSERT_TRUE(v);
  static_assert(std::is_same_v<decltype(v)::value_type, std::chrono::steady_clock::time_point>);
  EXPECT_GE(*v, before + 2 * tick) << "fired early";
  EXPECT_GE(*v, after) << "the deadline is counted from the construction";
  EXPECT_LE(*v, steady::now());
}

TEST_F(Timer, ChannelIsTheSameOnEveryCall) {
  gopp::timer t(later);
  EXPECT_FALSE(t.c().is_nil());
  EXPECT_TRUE(t.c() == t.c());
  EXPECT_TRUE(t.stop());
}

TEST_F(Timer, ChannelHoldsAtMostOneValue) {
  gopp::timer t(1ms);
  gopp::sleep_for(5 * tick);
  EXPECT_EQ(t.c().size(), 1u) << "fired and not received: exactly one value is waiting";
  EXPECT_TRUE(t.c().try_recv());
  EXPECT_FALSE(t.c().try_recv());
}

TEST_F(Timer, StopBeforeItFiresReturnsTrueAndNothingIsReceived) {
  gopp::timer t(later);
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(receives_within(t.c(), later + 2 * tick)) << "a stopped timer fired";
}

TEST_F(Timer, StopAfterTheValueWasReceivedReturnsFalse) {
  gopp::timer t(tick);
  ASSERT_TRUE(recv_within(t.c()));
  EXPECT_FALSE(t.stop());
  EXPECT_FALSE(t.c().try_recv());
}

TEST_F(Timer, StopAfterItFiredButBeforeTheValueWasReceivedReturnsTrueAndDrainsIt) {
  gopp::timer t(1ms);
  // Wait until it has fired, without taking the value.
  ASSERT_TRUE(eventually([&] { return t.c().size() == 1; }, patience)) << "never fired";
  EXPECT_TRUE(t.stop()) << "Go 1.23: stopping a fired, unreceived timer reports true";
  EXPECT_EQ(t.c().size(), 0u) << "the unreceived value was not drained";
  EXPECT_FALSE(receives_within(t.c(), 3 * tick)) << "a stale value arrived after stop()";
}

TEST_F(Timer, SecondStopReturnsFalse) {
  gopp::timer t(later);
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.stop());
  EXPECT_FALSE(t.stop());
}

TEST_F(Timer, ResetToAShorterDurationFiresAfterTheNewDuration) {
  gopp::timer t(std::chrono::hours(1));
  const time_point reset_at = steady::now();
  EXPECT_TRUE(t.reset(tick)) << "the timer was active";
  auto v = recv_within(t.c());
  ASSERT_TRUE(v) << "the reset timer did not fire at its new deadline";
  EXPECT_GE(*v, reset_at + tick);
  EXPECT_FALSE(receives_within(t.c(), 3 * tick));
}

TEST_F(Timer, ResetToALongerDurationDoesNotFireAtTheOldDeadline) {
  const auto new_d = 10 * tick;
  gopp::timer t(tick);
  const time_point reset_at = steady::now();
  t.reset(new_d);  // true unless the thread stalled past `tick`: then the old value was drained
  // Whatever arrives must come from the new deadline; the old one passes long before.
  auto v = recv_within(t.c());
  ASSERT_TRUE(v) << "the reset timer never fired";
  EXPECT_GE(*v, reset_at + new_d) << "fired at the old deadline";
  EXPECT_FALSE(receives_within(t.c(), 3 * tick)) << "fired at both deadlines";
}

TEST_F(Timer, ResetAfterStopRestartsIt) {
  gopp::timer t(later);
  ASSERT_TRUE(t.stop());
  const time_point reset_at = steady::now();
  EXPECT_FALSE(t.reset(tick)) << "a stopped timer: nothing to stop";
  auto v = recv_within(t.c());
  ASSERT_TRUE(v) << "reset after stop did not restart the timer";
  EXPECT_GE(*v, reset_at + tick);
}

TEST_F(Timer, ResetAfterItFiredAndWasReceivedFiresAgain) {
  gopp::timer t(tick);
  auto first = recv_within(t.c());
  ASSERT_TRUE(first);
  const time_point reset_at = steady::now();
  EXPECT_FALSE(t.reset(tick)) << "the value was received: nothing to stop";
  auto second = recv_within(t.c());
  ASSERT_TRUE(second) << "a fired timer did not fire again after reset";
  EXPECT_GE(*second, reset_at + tick);
  EXPECT_GT(*second, *first);
  EXPECT_FALSE(receives_within(t.c(), 3 * tick));
}

TEST_F(Timer, ResetAfterItFiredButBeforeTheValueWasReceivedDrainsTheStaleValue) {
  gopp::timer t(1ms);
  ASSERT_TRUE(eventually([&] { return t.c().size() == 1; }, patience)) << "never fired";
  const time_point reset_at = steady::now();
  EXPECT_TRUE(t.reset(2 * tick)) << "stop() would have drained the value and returned true";
  EXPECT_FALSE(t.c().try_recv()) << "the stale value survived reset()";
  auto v = recv_within(t.c());
  ASSERT_TRUE(v);
  EXPECT_GE(*v, reset_at + 2 * tick) << "received the stale value, not the new one";
}

TEST_F(Timer, ResetReturnsWhatStopWouldHave) {
  gopp::timer t(later);
  EXPECT_TRUE(t.reset(later)) << "active";
  EXPECT_TRUE(t.reset(1ms)) << "active";
  ASSERT_TRUE(recv_within(t.c()));
  EXPECT_FALSE(t.reset(later)) << "fired and received";
  EXPECT_TRUE(t.stop());
  EXPECT_FALSE(t.reset(later)) << "stopped";
  EXPECT_TRUE(t.stop()) << "the reset after stop restarted it";
}

TEST_F(Timer, ManyResetsLeaveOneValue) {
  gopp::timer t(tick);
  for (int i = 0; i < 1000; ++i) t.reset(i % 2 ? tick : 2 * tick);
  const time_point last_reset = steady::now();
  t.reset(tick);
  auto v = recv_within(t.c());
  ASSERT_TRUE(v);
  EXPECT_GE(*v, last_reset + tick);
  EXPECT_FALSE(receives_within(t.c(), 4 * tick)) << "an earlier deadline survived a reset";
}

TEST_F(Timer, DestroyingATimerStopsIt) {
  recv_chan<time_point> c;
  {
    gopp::timer t(tick);
    c = t.c();
  }
  ASSERT_FALSE(c.is_nil());
  EXPECT_FALSE(receives_within(c, 5 * tick)) << "a destroyed timer fired";
}

TEST_F(Timer, HugeDurationNeverFiresAndDoesNotOverflowIntoThePast) {
  gopp::timer t(std::chrono::nanoseconds::max());
  gopp::timer u(std::chrono::hours(24 * 365 * 200));
  EXPECT_FALSE(receives_within(t.c(), 3 * tick)) << "now + max() wrapped into the past";
  EXPECT_FALSE(u.c().try_recv());
  EXPECT_TRUE(t.stop());
  EXPECT_TRUE(u.stop());
}

TEST_F(Timer, MoveConstructedTimerStillWorks) {
  const time_point start = steady::now();
  gopp::timer a(2 * tick);
  recv_chan<time_point> c = a.c();
  gopp::timer b(std::move(a));
  EXPECT_TRUE(b.c() == c) << "the moved-to timer owns the same channel";
  auto v = recv_within(b.c());
  ASSERT_TRUE(v) << "moving the timer stopped it";
  EXPECT_GE(*v, start + 2 * tick);
  EXPECT_FALSE(b.stop());
  const time_point reset_at = steady::now();
  EXPECT_FALSE(b.reset(tick));
  auto w = recv_within(b.c());
  ASSERT_TRUE(w);
  EXPECT_GE(*w, reset_at + tick);
}

TEST_F(Timer, MovedFromTimerIsInertAndDestroyingItDoesNotStopTheMovedToOne) {
  gopp::timer b(later);
  {
    gopp::timer a(2 * tick);
    b = std::move(a);
    EXPECT_FALSE(a.stop()) << "a moved-from timer has nothing to stop";  // NOLINT: use after move
    EXPECT_TRUE(a.c().is_nil());                                         // NOLINT
  }  // a (moved-from) destroyed here
  EXPECT_TRUE(recv_within(b.c())) << "destroying the moved-from timer stopped the moved-to one";
}

TEST_F(Timer, ResetOfAMovedFromTimerThrowsGosUninitializedTimerMessage) {
  gopp::timer a(later);
  gopp::timer b(std::move(a));
  try {
    a.reset(tick);  // NOLINT: use after move is the point
    ADD_FAILURE() << "reset of a moved-from timer did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "time: Reset called on uninitialized Timer");
  }
  EXPECT_TRUE(b.stop()) << "the moved-to timer was disturbed";
}

TEST_F(Timer, MoveAssignmentStopsTheTimerItReplaces) {
  gopp::timer target(tick);
  recv_chan<time_point> replaced = target.c();
  target = gopp::timer(2 * tick);
  EXPECT_FALSE(replaced == target.c());
  EXPECT_TRUE(recv_within(target.c()));
  EXPECT_FALSE(receives_within(replaced, 4 * tick)) << "the overwritten timer still fired";
}

// ---------------------------------------------------------------------------------------------
// gopp::ticker

class Ticker : public leak_checked {};

TEST_F(Ticker, DeliversRepeatedTicksAboutEveryInterval) {
  const time_point start = steady::now();
  gopp::ticker t(tick);
  std::size_t count = 0;
  time_point last = start;
  while (steady::now() < start + 10 * tick) {
    if (auto v = t.c().try_recv()) {
      EXPECT_GT(*v, last) << "tick times go forward";
      last = *v;
      ++count;
    }
    gopp::sleep_for(200us);
  }
  const auto elapsed = steady::now() - start;
  EXPECT_GE(count, 3u) << "about 10 ticks were due in the window";
  // Tick k fires no earlier than start + k * interval, so no more ticks than that can be in.
  EXPECT_LE(count, static_cast<std::size_t>(elapsed / tick))
      << "ticks came faster than the interval";
}

TEST_F(Ticker, TickTimesFollowTheScheduleWithoutDrift) {
  constexpr int n = 12;
  const time_point start = steady::now();
  gopp::ticker t(tick);
  std::vector<time_point> ticks;
  for (int k = 1; k <= n; ++k) {
    auto v = recv_within(t.c());
    ASSERT_TRUE(v) << "tick " << k << " never came";
    ticks.push_back(*v);
  }
  for (int k = 1; k <= n; ++k) {
    // The k-th tick received is the k-th scheduled one or a later one (a dropped tick): never
    // before start + k * interval.
    EXPECT_GE(ticks[k - 1], start + k * tick) << "tick " << k << " came early";
    if (k > 1) {
      EXPECT_GT(ticks[k - 1], ticks[k - 2]) << "tick " << k;
    }
  }
  // Scheduled from the previous deadline, the average period is the interval; a ticker that
  // scheduled from the firing time would add every firing's latency. Generous bounds: a stall
  // drops ticks and lengthens the average.
  const double average = std::chrono::duration<double>(ticks.back() - ticks.front()).count() /
                         (n - 1) / std::chrono::duration<double>(tick).count();
  EXPECT_GE(average, 0.7);
  EXPECT_LE(average, under_sanitizer ? 3.0 : 1.5);
}

TEST_F(Ticker, SlowReceiverGetsAtMostOneBufferedTick) {
  gopp::ticker t(tick);
  gopp::sleep_for(5 * tick);  // about five ticks are due; the channel keeps one of them
  EXPECT_LE(t.c().size(), 1u) << "ticks were queued, not dropped";
  const time_point before = steady::now();
  auto first = t.c().try_recv();
  auto second = t.c().try_recv();
  ASSERT_TRUE(first) << "no tick was waiting after 5 intervals";
  EXPECT_LT(*first, before);
  if (second) {
    // Only a tick that fired just now, after the first was taken, may follow at once; a queued
    // tick from the sleep would be intervals old.
    EXPECT_GT(*second, before - tick / 2) << "a second, old tick was queued";
  }
  // The next tick comes on schedule, not from a backlog.
  auto next = recv_within(t.c());
  ASSERT_TRUE(next);
  EXPECT_GT(*next, before - tick / 2);
}

TEST_F(Ticker, StopStopsTicksAndDrainsAPendingOne) {
  gopp::ticker t(tick);
  ASSERT_TRUE(recv_within(t.c()));
  gopp::sleep_for(2 * tick);  // a tick is (almost surely) waiting
  t.stop();
  EXPECT_EQ(t.c().size(), 0u) << "stop() left a stale tick";
  EXPECT_FALSE(receives_within(t.c(), 5 * tick)) << "a stopped ticker ticked";
  t.stop();  // a second stop is harmless
  EXPECT_FALSE(t.c().try_recv());
}

TEST_F(Ticker, ResetChangesThePeriodToAShorterOne) {
  gopp::ticker t(std::chrono::hours(1));
  const time_point reset_at = steady::now();
  t.reset(tick);
  std::vector<time_point> ticks;
  for (int k = 1; k <= 3; ++k) {
    auto v = recv_within(t.c());
    ASSERT_TRUE(v) << "tick " << k << " at the new period never came";
    EXPECT_GE(*v, reset_at + k * tick) << "tick " << k;
    ticks.push_back(*v);
  }
  EXPECT_LT(ticks.back() - reset_at, patience);
}

TEST_F(Ticker, ResetChangesThePeriodToALongerOne) {
  const auto long_period = 8 * tick;
  gopp::ticker t(tick);
  ASSERT_TRUE(recv_within(t.c()));
  const time_point reset_at = steady::now();
  t.reset(long_period);
  EXPECT_FALSE(t.c().try_recv()) << "reset() left a stale tick";
  auto v = recv_within(t.c());
  ASSERT_TRUE(v);
  EXPECT_GE(*v, reset_at + long_period) << "ticked at the old period after reset";
  auto w = recv_within(t.c());
  ASSERT_TRUE(w);
  EXPECT_GE(*w, reset_at + 2 * long_period);
}

TEST_F(Ticker, ResetAfterStopRestartsTicks) {
  gopp::ticker t(tick);
  t.stop();
  EXPECT_FALSE(receives_within(t.c(), 3 * tick));
  const time_point reset_at = steady::now();
  t.reset(tick);
  for (int k = 1; k <= 2; ++k) {
    auto v = recv_within(t.c());
    ASSERT_TRUE(v) << "tick " << k << " after reset never came";
    EXPECT_GE(*v, reset_at + k * tick);
  }
}

TEST_F(Ticker, NonPositiveIntervalThrowsWithGoMessage) {
  EXPECT_EQ(what_of<std::invalid_argument>([] { gopp::ticker t(0ns); }),
            "non-positive interval for NewTicker");
  EXPECT_EQ(what_of<std::invalid_argument>([] { gopp::ticker t(-1ns); }),
            "non-positive interval for NewTicker");
  EXPECT_EQ(what_of<std::invalid_argument>([] { gopp::ticker t(-std::chrono::hours(1)); }),
            "non-positive interval for NewTicker");
}

TEST_F(Ticker, ResetWithNonPositiveIntervalThrowsWithGoMessage) {
  gopp::ticker t(later);
  EXPECT_EQ(what_of<std::invalid_argument>([&] { t.reset(0ns); }),
            "non-positive interval for Ticker.Reset");
  EXPECT_EQ(what_of<std::invalid_argument>([&] { t.reset(-5ms); }),
            "non-positive interval for Ticker.Reset");
}

TEST_F(Ticker, ChannelIsTheSameOnEveryCall) {
  gopp::ticker t(later);
  EXPECT_FALSE(t.c().is_nil());
  EXPECT_TRUE(t.c() == t.c());
}

TEST_F(Ticker, DestroyingATickerStopsIt) {
  recv_chan<time_point> c;
  {
    gopp::ticker t(tick);
    c = t.c();
    ASSERT_TRUE(recv_within(c));
  }
  c.try_recv();  // at most one tick that fired before the destruction
  EXPECT_FALSE(receives_within(c, 5 * tick)) << "a destroyed ticker kept ticking";
}

TEST_F(Ticker, ResetOfAMovedFromTickerThrowsGosUninitializedTickerMessage) {
  gopp::ticker a(tick);
  gopp::ticker b(std::move(a));
  try {
    a.reset(tick);  // NOLINT: use after move is the point
    ADD_FAILURE() << "reset of a moved-from ticker did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "time: Reset called on uninitialized Ticker");
  }
  EXPECT_TRUE(recv_within(b.c())) << "the moved-to ticker stopped ticking";
}

TEST_F(Ticker, MovedTickerKeepsTicking) {
  gopp::ticker a(tick);
  recv_chan<time_point> c = a.c();
  gopp::ticker b(std::move(a));
  EXPECT_TRUE(b.c() == c);
  EXPECT_TRUE(a.c().is_nil());  // NOLINT: use after move
  a.stop();                     // NOLINT: harmless on a moved-from ticker
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(recv_within(b.c())) << "tick " << k;
  gopp::ticker d(later);
  recv_chan<time_point> replaced = d.c();
  d = std::move(b);
  EXPECT_TRUE(d.c() == c);
  EXPECT_TRUE(recv_within(d.c()));
  EXPECT_FALSE(replaced.try_recv());
}

// ---------------------------------------------------------------------------------------------
// gopp::after_func

class AfterFunc : public leak_checked {};

TEST_F(AfterFunc, RunsTheFunctionOnceInAGoroutineAfterTheDuration) {
  std::atomic<int> runs{0};
  std::atomic<bool> in_goroutine{false};
  std::atomic<steady::rep> ran_at{0};
  const time_point start = steady::now();
  gopp::timer t = gopp::after_func(tick, [&] {
    in_goroutine = gopp::in_goroutine();
    ran_at = steady::now().time_since_epoch().count();
    ++runs;
  });
  ASSERT_TRUE(eventually([&] { return runs.load() > 0; }, patience)) << "f never ran";
  EXPECT_TRUE(in_goroutine) << "f must run in its own goroutine";
  EXPECT_GE(time_point(steady::duration(ran_at.load())), start + tick) << "f ran early";
  gopp::sleep_for(5 * tick);
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(AfterFunc, StopBeforeItRunsReturnsTrueAndTheFunctionNeverRuns) {
  std::atomic<int> runs{0};
  gopp::timer t = gopp::after_func(later, [&] { ++runs; });
  EXPECT_TRUE(t.stop());
  gopp::sleep_for(later + 3 * tick);
  EXPECT_EQ(runs.load(), 0) << "a stopped after_func ran";
  EXPECT_FALSE(t.stop());
}

TEST_F(AfterFunc, StopAfterItRanReturnsFalse) {
  std::atomic<int> runs{0};
  gopp::timer t = gopp::after_func(tick, [&] { ++runs; });
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }, patience));
  EXPECT_FALSE(t.stop());
  EXPECT_EQ(runs.load(), 1);
}

TEST_F(AfterFunc, ItsChannelIsNil) {
  std::atomic<int> runs{0};
  gopp::timer t = gopp::after_func(tick, [&] { ++runs; });
  EXPECT_TRUE(t.c().is_nil());
  EXPECT_TRUE(t.c() == nullptr);
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }, patience));
  EXPECT_TRUE(t.c().is_nil());
  EXPECT_FALSE(t.c().try_recv()) << "after_func sent a value";
}

TEST_F(AfterFunc, ResetAfterItRanRunsItAgain) {
  std::atomic<int> runs{0};
  gopp::timer t = gopp::after_func(tick, [&] { ++runs; });
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }, patience));
  EXPECT_FALSE(t.reset(tick)) << "it had already run";
  ASSERT_TRUE(eventually([&] { return runs.load() == 2; }, patience)) << "reset did not re-arm";
  gopp::sleep_for(3 * tick);
  EXPECT_EQ(runs.load(), 2);
}

TEST_F(AfterFunc, ResetBeforeItRanPostponesIt) {
  std::atomic<int> runs{0};
  gopp::timer t = gopp::after_func(later, [&] { ++runs; });
  EXPECT_TRUE(t.reset(later)) << "it was pending";
  EXPECT_TRUE(t.reset(tick));
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }, patience));
  gopp::sleep_for(later + 2 * tick);
  EXPECT_EQ(runs.load(), 1) << "a replaced deadline ran f too";
}

// A function object whose copies throw once `refuse` is set: go() copies the function when the
// timer fires, so starting its goroutine throws there.
struct copy_refuser {
  static inline std::atomic<bool> refuse{false};
  std::atomic<int>* runs;
  explicit copy_refuser(std::atomic<int>* r) : runs(r) {}
  copy_refuser(const copy_refuser& o) : runs(o.runs) {
    if (refuse) throw std::runtime_error("copy refused");
  }
  void operator()() const { ++*runs; }
};

[[noreturn]] void after_func_whose_start_throws() {
  alarm(60);
  std::atomic<int> runs{0};
  gopp::timer t = gopp::after_func(tick, copy_refuser(&runs));
  copy_refuser::refuse = true;
  gopp::sleep_for(10 * tick);
  // The runtime goes on: timers still fire, after_func still runs functions it can start.
  copy_refuser::refuse = false;
  EXPECT_FALSE(t.reset(tick));
  const bool ran = eventually([&] { return runs.load() == 1; }, patience);
  std::fprintf(stderr, "after the failure: %s\n", ran ? "ran" : "did not run");
  std::exit(ran ? 0 : 1);
}

TEST(AfterFuncDeathTest, AFunctionWhoseGoroutineCannotStartIsReportedNotFatal) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_EXIT(after_func_whose_start_throws(), ::testing::ExitedWithCode(0),
              "gopp: after_func: cannot start the function's goroutine: copy refused\n"
              "(.|\n)*after the failure: ran");
}

TEST_F(AfterFunc, DestroyingItsTimerBeforeItRunsPreventsIt) {
  std::atomic<int> runs{0};
  {
    gopp::timer t = gopp::after_func(2 * tick, [&] { ++runs; });
  }
  gopp::sleep_for(6 * tick);
  EXPECT_EQ(runs.load(), 0) << "destroying the timer did not stop it";
}

TEST_F(AfterFunc, ABlockedFunctionDoesNotHoldUpOtherTimers) {
  chan<int> release;
  std::atomic<bool> finished{false};
  gopp::timer f = gopp::after_func(1ms, [&] {
    release.recv();  // blocks until the other timer has fired
    finished = true;
  });
  gopp::timer other(2 * tick);
  EXPECT_TRUE(recv_within(other.c())) << "a blocked after_func stalled the timer thread";
  EXPECT_FALSE(finished.load());
  release.send(1);
  EXPECT_TRUE(eventually([&] { return finished.load(); }, patience));
}

// ---------------------------------------------------------------------------------------------
// Timers in select

class TimerSelect : public leak_checked {};

TEST_F(TimerSelect, SelectReturnsTheTimerCaseWhenNothingElseIsReady) {
  chan<int> never;
  std::optional<time_point> got;
  const time_point start = steady::now();
  std::size_t i =
      select(recv_case(never, [](std::optional<int>) { ADD_FAILURE() << "never"; }),
             recv_case(gopp::after(tick), [&](std::optional<time_point> v) { got = v; }));
  EXPECT_EQ(i, 1u);
  ASSERT_TRUE(got);
  EXPECT_GE(*got, start + tick);
  EXPECT_GE(steady::now() - start, tick);
}

TEST_F(TimerSelect, AReadyChannelWinsOverAPendingTimer) {
  chan<int> ready(1);
  ready.send(7);
  gopp::timer t(later);
  int got = 0;
  std::size_t i = select(recv_case(t.c()),
                         recv_case(ready, [&](std::optional<int> v) { got = v.value_or(-1); }));
  EXPECT_EQ(i, 1u);
  EXPECT_EQ(got, 7);
  EXPECT_TRUE(t.stop()) << "the timer case did not fire";
}

TEST_F(TimerSelect, AStoppedFiredTimerIsNeverSelected) {
  gopp::timer t(1ms);
  ASSERT_TRUE(eventually([&] { return t.c().size() == 1; }, patience));
  EXPECT_TRUE(t.stop());
  EXPECT_EQ(select(recv_case(t.c()), gopp::default_case()), 1u) << "selected a stale value";
}

TEST_F(TimerSelect, ATimeoutLoopInAGoroutineResetsItsTimer) {
  // Go's idiom: for { select { case v := <-in: ...; t.Reset(d) case <-t.C: timeout } }
  chan<int> in;
  chan<int> result(1);
  gopp::go([&] {
    gopp::timer t(later);
    int received = 0;
    for (;;) {
      bool timed_out = false;
      select(recv_case(in, [&](std::optional<int>) { ++received; }),
             recv_case(t.c(), [&](std::optional<time_point>) { timed_out = true; }));
      if (timed_out) break;
      t.reset(later);
    }
    result.send(received);
  });
  for (int i = 0; i < 5; ++i) in.send(i);
  EXPECT_EQ(result.recv(), 5) << "timed out while values kept coming, or lost a value";
}

// ---------------------------------------------------------------------------------------------
// Many timers: the timer heap

class TimerHeap : public leak_checked {};

// A deadline window around a timer's construction: it is due between lo and hi.
struct window {
  time_point lo, hi;
};

TEST_F(TimerHeap, ManyTimersWithDistinctDeadlinesEachFireOnceInDeadlineOrder) {
  const std::size_t n = scaled(1000, 50);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937 rng(12345);
  std::shuffle(order.begin(), order.end(), rng);  // created in random deadline order

  std::vector<gopp::timer> timers;
  std::vector<window> due;
  timers.reserve(n);
  due.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto d = tick + std::chrono::microseconds(50) * order[i];
    const time_point before = steady::now();
    timers.emplace_back(d);
    due.push_back({before + d, steady::now() + d});
  }
  std::vector<time_point> fired(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto v = recv_within(timers[i].c());
    ASSERT_TRUE(v) << "timer " << i << " never fired";
    EXPECT_GE(*v, due[i].lo) << "timer " << i << " fired early";
    fired[i] = *v;
  }
  gopp::sleep_for(3 * tick);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_FALSE(timers[i].c().try_recv()) << "timer " << i << " fired twice";
    EXPECT_FALSE(timers[i].stop()) << "timer " << i;
  }
  // One timer thread fires them in heap order: when i was surely due before j, it fired first.
  std::size_t misordered = 0, compared = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      if (due[i].hi < due[j].lo) {
        ++compared;
        if (fired[i] > fired[j]) ++misordered;
      }
    }
  }
  EXPECT_GT(compared, 0u);
  EXPECT_EQ(misordered, 0u) << "of " << compared << " pairs with a known order";
}

TEST_F(TimerHeap, StoppingARandomHalfOfManyTimersCancelsExactlyThose) {
  const std::size_t n = scaled(1000, 50);
  std::mt19937 rng(2024);
  std::vector<gopp::timer> timers;
  std::vector<time_point> earliest;
  timers.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto d = later + std::chrono::microseconds(37 * ((i * 7919) % n));
    earliest.push_back(steady::now() + d);
    timers.emplace_back(d);
  }
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::shuffle(idx.begin(), idx.end(), rng);
  std::vector<bool> stopped(n, false);
  for (std::size_t k = 0; k < n / 2; ++k) stopped[idx[k]] = true;

  // Stop them in random order: each cancel removes a node from the middle of the heap.
  std::size_t true_for_stopped = 0;
  for (std::size_t k = 0; k < n / 2; ++k) true_for_stopped += timers[idx[k]].stop() ? 1 : 0;
  EXPECT_EQ(true_for_stopped, n / 2) << "stop() on a pending timer returns true";

  for (std::size_t i = 0; i < n; ++i) {
    if (stopped[i]) continue;
    auto v = recv_within(timers[i].c());
    ASSERT_TRUE(v) << "timer " << i << " (not stopped) never fired";
    EXPECT_GE(*v, earliest[i]);
  }
  gopp::sleep_for(3 * tick);  // every deadline has passed now
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_FALSE(timers[i].c().try_recv())
        << "timer " << i << (stopped[i] ? " fired after stop()" : " fired twice");
    EXPECT_FALSE(timers[i].stop()) << "timer " << i << " is neither pending nor unreceived";
  }
}

TEST_F(TimerHeap, StoppingARandomHalfOfManyAfterFuncsRunsExactlyTheOthers) {
  const std::size_t n = scaled(1000, 50);
  std::mt19937 rng(77);
  auto runs = std::make_unique<std::atomic<int>[]>(n);
  std::atomic<std::size_t> total{0};
  std::vector<gopp::timer> timers;
  timers.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto d = later + std::chrono::microseconds(50 * (n - i));
    timers.push_back(gopp::after_func(d, [&runs, &total, i] {
      runs[i].fetch_add(1);
      total.fetch_add(1);
    }));
  }
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::shuffle(idx.begin(), idx.end(), rng);
  std::vector<bool> stop_returned(n, false);
  for (std::size_t k = 0; k < n / 2; ++k) stop_returned[idx[k]] = timers[idx[k]].stop();

  const std::size_t expected = n - n / 2;
  ASSERT_TRUE(eventually([&] { return total.load() >= expected; }, patience))
      << "only " << total.load() << " of " << expected << " functions ran";
  gopp::sleep_for(3 * tick);
  EXPECT_EQ(total.load(), expected);
  std::size_t stops_true = 0;
  for (std::size_t i = 0; i < n; ++i) {
    stops_true += stop_returned[i] ? 1 : 0;
    EXPECT_EQ(runs[i].load(), stop_returned[i] ? 0 : 1)
        << "function " << i << ": stop() returned " << stop_returned[i];
  }
  EXPECT_EQ(stops_true, n / 2) << "stop() returned true exactly for the stopped ones";
}

TEST_F(TimerHeap, RandomStopsAndResetsKeepEveryTimerConsistent) {
  const std::size_t n = scaled(600, 30);
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> op(0, 2);  // 0: leave, 1: stop, 2: reset
  std::uniform_int_distribution<int> us(0, 20000);
  std::vector<gopp::timer> timers;
  std::vector<time_point> earliest(n);
  std::vector<int> what(n);
  timers.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto d = later + std::chrono::microseconds(us(rng));
    earliest[i] = steady::now() + d;
    timers.emplace_back(d);
  }
  for (std::size_t i = 0; i < n; ++i) {
    what[i] = op(rng);
    if (what[i] == 1) {
      EXPECT_TRUE(timers[i].stop()) << "timer " << i;
    } else if (what[i] == 2) {
      const auto d = tick + std::chrono::microseconds(us(rng));
      earliest[i] = steady::now() + d;
      EXPECT_TRUE(timers[i].reset(d)) << "timer " << i;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (what[i] == 1) continue;
    auto v = recv_within(timers[i].c());
    ASSERT_TRUE(v) << "timer " << i << " (op " << what[i] << ") never fired";
    EXPECT_GE(*v, earliest[i]) << "timer " << i << " (op " << what[i] << ") fired early";
  }
  gopp::sleep_for(3 * tick);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_FALSE(timers[i].c().try_recv()) << "timer " << i << " (op " << what[i] << ")";
  }
}

// ---------------------------------------------------------------------------------------------
// The timer's user on a goroutine or on a plain thread

class TimeFromEitherSide : public sides {};

TEST_P(TimeFromEitherSide, AfterDeliversOnceNoEarlierThanItsDuration) {
  start(GetParam(), [] {
    const time_point begin = steady::now();
    auto c = gopp::after(tick);
    auto v = recv_within(c);
    ASSERT_TRUE(v);
    EXPECT_GE(*v, begin + tick);
    EXPECT_FALSE(receives_within(c, 3 * tick));
  }).join();
}

TEST_P(TimeFromEitherSide, ABlockedReceiverIsWokenWhenTheTimerFires) {
  const time_point begin = steady::now();
  gopp::timer t(2 * tick);
  std::optional<time_point> got;
  task receiver = start(GetParam(), [&] { got = t.c().recv(); });
  receiver.join();
  ASSERT_TRUE(got);
  EXPECT_GE(*got, begin + 2 * tick);
}

TEST_P(TimeFromEitherSide, StopFromTheOtherSideCancelsTheTimer) {
  gopp::timer t(later);
  bool stopped = false;
  start(GetParam(), [&] { stopped = t.stop(); }).join();
  EXPECT_TRUE(stopped);
  EXPECT_FALSE(receives_within(t.c(), later + 2 * tick));
}

TEST_P(TimeFromEitherSide, StoppingATimerTheOtherSideSelectsOnNeverReadiesItsCase) {
  gopp::timer t(later);
  chan<int> done;
  std::size_t chosen = 99;
  task waiter = start(GetParam(), [&] { chosen = select(recv_case(t.c()), recv_case(done)); });
  settle();
  EXPECT_TRUE(t.stop());
  done.close();
  waiter.join();
  EXPECT_EQ(chosen, 1u) << "a stopped timer's case was selected";
}

TEST_P(TimeFromEitherSide, TickerTicks) {
  start(GetParam(), [] {
    const time_point begin = steady::now();
    gopp::ticker t(tick);
    for (int k = 1; k <= 3; ++k) {
      auto v = t.c().recv();
      ASSERT_TRUE(v);
      EXPECT_GE(*v, begin + k * tick) << "tick " << k;
    }
    t.stop();
    EXPECT_FALSE(receives_within(t.c(), 3 * tick));
  }).join();
}

TEST_P(TimeFromEitherSide, AfterFuncStartedThereRunsInAGoroutine) {
  std::atomic<bool> ran_in_goroutine{false};
  std::atomic<int> runs{0};
  start(GetParam(), [&] {
    gopp::timer t = gopp::after_func(tick, [&] {
      ran_in_goroutine = gopp::in_goroutine();
      ++runs;
    });
    ASSERT_TRUE(eventually([&] { return runs.load() == 1; }, patience));
    EXPECT_FALSE(t.stop());
  }).join();
  EXPECT_TRUE(ran_in_goroutine);
  EXPECT_EQ(runs.load(), 1);
}

GOPP_INSTANTIATE_SIDES(TimeFromEitherSide);

}  // namespace
