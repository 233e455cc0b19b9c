// tests/go_test.cpp: the behaviours API.md ("Goroutines") and gopp/go.hpp promise for go(),
// yield, sleep_for/sleep_until, in_goroutine, num_goroutines, goroutine_id and configure, and
// those gopp/detail/park.hpp promises for the parker between goroutines and plain threads.
//
// Synchronisation is built from the parker and atomics only (runtime_support.hpp): these tests
// are the ground the channels stand on. This program runs with the default thread count; tests
// that need a particular one live in go_one_thread_test.cpp and go_four_threads_test.cpp.
#include <gtest/gtest.h>
#include <gopp/detail/park.hpp>
#include <gopp/go.hpp>
#include <gopp/sync.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime_support.hpp"

namespace {

using namespace std::chrono_literals;
using gopp_runtime_test::clock;
using gopp_runtime_test::countdown;
using gopp_runtime_test::elapsed_since;
using gopp_runtime_test::gate;
using gopp_runtime_test::scaled;

class Go : public gopp_runtime_test::no_leaked_goroutines {};
class Sleep : public gopp_runtime_test::no_leaked_goroutines {};
class Park : public gopp_runtime_test::no_leaked_goroutines {};

// ---------------------------------------------------------------------------------------------
// Spawning

TEST_F(Go, RunsTheFunctionSpawnedFromMain) {
  std::atomic<bool> ran{false};
  std::atomic<bool> was_goroutine{false};
  countdown done(1);
  gopp::go([&] {
    was_goroutine = gopp::in_goroutine();
    ran = true;
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(ran);
  EXPECT_TRUE(was_goroutine);
}

// Go 1.25's wg.Go(f): gopp::go(wg, f) counts the goroutine in wg before it starts.
TEST_F(Go, GoWithAWaitGroupCountsTheGoroutineUntilItEnds) {
  gopp::wait_group wg;
  std::atomic<int> finished{0};
  for (int i = 0; i < 10; ++i) {
    gopp::go(wg, [&finished] {
      gopp::sleep_for(1ms);
      ++finished;
    });
  }
  wg.wait();  // counted before go() returned: cannot return before the ten have ended
  EXPECT_EQ(finished.load(), 10);
}

TEST_F(Go, TheWaitGroupMemberGoIsTheSameAsGoWithTheWaitGroup) {
  gopp::wait_group wg;
  std::atomic<int> finished{0};
  for (int i = 0; i < 10; ++i) {
    wg.go([&finished] {
      gopp::sleep_for(1ms);
      ++finished;
    });
  }
  wg.wait();
  EXPECT_EQ(finished.load(), 10);
}

TEST_F(Go, GoWithAWaitGroupWorksFromAGoroutineAndTakesMoveOnlyCallables) {
  gopp::wait_group wg;
  auto box = std::make_unique<int>(7);
  std::atomic<int> seen{0};
  countdown done(1);
  gopp::go([&] {
    gopp::go(wg, [&seen, b = std::move(box)] { seen = *b; });
    wg.wait();
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(seen.load(), 7);
}

// go() decay-copies its arguments, as std::thread: std::ref passes a reference (a wait_group,
// which cannot be copied, or a result to fill in).
TEST_F(Go, StdRefPassesAReferenceThroughGo) {
  gopp::wait_group wg;
  int result = 0;
  wg.add(1);
  gopp::go(
      [](gopp::wait_group& w, int& out) {
        out = 42;
        w.done();
      },
      std::ref(wg), std::ref(result));
  wg.wait();
  EXPECT_EQ(result, 42);
}

TEST_F(Go, RunsTheFunctionSpawnedFromAGoroutine) {
  std::atomic<bool> inner_ran{false};
  std::atomic<std::uint64_t> outer_id{0}, inner_id{0};
  countdown done(1);
  gopp::go([&] {
    outer_id = gopp::goroutine_id();
    gopp::go([&] {
      inner_id = gopp::goroutine_id();
      inner_ran = gopp::in_goroutine();
      done.done();
    });
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(inner_ran);
  EXPECT_NE(outer_id.load(), 0u);
  EXPECT_NE(inner_id.load(), 0u);
  EXPECT_NE(outer_id.load(), inner_id.load());
}

TEST_F(Go, ManyGoroutinesSpawnedByGoroutinesAllRun) {
  // A two-level tree: each of `fanout` goroutines spawns `fanout` more.
  const std::size_t fanout = scaled(40, 4);
  std::atomic<std::size_t> leaves{0};
  // The spawners count down too: a spawner still testing its loop condition after its last
  // leaf finished would otherwise read this frame's `fanout` after the test returned.
  countdown done(fanout * fanout + fanout);
  for (std::size_t i = 0; i < fanout; ++i) {
    gopp::go([&leaves, &done, fanout] {
      for (std::size_t j = 0; j < fanout; ++j) {
        gopp::go([&leaves, &done] {
          leaves.fetch_add(1, std::memory_order_relaxed);
          done.done();
        });
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(leaves.load(), fanout * fanout);
}

TEST_F(Go, ReturnsAtOnceWithoutWaitingForTheGoroutine) {
  // The goroutine cannot finish before main opens the gate, which main does only after go()
  // has returned: a go() that waited for its goroutine would hang here (the countdown's time-out
  // turns that into a failure).
  gate release;
  std::atomic<bool> finished{false};
  countdown done(1);
  gopp::go([&] {
    release.wait();
    finished = true;
    done.done();
  });
  EXPECT_FALSE(finished);
  release.open();
  ASSERT_TRUE(done.wait_for(10s));
  EXPECT_TRUE(finished);
}

TEST_F(Go, ReturnsAtOnceWhenCalledFromAGoroutine) {
  gate release;
  std::atomic<bool> spawner_returned{false};
  countdown done(2);
  gopp::go([&] {
    gopp::go([&] {
      release.wait();
      done.done();
    });
    spawner_returned = true;
    done.done();
  });
  // The spawner finishes while its child is still held at the gate.
  const auto deadline = clock::now() + 10s;
  while (!spawner_returned && clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(spawner_returned);
  release.open();
  ASSERT_TRUE(done.wait_for());
}

// Counts the copies and moves made of it, into a tally that outlives it.
struct tally {
  std::atomic<int> copies{0};
  std::atomic<int> moves{0};
};
struct counted {
  tally* t;
  explicit counted(tally* to) : t(to) {}
  counted(const counted& o) : t(o.t) { ++t->copies; }
  counted(counted&& o) noexcept : t(o.t) { ++t->moves; }
  counted& operator=(const counted&) = delete;
  counted& operator=(counted&&) = delete;
};

TEST_F(Go, CopiesAnLvalueArgumentExactlyOnce) {
  tally t;
  counted arg(&t);
  const counted* seen = nullptr;
  countdown done(1);
  gopp::go(
      [&](counted&& c) {
        seen = &c;
        done.done();
      },
      arg);
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(t.copies.load(), 1) << "an lvalue argument is decay-copied once, as by std::thread";
  EXPECT_NE(seen, &arg) << "the goroutine must get its own copy";
}

TEST_F(Go, MovesAnRvalueArgumentWithoutCopying) {
  tally t;
  countdown done(1);
  gopp::go([&](counted) { done.done(); }, counted(&t));
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(t.copies.load(), 0);
  EXPECT_GE(t.moves.load(), 1);
}

TEST_F(Go, CopiesAnLvalueCallableExactlyOnce) {
  tally t;
  countdown done(1);
  struct functor {
    counted c;
    countdown* done;
    void operator()() { done->done(); }
  } f{counted(&t), &done};
  t.copies = 0;
  gopp::go(f);
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(t.copies.load(), 1);
}

TEST_F(Go, AcceptsAMoveOnlyArgument) {
  auto p = std::make_unique<int>(42);
  const int* const address = p.get();
  std::atomic<int> value{0};
  std::atomic<bool> same_object{false};
  countdown done(1);
  gopp::go(
      [&](std::unique_ptr<int> q) {
        value = *q;
        same_object = q.get() == address;
        done.done();
      },
      std::move(p));
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(value.load(), 42);
  EXPECT_TRUE(same_object);
}

TEST_F(Go, AcceptsAMoveOnlyCallable) {
  auto p = std::make_unique<int>(7);
  std::atomic<int> value{0};
  countdown done(1);
  gopp::go([&, q = std::move(p)] {
    value = *q;
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(value.load(), 7);
}

TEST_F(Go, InvokesTheCallableOnceAsAnRvalue) {
  struct rvalue_only {
    std::atomic<int>* calls;
    countdown* done;
    void operator()() && {
      ++*calls;
      done->done();
    }
  };
  std::atomic<int> calls{0};
  countdown done(1);
  gopp::go(rvalue_only{&calls, &done});
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(Go, CopiesAReferenceArgumentAtTheCall) {
  // The parameter is a reference, but go() decay-copies the argument when it is called: later
  // changes to the caller's variable are not seen, and the address differs.
  int x = 1;
  gate release;
  const int* seen_address = nullptr;
  int seen_value = 0;
  countdown done(1);
  gopp::go(
      [&](const int& r) {
        release.wait();
        seen_address = &r;
        seen_value = r;
        done.done();
      },
      x);
  x = 2;
  release.open();
  ASSERT_TRUE(done.wait_for());
  EXPECT_NE(seen_address, &x);
  EXPECT_EQ(seen_value, 1);
}

TEST_F(Go, PassesAReferenceThroughStdRef) {
  int x = 1;
  countdown done(1);
  gopp::go(
      [&](int& r) {
        r = 7;
        done.done();
      },
      std::ref(x));
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(x, 7);
}

TEST_F(Go, ForwardsSeveralArgumentsInOrder) {
  std::string result;
  countdown done(1);
  gopp::go(
      [&](int a, std::string b, double c) {
        result = std::to_string(a) + b + std::to_string(static_cast<int>(c));
        done.done();
      },
      1, std::string("-two-"), 3.0);
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(result, "1-two-3");
}

TEST_F(Go, StoresAClosureTooBigForTheInlineBuffer) {
  // A closure of several KiB, aligned beyond max_align_t, is stored out of line and still intact.
  struct alignas(64) big {
    unsigned char bytes[4096];
  };
  big b{};
  for (std::size_t i = 0; i < sizeof b.bytes; ++i) b.bytes[i] = static_cast<unsigned char>(i * 7);
  std::atomic<bool> intact{false};
  std::atomic<bool> aligned{false};
  countdown done(1);
  gopp::go(
      [&](const big& copy) {
        bool ok = true;
        for (std::size_t i = 0; i < sizeof copy.bytes; ++i) {
          ok = ok && copy.bytes[i] == static_cast<unsigned char>(i * 7);
        }
        intact = ok;
        aligned = reinterpret_cast<std::uintptr_t>(&copy) % 64 == 0;
        done.done();
      },
      b);
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(intact);
  EXPECT_TRUE(aligned);
}

TEST_F(Go, DestroysTheClosureAfterTheCall) {
  // The decay-copied arguments belong to the goroutine and are destroyed when it finishes.
  auto token = std::make_shared<int>(0);
  std::weak_ptr<int> watch = token;
  countdown done(1);
  gopp::go([&](std::shared_ptr<int>) { done.done(); }, std::move(token));
  ASSERT_TRUE(done.wait_for());
  const auto deadline = clock::now() + 10s;
  while (!watch.expired() && clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(watch.expired());
}

// ---------------------------------------------------------------------------------------------
// num_goroutines, goroutine_id, in_goroutine

TEST_F(Go, NumGoroutinesRisesWithSpawnsAndReturnsToBaseline) {
  const std::size_t baseline = gopp::num_goroutines();
  const std::size_t n = 50;
  gate release;
  countdown started(n);
  countdown finished(n);
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&] {
      started.done();
      release.wait();
      finished.done();
    });
  }
  // Counted from go()'s return, before any of them has necessarily run.
  EXPECT_EQ(gopp::num_goroutines(), baseline + n);
  ASSERT_TRUE(started.wait_for());
  EXPECT_EQ(gopp::num_goroutines(), baseline + n);
  release.open();
  ASSERT_TRUE(finished.wait_for());
  const auto deadline = clock::now() + 10s;
  while (gopp::num_goroutines() != baseline && clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(gopp::num_goroutines(), baseline);
}

TEST(GoroutineId, IsZeroOnPlainThreads) {
  EXPECT_EQ(gopp::goroutine_id(), 0u);
  std::uint64_t on_thread = 1;
  std::thread([&] { on_thread = gopp::goroutine_id(); }).join();
  EXPECT_EQ(on_thread, 0u);
}

TEST(InGoroutine, IsFalseOnPlainThreads) {
  EXPECT_FALSE(gopp::in_goroutine());
  bool on_thread = true;
  std::thread([&] { on_thread = gopp::in_goroutine(); }).join();
  EXPECT_FALSE(on_thread);
}

TEST_F(Go, GoroutineIdsAreNonzeroDistinctAndStable) {
  const std::size_t n = 200;
  std::vector<std::uint64_t> ids(n);
  std::atomic<int> unstable{0};
  countdown done(n);
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&, i] {
      const std::uint64_t id = gopp::goroutine_id();
      ids[i] = id;
      for (int k = 0; k < 5; ++k) {
        gopp::yield();
        if (gopp::goroutine_id() != id) ++unstable;
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  EXPECT_EQ(unstable.load(), 0);
  const std::set<std::uint64_t> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), n);
  EXPECT_EQ(distinct.count(0), 0u);
}

TEST_F(Go, GoroutineIdsFollowStartOrder) {
  // go.hpp: the goroutines one thread starts get rising ids (ids come in per-thread blocks).
  std::uint64_t first = 0, second = 0;
  countdown done(2);
  gopp::go([&] {
    first = gopp::goroutine_id();
    done.done();
  });
  gopp::go([&] {
    second = gopp::goroutine_id();
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_LT(first, second);
}

TEST(NumThreads, IsPositive) {
  EXPECT_GE(gopp::num_threads(), 1u);
}

// ---------------------------------------------------------------------------------------------
// yield

TEST_F(Go, YieldOnAPlainThreadReturns) {
  // On a plain thread yield() is std::this_thread::yield: it returns on the same thread, which
  // is still no goroutine, and goroutines run meanwhile (they have their own threads).
  const std::thread::id self = std::this_thread::get_id();
  std::atomic<bool> ran{false};
  gopp::go([&ran] { ran = true; });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  long yields = 0;
  while (!ran.load() && std::chrono::steady_clock::now() < give_up) {
    gopp::yield();
    ++yields;
  }
  EXPECT_TRUE(ran.load()) << "a goroutine never ran while this thread yielded " << yields
                          << " times";
  for (int i = 0; i < 100; ++i) gopp::yield();
  EXPECT_EQ(std::this_thread::get_id(), self);
  EXPECT_FALSE(gopp::in_goroutine());
}

TEST_F(Go, YieldingGoroutinesAllFinish) {
  const std::size_t n = 4 * gopp::num_threads() + 3;
  const int rounds = static_cast<int>(scaled(1000, 50));
  std::vector<std::atomic<int>> progress(n);
  countdown done(n);
  for (std::size_t i = 0; i < n; ++i) {
    gopp::go([&, i] {
      for (int r = 0; r < rounds; ++r) {
        progress[i].fetch_add(1, std::memory_order_relaxed);
        gopp::yield();
      }
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(progress[i].load(), rounds) << "goroutine " << i;
}

TEST_F(Go, AYieldLoopLetsTheGoroutineItWaitsForRun) {
  // More spinning waiters than threads, each yielding until a flag set by a goroutine spawned
  // after them: if yield did not let queued goroutines run, the setter would never get a thread.
  const std::size_t waiters = 2 * gopp::num_threads();
  std::atomic<bool> flag{false};
  countdown done(waiters + 1);
  for (std::size_t i = 0; i < waiters; ++i) {
    gopp::go([&] {
      while (!flag.load(std::memory_order_acquire)) gopp::yield();
      done.done();
    });
  }
  gopp::go([&] {
    flag.store(true, std::memory_order_release);
    done.done();
  });
  ASSERT_TRUE(done.wait_for(30s));
}

// ---------------------------------------------------------------------------------------------
// sleep_for, sleep_until

TEST_F(Sleep, SleepForInAGoroutineTakesAtLeastTheDuration) {
  std::chrono::milliseconds took{};
  countdown done(1);
  gopp::go([&] {
    const auto start = clock::now();
    gopp::sleep_for(50ms);
    took = elapsed_since(start);
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_GE(took, 50ms);
  EXPECT_LT(took, 500ms);
}

TEST_F(Sleep, SleepUntilInAGoroutineWakesAtTheTimePoint) {
  clock::time_point deadline{}, woke{};
  countdown done(1);
  gopp::go([&] {
    deadline = clock::now() + 50ms;
    gopp::sleep_until(deadline);
    woke = clock::now();
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_GE(woke, deadline);
  EXPECT_LT(woke - deadline, 450ms);
}

TEST_F(Sleep, SleepForOnAPlainThreadSleepsTheThread) {
  const auto start = clock::now();
  gopp::sleep_for(50ms);
  const auto took = elapsed_since(start);
  EXPECT_GE(took, 50ms);
  EXPECT_LT(took, 500ms);

  std::chrono::milliseconds on_thread{};
  std::thread([&] {
    const auto s = clock::now();
    gopp::sleep_until(s + 50ms);
    on_thread = elapsed_since(s);
  }).join();
  EXPECT_GE(on_thread, 50ms);
  EXPECT_LT(on_thread, 500ms);
}

TEST_F(Sleep, ZeroAndNegativeDurationsReturnPromptly) {
  auto check = [] {
    const auto start = clock::now();
    for (int i = 0; i < 100; ++i) {
      gopp::sleep_for(0ns);
      gopp::sleep_for(-1s);
      gopp::sleep_until(clock::now() - 1h);
    }
    return elapsed_since(start);
  };
  EXPECT_LT(check(), 500ms) << "on the main thread";
  std::chrono::milliseconds in_goroutine{};
  countdown done(1);
  gopp::go([&] {
    in_goroutine = check();
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_LT(in_goroutine, 500ms) << "in a goroutine";
}

TEST_F(Sleep, ParksTheGoroutineNotItsThread) {
  // One long sleeper per thread: if a sleep blocked its thread, the goroutine started after them
  // would wait the whole 800 ms for a thread.
  const unsigned threads = gopp::num_threads();
  for (unsigned i = 0; i < threads; ++i) gopp::go([] { gopp::sleep_for(800ms); });
  std::this_thread::sleep_for(20ms);  // let them reach their sleep
  const auto start = clock::now();
  countdown runner(1);
  gopp::go([&] { runner.done(); });
  ASSERT_TRUE(runner.wait_for());
  EXPECT_LT(elapsed_since(start), 600ms);
}

TEST_F(Sleep, ManySleepersWakeInDeadlineOrder) {
  // Deadlines 30 ms apart after a common start, spawned latest first, end in deadline order. The
  // first lies far enough ahead for all eight to be asleep by then (starting a goroutine takes
  // milliseconds under the sanitizers).
  const int n = 8;
  const auto start = clock::now() + (gopp_runtime_test::under_sanitizer ? 500ms : 50ms);
  std::atomic<int> next{0};
  std::vector<int> order(n, -1);
  countdown done(n);
  for (int i = n - 1; i >= 0; --i) {
    gopp::go([&, i] {
      gopp::sleep_until(start + std::chrono::milliseconds(30 * i));
      order[next.fetch_add(1)] = i;
      done.done();
    });
  }
  ASSERT_TRUE(done.wait_for());
  for (int i = 0; i < n; ++i) EXPECT_EQ(order[i], i);
}

// ---------------------------------------------------------------------------------------------
// The parker between goroutines and plain threads

TEST_F(Park, AGoroutineWakesTheParkedMainThread) {
  gopp::detail::parker& main_parker = gopp::detail::current_parker();
  std::atomic<bool> flag{false};
  // Once `flag` is set this test may return: the goroutine touches only what it holds by value.
  gopp::go([&flag, main = &main_parker] {
    gopp::sleep_for(10ms);  // main is most likely parked by now
    flag.store(true, std::memory_order_release);
    main->unpark();
  });
  const auto deadline = clock::now() + 10s;
  while (!flag.load(std::memory_order_acquire) && clock::now() < deadline) {
    main_parker.park_until(deadline);
  }
  EXPECT_TRUE(flag);
}

TEST_F(Park, AGoroutineWakesAParkedStdThread) {
  std::atomic<gopp::detail::parker*> thread_parker{nullptr};
  std::atomic<bool> flag{false};
  std::atomic<bool> unpark_returned{false};
  bool woke = false;
  std::thread t([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    thread_parker.store(&self, std::memory_order_release);
    const auto deadline = clock::now() + 10s;
    while (!flag.load(std::memory_order_acquire) && clock::now() < deadline) {
      self.park_until(deadline);
    }
    woke = flag.load();
    // The thread's parker dies with the thread: stay until the unpark aimed at it is over.
    while (!unpark_returned.load() && clock::now() < deadline) std::this_thread::yield();
  });
  countdown done(1);
  gopp::go([&] {
    while (!thread_parker.load(std::memory_order_acquire)) gopp::sleep_for(1ms);
    gopp::sleep_for(10ms);
    gopp::detail::parker* target = thread_parker.load();
    flag.store(true, std::memory_order_release);
    target->unpark();
    unpark_returned = true;
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  t.join();
  EXPECT_TRUE(woke);
}

TEST_F(Park, AStdThreadWakesAParkedGoroutine) {
  std::atomic<gopp::detail::parker*> goroutine_parker{nullptr};
  std::atomic<bool> flag{false};
  std::atomic<bool> woke{false};
  countdown done(1);
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    goroutine_parker.store(&self, std::memory_order_release);
    while (!flag.load(std::memory_order_acquire)) self.park();
    woke = true;
    done.done();
  });
  std::thread t([&] {
    while (!goroutine_parker.load(std::memory_order_acquire)) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(10ms);
    flag.store(true, std::memory_order_release);
    goroutine_parker.load()->unpark();
  });
  ASSERT_TRUE(done.wait_for(10s));
  t.join();
  EXPECT_TRUE(woke);
}

TEST_F(Park, WritesBeforeUnparkAreVisibleAfterPark) {
  // park.hpp: everything the waker wrote before unpark() happens-before park() returns. Plain
  // data handed back and forth between a goroutine and the main thread; `turn` is relaxed, so
  // only the parker orders `payload` (TSan checks that). Each side parks exactly once per round
  // and is unparked exactly once per round, so every park() returns on the matching token.
  const int rounds = static_cast<int>(scaled(2000, 100));
  std::atomic<gopp::detail::parker*> g_parker{nullptr};
  gopp::detail::parker& main_parker = gopp::detail::current_parker();
  gopp_runtime_test::drain(main_parker);
  std::atomic<int> turn{0};  // even: the goroutine's turn; odd: main's
  long payload = 0;
  std::atomic<long> mismatches{0};
  countdown finished(1);
  gopp::go([&, rounds] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    gopp_runtime_test::drain(self);
    g_parker.store(&self, std::memory_order_release);
    for (int r = 0; r < rounds; ++r) {
      if (r > 0) self.park();  // round 0: g_parker's release/acquire orders main's first turn
      if (turn.load(std::memory_order_relaxed) != 2 * r || payload != 2 * r) ++mismatches;
      payload = 2 * r + 1;
      turn.store(2 * r + 1, std::memory_order_relaxed);
      main_parker.unpark();
    }
    finished.done();
  });
  while (!g_parker.load(std::memory_order_acquire)) std::this_thread::yield();
  for (int r = 0; r < rounds; ++r) {
    main_parker.park();
    if (turn.load(std::memory_order_relaxed) != 2 * r + 1 || payload != 2 * r + 1) ++mismatches;
    payload = 2 * r + 2;
    turn.store(2 * r + 2, std::memory_order_relaxed);
    if (r + 1 < rounds) g_parker.load()->unpark();
  }
  ASSERT_TRUE(finished.wait_for());
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(Park, AnUnparkBeforeParkIsNotLost) {
  // On a plain thread...
  gopp::detail::parker& self = gopp::detail::current_parker();
  gopp_runtime_test::drain(self);
  self.unpark();
  auto start = clock::now();
  EXPECT_TRUE(self.park_until(clock::now() + 10s));
  EXPECT_LT(elapsed_since(start), 1s);
  // ...and in a goroutine.
  std::atomic<bool> returned_at_once{false};
  countdown done(1);
  gopp::go([&] {
    gopp::detail::parker& p = gopp::detail::current_parker();
    p.unpark();
    const auto s = clock::now();
    p.park();
    returned_at_once = elapsed_since(s) < 1s;
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(returned_at_once);
}

TEST_F(Park, SurplusUnparksLeaveOneToken) {
  auto check = [](gopp::detail::parker& p) {
    gopp_runtime_test::drain(p);
    p.unpark();
    p.unpark();
    p.unpark();
    const bool first = p.park_until(clock::now() + 10s);    // the token: at once
    const bool second = p.park_until(clock::now() + 30ms);  // none left: times out
    return first && !second;
  };
  EXPECT_TRUE(check(gopp::detail::current_parker())) << "on a plain thread";
  std::atomic<bool> ok{false};
  countdown done(1);
  gopp::go([&] {
    ok = check(gopp::detail::current_parker());
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(ok) << "in a goroutine";
}

TEST_F(Park, ParkUntilTimesOutOnAPlainThread) {
  gopp::detail::parker& self = gopp::detail::current_parker();
  gopp_runtime_test::drain(self);
  const auto start = clock::now();
  EXPECT_FALSE(self.park_until(start + 30ms));
  const auto took = elapsed_since(start);
  EXPECT_GE(took, 30ms);
  EXPECT_LT(took, 1s);
  EXPECT_FALSE(self.park_until(clock::now() - 1s)) << "a deadline in the past times out at once";
}

TEST_F(Park, ParkUntilTimesOutInAGoroutine) {
  bool timed_out = false, past_deadline_times_out = false;
  std::chrono::milliseconds took{};
  countdown done(1);
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    gopp_runtime_test::drain(self);
    const auto start = clock::now();
    timed_out = !self.park_until(start + 30ms);
    took = elapsed_since(start);
    past_deadline_times_out = !self.park_until(clock::now() - 1s);
    done.done();
  });
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(timed_out);
  EXPECT_GE(took, 30ms);
  EXPECT_LT(took, 1s);
  EXPECT_TRUE(past_deadline_times_out);
}

TEST_F(Park, ParkUntilReturnsEarlyWhenAGoroutineUnparksTheThread) {
  gopp::detail::parker& self = gopp::detail::current_parker();
  std::atomic<bool> flag{false};
  gopp::go([&flag, main = &self] {
    gopp::sleep_for(10ms);
    flag.store(true, std::memory_order_release);
    main->unpark();  // by value: the test may have returned once `flag` is set
  });
  const auto start = clock::now();
  bool unparked = false;
  while (!flag.load(std::memory_order_acquire)) unparked = self.park_until(start + 10s);
  EXPECT_TRUE(unparked);
  EXPECT_LT(elapsed_since(start), 5s);
}

TEST_F(Park, ParkUntilReturnsEarlyWhenAThreadUnparksTheGoroutine) {
  std::atomic<gopp::detail::parker*> target{nullptr};
  std::atomic<bool> flag{false};
  bool unparked = false;
  std::chrono::milliseconds took{};
  countdown done(1);
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    target.store(&self, std::memory_order_release);
    const auto start = clock::now();
    while (!flag.load(std::memory_order_acquire)) unparked = self.park_until(start + 10s);
    took = elapsed_since(start);
    done.done();
  });
  std::thread t([&] {
    while (!target.load(std::memory_order_acquire)) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(10ms);
    flag.store(true, std::memory_order_release);
    target.load()->unpark();
  });
  ASSERT_TRUE(done.wait_for());
  t.join();
  EXPECT_TRUE(unparked);
  EXPECT_LT(took, 5s);
}

TEST_F(Park, ATimedOutParkDoesNotSwallowALaterToken) {
  // park.hpp: after a time-out the token may still arrive, and is then left for the next park.
  bool timed_out = false, later = false;
  countdown done(1);
  gopp::detail::parker* target = nullptr;
  std::atomic<bool> ready{false};
  gopp::go([&] {
    gopp::detail::parker& self = gopp::detail::current_parker();
    gopp_runtime_test::drain(self);
    timed_out = !self.park_until(clock::now() + 10ms);
    target = &self;
    ready.store(true, std::memory_order_release);
    later = self.park_until(clock::now() + 10s);
    done.done();
  });
  while (!ready.load(std::memory_order_acquire)) std::this_thread::sleep_for(1ms);
  target->unpark();
  ASSERT_TRUE(done.wait_for());
  EXPECT_TRUE(timed_out);
  EXPECT_TRUE(later);
}

// ---------------------------------------------------------------------------------------------
// Locals across a park (the asan preset runs this with detect_stack_use_after_return=1: a fiber
// switch that lost ASan's fake-stack handle would make these locals look freed).

[[gnu::noinline]] long fill_and_park(long* slots, int n, gopp::detail::parker& self,
                                     std::atomic<long*>& publish, std::atomic<bool>& written) {
  long frame_local[8];
  for (int i = 0; i < 8; ++i) frame_local[i] = 100 + i;
  for (int i = 0; i < n; ++i) slots[i] = i;
  publish.store(slots, std::memory_order_release);
  while (!written.load(std::memory_order_acquire)) self.park();
  long sum = 0;
  for (int i = 0; i < 8; ++i) sum += frame_local[i];
  for (int i = 0; i < n; ++i) sum += slots[i];
  return sum;
}

TEST_F(Park, LocalsStayValidAcrossAParkWhileOthersUseThem) {
  const int rounds = static_cast<int>(scaled(200, 20));
  for (int r = 0; r < rounds; ++r) {
    std::atomic<long*> published{nullptr};
    std::atomic<bool> written{false};
    std::atomic<gopp::detail::parker*> target{nullptr};
    long result = 0;
    countdown done(1);
    gopp::go([&] {
      long slots[16];
      gopp::detail::parker& self = gopp::detail::current_parker();
      target.store(&self, std::memory_order_release);
      result = fill_and_park(slots, 16, self, published, written);
      done.done();
    });
    // Another goroutine writes into the parked goroutine's frame through the published pointer.
    gopp::go([&] {
      long* p = nullptr;
      while (!(p = published.load(std::memory_order_acquire))) gopp::yield();
      for (int i = 0; i < 16; ++i) p[i] *= 2;
      gopp::detail::parker* t = target.load(std::memory_order_acquire);
      written.store(true, std::memory_order_release);  // from here on, this round may end
      t->unpark();
    });
    ASSERT_TRUE(done.wait_for());
    // frame_local: 100 + ... + 107 = 828; slots: 2 * (0 + ... + 15) = 240.
    ASSERT_EQ(result, 828 + 240) << "round " << r;
  }
}

// ---------------------------------------------------------------------------------------------
// configure

TEST(Configure, ThrowsLogicErrorOnceTheRuntimeHasStarted) {
  (void)gopp::num_threads();  // starts the runtime, if no test has yet
  EXPECT_THROW(gopp::configure({}), std::logic_error);
  EXPECT_THROW(gopp::configure({.threads = 3, .stack_size = 1 << 20}), std::logic_error);
}

}  // namespace
