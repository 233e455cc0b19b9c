// tests/rate_test.cpp: gopp::rate::limiter (rate.hpp), Go's x/time/rate tests ported in our own
// words (Every, bursts of 1 and 3, time jumping backwards, reservations and their cancellation
// rules, SetLimit/SetBurst, Wait: already cancelled, over the burst, now, later, cancelled while
// waiting, a deadline too close, inf) on explicit time points as Go's tests do, plus gopp's own:
// accuracy over 2 s at 1,000 events/s within 5%, and waits from goroutines and plain threads.
#include "test_support.hpp"

#include <gopp/rate.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <system_error>
#include <vector>

namespace {

using namespace gopp_test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using gopp::rate::limiter;

class Rate : public leak_checked {};
class RateSides : public sides {};

// Go's test times: t0 .. t9 are 100 ms apart.
constexpr std::chrono::milliseconds d = 100ms;
const clock_type::time_point t0 = clock_type::now();
clock_type::time_point at(int k) {
  return t0 + k * d;
}

struct allow_step {
  int t;
  double tokens;  // expected tokens_at(t) before the call
  int n;
  bool ok;
};

void run_allows(limiter& lim, const std::vector<allow_step>& steps) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const allow_step& s = steps[i];
    EXPECT_DOUBLE_EQ(lim.tokens_at(at(s.t)), s.tokens) << "step " << i;
    EXPECT_EQ(lim.allow_n(at(s.t), s.n), s.ok) << "step " << i;
  }
}

// reserve_n(at(t), n) must be ok as given and, if ok, act at at(act).
gopp::rate::reservation expect_reserve(limiter& lim, int t, int n, int act, bool ok) {
  gopp::rate::reservation r = lim.reserve_n(at(t), n);
  EXPECT_EQ(r.ok(), ok) << "reserve at t" << t << " n=" << n;
  if (ok && r.ok()) {
    EXPECT_EQ(t0 + r.delay_from(t0), at(act)) << "reserve at t" << t << " n=" << n;
  }
  return r;
}

TEST_F(Rate, EveryIsTheInverseOfTheInterval) {
  EXPECT_EQ(gopp::rate::every(0ns), gopp::rate::inf);
  EXPECT_EQ(gopp::rate::every(-1ns), gopp::rate::inf);
  EXPECT_DOUBLE_EQ(gopp::rate::every(1ns), 1e9);
  EXPECT_DOUBLE_EQ(gopp::rate::every(1ms), 1e3);
  EXPECT_DOUBLE_EQ(gopp::rate::every(100ms), 10);
  EXPECT_DOUBLE_EQ(gopp::rate::every(2s), 0.5);
  EXPECT_DOUBLE_EQ(gopp::rate::every(2500ms), 0.4);
  EXPECT_NE(gopp::rate::limit(10), gopp::rate::inf);
}

TEST_F(Rate, BurstOfOne) {
  limiter lim(10, 1);
  run_allows(lim, {{0, 1, 1, true},
                   {0, 0, 1, false},
                   {0, 0, 1, false},
                   {1, 1, 1, true},
                   {1, 0, 1, false},
                   {1, 0, 1, false},
                   {2, 1, 2, false},  // more than the burst never passes
                   {2, 1, 1, true},
                   {2, 0, 1, false}});
}

TEST_F(Rate, BurstOfThree) {
  limiter lim(10, 3);
  run_allows(lim, {{0, 3, 2, true},
                   {0, 1, 2, false},
                   {0, 1, 1, true},
                   {0, 0, 1, false},
                   {1, 1, 4, false},
                   {2, 2, 1, true},
                   {3, 2, 1, true},
                   {4, 2, 1, true},
                   {4, 1, 1, true},
                   {4, 0, 1, false},
                   {4, 0, 1, false},
                   {9, 3, 3, true},
                   {9, 0, 0, true}});
}

TEST_F(Rate, TimeJumpingBackwardsIsTreatedAsTheLastTime) {
  limiter lim(10, 3);
  run_allows(lim, {{1, 3, 1, true},
                   {0, 2, 1, true},
                   {0, 1, 1, true},
                   {0, 0, 1, false},
                   {0, 0, 1, false},
                   {1, 1, 1, true},
                   {1, 0, 1, false},
                   {1, 0, 1, false},
                   {2, 1, 1, true},
                   {2, 0, 1, false},
                   {2, 0, 1, false}});
}

TEST_F(Rate, NoTruncationErrors) {
  EXPECT_TRUE(limiter(0.7692307692307693, 1).allow());
}

TEST_F(Rate, ReservationsActWhenTheBucketHasRefilled) {
  limiter lim(10, 2);
  expect_reserve(lim, 0, 2, 0, true);
  expect_reserve(lim, 0, 2, 2, true);
  expect_reserve(lim, 3, 2, 4, true);
}

TEST_F(Rate, ReservationsAndAllowsMix) {
  limiter lim(10, 2);
  auto too_big = expect_reserve(lim, 0, 3, 1, false);  // n > burst
  EXPECT_EQ(too_big.delay_from(t0), gopp::rate::inf_duration);
  expect_reserve(lim, 0, 2, 0, true);
  run_allows(lim, {{1, 1, 2, false}});
  expect_reserve(lim, 1, 2, 2, true);
  run_allows(lim, {{1, -1, 1, false}});  // in debt
  run_allows(lim, {{3, 1, 1, true}});
}

TEST_F(Rate, CancellingAFailedReservationGivesNothing) {
  limiter lim(10, 2);
  expect_reserve(lim, 0, 2, 0, true);
  auto r = expect_reserve(lim, 0, 3, 3, false);
  r.cancel_at(at(0));
  expect_reserve(lim, 0, 2, 2, true);
}

TEST_F(Rate, CancellingTheLastReservationGivesItsTokensBack) {
  limiter lim(10, 2);
  expect_reserve(lim, 0, 2, 0, true);
  auto r = expect_reserve(lim, 0, 2, 2, true);
  r.cancel_at(at(1));
  expect_reserve(lim, 1, 2, 2, true);
}

TEST_F(Rate, CancellingAfterTheTimeToActGivesNothing) {
  limiter lim(10, 2);
  expect_reserve(lim, 0, 2, 0, true);
  auto r = expect_reserve(lim, 0, 2, 2, true);
  r.cancel_at(at(3));
  expect_reserve(lim, 3, 2, 4, true);
}

TEST_F(Rate, CancellingGivesBackOnlyWhatLaterReservationsDidNotCountOn) {
  {
    limiter lim(10, 2);  // Go's TestCancel0Tokens
    expect_reserve(lim, 0, 2, 0, true);
    auto r = expect_reserve(lim, 0, 1, 1, true);
    expect_reserve(lim, 0, 1, 2, true);
    r.cancel_at(at(0));
    expect_reserve(lim, 0, 1, 3, true);
  }
  {
    limiter lim(10, 2);  // Go's TestCancel1Token
    expect_reserve(lim, 0, 2, 0, true);
    auto r = expect_reserve(lim, 0, 2, 2, true);
    expect_reserve(lim, 0, 1, 3, true);
    r.cancel_at(at(2));
    expect_reserve(lim, 2, 2, 4, true);
  }
  {
    limiter lim(10, 4);  // Go's TestCancelMulti
    expect_reserve(lim, 0, 4, 0, true);
    auto a = expect_reserve(lim, 0, 3, 3, true);
    expect_reserve(lim, 0, 1, 4, true);
    auto c = expect_reserve(lim, 0, 1, 5, true);
    c.cancel_at(at(1));
    a.cancel_at(at(1));
    expect_reserve(lim, 1, 3, 5, true);
  }
}

TEST_F(Rate, ReservationsWithTimeJumpingBack) {
  {
    limiter lim(10, 2);
    expect_reserve(lim, 1, 2, 1, true);
    expect_reserve(lim, 0, 1, 1, true);
    expect_reserve(lim, 2, 2, 3, true);
    expect_reserve(lim, 0, 3, 0, false);
    expect_reserve(lim, 2, 1, 4, true);
  }
  {
    limiter lim(10, 2);
    expect_reserve(lim, 1, 2, 1, true);
    auto r = expect_reserve(lim, 1, 2, 3, true);
    expect_reserve(lim, 1, 1, 4, true);
    r.cancel_at(at(0));
    expect_reserve(lim, 1, 2, 4, true);
  }
}

TEST_F(Rate, SetLimitAndSetBurstTakeEffectFromTheirTime) {
  {
    limiter lim(5, 2);
    expect_reserve(lim, 0, 2, 0, true);
    expect_reserve(lim, 0, 2, 4, true);
    lim.set_limit_at(at(2), 10);
    EXPECT_EQ(lim.limit(), 10);
    expect_reserve(lim, 2, 1, 4, true);
  }
  {
    limiter lim(5, 2);
    expect_reserve(lim, 0, 2, 0, true);
    expect_reserve(lim, 0, 2, 4, true);
    lim.set_burst_at(at(3), 4);
    EXPECT_EQ(lim.burst(), 4);
    expect_reserve(lim, 0, 4, 9, true);
  }
  {
    limiter lim(5, 2);
    expect_reserve(lim, 0, 2, 0, true);
    auto r = expect_reserve(lim, 0, 2, 4, true);
    lim.set_limit_at(at(2), 10);
    r.cancel_at(at(2));
    expect_reserve(lim, 2, 2, 3, true);
  }
}

TEST_F(Rate, InfAllowsEverythingAndZeroOnlyTheBurst) {
  limiter unlimited(gopp::rate::inf, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.allow());
  EXPECT_FALSE(unlimited.wait_n(gopp::background(), 3));
  limiter zero(0, 2);
  EXPECT_TRUE(zero.allow_n(at(0), 1));
  EXPECT_TRUE(zero.allow_n(at(5), 1));
  EXPECT_FALSE(zero.allow_n(at(9), 1));  // never refilled
  EXPECT_GT(zero.reserve_n(at(9), 1).delay_from(at(9)), std::chrono::hours(24 * 365));  // never
}

TEST_F(Rate, ErrorsCarryGosMessages) {
  EXPECT_EQ(std::error_code(gopp::rate::errc::exceeds_burst).message(),
            "rate: Wait(n) exceeds limiter's burst");
  EXPECT_EQ(std::error_code(gopp::rate::errc::would_exceed_deadline).message(),
            "rate: Wait(n) would exceed context deadline");
  EXPECT_STREQ(gopp::rate::rate_category().name(), "gopp.rate");
}

TEST_P(RateSides, WaitFailsAtOnceForAnEndedContextOrMoreThanTheBurst) {
  // Go's TestWaitSimple, first half.
  limiter lim(10, 3);
  auto t = start(GetParam(), [&] {
    auto [ctx, cancel] = gopp::with_cancel(gopp::background());
    cancel();
    EXPECT_EQ(lim.wait(ctx), gopp::errc::canceled);
    EXPECT_EQ(lim.wait_n(gopp::background(), 4), gopp::rate::errc::exceeds_burst);
  });
  t.join();
  EXPECT_DOUBLE_EQ(std::round(lim.tokens()), 3);  // nothing was taken
}

TEST_P(RateSides, WaitActsNowOrWhenTheTokensHaveAccrued) {
  // Go's TestWaitSimple, second half: 2 of 3 tokens now, then 3 more take 200 ms.
  limiter lim(10, 3);
  auto t = start(GetParam(), [&] {
    auto start_time = clock_type::now();
    EXPECT_FALSE(lim.wait_n(gopp::background(), 2));
    EXPECT_LT(clock_type::now() - start_time, 100ms);
    start_time = clock_type::now();
    EXPECT_FALSE(lim.wait_n(gopp::background(), 3));
    const auto waited = clock_type::now() - start_time;
    EXPECT_GE(waited, 140ms);  // 200 ms, less the time since the first wait
    EXPECT_LT(waited, 2s);
  });
  t.join();
}

TEST_P(RateSides, AWaitCancelledMidwayGivesItsTokensBack) {
  // Go's TestWaitCancel: cancelled after 100 ms of a 200 ms wait; the tokens come back, so a
  // wait for 2 right after acts at once.
  limiter lim(10, 3);
  auto t = start(GetParam(), [&] {
    auto [ctx, cancel] = gopp::with_cancel(gopp::background());
    EXPECT_FALSE(lim.wait_n(ctx, 2));
    gopp::go([c = cancel] {
      gopp::sleep_for(d);
      c();
    });
    const auto start_time = clock_type::now();
    EXPECT_EQ(lim.wait_n(ctx, 3), gopp::errc::canceled);
    EXPECT_GE(clock_type::now() - start_time, 70ms);
    const auto again = clock_type::now();
    EXPECT_FALSE(lim.wait_n(gopp::background(), 2));
    EXPECT_LT(clock_type::now() - again, 50ms);
  });
  t.join();
}

TEST_P(RateSides, AWaitThatWouldPassTheDeadlineFailsAtOnceAndTakesNothing) {
  // Go's TestWaitTimeout: 3 tokens would take 200 ms, the deadline is 100 ms away.
  limiter lim(10, 3);
  auto t = start(GetParam(), [&] {
    auto [ctx, cancel] = gopp::with_timeout(gopp::background(), d);
    EXPECT_FALSE(lim.wait_n(ctx, 2));
    const auto start_time = clock_type::now();
    EXPECT_EQ(lim.wait_n(ctx, 3), gopp::rate::errc::would_exceed_deadline);
    EXPECT_LT(clock_type::now() - start_time, 50ms);
    EXPECT_FALSE(ctx.err());  // it failed early, not at the deadline
    cancel();
  });
  t.join();
  EXPECT_LT(lim.tokens(), 1.9);  // only the first 2 were taken (about 1 left, refilling)
  EXPECT_GT(lim.tokens(), 0.9);
}

TEST_P(RateSides, AThousandPerSecondForTwoSecondsIsWithinFivePercent) {
  // The behaviour bound: 8 waiters on a 1,000/s limiter with a burst of 10 for 2 s complete
  // 2,010 waits in theory (the full bucket, then one per ms). Reservations are spaced by the
  // clock, not by wake-ups, so a late wake-up loses nothing unless every waiter stalls for
  // longer than the bucket and the reservations ahead cover (about 18 ms: a loaded machine).
  limiter lim(1000, 10);
  const auto begin = clock_type::now();
  const auto end = begin + 2s;
  std::atomic<int> events{0};
  std::vector<task> ts;
  for (int i = 0; i < 8; ++i) {
    ts.push_back(start(i == 0 ? GetParam() : side::goroutine, [&] {
      for (;;) {
        EXPECT_FALSE(lim.wait(gopp::background()));
        if (clock_type::now() > end) return;
        ++events;
      }
    }));
  }
  for (auto& t : ts) t.join();
  EXPECT_GE(events.load(), 1900);  // 2,000 - 5%
  EXPECT_LE(events.load(), 2110);  // 2,000 + 5%, plus the initial burst
}

TEST_P(RateSides, ReserveDelayAndCancelFromAnySide) {
  limiter lim(gopp::rate::every(50ms), 1);
  auto t = start(GetParam(), [&] {
    auto first = lim.reserve();
    EXPECT_TRUE(first.ok());
    EXPECT_EQ(first.delay(), 0ns);
    auto second = lim.reserve();
    EXPECT_GT(second.delay(), 30ms);
    EXPECT_LE(second.delay(), 50ms);
    second.cancel();
    EXPECT_TRUE(lim.reserve().delay() <= 50ms);
  });
  t.join();
}

GOPP_INSTANTIATE_SIDES(RateSides);

}  // namespace
