// tests/pool_test.cpp: gopp/pool.hpp, as API.md "Worker pools" and RELIABILITY.md ("Exception
// inside a worker-pool task") specify it, plus the rules the header states for backpressure,
// lifecycle, deadlock avoidance, process() and blocking(). Blocking checks run with the
// counterpart on a goroutine and on a std::thread.
#include <gopp/pool.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using gopp_test::side;
using clock_type = std::chrono::steady_clock;
using gate = gopp::chan<std::monostate>;  // closed to release the tasks that wait on it

static_assert(std::is_base_of_v<std::logic_error, gopp::pool_closed_error>);
static_assert(!std::is_copy_constructible_v<gopp::future<int>>);
static_assert(std::is_nothrow_move_constructible_v<gopp::future<int>>);
static_assert(std::is_same_v<decltype(std::declval<gopp::worker_pool&>().submit([] { return 1; })),
                             gopp::future<int>>);

// The fixtures start the runtime first (see context_test.cpp: timers armed before it never fire).
template <class Base>
class runtime_started : public Base {
 protected:
  void SetUp() override {
    gopp::num_threads();
    Base::SetUp();
  }
};
class Pool : public runtime_started<gopp_test::leak_checked> {};
class PoolSides : public runtime_started<gopp_test::sides> {};
GOPP_INSTANTIATE_SIDES(PoolSides);
class Process : public runtime_started<gopp_test::leak_checked> {};
class Blocking : public runtime_started<gopp_test::leak_checked> {};

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "?";
  }
}

// Collects what on_error receives.
struct error_log {
  std::mutex mu;
  std::vector<std::string> messages;
  std::function<void(std::exception_ptr)> handler() {
    return [this](std::exception_ptr e) {
      std::lock_guard lock(mu);
      messages.push_back(what_of(e));
    };
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu);
    return messages;
  }
};

// True if a value arrives on `c` (or it is closed) within `limit`.
template <class Channel>
bool closes_within(const Channel& c, std::chrono::nanoseconds limit) {
  gopp::timer t(limit);
  return gopp::select(gopp::recv_case(c), gopp::recv_case(t.c())) == 0;
}

// Posts a task that occupies one worker until `g` is closed; returns when it has started.
void occupy_worker(gopp::worker_pool& pool, const gate& g) {
  gopp::chan<std::monostate> started(1);
  pool.post([g, started] {
    started.send({});
    g.recv();
  });
  started.recv();
}

// ---- the header's example ----

TEST_F(Pool, TheHeadersExampleWorks) {
  std::atomic<int> logged{0};
  auto log = [&logged](const char*) { ++logged; };
  std::vector<int> used;
  auto use = [&used](int r) { used.push_back(r); };

  gopp::worker_pool pool(gopp::pool_options{.workers = 8, .queue_capacity = 1000});
  gopp::future<int> f = pool.submit([](int x) { return x * 2; }, 21);
  pool.post([&log] { log("fire and forget"); });
  int v = f.get();
  pool.wait();
  EXPECT_EQ(v, 42);
  EXPECT_EQ(logged.load(), 1);

  gopp::chan<int> jobs(100);
  auto results = gopp::process(jobs, 3, [](int j) { return j * 2; });
  for (int j = 1; j <= 5; ++j) jobs.send(j);
  jobs.close();
  for (int r : results) use(r);
  std::sort(used.begin(), used.end());
  EXPECT_EQ(used, (std::vector<int>{2, 4, 6, 8, 10}));
}

// ---- submit and futures ----

TEST_F(Pool, SubmitReturnsAFutureOfTheTasksResult) {
  gopp::worker_pool pool(2);
  gopp::future<int> f = pool.submit([](int a, int b) { return a + b; }, 40, 2);
  EXPECT_EQ(f.get(), 42);
  EXPECT_FALSE(f.valid());
  gopp::future<std::string> s = pool.submit([] { return std::string("hello"); });
  EXPECT_EQ(s.get(), "hello");
  gopp::future<void> v = pool.submit([] {});
  v.get();
  gopp::future<std::unique_ptr<int>> u = pool.submit([] { return std::make_unique<int>(7); });
  EXPECT_EQ(*u.get(), 7);
}

TEST_F(Pool, SubmitOfAFunctionReturningAReferenceYieldsThatReference) {
  gopp::worker_pool pool(1);
  int target = 1;
  gopp::future<int&> f = pool.submit([&target]() -> int& { return target; });
  int& r = f.get();
  EXPECT_EQ(&r, &target);
}

TEST_F(Pool, CallablesAndArgumentsAreDecayCopiedAndInvokedOnceAsRvalues) {
  struct rvalue_only {
    std::unique_ptr<int> p;
    int operator()(std::unique_ptr<int> q) && { return *p + *q; }
  };
  gopp::worker_pool pool(2);
  auto f = pool.submit(rvalue_only{std::make_unique<int>(2)}, std::make_unique<int>(3));
  EXPECT_EQ(f.get(), 5);
  int counter = 0;
  auto g = pool.submit([counter]() mutable { return ++counter; });  // mutable: a copy
  EXPECT_EQ(g.get(), 1);
  EXPECT_EQ(counter, 0);
  std::string s = "copied";
  auto h = pool.submit([](std::string mine) { return mine += "!"; }, s);
  EXPECT_EQ(h.get(), "copied!");
  EXPECT_EQ(s, "copied");
}

TEST_F(Pool, GetRethrowsTheTasksExceptionWithItsTypeAndMessage) {
  struct custom_error : std::runtime_error {
    using std::runtime_error::runtime_error;
    int code = 7;
  };
  gopp::worker_pool pool(2);
  auto a = pool.submit([]() -> int { throw std::invalid_argument("bad argument"); });
  auto b = pool.submit([] { throw custom_error("custom"); });
  auto c = pool.submit([] { throw 42; });
  try {
    a.get();
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad argument");
  }
  try {
    b.get();
    FAIL();
  } catch (const custom_error& e) {
    EXPECT_STREQ(e.what(), "custom");
    EXPECT_EQ(e.code, 7);
  }
  try {
    c.get();
    FAIL();
  } catch (int v) {
    EXPECT_EQ(v, 42);
  }
}

TEST_F(Pool, AWorkerSurvivesAThrowingTaskAndRunsTheNext) {
  gopp::worker_pool pool(1);
  auto bad = pool.submit([] { throw std::runtime_error("boom"); });
  auto good = pool.submit([] { return 1; });
  EXPECT_THROW(bad.get(), std::runtime_error);
  EXPECT_EQ(good.get(), 1);
  const gopp::pool_stats s = pool.stats();
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.completed, 1u);
  EXPECT_EQ(s.submitted, 2u);
  EXPECT_EQ(s.workers, 1u);
}

TEST_F(Pool, GetMayBeCalledOnceAndAnEmptyFutureSaysNoState) {
  gopp::worker_pool pool(1);
  auto f = pool.submit([] { return 1; });
  EXPECT_TRUE(f.valid());
  EXPECT_EQ(f.get(), 1);
  EXPECT_FALSE(f.valid());
  EXPECT_FALSE(f.ready());
  try {
    f.get();
    FAIL();
  } catch (const std::future_error& e) {
    EXPECT_EQ(e.code(), std::future_errc::no_state);
  }
  gopp::future<int> empty;
  EXPECT_THROW(empty.wait(), std::future_error);
  EXPECT_THROW((void)empty.wait_for(1ms), std::future_error);
  EXPECT_THROW((void)empty.done(), std::future_error);
  gopp::future<int> moved = pool.submit([] { return 2; });
  gopp::future<int> to = std::move(moved);
  EXPECT_FALSE(moved.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(to.get(), 2);
}

TEST_F(Pool, WaitForTimesOutWhileTheTaskRunsAndReadyTellsWhenItHasFinished) {
  gopp::worker_pool pool(1);
  gate g;
  auto f = pool.submit([g] { g.recv(); });
  EXPECT_FALSE(f.wait_for(10ms));
  EXPECT_FALSE(f.ready());
  g.close();
  EXPECT_TRUE(f.wait_for(10s));
  EXPECT_TRUE(f.ready());
  f.wait();
  f.get();
}

TEST_F(Pool, AFuturesDoneChannelClosesWhenItIsReadyAndWorksInSelect) {
  gopp::worker_pool pool(1);
  gate g;
  auto f = pool.submit([g] {
    g.recv();
    return 5;
  });
  EXPECT_FALSE(closes_within(f.done(), 10ms));
  g.close();
  EXPECT_TRUE(closes_within(f.done(), 10s));
  EXPECT_EQ(f.get(), 5);
  auto ready = pool.submit([] { return 1; });
  ready.wait();
  EXPECT_FALSE(ready.done().recv().has_value());  // made after the fact: already closed
}

TEST_P(PoolSides, GetParksAGoroutineOrBlocksAThreadUntilTheTaskEnds) {
  gopp::worker_pool pool(2);
  gate g;
  auto f = pool.submit([g] {
    g.recv();
    return 9;
  });
  auto t = gopp_test::start(GetParam(), [&] { EXPECT_EQ(f.get(), 9); });
  gopp_test::settle();
  EXPECT_FALSE(t.finished());
  g.close();
  t.join();
}

TEST_P(PoolSides, SubmittersOnManyGoroutinesAndThreadsAtOnceLoseNothing) {
  gopp::worker_pool pool(4);
  const int per = static_cast<int>(gopp_test::scaled(500, 50));
  std::vector<gopp_test::task> submitters;
  std::atomic<long> sum{0};
  for (int s = 0; s < 4; ++s) {
    submitters.push_back(gopp_test::start(GetParam(), [&, s] {
      std::vector<gopp::future<int>> fs;
      for (int i = 0; i < per; ++i) fs.push_back(pool.submit([i, s] { return i + s; }));
      for (auto& f : fs) sum += f.get();
    }));
  }
  for (auto& t : submitters) t.join();
  const long expected = 4L * per * (per - 1) / 2 + static_cast<long>(per) * (0 + 1 + 2 + 3);
  EXPECT_EQ(sum.load(), expected);
  EXPECT_EQ(pool.stats().completed, 4u * static_cast<unsigned>(per));
}

// ---- fire and forget; failures are never lost ----

TEST_F(Pool, PostedTaskFailuresGoToOnErrorAndAreCounted) {
  error_log log;
  {
    gopp::worker_pool pool(gopp::pool_options{.workers = 2, .on_error = log.handler()});
    pool.post([] { throw std::runtime_error("posted"); });
    pool.go([] { throw std::logic_error("gone"); });
    EXPECT_TRUE(pool.try_submit([] { throw std::out_of_range("tried"); }));
    EXPECT_EQ(pool.try_post([] { throw std::domain_error("try posted"); }),
              gopp::submit_status::accepted);
    pool.post([] {});
    pool.wait();
    EXPECT_EQ(pool.stats().failed, 4u);
    EXPECT_EQ(pool.stats().completed, 1u);
  }
  auto got = log.get();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"gone", "posted", "tried", "try posted"}));
}

// Issue 15: a Go programmer posts a `func() error`. A non-zero std::error_code is the task's
// failure, exactly as a throw would be; a zero one is success. (Any other result does not compile:
// tests/compile_fail/pool_post_returning_int.cpp.)
TEST_F(Pool, APostedTaskReturningANonZeroErrorCodeFailsWithIt) {
  error_log log;
  {
    gopp::worker_pool pool(gopp::pool_options{.workers = 1, .on_error = log.handler()});
    pool.post([]() -> std::error_code { return std::make_error_code(std::errc::io_error); });
    pool.go([] { return std::error_code(); });
    EXPECT_EQ(pool.try_post([] { return std::make_error_code(std::errc::timed_out); }),
              gopp::submit_status::accepted);
    pool.wait();
    EXPECT_EQ(pool.stats().failed, 2u);
    EXPECT_EQ(pool.stats().completed, 1u);
  }
  auto got = log.get();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{
                     std::make_error_code(std::errc::timed_out).message(),
                     std::make_error_code(std::errc::io_error).message(),
                 }));
}

TEST_F(Pool, APostedErrorCodeReachesOnErrorAsASystemErrorWithThatCode) {
  std::error_code seen;
  {
    gopp::worker_pool pool(gopp::pool_options{.workers = 1, .on_error = [&](std::exception_ptr e) {
                                                try {
                                                  std::rethrow_exception(e);
                                                } catch (const std::system_error& err) {
                                                  seen = err.code();
                                                }
                                              }});
    pool.post([] { return std::error_code(gopp::errc::deadline_exceeded); });
    pool.wait();
  }
  EXPECT_EQ(seen, gopp::errc::deadline_exceeded);
}

TEST_F(Pool, ASubmittedTaskReturningAnErrorCodeHandsItBackAsAValue) {
  gopp::worker_pool pool(1);
  auto f = pool.submit([] { return std::make_error_code(std::errc::io_error); });
  EXPECT_EQ(f.get(), std::errc::io_error);  // the future's value: get() does not throw
  EXPECT_EQ(pool.stats().failed, 0u);
}

TEST_F(Pool, WithoutAHandlerAFailureIsPrintedToStderr) {
  testing::internal::CaptureStderr();
  {
    gopp::worker_pool pool(1);
    pool.post([] { throw std::runtime_error("boom"); });
    pool.post([] { throw 5; });
    pool.wait();
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gopp: worker_pool task threw: boom\n"), std::string::npos) << err;
  EXPECT_NE(err.find("gopp: worker_pool task threw: unknown exception\n"), std::string::npos)
      << err;
}

TEST_F(Pool, AFailedTaskWhoseFutureIsDroppedUnreadIsReported) {
  error_log log;
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .on_error = log.handler()});
  pool.submit([] { throw std::runtime_error("nobody asked"); });  // future dropped at once
  auto kept = pool.submit([] { throw std::runtime_error("asked later"); });
  pool.wait();
  EXPECT_EQ(log.get(), std::vector<std::string>{"nobody asked"});
  kept.wait();  // waiting is not reading: still unobserved
  EXPECT_THROW(kept.get(), std::runtime_error);
  EXPECT_EQ(log.get(), std::vector<std::string>{"nobody asked"}) << "get() observed it";
  {
    auto unread = pool.submit([] { throw std::runtime_error("unread"); });
    unread.wait();
  }
  EXPECT_EQ(log.get(), (std::vector<std::string>{"nobody asked", "unread"}));
}

TEST_F(Pool, AFutureThatOutlivesItsPoolStillReportsAnUnreadFailure) {
  error_log log;
  gopp::future<void> f;
  {
    gopp::worker_pool pool(gopp::pool_options{.workers = 1, .on_error = log.handler()});
    f = pool.submit([] { throw std::runtime_error("late"); });
  }
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(log.get().empty());
  f = gopp::future<void>();
  EXPECT_EQ(log.get(), std::vector<std::string>{"late"});
}

TEST_F(Pool, AnOnErrorHandlerThatThrowsIsContained) {
  testing::internal::CaptureStderr();
  {
    gopp::worker_pool pool(gopp::pool_options{
        .workers = 1, .on_error = [](std::exception_ptr) { throw std::runtime_error("handler"); }});
    pool.post([] { throw std::runtime_error("task"); });
    auto next = pool.submit([] { return 1; });
    EXPECT_EQ(next.get(), 1);
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gopp: worker_pool on_error handler threw: handler"), std::string::npos)
      << err;
}

// ---- backpressure ----

TEST_P(PoolSides, SubmitBlocksWhileTheQueueIsFullUntilAWorkerTakesATask) {
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .queue_capacity = 1});
  gate g;
  occupy_worker(pool, g);
  pool.post([] {});  // fills the queue
  EXPECT_EQ(pool.stats().queued, 1u);
  std::atomic<bool> submitted{false};
  auto t = gopp_test::start(GetParam(), [&] {
    pool.submit([] {}).get();
    submitted = true;
  });
  gopp_test::settle();
  EXPECT_FALSE(submitted.load());
  EXPECT_EQ(pool.stats().queued, 1u);
  g.close();
  t.join();
  EXPECT_TRUE(submitted.load());
}

TEST_F(Pool, TryVariantsRefuseWhenTheQueueIsFullAndSayWhy) {
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .queue_capacity = 2});
  gate g;
  occupy_worker(pool, g);
  EXPECT_TRUE(pool.try_submit([] {}));
  EXPECT_EQ(pool.try_post([] {}), gopp::submit_status::accepted);
  EXPECT_FALSE(pool.try_submit([] { ADD_FAILURE() << "refused, must not run"; }));
  EXPECT_EQ(pool.try_post([] {}), gopp::submit_status::full);
  EXPECT_FALSE(pool.try_submit_future([] { return 1; }).has_value());
  EXPECT_EQ(pool.stats().queued, 2u);
  EXPECT_EQ(pool.stats().submitted, 3u);  // the occupying task and two queued
  g.close();
  pool.wait();
  auto f = pool.try_submit_future([] { return 3; });
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->get(), 3);
}

TEST_F(Pool, RunningTasksDoNotCountAgainstTheQueueCapacity) {
  gopp::worker_pool pool(gopp::pool_options{.workers = 3, .queue_capacity = 1});
  gate g;
  for (int i = 0; i < 3; ++i) occupy_worker(pool, g);
  EXPECT_EQ(pool.stats().running, 3u);
  EXPECT_TRUE(pool.try_submit([] {}));
  EXPECT_FALSE(pool.try_submit([] {}));
  g.close();
}

// ---- lifecycle ----

TEST_F(Pool, AfterShutdownEverySubmitThrowsPoolClosedError) {
  gopp::worker_pool pool(1);
  pool.shutdown();
  EXPECT_TRUE(pool.closed());
  auto expect_closed = [](auto&& call) {
    try {
      call();
      ADD_FAILURE() << "no exception";
    } catch (const gopp::pool_closed_error& e) {
      EXPECT_STREQ(e.what(), "worker_pool: submit on closed pool");
    }
  };
  expect_closed([&] { pool.submit([] {}); });
  expect_closed([&] { pool.post([] {}); });
  expect_closed([&] { pool.go([] {}); });
  expect_closed([&] { pool.try_submit([] {}); });
  expect_closed([&] { pool.try_submit_future([] {}); });
  EXPECT_EQ(pool.try_post([] {}), gopp::submit_status::closed);
  EXPECT_EQ(pool.stats().submitted, 0u);
  pool.shutdown();  // idempotent
}

TEST_F(Pool, ShutdownLetsTheQueuedTasksFinish) {
  gopp::worker_pool pool(1);
  gate g;
  occupy_worker(pool, g);
  std::vector<gopp::future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit([i] { return i; }));
  pool.shutdown();
  g.close();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].get(), i);
  EXPECT_EQ(pool.stats().completed, 11u);
  EXPECT_TRUE(gopp_test::eventually([&] { return pool.stats().workers == 0; }))
      << "workers leave once a shut-down pool is drained";
}

TEST_F(Pool, StopDropsQueuedTasksWhoseFuturesThrowTaskCanceledError) {
  gopp::worker_pool pool(1);
  gate g;
  std::atomic<bool> running_finished{false};
  gopp::chan<std::monostate> started(1);
  auto running = pool.submit([&, g, started] {
    started.send({});
    g.recv();
    running_finished = true;
    return 1;
  });
  started.recv();
  std::atomic<int> ran{0};
  std::vector<gopp::future<void>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit([&ran] { ++ran; }));
  pool.post([&ran] { ++ran; });
  EXPECT_EQ(pool.stop(), 6u);
  EXPECT_TRUE(pool.closed());
  EXPECT_EQ(pool.ctx().err(), gopp::errc::canceled);
  for (auto& f : queued) {
    EXPECT_TRUE(f.ready());
    try {
      f.get();
      ADD_FAILURE() << "no exception";
    } catch (const gopp::task_canceled_error& e) {
      EXPECT_STREQ(e.what(), "worker_pool: task canceled before it ran");
    }
  }
  EXPECT_THROW(pool.submit([] {}), gopp::pool_closed_error);
  g.close();
  EXPECT_EQ(running.get(), 1) << "a running task runs to its end";
  EXPECT_TRUE(running_finished.load());
  EXPECT_EQ(ran.load(), 0);
  const gopp::pool_stats s = pool.stats();
  EXPECT_EQ(s.canceled, 6u);
  EXPECT_EQ(s.completed, 1u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(pool.stop(), 0u) << "nothing left to drop";
}

TEST_P(PoolSides, StopReleasesBlockedSubmittersWithPoolClosedError) {
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .queue_capacity = 1});
  gate g;
  occupy_worker(pool, g);
  pool.post([] {});
  auto t = gopp_test::start(GetParam(), [&] { pool.post([] {}); });
  gopp_test::settle();
  EXPECT_FALSE(t.finished());
  pool.stop();
  EXPECT_THROW(t.join(), gopp::pool_closed_error);
  g.close();
}

TEST_F(Pool, ShutdownForAndWaitForReportWhetherTheTasksFinishedInTime) {
  gopp::worker_pool pool(2);
  gate g;
  pool.post([g] { g.recv(); });
  EXPECT_FALSE(pool.wait_for(10ms));
  EXPECT_FALSE(pool.shutdown_for(10ms));
  EXPECT_TRUE(pool.closed());
  g.close();
  EXPECT_TRUE(pool.shutdown_for(10s));
  EXPECT_TRUE(pool.wait_for(0ms));
}

TEST_F(Pool, TheDestructorShutsDownAndWaitsForEveryTaskAndWorker) {
  std::atomic<int> ran{0};
  const std::size_t before = gopp::num_goroutines();
  {
    gopp::worker_pool pool(3);
    for (int i = 0; i < 30; ++i) {
      pool.post([&ran] {
        gopp::sleep_for(1ms);
        ++ran;
      });
    }
  }
  EXPECT_EQ(ran.load(), 30);
  EXPECT_TRUE(gopp_test::eventually([&] { return gopp::num_goroutines() <= before; }));
}

TEST_F(Pool, WaitReturnsWhenEverythingSubmittedSoFarHasFinished) {
  gopp::worker_pool pool(4);
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) {
    pool.post([&ran, i] {
      if (i % 10 == 0) gopp::sleep_for(2ms);
      ++ran;
    });
  }
  pool.wait();
  EXPECT_EQ(ran.load(), 100);
  pool.wait();  // idle: at once
  const gopp::pool_stats s = pool.stats();
  EXPECT_EQ(s.running + s.queued, 0u);
}

TEST_F(Pool, WaitCoversWhatTheTasksThemselvesSubmit) {
  gopp::worker_pool pool(2);
  std::atomic<int> leaves{0};
  std::function<void(int)> fan_out = [&](int depth) {
    if (depth == 0) {
      gopp::sleep_for(100us);
      ++leaves;
      return;
    }
    for (int i = 0; i < 3; ++i) pool.post(fan_out, depth - 1);
  };
  pool.post(fan_out, 4);
  pool.wait();
  EXPECT_EQ(leaves.load(), 81);
}

TEST_F(Pool, WaitIsNotHeldUpByTasksOthersSubmitAfterItStarted) {
  gopp::worker_pool pool(2);
  gate first;
  gate later;
  pool.post([first] { first.recv(); });
  gopp::chan<bool> waited(1);
  gopp::go([&pool, waited] {
    pool.wait();
    waited.send(true);
  });
  gopp_test::settle();                   // wait() has started
  pool.post([later] { later.recv(); });  // submitted from outside after it: not covered
  first.close();
  EXPECT_TRUE(closes_within(waited, 10s));
  later.close();
}

TEST_F(Pool, WaitFromOneOfThePoolsOwnTasksThrowsLogicError) {
  gopp::worker_pool pool(1);
  auto f = pool.submit([&pool] { pool.wait(); });
  try {
    f.get();
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(),
                 "worker_pool: wait() from one of the pool's own tasks would wait for itself");
  }
  auto g = pool.submit([&pool] { return pool.wait_for(1ms); });
  EXPECT_THROW(g.get(), std::logic_error);
  auto h = pool.submit([&pool] { return pool.shutdown_for(1ms); });
  EXPECT_THROW(h.get(), std::logic_error);
  EXPECT_FALSE(pool.closed()) << "the refused shutdown_for did not shut down";
}

TEST_F(Pool, TheEndOfItsContextStopsThePool) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .ctx = ctx});
  gate g;
  occupy_worker(pool, g);
  auto dropped = pool.submit([] { return 1; });
  EXPECT_FALSE(pool.ctx().err());
  cancel();
  EXPECT_EQ(pool.ctx().err(), gopp::errc::canceled);
  EXPECT_TRUE(pool.closed());
  EXPECT_THROW(dropped.get(), gopp::task_canceled_error);
  EXPECT_EQ(pool.stats().canceled, 1u);
  EXPECT_THROW(pool.post([] {}), gopp::pool_closed_error);
  g.close();
}

TEST_F(Pool, ADeadlineOnItsContextStopsThePoolThen) {
  // 300 ms leaves room to queue the task first even on a loaded machine under a sanitizer (with
  // 20 ms the deadline sometimes came first: submit threw, and the pool's destructor then waited
  // for the occupied worker forever). The gate is closed on every path, so a failure cannot hang.
  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), 300ms);
  gate g;
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .ctx = ctx});
  gopp::defer open_gate{[&g] { g.close(); }};  // runs before the pool's destructor waits
  occupy_worker(pool, g);
  auto dropped = pool.submit([] {});
  EXPECT_THROW(dropped.get(), gopp::task_canceled_error);
  EXPECT_EQ(pool.ctx().err(), gopp::errc::deadline_exceeded);
}

TEST_F(Pool, APoolMadeFromAnEndedContextIsBornStopped) {
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  cancel();
  gopp::worker_pool pool(gopp::pool_options{.workers = 2, .ctx = ctx});
  EXPECT_TRUE(pool.closed());
  EXPECT_EQ(pool.try_post([] {}), gopp::submit_status::closed);
}

TEST_F(Pool, ThePoolsContextEndsWhenThePoolIsDestroyedAndTasksCanWatchIt) {
  gopp::context seen;
  {
    gopp::worker_pool pool(1);
    seen = pool.ctx();
    auto f = pool.submit([ctx = pool.ctx()] { return ctx.err(); });
    EXPECT_FALSE(f.get());
  }
  EXPECT_EQ(seen.err(), gopp::errc::canceled);
}

// ---- resize ----

TEST_F(Pool, ResizeUpStartsWorkersAtOnceWithoutDraining) {
  gopp::worker_pool pool(2);
  gate g;
  std::atomic<int> started{0};
  for (int i = 0; i < 6; ++i) {
    pool.post([&started, g] {
      ++started;
      g.recv();
    });
  }
  EXPECT_TRUE(gopp_test::eventually([&] { return started.load() == 2; }));
  pool.resize(6);
  EXPECT_EQ(pool.size(), 6u);
  EXPECT_TRUE(gopp_test::eventually([&] { return started.load() == 6; }));
  EXPECT_EQ(pool.stats().running, 6u);
  g.close();
  pool.wait();
}

TEST_F(Pool, ResizeDownLetsSurplusWorkersLeaveAfterTheirTask) {
  gopp::worker_pool pool(6);
  gate g;
  for (int i = 0; i < 6; ++i) occupy_worker(pool, g);
  pool.resize(2);
  EXPECT_EQ(pool.stats().workers, 6u) << "busy workers finish their task first";
  std::atomic<int> ran{0};
  for (int i = 0; i < 20; ++i) pool.post([&ran] { ++ran; });
  g.close();
  pool.wait();
  EXPECT_EQ(ran.load(), 20);
  EXPECT_TRUE(gopp_test::eventually([&] { return pool.stats().workers == 2; }));
  // Idle surplus workers leave too.
  pool.resize(5);
  EXPECT_TRUE(gopp_test::eventually([&] { return pool.stats().workers == 5; }));
  pool.resize(1);
  EXPECT_TRUE(gopp_test::eventually([&] { return pool.stats().workers == 1; }));
}

TEST_F(Pool, ResizeToZeroWorkersThrowsInvalidArgument) {
  gopp::worker_pool pool(1);
  try {
    pool.resize(0);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "worker_pool: resize to 0 workers");
  }
  EXPECT_EQ(pool.size(), 1u);
}

TEST_F(Pool, ZeroWorkersInTheOptionsMeansTheRuntimesThreadCount) {
  gopp::worker_pool pool(gopp::pool_options{});
  EXPECT_EQ(pool.size(), gopp::num_threads());
  gopp::worker_pool sized(0);
  EXPECT_EQ(sized.size(), gopp::num_threads());
}

TEST_F(Pool, ResizingWhileTasksFlowLosesNoTask) {
  gopp::worker_pool pool(2);
  std::atomic<int> ran{0};
  const int n = static_cast<int>(gopp_test::scaled(3000, 300));
  gopp::wait_group resizer;
  resizer.add(1);
  gopp::go([&pool, &resizer] {
    for (std::size_t w : {8, 1, 5, 2, 16, 3}) {
      pool.resize(w);
      gopp::sleep_for(1ms);
    }
    resizer.done();
  });
  for (int i = 0; i < n; ++i) pool.post([&ran] { ++ran; });
  pool.wait();
  EXPECT_EQ(ran.load(), n);
  resizer.wait();
}

// ---- the rules that keep a pool from deadlocking on itself ----

TEST_F(Pool, Rule1_ATaskSubmittingIntoItsOwnFullPoolIsNeverBlocked) {
  gopp::worker_pool pool(gopp::pool_options{.workers = 1, .queue_capacity = 1});
  auto parent = pool.submit([&pool] {
    std::vector<gopp::future<int>> children;
    for (int i = 0; i < 10; ++i) children.push_back(pool.submit([i] { return i; }));
    EXPECT_TRUE(pool.try_submit([] {})) << "not refused for fullness either";
    EXPECT_EQ(pool.try_post([] {}), gopp::submit_status::accepted);
    int sum = 0;
    for (auto& c : children) sum += c.get();
    return sum;
  });
  EXPECT_EQ(parent.get(), 45);
}

TEST_F(Pool, Rule2_AWorkerWaitingOnAQueuedTaskOfItsPoolRunsItItself) {
  gopp::worker_pool pool(1);  // the only worker waits: without rule 2 this would hang
  auto outer = pool.submit([&pool] {
    const std::uint64_t me = gopp::goroutine_id();
    auto inner = pool.submit([] { return gopp::goroutine_id(); });
    return inner.get() == me;
  });
  EXPECT_TRUE(outer.get());
}

TEST_F(Pool, Rule2_RecursiveForkJoinCompletesWithOneWorker) {
  gopp::worker_pool pool(1);
  std::function<long(int)> fib = [&](int n) -> long {
    if (n < 2) return n;
    auto a = pool.submit(fib, n - 1);
    auto b = pool.submit(fib, n - 2);
    return a.get() + b.get();
  };
  EXPECT_EQ(pool.submit(fib, 15).get(), 610);
  EXPECT_EQ(pool.stats().failed, 0u);
}

TEST_F(Pool, Rule2_TimedWaitsOnlyWaitAndNeverRunATaskInline) {
  gopp::worker_pool pool(1);
  auto outer = pool.submit([&pool] {
    auto inner = pool.submit([] { return 3; });
    const bool in_time = inner.wait_for(20ms);    // nobody else can run it
    return std::make_pair(in_time, inner.get());  // get() runs it inline
  });
  EXPECT_EQ(outer.get(), std::make_pair(false, 3));
}

TEST_F(Pool, Rule3_TheDestructorRunByItsOwnTaskShutsDownWithoutWaiting) {
  auto holder =
      std::make_shared<std::unique_ptr<gopp::worker_pool>>(std::make_unique<gopp::worker_pool>(1));
  gopp::chan<bool> done(1);
  (*holder)->post([holder, done] {
    holder->reset();  // destroys the pool from inside its only worker
    done.send(true);
  });
  EXPECT_TRUE(closes_within(done, 10s));
}

TEST_F(Pool, TasksMayBlockOnEachOtherThroughChannelsWithoutStarvingTheThreads) {
  // More mutually dependent tasks than OS threads: each pair ping-pongs over a channel.
  const int pairs = 16;
  gopp::worker_pool pool(2 * pairs);
  std::atomic<int> done{0};
  for (int p = 0; p < pairs; ++p) {
    gopp::chan<int> ping;
    gopp::chan<int> pong;
    pool.post([ping, pong] {
      for (int i = 0; i < 50; ++i) {
        ping.send(i);
        pong.recv();
      }
    });
    pool.post([ping, pong, &done] {
      for (int i = 0; i < 50; ++i) pong.send(*ping.recv());
      ++done;
    });
  }
  pool.wait();
  EXPECT_EQ(done.load(), pairs);
}

TEST_F(Pool, SleepingTasksParkInsteadOfHoldingThreads) {
  // If a sleeping task held its OS thread, at most num_threads() tasks could sleep at once. No
  // time is asserted (the sanitizers and a loaded machine stretch it): how many overlap is.
  const int n = 200;
  gopp::worker_pool pool(n);
  std::atomic<int> asleep{0};
  std::atomic<int> peak{0};
  for (int i = 0; i < n; ++i) {
    pool.post([&] {
      const int now = ++asleep;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      gopp::sleep_for(100ms);
      --asleep;
    });
  }
  pool.wait();
  EXPECT_GT(peak.load(), static_cast<int>(2 * gopp::num_threads()));
}

TEST_F(Pool, TasksMayWaitOnAWaitGroupThatOtherTasksRelease) {
  gopp::worker_pool pool(8);
  gopp::wait_group wg;
  wg.add(4);
  std::atomic<int> released{0};
  for (int i = 0; i < 4; ++i) {
    pool.post([&] {
      wg.wait();
      ++released;
    });
  }
  for (int i = 0; i < 4; ++i) pool.post([&wg] { wg.done(); });
  pool.wait();
  EXPECT_EQ(released.load(), 4);
}

// ---- stats ----

TEST_F(Pool, StatsCountEveryOutcomeAndTheTimeSpentQueuedAndRunning) {
  gopp::worker_pool pool(1);
  gate g;
  occupy_worker(pool, g);
  auto slow = pool.submit([] { gopp::sleep_for(20ms); });
  auto bad = pool.submit([] { throw std::runtime_error("x"); });
  gopp::sleep_for(20ms);  // both wait at least this long in the queue
  gopp::pool_stats s = pool.stats();
  EXPECT_EQ(s.workers, 1u);
  EXPECT_EQ(s.running, 1u);
  EXPECT_EQ(s.queued, 2u);
  g.close();
  slow.get();
  EXPECT_THROW(bad.get(), std::runtime_error);
  s = pool.stats();  // get() returns after the counters were updated
  EXPECT_EQ(s.submitted, 3u);
  EXPECT_EQ(s.completed, 2u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.canceled, 0u);
  EXPECT_EQ(s.running + s.queued, 0u);
  EXPECT_GE(s.queued_time, 40ms);   // two tasks queued >= 20 ms each
  EXPECT_GE(s.running_time, 40ms);  // the occupier (>= 20 ms) and the slow task (20 ms)
}

// ---- many pools, big pools ----

TEST_F(Pool, ManyPoolsWorkAtOnce) {
  std::vector<std::unique_ptr<gopp::worker_pool>> pools;
  for (int i = 0; i < 40; ++i) pools.push_back(std::make_unique<gopp::worker_pool>(3));
  std::atomic<int> ran{0};
  for (int round = 0; round < 25; ++round) {
    for (auto& p : pools) p->post([&ran] { ++ran; });
  }
  for (auto& p : pools) p->wait();
  EXPECT_EQ(ran.load(), 1000);
}

TEST_F(Pool, APoolOfTenThousandWorkers) {
  // Under TSan every goroutine switch and new stack is slow (fiber bookkeeping, fresh shadow
  // memory): a few hundred workers make the same point there.
  const std::size_t n = gopp_test::under_thread_sanitizer ? 300 : gopp_test::scaled(10000, 1000);
  gopp::worker_pool pool(n);
  EXPECT_EQ(pool.stats().workers, n);
  gate g;
  std::atomic<std::size_t> started{0};
  for (std::size_t i = 0; i < n; ++i) {
    pool.post([&started, g] {
      ++started;
      g.recv();
    });
  }
  EXPECT_TRUE(gopp_test::eventually([&] { return started.load() == n; }, 60s))
      << "every worker runs one blocked task at once";
  g.close();
  pool.wait();
}

// ---- process ----

TEST_F(Process, RunsEveryJobAndClosesTheResultsAfterTheLastOne) {
  gopp::chan<int> jobs(100);
  auto results = gopp::process(jobs, 3, [](int j) { return j * 2; });
  for (int j = 1; j <= 100; ++j) jobs.send(j);
  jobs.close();
  long sum = 0;
  int count = 0;
  for (int r : results) {
    sum += r;
    ++count;
  }
  EXPECT_EQ(count, 100);
  EXPECT_EQ(sum, 2L * 5050);
  EXPECT_FALSE(results.recv().has_value());
}

TEST_F(Process, AcceptsARecvChanAndAnEmptyJobStream) {
  gopp::chan<int> jobs;
  gopp::recv_chan<int> view = jobs;
  auto results = gopp::process(view, 2, [](int j) { return j; });
  jobs.close();
  EXPECT_FALSE(results.recv().has_value());
}

TEST_F(Process, GivesTheWorkerIdToAnFThatTakesOne) {
  gopp::chan<int> jobs(64);
  auto results = gopp::process(jobs, 4, [](std::size_t worker, int j) {
    gopp::sleep_for(100us);
    return std::make_pair(worker, j);
  });
  for (int j = 0; j < 64; ++j) jobs.send(j);
  jobs.close();
  std::set<std::size_t> workers;
  std::set<int> seen;
  for (auto [w, j] : results) {
    EXPECT_LT(w, 4u);
    workers.insert(w);
    seen.insert(j);
  }
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_GE(workers.size(), 2u);
}

TEST_F(Process, OrderedDeliversResultsInJobOrder) {
  gopp::chan<int> jobs;
  auto results = gopp::process_ordered(jobs, 4, [](int j) {
    gopp::sleep_for(std::chrono::microseconds((j * 7919) % 500));  // finish out of order
    return j;
  });
  gopp::go([jobs] {
    for (int j = 0; j < 200; ++j) jobs.send(j);
    jobs.close();
  });
  int expected = 0;
  for (int r : results) EXPECT_EQ(r, expected++);
  EXPECT_EQ(expected, 200);
}

TEST_F(Process, AVoidFYieldsOneMonostatePerJob) {
  gopp::chan<int> jobs(10);
  std::atomic<int> sum{0};
  gopp::recv_chan<std::monostate> done = gopp::process(jobs, 2, [&sum](int j) { sum += j; });
  for (int j = 1; j <= 10; ++j) jobs.send(j);
  jobs.close();
  int n = 0;
  for ([[maybe_unused]] std::monostate m : done) ++n;
  EXPECT_EQ(n, 10);
  EXPECT_EQ(sum.load(), 55);
}

TEST_F(Process, MoveOnlyJobsAndAMutablePerWorkerF) {
  gopp::chan<std::unique_ptr<int>> jobs(10);
  // A copyable f is copied per worker: its mutable state needs no lock.
  auto results = gopp::process(jobs, 3, [calls = 0](std::unique_ptr<int> j) mutable {
    ++calls;
    return std::make_unique<int>(*j + calls - calls);
  });
  for (int j = 0; j < 10; ++j) jobs.send(std::make_unique<int>(j));
  jobs.close();
  int sum = 0;
  for (std::unique_ptr<int> r : results) sum += *r;
  EXPECT_EQ(sum, 45);
}

TEST_F(Process, AMoveOnlyFIsSharedByTheWorkers) {
  gopp::chan<int> jobs(10);
  auto base = std::make_unique<int>(100);
  auto results = gopp::process(jobs, 3, [b = std::move(base)](int j) { return *b + j; });
  for (int j = 0; j < 10; ++j) jobs.send(j);
  jobs.close();
  int sum = 0;
  for (int r : results) sum += r;
  EXPECT_EQ(sum, 1045);
}

TEST_F(Process, ZeroWorkersMeansTheRuntimesThreadCount) {
  gopp::chan<int> jobs(64);
  auto results = gopp::process(jobs, 0, [](std::size_t w, int) { return w; });
  for (int j = 0; j < 64; ++j) jobs.send(j);
  jobs.close();
  for (std::size_t w : results) EXPECT_LT(w, gopp::num_threads());
}

TEST_F(Process, TheSeedsHandWrittenWorkerPoolWorksAsInGo) {
  // Go by Example: Worker Pools, with a short job time.
  auto worker = [](int id, gopp::recv_chan<int> jobs, gopp::send_chan<int> results) {
    for (int j : jobs) {
      (void)id;
      gopp::sleep_for(5ms);
      results.send(j * 2);
    }
  };
  const int num_jobs = 5;
  gopp::chan<int> jobs(num_jobs);
  gopp::chan<int> results(num_jobs);
  for (int w = 1; w <= 3; ++w) gopp::go(worker, w, jobs, results);
  for (int j = 1; j <= num_jobs; ++j) jobs.send(j);
  jobs.close();
  int sum = 0;
  for (int a = 1; a <= num_jobs; ++a) sum += *results.recv();
  EXPECT_EQ(sum, 30);
}

// ---- blocking ----

TEST_F(Blocking, RunsOnAHelperThreadAndReturnsTheResult) {
  gopp::chan<std::pair<bool, int>> out(1);
  gopp::go([out] {
    auto r = gopp::blocking([] {
      std::this_thread::sleep_for(5ms);  // an OS-level block, off the runtime's threads
      return std::make_pair(gopp::in_goroutine(), 7);
    });
    out.send(r);
  });
  EXPECT_EQ(out.recv(), std::make_pair(false, 7));
}

TEST_F(Blocking, RethrowsTheCallsException) {
  gopp::chan<std::string> out(1);
  gopp::go([out] {
    try {
      gopp::blocking(
          []() -> int { throw std::system_error(EIO, std::generic_category(), "read"); });
      out.send("no exception");
    } catch (const std::system_error& e) {
      out.send(e.code() == std::errc::io_error ? "io_error" : "other code");
    }
  });
  EXPECT_EQ(out.recv(), "io_error");
}

TEST_F(Blocking, OnAPlainThreadCallsDirectly) {
  const auto me = std::this_thread::get_id();
  EXPECT_EQ(gopp::blocking([] { return std::this_thread::get_id(); }), me);
  int x = 0;
  int& r = gopp::blocking([&x]() -> int& { return x; });
  EXPECT_EQ(&r, &x);
}

TEST_F(Blocking, ManyBlockingCallsAtOnceDoNotStallOtherGoroutines) {
  const int n = static_cast<int>(gopp::num_threads()) + 4;
  std::atomic<bool> stop{false};
  std::atomic<int> ticks{0};
  gopp::wait_group ticker_done;
  ticker_done.add(1);
  gopp::go([&] {
    while (!stop) {
      ++ticks;
      gopp::sleep_for(1ms);
    }
    ticker_done.done();
  });
  const auto start = clock_type::now();
  gopp::wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gopp::go([&wg] {
      gopp::blocking([] { std::this_thread::sleep_for(100ms); });
      wg.done();
    });
  }
  wg.wait();
  const auto took = clock_type::now() - start;
  stop = true;
  ticker_done.wait();
  EXPECT_LT(took, 1s) << "the calls ran side by side on helper threads";
  EXPECT_GT(ticks.load(), 10) << "goroutines kept running while every worker's goroutine blocked";
}

TEST_F(Blocking, WorksInsidePoolTasks) {
  gopp::worker_pool pool(2);
  auto f = pool.submit([] { return gopp::blocking([] { return 40; }) + 2; });
  EXPECT_EQ(f.get(), 42);
}

}  // namespace
