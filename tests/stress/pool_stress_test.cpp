// tests/stress/pool_stress_test.cpp: worker pools, contexts and groups under load and random
// interleavings. Sizes scale with gopp_test::scaled() (smaller under the sanitizers); the random
// tests print their seed on failure (SCOPED_TRACE), and $GOPP_STRESS_SEED replays one seed.
//
// What each checks:
//   - a million tiny tasks posted from a thread, and futures from goroutines, run exactly once;
//   - random task mixes (return, throw, sleep, submit-and-wait, fan-out) with random resizes and
//     a random end (wait, shutdown, stop, context cancel, destructor): every future resolves,
//     and submitted == completed + failed + canceled once the pool is idle;
//   - random cancellation of a random context tree: a node has ended iff it or an ancestor was
//     cancelled, and with that ancestor's reason.
#include <gopp/pool.hpp>

#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

using namespace std::chrono_literals;

class PoolStress : public gopp_test::leak_checked {
 protected:
  void SetUp() override {
    gopp::num_threads();  // starts the runtime (see context_test.cpp)
    leak_checked::SetUp();
  }
};

std::vector<std::uint64_t> seeds(std::size_t n) {
  if (const char* s = std::getenv("GOPP_STRESS_SEED")) return {std::strtoull(s, nullptr, 10)};
  std::vector<std::uint64_t> out;
  std::random_device rd;
  for (std::size_t i = 0; i < n; ++i) out.push_back((std::uint64_t{rd()} << 32) | rd());
  return out;
}

TEST_F(PoolStress, AMillionTinyTasksPostedFromAThreadEachRunOnce) {
  const std::size_t n = gopp_test::scaled(1'000'000, 10'000);
  std::atomic<std::size_t> ran{0};
  gopp::worker_pool pool(0);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i)
    pool.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  pool.wait();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ran.load(), n);
  const gopp::pool_stats s = pool.stats();
  EXPECT_EQ(s.submitted, n);
  EXPECT_EQ(s.completed, n);
  RecordProperty("ns_per_task",
                 std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count() /
                                static_cast<long long>(n)));
}

TEST_F(PoolStress, FourHundredThousandTinyFuturesFromManyGoroutines) {
  const std::size_t per = gopp_test::scaled(400'000, 10'000) / 8;
  gopp::worker_pool pool(0);
  std::atomic<std::size_t> sum{0};
  gopp::wait_group wg;
  for (int g = 0; g < 8; ++g) {
    wg.add(1);
    gopp::go([&] {
      std::vector<gopp::future<std::size_t>> batch;
      batch.reserve(256);
      for (std::size_t i = 0; i < per; ++i) {
        batch.push_back(pool.submit([] { return std::size_t{1}; }));
        if (batch.size() == 256) {
          for (auto& f : batch) sum += f.get();
          batch.clear();
        }
      }
      for (auto& f : batch) sum += f.get();
      wg.done();
    });
  }
  wg.wait();
  EXPECT_EQ(sum.load(), 8 * per);
}

TEST_F(PoolStress, BoundedQueueUnderContentionNeverExceedsItsCapacityFromOutside) {
  const std::size_t cap = 8;
  gopp::worker_pool pool(gopp::pool_options{.workers = 3, .queue_capacity = cap});
  std::atomic<bool> over{false};
  std::atomic<std::size_t> ran{0};
  const std::size_t per = gopp_test::scaled(20'000, 2'000);
  std::vector<gopp_test::task> producers;
  for (auto where : {gopp_test::side::goroutine, gopp_test::side::thread,
                     gopp_test::side::goroutine, gopp_test::side::thread}) {
    producers.push_back(gopp_test::start(where, [&] {
      for (std::size_t i = 0; i < per; ++i) {
        pool.post([&] {
          if (pool.stats().queued > cap) over = true;
          ran.fetch_add(1, std::memory_order_relaxed);
        });
      }
    }));
  }
  for (auto& p : producers) p.join();
  pool.wait();
  EXPECT_EQ(ran.load(), 4 * per);
  EXPECT_FALSE(over.load());
}

// One random pool life.
void random_pool_life(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  auto [ctx, cancel] = gopp::with_cancel(gopp::background());
  std::atomic<std::size_t> reported{0};
  auto pool = std::make_unique<gopp::worker_pool>(
      gopp::pool_options{.workers = static_cast<std::size_t>(1 + pick(6)),
                         .queue_capacity = static_cast<std::size_t>(pick(3) == 0 ? 0 : 1 + pick(8)),
                         .ctx = ctx,
                         .on_error = [&reported](std::exception_ptr) { ++reported; }});
  gopp::worker_pool& p = *pool;

  std::atomic<bool> resizing{true};
  gopp::wait_group resizer;
  resizer.add(1);
  gopp::go([&, s = rng()] {
    std::mt19937_64 r(s);
    while (resizing) {
      p.resize(1 + r() % 8);
      gopp::sleep_for(std::chrono::microseconds(r() % 300));
    }
    resizer.done();
  });

  std::vector<gopp::future<int>> futures;
  const int n = 50 + pick(150);
  const int end = pick(5);  // 0 wait, 1 shutdown, 2 stop, 3 cancel, 4 destructor
  const int end_at = pick(n);
  std::size_t refused = 0;
  for (int i = 0; i < n; ++i) {
    if (i == end_at) {
      if (end == 1) p.shutdown();
      if (end == 2) p.stop();
      if (end == 3) cancel();
    }
    const int kind = pick(6);
    try {
      switch (kind) {
        case 0:
          futures.push_back(p.submit([i] { return i; }));
          break;
        case 1:
          futures.push_back(p.submit([]() -> int { throw std::runtime_error("random"); }));
          break;
        case 2:
          futures.push_back(p.submit([] {
            gopp::sleep_for(50us);
            return 1;
          }));
          break;
        case 3:  // submits a child and waits for it (rules 1 and 2)
          futures.push_back(p.submit([&p] {
            try {
              return p.submit([] { return 2; }).get();
            } catch (const gopp::pool_closed_error&) {
              return -1;
            }
          }));
          break;
        case 4:  // fan-out fire-and-forget
          p.post([&p] {
            for (int k = 0; k < 3; ++k) p.try_post([] {});
          });
          break;
        default:
          if (p.try_post([] { throw std::logic_error("posted"); }) !=
              gopp::submit_status::accepted) {
            ++refused;
          }
          break;
      }
    } catch (const gopp::pool_closed_error&) {
      ++refused;
    }
  }
  for (auto& f : futures) {
    try {
      f.get();
    } catch (const std::runtime_error&) {  // thrown by the task, or task_canceled_error
    }
  }
  if (end == 0 || end == 1) {
    EXPECT_TRUE(p.wait_for(30s));
    const gopp::pool_stats s = p.stats();
    EXPECT_EQ(s.submitted, s.completed + s.failed + s.canceled);
    EXPECT_EQ(s.running + s.queued, 0u);
  }
  resizing = false;
  resizer.wait();
  pool.reset();  // end 4: the destructor drains
  (void)refused;
}

TEST_F(PoolStress, RandomTaskMixesResizesAndEndsResolveEveryFuture) {
  for (std::uint64_t seed : seeds(gopp_test::scaled(60, 10))) {
    SCOPED_TRACE("GOPP_STRESS_SEED=" + std::to_string(seed));
    random_pool_life(seed);
    if (HasFailure()) break;
  }
}

TEST_F(PoolStress, RandomCancellationOfAContextTree) {
  for (std::uint64_t seed : seeds(gopp_test::scaled(100, 10))) {
    SCOPED_TRACE("GOPP_STRESS_SEED=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    struct node {
      gopp::context ctx;
      std::function<void()> cancel;
      int parent;
      std::atomic<bool> cancelled{false};
    };
    const int n = 64;
    std::vector<node> nodes(n);
    {
      auto [c, k] = gopp::with_cancel(gopp::background());
      nodes[0].ctx = c;
      nodes[0].cancel = k;
      nodes[0].parent = -1;
    }
    for (int i = 1; i < n; ++i) {
      const int parent = static_cast<int>(rng() % static_cast<std::uint64_t>(i));
      auto [c, k] = (rng() % 4 == 0) ? gopp::with_timeout(nodes[parent].ctx, 1h)
                                     : gopp::with_cancel(nodes[parent].ctx);
      nodes[i].ctx = c;
      nodes[i].cancel = k;
      nodes[i].parent = parent;
    }
    // Cancel a random subset concurrently, from goroutines.
    gopp::wait_group wg;
    for (int i = 0; i < n; ++i) {
      if (rng() % 5 != 0) continue;
      nodes[i].cancelled = true;
      wg.add(1);
      gopp::go([&wg, cancel = nodes[i].cancel] {
        cancel();
        wg.done();
      });
    }
    wg.wait();
    for (int i = 0; i < n; ++i) {
      bool expect = false;
      for (int a = i; a != -1; a = nodes[a].parent) expect = expect || nodes[a].cancelled;
      EXPECT_EQ(static_cast<bool>(nodes[i].ctx.err()), expect) << "node " << i;
      if (expect) {
        EXPECT_EQ(nodes[i].ctx.err(), gopp::errc::canceled);
      }
    }
  }
}

TEST_F(PoolStress, GroupsWithLimitsUnderLoad) {
  const int rounds = static_cast<int>(gopp_test::scaled(50, 5));
  for (int r = 0; r < rounds; ++r) {
    gopp::group g;
    g.set_limit(static_cast<std::size_t>(1 + r % 4));
    std::atomic<int> now{0};
    std::atomic<bool> over{false};
    for (int i = 0; i < 100; ++i) {
      g.go([&, limit = 1 + r % 4] {
        if (++now > limit) over = true;
        gopp::yield();
        --now;
      });
    }
    g.wait();
    EXPECT_FALSE(over.load());
  }
}

TEST_F(PoolStress, ProcessOrderedKeepsOrderOverManyJobs) {
  const int n = static_cast<int>(gopp_test::scaled(50'000, 5'000));
  gopp::chan<int> jobs(64);
  auto results = gopp::process_ordered(jobs, 8, [](int j) { return j; });
  gopp::go([jobs, n] {
    for (int j = 0; j < n; ++j) jobs.send(j);
    jobs.close();
  });
  int expected = 0;
  for (int r : results) {
    if (r != expected) {
      ADD_FAILURE() << "got " << r << ", expected " << expected;
      break;
    }
    ++expected;
  }
  EXPECT_EQ(expected, n);
}

TEST_F(PoolStress, ManyConcurrentBlockingCalls) {
  const int n = static_cast<int>(gopp_test::scaled(2000, 200));
  std::atomic<int> sum{0};
  gopp::wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gopp::go([&, i] {
      sum += gopp::blocking([i] { return i % 3; });
      wg.done();
    });
  }
  wg.wait();
  int expected = 0;
  for (int i = 0; i < n; ++i) expected += i % 3;
  EXPECT_EQ(sum.load(), expected);
}

}  // namespace
