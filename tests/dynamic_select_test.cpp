// tests/dynamic_select_test.cpp: dynamic_select and dynamic_case (gopp/dynamic_select.hpp), Go's
// reflect.Select: the semantics of the select statement over cases built at run time, uniform
// choice over 1, 2, 64 and 1,000 channels, and no allocation per select up to 64 cases.
// Tests whose selecting side or counterpart can run anywhere are parameterised over a goroutine
// and a plain std::thread (test_support.hpp).
#define GOPP_TEST_COUNT_ALLOCATIONS 1
#include "test_support.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using gopp::chan;
using gopp::dynamic_case;
using gopp::dynamic_select;
using gopp::select_result;
using namespace gopp_test;
using namespace std::chrono_literals;

using icase = dynamic_case<int>;

// The chi-square value a uniform source exceeds with probability 1e-6, for any degrees of
// freedom: the table of test_support.hpp up to 7, Wilson and Hilferty's approximation above
// (z = 4.753 is the standard normal's 1e-6 upper quantile; within 1% of the exact value there).
double chi_square_limit(std::size_t dof) {
  if (dof <= 7) return chi_square_limit_1e6(dof);
  const double k = static_cast<double>(dof);
  const double t = 1 - 2 / (9 * k) + 4.753 * std::sqrt(2 / (9 * k));
  return k * t * t * t;
}

std::vector<chan<int>> make_chans(std::size_t n, int cap) {
  std::vector<chan<int>> cs;
  for (std::size_t i = 0; i < n; ++i) cs.emplace_back(cap);
  return cs;
}

std::vector<icase> recv_cases(const std::vector<chan<int>>& cs) {
  std::vector<icase> cases;
  for (const chan<int>& c : cs) cases.push_back(icase::recv(c));
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Semantics

class DynamicSelectBasics : public leak_checked {};

TEST_F(DynamicSelectBasics, ReturnsTheIndexAndValueOfTheReadyCase) {
  auto cs = make_chans(3, 1);
  cs[1].send(5);
  auto cases = recv_cases(cs);
  select_result<int> r = dynamic_select(cases);
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.value, 5);
  EXPECT_EQ(cs[1].size(), 0u) << "the value was received exactly once";
}

TEST_F(DynamicSelectBasics, ClosedChannelCaseIsReadyWithNullopt) {
  auto cs = make_chans(3, 0);
  cs[2].close();
  auto cases = recv_cases(cs);
  auto [index, value] = dynamic_select(cases);
  EXPECT_EQ(index, 2u);
  EXPECT_EQ(value, std::nullopt);
}

TEST_F(DynamicSelectBasics, BufferedValuesComeBeforeClosed) {
  chan<int> c(2);
  c.send(1);
  c.send(2);
  c.close();
  std::vector<icase> cases{icase::recv(c)};
  EXPECT_EQ(dynamic_select(cases).value, 1);
  EXPECT_EQ(dynamic_select(cases).value, 2);
  EXPECT_EQ(dynamic_select(cases).value, std::nullopt);
}

TEST_F(DynamicSelectBasics, NilChannelCasesAreNeverReady) {
  chan<int> ready(1);
  std::vector<icase> cases{icase::recv(nullptr), icase::send(nullptr, 1), icase::recv(ready),
                           icase::default_case()};
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(dynamic_select(cases).index, 3u) << "only the default can run";
    ready.send(i);
    select_result<int> r = dynamic_select(cases);
    EXPECT_EQ(r.index, 2u);
    EXPECT_EQ(r.value, i);
  }
}

TEST_F(DynamicSelectBasics, DefaultRunsOnlyWhenNothingIsReady) {
  auto cs = make_chans(4, 1);
  auto cases = recv_cases(cs);
  cases.insert(cases.begin() + 2, icase::default_case());
  EXPECT_EQ(dynamic_select(cases).index, 2u);
  for (int i = 0; i < 200; ++i) {
    cs[static_cast<std::size_t>(i) % 4].send(i);
    select_result<int> r = dynamic_select(cases);
    EXPECT_NE(r.index, 2u) << "default chosen while a case was ready";
    EXPECT_EQ(r.value, i);
  }
}

TEST_F(DynamicSelectBasics, OnlyADefaultReturnsIt) {
  std::vector<icase> cases{icase::default_case()};
  EXPECT_EQ(dynamic_select(cases).index, 0u);
}

TEST_F(DynamicSelectBasics, TwoDefaultsThrowGosMessage) {
  chan<int> c(1);
  c.send(1);
  std::vector<icase> cases{icase::default_case(), icase::recv(c), icase::default_case()};
  EXPECT_EQ(what_of<std::invalid_argument>([&] { dynamic_select(cases); }),
            "dynamic_select: multiple default cases");
  EXPECT_EQ(c.size(), 1u) << "nothing was performed";
}

TEST_F(DynamicSelectBasics, SendCaseSendsItsValueAndIsSpentUntilGivenANewOne) {
  chan<int> c(2);
  chan<int> never;
  std::vector<icase> cases{icase::recv(never), icase::send(c, 7)};
  EXPECT_TRUE(cases[1].has_value());
  select_result<int> r = dynamic_select(cases);
  EXPECT_EQ(r.index, 1u);
  EXPECT_EQ(r.value, std::nullopt);
  EXPECT_EQ(c.recv(), 7);
  EXPECT_FALSE(cases[1].has_value());
  EXPECT_EQ(what_of<std::logic_error>([&] { dynamic_select(cases); }),
            "dynamic_select: send case 1 was sent already; give it a new value with set_value()");
  cases[1].set_value(8);
  EXPECT_EQ(dynamic_select(cases).index, 1u);
  EXPECT_EQ(c.recv(), 8);
}

TEST_F(DynamicSelectBasics, SendCaseOnAClosedChannelThrowsAndKeepsItsValue) {
  chan<int> c(1);
  c.close();
  std::vector<icase> cases{icase::send(c, 3)};
  EXPECT_EQ(what_of<gopp::closed_channel_error>([&] { dynamic_select(cases); }),
            "send on closed channel");
  EXPECT_TRUE(cases[0].has_value());
}

TEST_F(DynamicSelectBasics, ValueOfASendCaseThatWasNotChosenIsNotSent) {
  chan<std::unique_ptr<int>> full(1), ready(1);
  full.send(std::make_unique<int>(0));
  std::vector<dynamic_case<std::unique_ptr<int>>> cases;
  cases.push_back(dynamic_case<std::unique_ptr<int>>::send(full, std::make_unique<int>(1)));
  cases.push_back(dynamic_case<std::unique_ptr<int>>::send(ready, std::make_unique<int>(2)));
  EXPECT_EQ(dynamic_select(cases).index, 1u);
  EXPECT_TRUE(cases[0].has_value());
  EXPECT_EQ(**full.recv(), 0);
  EXPECT_EQ(**ready.recv(), 2);
}

TEST_F(DynamicSelectBasics, MoveOnlyValuesAreReceived) {
  chan<std::unique_ptr<int>> c(1);
  c.send(std::make_unique<int>(4));
  std::array<dynamic_case<std::unique_ptr<int>>, 1> cases{
      dynamic_case<std::unique_ptr<int>>::recv(c)};
  select_result<std::unique_ptr<int>> r = dynamic_select(cases);
  ASSERT_TRUE(r.value.has_value());
  EXPECT_EQ(**r.value, 4);
}

TEST_F(DynamicSelectBasics, AcceptsArraysSpansAndVectors) {
  chan<int> c(4);
  for (int i = 0; i < 4; ++i) c.send(i);
  icase raw[2] = {icase::recv(nullptr), icase::recv(c)};
  std::array<icase, 2> arr{icase::recv(nullptr), icase::recv(c)};
  std::vector<icase> vec{icase::recv(c)};
  EXPECT_EQ(dynamic_select(raw).value, 0);
  EXPECT_EQ(dynamic_select(arr).value, 1);
  EXPECT_EQ(dynamic_select(std::span<icase>(vec)).value, 2);
  EXPECT_EQ(dynamic_select(vec).value, 3);
}

TEST_F(DynamicSelectBasics, CasesCopiedOrMovedBetweenSelectsStillWork) {
  chan<int> c;
  auto sender = start(side::goroutine, [c] {
    for (int i = 0; i < 100; ++i) c.send(i);
  });
  std::vector<icase> cases;
  for (int i = 0; i < 100; ++i) {
    cases.push_back(icase::recv(c));  // reallocates now and then: every case moves
    std::vector<icase> copy = cases;
    EXPECT_EQ(dynamic_select(copy).value, i);
  }
  sender.join();
}

TEST_F(DynamicSelectBasics, NoCasesBlocksForever) {
  auto returned = std::make_shared<std::atomic<bool>>(false);
  gopp::go([returned] {
    std::vector<icase> none;
    dynamic_select(none);
    returned->store(true);
  });
  expect_stranded(1);
  settle();
  EXPECT_FALSE(returned->load());
}

// ---------------------------------------------------------------------------------------------
// Blocking: the select parks, the counterpart comes later (on a goroutine or a thread).

class DynamicSelectBlocking : public sides {};

TEST_P(DynamicSelectBlocking, ParkedRecvSelectGetsTheValueSentLater) {
  auto cs = make_chans(16, 0);
  auto cases = recv_cases(cs);
  const int rounds = static_cast<int>(scaled(200, 20));
  auto sender = start(GetParam(), [cs, rounds] {
    for (int i = 0; i < rounds; ++i) {
      if (i % 2 == 0) gopp::yield();
      cs[static_cast<std::size_t>(i * 7) % cs.size()].send(i);
    }
  });
  for (int i = 0; i < rounds; ++i) {
    select_result<int> r = dynamic_select(cases);
    EXPECT_EQ(r.index, static_cast<std::size_t>(i * 7) % cs.size());
    EXPECT_EQ(r.value, i);
  }
  sender.join();
}

TEST_P(DynamicSelectBlocking, ParkedSendSelectIsTakenByALaterReceiver) {
  auto cs = make_chans(8, 0);
  std::vector<icase> cases;
  for (auto& c : cs) cases.push_back(icase::send(c, 0));
  const int rounds = static_cast<int>(scaled(200, 20));
  auto receiver = start(GetParam(), [cs, rounds] {
    for (int i = 0; i < rounds; ++i) {
      gopp::yield();
      EXPECT_EQ(cs[static_cast<std::size_t>(i) % cs.size()].recv(), i);
    }
  });
  for (int i = 0; i < rounds; ++i) {
    for (auto& c : cases) c.set_value(i);
    EXPECT_EQ(dynamic_select(cases).index, static_cast<std::size_t>(i) % cs.size());
  }
  receiver.join();
}

TEST_P(DynamicSelectBlocking, ParkedSelectSeesACloseAsReady) {
  auto cs = make_chans(4, 0);
  auto cases = recv_cases(cs);
  auto closer = start(GetParam(), [c = cs[3]] {
    settle();
    c.close();
  });
  select_result<int> r = dynamic_select(cases);
  EXPECT_EQ(r.index, 3u);
  EXPECT_EQ(r.value, std::nullopt);
  closer.join();
}

TEST_P(DynamicSelectBlocking, ParkedSendCaseThrowsWhenItsChannelIsClosed) {
  chan<int> c, never;
  std::vector<icase> cases{icase::recv(never), icase::send(c, 1)};
  auto closer = start(GetParam(), [c] {
    settle();
    c.close();
  });
  EXPECT_EQ(what_of<gopp::closed_channel_error>([&] { dynamic_select(cases); }),
            "send on closed channel");
  closer.join();
}

TEST_P(DynamicSelectBlocking, CompetingSelectsReceiveEachValueExactlyOnce) {
  // Go's doubleselect over dynamic cases: two selectors share 8 channels fed by 8 senders.
  auto cs = make_chans(8, 0);
  const int per = static_cast<int>(scaled(2000, 200));
  std::vector<task> senders;
  for (std::size_t k = 0; k < cs.size(); ++k) {
    senders.push_back(start(side::goroutine, [c = cs[k], k, per] {
      for (int i = 0; i < per; ++i) c.send(static_cast<int>(k) * per + i);
    }));
  }
  const int total = per * static_cast<int>(cs.size());
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(total));
  std::atomic<int> received{0};
  auto selector = [&] {
    auto cases = recv_cases(cs);
    cases.push_back(icase::default_case());
    while (received.load() < total) {
      select_result<int> r = dynamic_select(cases);
      if (r.index == cases.size() - 1) {
        gopp::yield();
        continue;
      }
      seen[static_cast<std::size_t>(*r.value)].fetch_add(1);
      received.fetch_add(1);
    }
  };
  auto other = start(GetParam(), selector);
  selector();
  other.join();
  for (auto& s : senders) s.join();
  for (int v = 0; v < total; ++v) ASSERT_EQ(seen[static_cast<std::size_t>(v)].load(), 1) << v;
}

TEST_P(DynamicSelectBlocking, FanInSwitchingClosedCasesOffLosesNothing) {
  // B14's loop in small: producers on unbuffered channels, closed cases replaced by nil ones
  // (each replacement changes the lock order the select cached in its cases).
  const std::size_t k = 16;
  const int per = static_cast<int>(scaled(500, 50));
  auto cs = make_chans(k, 0);
  std::vector<task> producers;
  for (std::size_t i = 0; i < k; ++i) {
    producers.push_back(start(GetParam(), [c = cs[i], per] {
      for (int j = 0; j < per; ++j) c.send(j);
      c.close();
    }));
  }
  auto cases = recv_cases(cs);
  std::vector<long> sums(k, 0);
  for (std::size_t open = k; open > 0;) {
    select_result<int> r = dynamic_select(cases);
    if (r.value) {
      sums[r.index] += *r.value;
      continue;
    }
    cases[r.index] = icase::recv(nullptr);
    --open;
  }
  for (auto& p : producers) p.join();
  for (long sum : sums) EXPECT_EQ(sum, static_cast<long>(per) * (per - 1) / 2);
}

TEST_P(DynamicSelectBlocking, ASubrangeOfCasesUsedBeforeWorks) {
  // The lock order a parked select cached in its cases must not be reused for a shorter range
  // over the same cases (its indices would point past the range).
  auto cs = make_chans(8, 0);
  auto cases = recv_cases(cs);
  auto sender = start(GetParam(), [cs] {
    settle();
    cs[6].send(1);  // the full range parks first and sorts its lock order
    for (int i = 0; i < 20; ++i) {
      gopp::yield();
      cs[static_cast<std::size_t>(i) % 3].send(i);
    }
  });
  EXPECT_EQ(dynamic_select(cases).index, 6u);
  for (int i = 0; i < 20; ++i) {
    select_result<int> r = dynamic_select(std::span<icase>(cases).first(3));
    EXPECT_EQ(r.index, static_cast<std::size_t>(i) % 3);
    EXPECT_EQ(r.value, i);
  }
  sender.join();
}

GOPP_INSTANTIATE_SIDES(DynamicSelectBlocking);

// ---------------------------------------------------------------------------------------------
// Uniform choice among ready cases. The selecting side runs on a goroutine or a thread.

struct uniform_param {
  side where;
  std::size_t channels;
};
void PrintTo(const uniform_param& p, std::ostream* os) {
  *os << to_string(p.where) << ", " << p.channels << " channels";
}

class DynamicSelectRandom : public leak_checked_with_param<uniform_param> {};

TEST_P(DynamicSelectRandom, ChoosesUniformlyAmongReadyRecvCases) {
  const std::size_t k = GetParam().channels;
  // At least 20 expected per channel under the sanitizers, 100 otherwise.
  const long trials = static_cast<long>(scaled(std::max<std::size_t>(20000, 100 * k), 20 * k));
  std::vector<long> counts(k, 0);
  auto body = [&] {
    auto cs = make_chans(k, 1);
    for (auto& c : cs) c.send(1);  // every case ready; the chosen one is refilled
    auto cases = recv_cases(cs);
    for (long t = 0; t < trials; ++t) {
      select_result<int> r = dynamic_select(cases);
      ASSERT_EQ(r.value, 1);
      ++counts[r.index];
      cs[r.index].send(1);
    }
  };
  auto t = start(GetParam().where, body);
  t.join();
  if (k == 1) {
    EXPECT_EQ(counts[0], trials);
    return;
  }
  EXPECT_LT(chi_square_uniform(counts), chi_square_limit(k - 1))
      << k << " channels, " << trials << " trials";
}

TEST_P(DynamicSelectRandom, ChoosesUniformlyAmongRecvCasesWokenLater) {
  // The select parks on k cases of one unbuffered channel; the sender comes later (it yields
  // first), so the waiter it finds first decides: the parked order must be uniform too.
  const std::size_t k = std::min<std::size_t>(GetParam().channels, 64);
  const long trials = static_cast<long>(scaled(100 * k, 25 * k));
  chan<int> c;
  std::vector<icase> cases(k, icase::recv(c));
  std::vector<long> counts(k, 0);
  auto sender = start(GetParam().where, [c, trials] {
    for (long i = 0; i < trials; ++i) {
      gopp::yield();
      c.send(1);
    }
  });
  for (long t = 0; t < trials; ++t) ++counts[dynamic_select(cases).index];
  sender.join();
  if (k == 1) {
    EXPECT_EQ(counts[0], trials);
    return;
  }
  EXPECT_LT(chi_square_uniform(counts), chi_square_limit(k - 1)) << k << " cases";
}

INSTANTIATE_TEST_SUITE_P(
    Channels, DynamicSelectRandom,
    ::testing::Values(uniform_param{side::goroutine, 1}, uniform_param{side::goroutine, 2},
                      uniform_param{side::goroutine, 64}, uniform_param{side::goroutine, 1000},
                      uniform_param{side::thread, 1}, uniform_param{side::thread, 2},
                      uniform_param{side::thread, 64}, uniform_param{side::thread, 1000}),
    [](const ::testing::TestParamInfo<uniform_param>& info) {
      return to_string(info.param.where) + "_" + std::to_string(info.param.channels);
    });

// ---------------------------------------------------------------------------------------------
// Allocation: none per select up to dynamic_select_inline_cases; one above.

class DynamicSelectAllocation : public leak_checked {};

TEST_F(DynamicSelectAllocation, SelectsOverUpTo64CasesDoNotAllocate) {
  static_assert(gopp::dynamic_select_inline_cases == 64);
  auto cs = make_chans(63, 1);
  auto cases = recv_cases(cs);
  cases.push_back(icase::default_case());
  std::vector<icase> sends;
  for (auto& c : cs) sends.push_back(icase::send(c, 0));
  for (int i = 0; i < 100; ++i) (void)dynamic_select(cases);  // warm up
  long sum = 0;
  const std::size_t before = allocations();
  for (int i = 0; i < 5000; ++i) {
    EXPECT_EQ(dynamic_select(cases).index, 63u);  // nothing ready: default
    cs[static_cast<std::size_t>(i) % cs.size()].send(i);
    sum += dynamic_select(cases).value.value_or(0);
    for (auto& s : sends) s.set_value(i);
    (void)dynamic_select(sends);
    sum += dynamic_select(cases).value.value_or(0);
  }
  const std::size_t made = allocations() - before;
  EXPECT_EQ(made, 0u) << "allocations over 20000 non-blocking dynamic selects";
  EXPECT_GT(sum, 0);
}

TEST_F(DynamicSelectAllocation, ParkedSelectsDoNotAllocatePerOperation) {
  // As chan_test's unbuffered ping-pong: parking and waking may not allocate per operation
  // (generous bound: a tenth per round trip, for the runtime's own bookkeeping).
  auto cs = make_chans(64, 0);
  auto cases = recv_cases(cs);
  const int warmup = 200, n = static_cast<int>(scaled(5000, 500));
  chan<int> ack;
  gopp::go([cs, ack, total = warmup + n] {
    for (int i = 0; i < total; ++i) {
      cs[static_cast<std::size_t>(i) % cs.size()].send(i);
      (void)ack.recv();
    }
  });
  for (int i = 0; i < warmup; ++i) {
    (void)dynamic_select(cases);
    ack.send(0);
  }
  const std::size_t before = allocations();
  for (int i = warmup; i < warmup + n; ++i) {
    ASSERT_EQ(dynamic_select(cases).value, i);
    ack.send(0);
  }
  const std::size_t made = allocations() - before;
  EXPECT_LT(made, static_cast<std::size_t>(n) / 10)
      << made << " allocations over " << n << " parked dynamic selects";
}

TEST_F(DynamicSelectAllocation, AboveTheBoundEachSelectAllocatesOnce) {
  auto cs = make_chans(gopp::dynamic_select_inline_cases + 1, 1);
  auto cases = recv_cases(cs);
  cases.push_back(icase::default_case());
  (void)dynamic_select(cases);
  const std::size_t before = allocations();
  for (int i = 0; i < 100; ++i) (void)dynamic_select(cases);
  EXPECT_EQ(allocations() - before, 100u);
}

}  // namespace
