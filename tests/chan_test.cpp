// tests/chan_test.cpp: the behaviours API.md promises for chan, send_chan and recv_chan, one by
// one. Tests whose other end can run anywhere are parameterised: the counterpart runs on a
// goroutine and on a plain std::thread (see test_support.hpp).
//
// This program replaces the global operator new with a counting one (GOPP_TEST_COUNT_ALLOCATIONS,
// see test_support.hpp) to check that the fast paths of send and receive do not allocate.
#define GOPP_TEST_COUNT_ALLOCATIONS 1
#include "test_support.hpp"

#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using gopp::chan;
using gopp::recv_chan;
using gopp::send_chan;
using namespace gopp_test;
using namespace std::chrono_literals;

// Counts copies, moves and live objects, to check that values are moved, never copied, and that
// every value a channel holds is destroyed.
struct counted {
  static inline std::atomic<int> copies{0};
  static inline std::atomic<int> moves{0};
  static inline std::atomic<int> live{0};
  static void reset() { copies = moves = 0; }

  int value = 0;
  explicit counted(int v = 0) noexcept : value(v) { ++live; }
  counted(const counted& o) noexcept : value(o.value) { ++copies, ++live; }
  counted(counted&& o) noexcept : value(o.value) { ++moves, ++live; }
  counted& operator=(const counted& o) noexcept {
    value = o.value;
    ++copies;
    return *this;
  }
  counted& operator=(counted&& o) noexcept {
    value = o.value;
    ++moves;
    return *this;
  }
  ~counted() { --live; }
};

struct nothing {};  // an empty element type

// ---------------------------------------------------------------------------------------------
// Construction, capacity and handle semantics

class ChanConstruction : public leak_checked {};

TEST_F(ChanConstruction, DefaultConstructedChannelIsUnbuffered) {
  chan<int> c;
  EXPECT_EQ(c.capacity(), 0u);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.try_send(1)) << "no receiver is waiting, so an unbuffered send would block";
  EXPECT_EQ(c.try_recv(), std::nullopt);
}

TEST_F(ChanConstruction, ZeroCapacityIsUnbufferedAndNotNil) {
  chan<int> c(0);
  EXPECT_EQ(c.capacity(), 0u);
  EXPECT_FALSE(c.try_send(1));
  EXPECT_NO_THROW(c.close()) << "chan<int>(0) must be a real channel: closing it is legal";
  EXPECT_EQ(c.recv(), std::nullopt);
}

TEST_F(ChanConstruction, BufferedChannelReportsCapacityAndSize) {
  chan<int> c(3);
  EXPECT_EQ(c.capacity(), 3u);
  EXPECT_EQ(c.size(), 0u);
  c.send(10);
  c.send(20);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.try_send(30));
  EXPECT_EQ(c.size(), 3u);
  EXPECT_FALSE(c.try_send(40)) << "the buffer is full";
  EXPECT_EQ(c.recv(), 10);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.capacity(), 3u);
}

TEST_F(ChanConstruction, AcceptsAnyIntegralCapacityType) {
  EXPECT_EQ(chan<int>(std::size_t{4}).capacity(), 4u);
  EXPECT_EQ(chan<int>(5u).capacity(), 5u);
  EXPECT_EQ(chan<int>(std::int8_t{2}).capacity(), 2u);
  EXPECT_EQ(chan<int>(std::int64_t{7}).capacity(), 7u);
  EXPECT_EQ(chan<int>(short{1}).capacity(), 1u);
}

TEST_F(ChanConstruction, NegativeCapacityThrowsInvalidArgument) {
  EXPECT_THROW(chan<int>(-1), std::invalid_argument);
  EXPECT_THROW(chan<int>(std::int64_t{-1000}), std::invalid_argument);
  EXPECT_THROW(chan<int>(std::int8_t{-3}), std::invalid_argument);
  EXPECT_THROW(chan<std::string>(-7L), std::invalid_argument);
}

TEST_F(ChanConstruction, CopiesReferToTheSameChannel) {
  chan<int> a(2);
  chan<int> b = a;
  chan<int> c;
  c = b;
  a.send(1);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(c.recv(), 1);
  EXPECT_EQ(a.size(), 0u);
  c.close();
  EXPECT_EQ(a.recv(), std::nullopt) << "closing through one handle closes the channel";
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(b == c);
  EXPECT_FALSE(a != c);
}

TEST_F(ChanConstruction, EqualityIsIdentityNotContents) {
  chan<int> a(1);
  chan<int> b(1);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a != b);
  EXPECT_FALSE(chan<int>() == chan<int>()) << "two make(chan int) are two channels";
  chan<int> moved_into = std::move(b);
  chan<int> again = moved_into;
  EXPECT_TRUE(again == moved_into);
}

TEST_F(ChanConstruction, DirectionalViewsShareTheChannelAndCompareByIdentity) {
  chan<int> c(4);
  send_chan<int> s = c;
  recv_chan<int> r = c;
  s.send(5);
  EXPECT_TRUE(s.try_send(6));
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(r.capacity(), 4u);
  EXPECT_EQ(s.capacity(), 4u);
  EXPECT_EQ(r.recv(), 5);
  EXPECT_EQ(r.try_recv(), 6);
  EXPECT_EQ(r.try_recv(), std::nullopt);

  send_chan<int> s2 = c;
  recv_chan<int> r2 = c;
  EXPECT_TRUE(s == s2);
  EXPECT_TRUE(r == r2);
  send_chan<int> other_s = chan<int>(4);
  recv_chan<int> other_r = chan<int>(4);
  EXPECT_FALSE(s == other_s);
  EXPECT_FALSE(r == other_r);

  s.close();
  EXPECT_EQ(r.recv(), std::nullopt) << "a send_chan can close the channel";
}

TEST_F(ChanConstruction, OperationsAreConstSoCapturingLambdasNeedNoMutable) {
  const chan<int> c(1);
  c.send(1);
  EXPECT_EQ(c.recv(), 1);
  EXPECT_TRUE(c.try_send(2));
  EXPECT_EQ(c.try_recv(), 2);

  auto sender = [c] { c.send(3); };  // not mutable: the captured handle is const
  auto t = start(side::goroutine, sender);
  EXPECT_EQ(c.recv(), 3);
  t.join();

  const send_chan<int> s = c;
  const recv_chan<int> r = c;
  s.send(4);
  EXPECT_EQ(r.recv(), 4);
  s.close();
  EXPECT_EQ(r.try_recv(), std::nullopt);
}

TEST_F(ChanConstruction, ExceptionTypesFormTheDocumentedHierarchy) {
  static_assert(std::is_base_of_v<std::logic_error, gopp::channel_error>);
  static_assert(std::is_base_of_v<gopp::channel_error, gopp::closed_channel_error>);
  static_assert(std::is_base_of_v<gopp::channel_error, gopp::nil_channel_error>);
  chan<int> c;
  c.close();
  try {
    c.close();
    ADD_FAILURE() << "second close did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "close of closed channel");
    EXPECT_NE(dynamic_cast<const gopp::closed_channel_error*>(&e), nullptr);
    EXPECT_NE(dynamic_cast<const gopp::channel_error*>(&e), nullptr);
  }
}

// ---------------------------------------------------------------------------------------------
// The nil channel

class NilChan : public leak_checked {};

TEST_F(NilChan, NonBlockingOperationsNeverSucceed) {
  chan<int> c(nullptr);
  EXPECT_FALSE(c.try_send(1));
  int v = 9;
  EXPECT_FALSE(c.try_send(v));
  EXPECT_EQ(v, 9);
  EXPECT_EQ(c.try_recv(), std::nullopt);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_EQ(c.capacity(), 0u);
}

TEST_F(NilChan, CloseThrowsNilChannelErrorWithGoMessage) {
  chan<int> c(nullptr);
  EXPECT_EQ(what_of<gopp::nil_channel_error>([&] { c.close(); }), "close of nil channel");
  EXPECT_THROW(c.close(), gopp::channel_error);
  EXPECT_THROW(c.close(), std::logic_error);
}

TEST_F(NilChan, NilHandlesCompareEqualAndDifferFromRealChannels) {
  chan<int> a(nullptr);
  chan<int> b(nullptr);
  EXPECT_TRUE(a == b) << "as in Go, where two nil channels are ==";
  EXPECT_FALSE(a == chan<int>());
  EXPECT_FALSE(chan<int>(0) == a);
}

TEST_F(NilChan, DefaultConstructedDirectionalViewsAreNil) {
  send_chan<int> s;
  recv_chan<int> r;
  EXPECT_FALSE(s.try_send(1));
  EXPECT_EQ(r.try_recv(), std::nullopt);
  EXPECT_EQ(s.capacity(), 0u);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(what_of<gopp::nil_channel_error>([&] { s.close(); }), "close of nil channel");
  EXPECT_TRUE(s == send_chan<int>(chan<int>(nullptr)));
  EXPECT_TRUE(r == recv_chan<int>(chan<int>(nullptr)));
}

TEST_F(NilChan, SendBlocksForever) {
  chan<int> c(nullptr);
  // A static, so that the abandoned goroutine holds no heap memory of the test.
  static std::atomic<bool> returned{false};
  gopp::go([c] {
    c.send(1);
    returned = true;
  });
  expect_stranded(1);
  settle();
  settle();
  EXPECT_FALSE(returned);
}

TEST_F(NilChan, RecvBlocksForever) {
  recv_chan<int> c;
  // A static, so that the abandoned goroutine holds no heap memory of the test.
  static std::atomic<bool> returned{false};
  gopp::go([c] {
    (void)c.recv();
    returned = true;
  });
  expect_stranded(1);
  settle();
  settle();
  EXPECT_FALSE(returned);
}

// ---------------------------------------------------------------------------------------------
// Close

class ChanClose : public sides {};

TEST_P(ChanClose, SecondCloseThrowsWithGoMessage) {
  chan<int> c(1);
  c.close();
  EXPECT_EQ(what_of<gopp::closed_channel_error>([&] { c.close(); }), "close of closed channel");
}

TEST_P(ChanClose, SendOnClosedChannelThrowsWithGoMessage) {
  for (int cap : {0, 1, 8}) {
    chan<int> c(cap);
    c.close();
    EXPECT_EQ(what_of<gopp::closed_channel_error>([&] { c.send(1); }), "send on closed channel");
    EXPECT_EQ(what_of<gopp::closed_channel_error>([&] { (void)c.try_send(1); }),
              "send on closed channel")
        << "try_send throws on a closed channel like send";
    int v = 3;
    EXPECT_THROW((void)c.try_send(v), gopp::closed_channel_error);
  }
}

TEST_P(ChanClose, ReceiveFromClosedEmptyChannelReturnsNulloptEveryTime) {
  chan<int> c;
  c.close();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.try_recv(), std::nullopt);
  }
}

TEST_P(ChanClose, BufferedValuesSurviveClose) {
  chan<std::string> c(4);
  c.send("a");
  c.send("b");
  c.send("c");
  c.close();
  EXPECT_EQ(c.size(), 3u);
  auto t = start(GetParam(), [c] {
    EXPECT_EQ(c.recv(), "a");
    EXPECT_EQ(c.try_recv(), "b");
    EXPECT_EQ(c.recv(), "c");
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.try_recv(), std::nullopt);
  });
  t.join();
  EXPECT_EQ(c.size(), 0u);
}

TEST_P(ChanClose, CloseWakesEveryBlockedReceiverWithNullopt) {
  for (int cap : {0, 3}) {
    chan<int> c(cap);
    const int receivers = 6;
    std::atomic<int> got_nullopt{0};
    std::vector<task> ts;
    for (int i = 0; i < receivers; ++i) {
      ts.push_back(start(GetParam(), [c, &got_nullopt] {
        if (c.recv() == std::nullopt) ++got_nullopt;
      }));
    }
    settle();
    EXPECT_EQ(got_nullopt, 0) << "nobody may return before the close";
    c.close();
    for (auto& t : ts) t.join();
    EXPECT_EQ(got_nullopt, receivers) << "capacity " << cap;
  }
}

TEST_P(ChanClose, CloseMakesEveryBlockedSenderThrow) {
  for (int cap : {0, 2}) {
    chan<int> c(cap);
    for (int i = 0; i < cap; ++i) c.send(100 + i);  // fill the buffer
    const int senders = 6;
    std::atomic<int> threw{0};
    std::vector<task> ts;
    for (int i = 0; i < senders; ++i) {
      ts.push_back(start(GetParam(), [c, i, &threw] {
        std::string what = what_of<gopp::closed_channel_error>([&] { c.send(i); });
        if (what == "send on closed channel") ++threw;
      }));
    }
    settle();
    EXPECT_EQ(threw, 0);
    c.close();
    for (auto& t : ts) t.join();
    EXPECT_EQ(threw, senders) << "capacity " << cap;
    for (int i = 0; i < cap; ++i) EXPECT_EQ(c.recv(), 100 + i) << "buffered before the close";
    EXPECT_EQ(c.recv(), std::nullopt);
  }
}

TEST_P(ChanClose, CloseThroughSendChanOfANilViewThrowsNil) {
  send_chan<int> s = chan<int>(nullptr);
  EXPECT_EQ(what_of<gopp::nil_channel_error>([&] { s.close(); }), "close of nil channel");
}

GOPP_INSTANTIATE_SIDES(ChanClose);

// ---------------------------------------------------------------------------------------------
// try_send / try_recv

class ChanTry : public sides {};

TEST_P(ChanTry, FailedTrySendLeavesTheValueUntouched) {
  chan<std::unique_ptr<int>> full(1);
  full.send(std::make_unique<int>(1));
  auto p = std::make_unique<int>(42);
  EXPECT_FALSE(full.try_send(p)) << "lvalue overload";
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
  EXPECT_FALSE(full.try_send(std::move(p))) << "rvalue overload";
  ASSERT_NE(p, nullptr) << "a failed try_send(T&&) must not move from its argument";
  EXPECT_EQ(*p, 42);

  chan<std::unique_ptr<int>> unbuffered;
  EXPECT_FALSE(unbuffered.try_send(std::move(p)));
  ASSERT_NE(p, nullptr);

  chan<std::string> strings(0);
  std::string s(1000, 'x');
  EXPECT_FALSE(strings.try_send(std::move(s)));
  EXPECT_EQ(s, std::string(1000, 'x'));
}

TEST_P(ChanTry, SuccessfulTrySendTakesTheValue) {
  chan<std::unique_ptr<int>> c(2);
  auto p = std::make_unique<int>(7);
  EXPECT_TRUE(c.try_send(p));
  EXPECT_EQ(p, nullptr) << "the value now belongs to the channel";
  EXPECT_TRUE(c.try_send(std::make_unique<int>(8)));
  EXPECT_EQ(*c.recv().value(), 7);
  EXPECT_EQ(*c.try_recv().value(), 8);
}

TEST_P(ChanTry, TrySendOnUnbufferedSucceedsOnlyWithAWaitingReceiver) {
  chan<int> c;
  std::optional<int> got;
  auto t = start(GetParam(), [c, &got] { got = c.recv(); });
  // The receiver is waiting at some point; until then try_send fails and keeps its value.
  int v = 77;
  EXPECT_TRUE(eventually([&] { return c.try_send(v); }));
  t.join();
  EXPECT_EQ(got, 77);
}

TEST_P(ChanTry, TryRecvOnUnbufferedTakesFromAWaitingSender) {
  chan<int> c;
  EXPECT_EQ(c.try_recv(), std::nullopt);
  auto t = start(GetParam(), [c] { c.send(55); });
  std::optional<int> got;
  EXPECT_TRUE(eventually([&] { return (got = c.try_recv()).has_value(); }));
  EXPECT_EQ(got, 55);
  t.join();
}

TEST_P(ChanTry, TryRecvDistinguishesNothingReadyFromClosedOnlyByState) {
  chan<int> c(1);
  EXPECT_EQ(c.try_recv(), std::nullopt);
  c.send(1);
  c.close();
  EXPECT_EQ(c.try_recv(), 1) << "a closed channel still delivers what it buffered";
  EXPECT_EQ(c.try_recv(), std::nullopt);
}

GOPP_INSTANTIATE_SIDES(ChanTry);

// ---------------------------------------------------------------------------------------------
// Element types

class ChanElements : public sides {};

TEST_P(ChanElements, MoveOnlyValuesTravelThroughEveryKindOfChannel) {
  for (int cap : {0, 1, 4}) {
    chan<std::unique_ptr<int>> c(cap);
    auto t = start(GetParam(), [c] {
      for (int i = 0; i < 10; ++i) c.send(std::make_unique<int>(i));
      c.close();
    });
    int expect = 0;
    while (auto v = c.recv()) {
      ASSERT_NE(*v, nullptr);
      EXPECT_EQ(**v, expect++);
    }
    EXPECT_EQ(expect, 10);
    t.join();
  }
}

TEST_P(ChanElements, EmptyElementTypes) {
  static_assert(std::is_empty_v<nothing>);
  chan<nothing> c(3);
  c.send(nothing{});
  c.send({});
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.recv().has_value());
  EXPECT_TRUE(c.try_recv().has_value());
  EXPECT_FALSE(c.try_recv().has_value());

  chan<std::monostate> u;
  auto t = start(GetParam(), [u] {
    for (int i = 0; i < 3; ++i) u.send({});
    u.close();
  });
  int n = 0;
  for (std::monostate m : u) {
    (void)m;
    ++n;
  }
  EXPECT_EQ(n, 3);
  t.join();
}

using big = std::array<std::uint64_t, 1024>;  // 8 KiB

big make_big(std::uint64_t seed) {
  big b;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = seed * 1000003u + i;
  return b;
}

TEST_P(ChanElements, LargeValuesArriveIntact) {
  for (int cap : {0, 2}) {
    chan<big> c(cap);
    auto t = start(GetParam(), [c] {
      for (std::uint64_t k = 0; k < 8; ++k) c.send(make_big(k));
    });
    for (std::uint64_t k = 0; k < 8; ++k) {
      auto v = c.recv();
      ASSERT_TRUE(v.has_value());
      EXPECT_TRUE(*v == make_big(k)) << "value " << k << " corrupted, capacity " << cap;
    }
    t.join();
  }
}

TEST_P(ChanElements, StringsAndVectorsKeepTheirContents) {
  chan<std::vector<std::string>> c(1);
  auto t = start(GetParam(), [c] {
    c.send({"x", std::string(300, 'y'), ""});
    c.send({});
  });
  auto a = c.recv();
  auto b = c.recv();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, (std::vector<std::string>{"x", std::string(300, 'y'), ""}));
  EXPECT_TRUE(b->empty());
  t.join();
}

TEST_P(ChanElements, ValuesLeftInADroppedChannelAreDestroyed) {
  counted::live = 0;
  {
    chan<counted> c(5);
    for (int i = 0; i < 4; ++i) c.send(counted(i));
    auto copy = c;
    c.close();
    EXPECT_EQ(counted::live, 4) << "the buffer holds four values";
  }
  EXPECT_EQ(counted::live, 0) << "dropping the last handle destroys what was buffered";

  {
    chan<counted> c(2);
    c.send(counted(1));
    auto t = start(GetParam(), [c] { EXPECT_EQ(c.recv()->value, 1); });
    t.join();
  }
  EXPECT_EQ(counted::live, 0);
}

TEST_P(ChanElements, NoCopiesWhereAMoveSuffices) {
  for (int cap : {0, 3}) {
    chan<counted> c(cap);
    counted::reset();
    auto t = start(GetParam(), [c] {
      c.send(counted(1));
      counted lvalue(2);
      c.send(std::move(lvalue));
      counted for_try(3);
      while (!c.try_send(for_try)) gopp::yield();
      c.close();
    });
    std::vector<int> seen;
    auto first = c.recv();
    ASSERT_TRUE(first);
    seen.push_back(first->value);
    for (counted v : c) seen.push_back(v.value);  // range-for moves each value out
    t.join();
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(counted::copies, 0) << "capacity " << cap << ": a value was copied";
  }
}

GOPP_INSTANTIATE_SIDES(ChanElements);

// ---------------------------------------------------------------------------------------------
// Range-for

class ChanRange : public sides {};

TEST_P(ChanRange, ReceivesEveryValueUntilClosedAndDrained) {
  for (int cap : {0, 1, 16}) {
    chan<int> c(cap);
    auto t = start(GetParam(), [c] {
      for (int i = 0; i < 100; ++i) c.send(i);
      c.close();
    });
    std::vector<int> got;
    for (int v : c) got.push_back(v);
    std::vector<int> want(100);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(got, want) << "capacity " << cap;
    t.join();
  }
}

TEST_P(ChanRange, WorksOverARecvChanOfMoveOnlyValues) {
  chan<std::unique_ptr<std::string>> c(2);
  recv_chan<std::unique_ptr<std::string>> r = c;
  auto t = start(GetParam(), [c] {
    c.send(std::make_unique<std::string>("one"));
    c.send(std::make_unique<std::string>("two"));
    c.close();
  });
  std::vector<std::string> got;
  for (std::unique_ptr<std::string> p : r) got.push_back(*p);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
  t.join();
}

TEST_P(ChanRange, OverAClosedEmptyChannelYieldsNothing) {
  chan<int> c(3);
  c.close();
  int n = 0;
  for (int v : c) n += v + 1;
  EXPECT_EQ(n, 0);
}

TEST_P(ChanRange, BreakingOutLeavesTheRestInTheChannel) {
  chan<int> c(5);
  for (int i = 0; i < 5; ++i) c.send(i);
  for (int v : c) {
    if (v == 1) break;
  }
  EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(c.recv(), 2);
}

GOPP_INSTANTIATE_SIDES(ChanRange);

// ---------------------------------------------------------------------------------------------
// FIFO

class ChanFifo : public sides {};

TEST_P(ChanFifo, ValuesFromOneSenderArriveInTheOrderSent) {
  const int n = static_cast<int>(scaled(5000, 200));
  for (int cap : {0, 1, 10}) {
    chan<int> c(cap);
    auto t = start(GetParam(), [c, n] {
      for (int i = 0; i < n; ++i) c.send(i);
    });
    for (int i = 0; i < n; ++i) {
      auto v = c.recv();
      ASSERT_EQ(v, i) << "capacity " << cap;
    }
    t.join();
  }
}

TEST_P(ChanFifo, BlockedSendersAreServedInArrivalOrder) {
  const int senders = 5;
  for (int cap : {0, 2}) {
    std::vector<int> want;
    for (int i = 0; i < cap + senders; ++i) want.push_back(i - cap);
    expect_order_eventually(
        [&](std::chrono::milliseconds pause) {
          chan<int> c(cap);
          for (int i = 0; i < cap; ++i) c.send(i - cap);  // fill the buffer first
          std::vector<task> ts;
          for (int i = 0; i < senders; ++i) {
            ts.push_back(start(GetParam(), [c, i] { c.send(i); }));
            gopp::sleep_for(pause);  // sender i is blocked before sender i+1 starts
          }
          std::vector<int> got;
          for (int i = 0; i < cap + senders; ++i) got.push_back(c.recv().value_or(-99));
          for (auto& t : ts) t.join();
          return got;
        },
        want);
  }
}

TEST_P(ChanFifo, BlockedReceiversAreServedInArrivalOrder) {
  const int receivers = 5;
  std::vector<int> want(receivers);
  std::iota(want.begin(), want.end(), 0);
  for (int cap : {0, 3}) {
    expect_order_eventually(
        [&](std::chrono::milliseconds pause) {
          chan<int> c(cap);
          std::vector<int> got(receivers, -1);
          std::vector<task> ts;
          for (int i = 0; i < receivers; ++i) {
            ts.push_back(start(GetParam(), [c, i, &got] { got[i] = c.recv().value_or(-2); }));
            gopp::sleep_for(pause);
          }
          for (int i = 0; i < receivers; ++i) c.send(i);
          for (auto& t : ts) t.join();
          return got;  // got[i]: what the i-th receiver to arrive was given
        },
        want);
  }
}

GOPP_INSTANTIATE_SIDES(ChanFifo);

// ---------------------------------------------------------------------------------------------
// Concurrency: many producers and consumers, and close racing with them

class ChanConcurrency : public sides {};

TEST_P(ChanConcurrency, ManyProducersAndConsumersDeliverEachValueExactlyOnce) {
  const int producers = 4, consumers = 4;
  const int per_producer = static_cast<int>(scaled(3000, 100));
  for (int cap : {0, 1, 7, 64}) {
    chan<int> c(cap);
    std::vector<task> prod, cons;
    std::vector<std::vector<int>> got(consumers);
    for (int p = 0; p < producers; ++p) {
      prod.push_back(start(GetParam(), [c, p, per_producer] {
        for (int i = 0; i < per_producer; ++i) c.send(p * per_producer + i);
      }));
    }
    for (int k = 0; k < consumers; ++k) {
      cons.push_back(start(GetParam(), [c, k, &got] {
        for (int v : c) got[k].push_back(v);
      }));
    }
    for (auto& t : prod) t.join();
    c.close();
    for (auto& t : cons) t.join();

    std::vector<int> all;
    for (auto& g : got) {
      // values of one producer reach one consumer in the order sent
      std::vector<int> last(producers, -1);
      for (int v : g) {
        EXPECT_GT(v, last[v / per_producer]) << "out of order, capacity " << cap;
        last[v / per_producer] = v;
      }
      all.insert(all.end(), g.begin(), g.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int> want(producers * per_producer);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_TRUE(all == want) << "capacity " << cap << ": " << all.size() << " values received, "
                             << want.size() << " sent";
  }
}

TEST_P(ChanConcurrency, CloseRacingWithBlockedSendersAndReceivers) {
  const int rounds = static_cast<int>(scaled(40, 5));
  for (int round = 0; round < rounds; ++round) {
    chan<int> to_senders(round % 2);    // senders block here
    chan<int> to_receivers(round % 3);  // receivers block here
    std::atomic<int> senders_threw{0}, receivers_saw_close{0};
    std::vector<task> ts;
    for (int i = 0; i < round % 2; ++i) to_senders.send(-1);  // fill the buffer
    for (int i = 0; i < 4; ++i) {
      ts.push_back(start(GetParam(), [to_senders, i, &senders_threw] {
        try {
          to_senders.send(i);
        } catch (const gopp::closed_channel_error&) {
          ++senders_threw;
        }
      }));
      ts.push_back(start(GetParam(), [to_receivers, &receivers_saw_close] {
        if (!to_receivers.recv()) ++receivers_saw_close;
      }));
    }
    if (round % 4 == 0) settle();  // some rounds close before everyone is parked
    to_senders.close();
    to_receivers.close();
    for (auto& t : ts) t.join();
    EXPECT_EQ(senders_threw, 4) << "round " << round;
    EXPECT_EQ(receivers_saw_close, 4) << "round " << round;
  }
}

TEST_P(ChanConcurrency, CloseRacingWithActiveSendersLosesNoValueAndInventsNone) {
  const int rounds = static_cast<int>(scaled(60, 5));
  std::mt19937 rng(12345);
  for (int round = 0; round < rounds; ++round) {
    chan<int> c(round % 3 == 0 ? 0 : 4);
    const int senders = 3, per_sender = 200;
    std::vector<std::vector<int>> sent(senders);
    std::vector<int> received;
    std::vector<task> ts;
    for (int s = 0; s < senders; ++s) {
      ts.push_back(start(GetParam(), [c, s, &sent] {
        for (int i = 0; i < per_sender; ++i) {
          try {
            c.send(s * per_sender + i);
          } catch (const gopp::closed_channel_error&) {
            return;
          }
          sent[s].push_back(s * per_sender + i);  // recorded only when the send succeeded
        }
      }));
    }
    auto receiver = start(GetParam(), [c, &received] {
      for (int v : c) received.push_back(v);
    });
    gopp::sleep_for(std::chrono::microseconds(rng() % 300));
    c.close();
    for (auto& t : ts) t.join();
    receiver.join();
    std::vector<int> all;
    for (auto& s : sent) all.insert(all.end(), s.begin(), s.end());
    std::sort(all.begin(), all.end());
    std::sort(received.begin(), received.end());
    EXPECT_EQ(all, received) << "round " << round
                             << ": a successful send must be received exactly once";
  }
}

TEST_P(ChanConcurrency, LastHandleDroppedRightAfterAHandOff) {
  // The receiver and the sender each drop their handle as soon as their side of the hand-off
  // returns; whichever is last frees the channel while the other may still be leaving send/recv.
  const int rounds = static_cast<int>(scaled(2000, 100));
  for (int round = 0; round < rounds; ++round) {
    auto c = std::make_unique<chan<int>>(round % 2);
    std::unique_ptr<chan<int>> mine = std::make_unique<chan<int>>(*c);
    auto t = start(GetParam(), [h = std::move(c)]() mutable {
      h->send(1);
      h.reset();
    });
    EXPECT_EQ(mine->recv(), 1);
    mine.reset();
    t.join();
  }
}

GOPP_INSTANTIATE_SIDES(ChanConcurrency);

// ---------------------------------------------------------------------------------------------
// Blocking on a plain thread does not spin; on a goroutine it parks only the goroutine.

class ChanBlocking : public leak_checked {};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST_F(ChanBlocking, APlainThreadBlockedInRecvDoesNotBusyWait) {
  chan<int> c;
  const auto wait = 300ms;
  gopp::go([c, wait] {
    gopp::sleep_for(wait);
    c.send(1);
  });
  double cpu0 = process_cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.recv(), 1);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = process_cpu_seconds() - cpu0;
  // A spinning receiver would burn a whole core for the wait; allow a wide margin for the runtime.
  EXPECT_LT(cpu, 0.5 * wall) << "cpu " << cpu << " s over " << wall << " s of waiting";
}

TEST_F(ChanBlocking, ThousandsOfBlockedGoroutinesDoNotHoldTheirThreads) {
  // With any number of runtime threads (1 included), a goroutine parked in recv lets its thread
  // run the goroutine that will eventually send to it.
  const int n = static_cast<int>(scaled(2000, 100));
  chan<int> start_line;
  chan<int> finish(n);
  for (int i = 0; i < n; ++i) {
    gopp::go([start_line, finish] { finish.send(start_line.recv().value_or(-1) + 1); });
  }
  gopp::go([start_line, n] {
    for (int i = 0; i < n; ++i) start_line.send(i);
  });
  long long sum = 0;
  for (int i = 0; i < n; ++i) sum += finish.recv().value();
  EXPECT_EQ(sum, static_cast<long long>(n) * (n + 1) / 2);
}

TEST_F(ChanBlocking, ShortLivedThreadsEachReceiveOnceFromAGoroutine) {
  // A goroutine's send completes the thread's receive by publishing the value, then unparking
  // the thread's parker. A thread that sees the value first may return and end before that
  // unpark lands: the parker it aimed at must outlive the thread (park.hpp). Many threads, each
  // ending right after its one receive, with more threads than cores so that the sender is
  // preempted between the two steps now and then.
  const int rounds = static_cast<int>(scaled(400, 40));
  const int width = 16;
  for (int round = 0; round < rounds; ++round) {
    std::vector<chan<int>> cs(width);
    std::vector<std::thread> threads;
    std::atomic<int> received{0};
    for (int i = 0; i < width; ++i) {
      threads.emplace_back([c = cs[i], &received, i] {
        if (c.recv() == i) received.fetch_add(1, std::memory_order_relaxed);
      });
      gopp::go([c = cs[i], i] { c.send(i); });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(received.load(), width) << "round " << round;
  }
}

// The thread that a parker belonged to has ended and its stack (where thread_local objects live)
// is unmapped: an unpark that arrives late must still land on memory that exists, and leave at
// most a spurious token for whoever uses that parker next.
void* record_thread_parker(void* out) {
  *static_cast<gopp::detail::parker**>(out) = &gopp::detail::current_parker();
  return nullptr;
}

TEST_F(ChanBlocking, AnUnparkArrivingAfterItsThreadEndedIsHarmless) {
  gopp::detail::parker* late = nullptr;
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  // Larger than glibc's cache of thread stacks (40 MiB), so joining unmaps this one at once.
  ASSERT_EQ(pthread_attr_setstacksize(&attr, std::size_t{64} << 20), 0);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, &attr, record_thread_parker, &late), 0);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  ASSERT_NE(late, nullptr);
  late->unpark();  // the thread is gone
  late->unpark();
  // Threads that come next (one of them may be given the same parker, token and all) still block
  // until their value arrives.
  for (int i = 0; i < 4; ++i) {
    chan<int> c;
    std::atomic<bool> sent{false};
    std::thread receiver([&] {
      EXPECT_EQ(c.recv(), i);
      EXPECT_TRUE(sent.load());
    });
    settle();
    sent.store(true);
    c.send(i);
    receiver.join();
  }
}

// ---------------------------------------------------------------------------------------------
// Allocation: the fast paths of send and receive do not touch the heap.

class ChanAllocation : public leak_checked {};

TEST_F(ChanAllocation, BufferedSendAndRecvDoNotAllocateInSteadyState) {
  chan<int> c(16);
  for (int i = 0; i < 100; ++i) {  // warm up
    c.send(i);
    (void)c.recv();
  }
  const int n = 10000;
  std::size_t before = allocations();
  long sum = 0;
  for (int i = 0; i < n; ++i) {
    c.send(i);
    c.send(i);
    sum += *c.recv();
    sum += *c.recv();
  }
  std::size_t made = allocations() - before;
  EXPECT_EQ(sum, static_cast<long>(n) * (n - 1));
  EXPECT_EQ(made, 0u) << "over " << 4 * n << " buffered sends and receives";
}

TEST_F(ChanAllocation, TryOperationsAndHandleCopiesDoNotAllocate) {
  chan<std::unique_ptr<int>> c(1);
  chan<int> ints(4);
  auto p = std::make_unique<int>(1);
  std::size_t before = allocations();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(c.try_send(p));
    EXPECT_FALSE(c.try_send(p));  // p is null now; the full channel refuses it
    p = std::move(*c.try_recv());
    EXPECT_EQ(c.try_recv(), std::nullopt);
    chan<int> copy = ints;  // a handle copy
    send_chan<int> s = copy;
    recv_chan<int> r = ints;
    (void)s.try_send(i);
    (void)r.try_recv();
  }
  EXPECT_EQ(allocations() - before, 0u);
}

TEST_F(ChanAllocation, UnbufferedPingPongDoesNotAllocatePerOperation) {
  // A blocking hand-off parks and unparks; the waiter lives on the blocked side's stack, so even
  // this slow path should not allocate per operation (generous bound: a tenth per round trip).
  chan<int> ping, pong;
  const int warmup = 200, n = static_cast<int>(scaled(5000, 500));
  gopp::go([ping, pong, total = warmup + n] {
    for (int i = 0; i < total; ++i) pong.send(ping.recv().value() + 1);
  });
  for (int i = 0; i < warmup; ++i) {
    ping.send(i);
    (void)pong.recv();
  }
  std::size_t before = allocations();
  for (int i = 0; i < n; ++i) {
    ping.send(i);
    ASSERT_EQ(pong.recv(), i + 1);
  }
  std::size_t made = allocations() - before;
  EXPECT_LT(made, static_cast<std::size_t>(n) / 10)
      << made << " allocations over " << n << " unbuffered round trips";
}

}  // namespace
