// tests/singleflight_test.cpp: gopp::singleflight::group (singleflight.hpp), Go's x/sync
// singleflight tests ported in our own words (Do, an error, duplicate suppression, Forget,
// DoChan, a panic reaching every caller) plus gopp's own: 1,000 callers of one key run f once,
// the shared flag, and callers on goroutines and plain threads alike.
#include "test_support.hpp"

#include <gopp/singleflight.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace gopp_test;
using namespace std::chrono_literals;

class Singleflight : public leak_checked {};
class SingleflightSides : public sides {};

TEST_F(Singleflight, DoReturnsTheValueOfALoneCallUnshared) {
  // Go's TestDo.
  gopp::singleflight::group<std::string, std::string> g;
  auto [v, shared] = g.do_("key", [] { return std::string("bar"); });
  EXPECT_EQ(v, "bar");
  EXPECT_FALSE(shared);
}

TEST_F(Singleflight, DoRethrowsTheException) {
  // Go's TestDoErr.
  gopp::singleflight::group<std::string, int> g;
  EXPECT_EQ(what_of<std::runtime_error>(
                [&] { g.do_("key", []() -> int { throw std::runtime_error("some error"); }); }),
            "some error");
  // The failed flight is over: the next call runs f again.
  EXPECT_EQ(g.do_("key", [] { return 7; }).val, 7);
}

// A key comparison that counts its calls: a do_ that finds a flight in progress compares its key
// with the flight's, under the group's lock, in the same critical section in which it joins the
// flight. So once the count reaches callers - 1, every caller but the runner has joined.
std::atomic<int> key_compares{0};
struct counting_equal {
  bool operator()(int a, int b) const noexcept {
    ++key_compares;
    return a == b;
  }
};

TEST_P(SingleflightSides, AThousandCallersOfOneKeyRunFOnceAndAllGetItsValue) {
  // Go's TestDoDupSuppress, at 1,000 callers: f blocks until every caller has joined the flight.
  const int callers = static_cast<int>(scaled_goroutines(1000, 50));
  key_compares = 0;
  gopp::singleflight::group<int, std::string, std::hash<int>, counting_equal> g;
  std::atomic<int> calls{0}, arrived{0}, shared_count{0};
  gopp::chan<int> release;
  std::vector<task> ts;
  for (int i = 0; i < callers; ++i) {
    const side where = (i % 10 == 0) ? GetParam() : side::goroutine;
    ts.push_back(start(where, [&] {
      ++arrived;
      auto [v, shared] = g.do_(42, [&] {
        ++calls;
        release.recv();  // holds the flight open
        return std::string("bar");
      });
      EXPECT_EQ(v, "bar");
      if (shared) ++shared_count;
    }));
  }
  const bool joined = eventually([&] { return key_compares.load() >= callers - 1; });
  release.send(1);  // even if not: a failed test must not hang
  EXPECT_TRUE(joined);
  for (auto& t : ts) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(shared_count.load(), callers);  // the runner's flight was shared too
}

TEST_P(SingleflightSides, AnExceptionReachesEveryCallerOfTheFlight) {
  // Go's TestPanicDo...: a panic in fn reaches every caller. Here: the same exception object.
  const int callers = 20;
  gopp::singleflight::group<std::string, int> g;
  std::atomic<int> caught{0}, arrived{0};
  gopp::chan<int> release;
  std::vector<task> ts;
  for (int i = 0; i < callers; ++i) {
    ts.push_back(start(i % 2 ? GetParam() : side::goroutine, [&] {
      ++arrived;
      try {
        g.do_("k", [&]() -> int {
          release.recv();
          throw std::runtime_error("fetch failed");
        });
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "fetch failed") ++caught;
      }
    }));
  }
  ASSERT_TRUE(eventually([&] { return arrived.load() == callers; }));
  settle();
  settle();
  release.send(1);
  for (auto& t : ts) t.join();
  EXPECT_EQ(caught.load(), callers);
}

TEST_P(SingleflightSides, ForgetMakesTheNextCallStartANewFlight) {
  // Go's TestForget: after Forget, a call runs its own f while the first flight is still running;
  // the first flight still answers its caller.
  gopp::singleflight::group<std::string, int> g;
  gopp::chan<int> first_started, release_first;
  std::atomic<int> first_result{0};
  auto first = start(GetParam(), [&] {
    first_result = g.do_("key", [&] {
                      first_started.send(1);
                      release_first.recv();
                      return 1;
                    }).val;
  });
  first_started.recv();
  g.forget("key");
  auto [v, shared] = g.do_("key", [] { return 2; });
  EXPECT_EQ(v, 2);
  EXPECT_FALSE(shared);
  release_first.send(1);
  first.join();
  EXPECT_EQ(first_result.load(), 1);
  EXPECT_EQ(g.do_("key", [] { return 3; }).val, 3);  // the forgotten flight did not come back
}

TEST_P(SingleflightSides, DoChanDeliversTheResultAndTheSharedFlag) {
  // Go's TestDoChan, plus a joiner: both channels receive the value, marked shared.
  gopp::singleflight::group<std::string, std::string> g;
  gopp::chan<int> release;
  auto a = g.do_chan("key", [&] {
    release.recv();
    return std::string("bar");
  });
  std::optional<gopp::singleflight::result<std::string>> joined;
  auto t = start(GetParam(), [&] {
    auto b = g.do_chan("key", [] { return std::string("never"); });
    release.send(1);
    joined = b.recv();
  });
  auto r = a.recv();
  t.join();
  ASSERT_TRUE(r && joined);
  EXPECT_EQ(*r->val, "bar");
  EXPECT_FALSE(r->err);
  EXPECT_TRUE(r->shared);
  EXPECT_EQ(*joined->val, "bar");
  EXPECT_TRUE(joined->shared);
}

TEST_F(Singleflight, DoChanDeliversTheExceptionInTheResult) {
  gopp::singleflight::group<int, int> g;
  auto ch = g.do_chan(1, []() -> int { throw std::invalid_argument("bad key"); });
  auto r = ch.recv();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->val);
  ASSERT_TRUE(r->err);
  EXPECT_EQ(what_of<std::invalid_argument>([&] { std::rethrow_exception(r->err); }), "bad key");
  EXPECT_FALSE(r->shared);
}

TEST_P(SingleflightSides, DifferentKeysFlyIndependently) {
  gopp::singleflight::group<int, int> g;
  std::atomic<int> calls{0};
  std::vector<task> ts;
  for (int i = 0; i < 8; ++i) {
    ts.push_back(start(GetParam(), [&, i] {
      EXPECT_EQ(g.do_(i,
                      [&, i] {
                        ++calls;
                        return i * 10;
                      })
                    .val,
                i * 10);
    }));
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(calls.load(), 8);
}

GOPP_INSTANTIATE_SIDES(SingleflightSides);

}  // namespace
