// bench/gopp_bench.cpp: gopp-bench, the benchmark set (bench/README.md) written against gopp's
// public API (include/gopp/gopp.hpp) the way its Go counterpart, bench/go/main.go, is
// written: same goroutines, same channels, same capacities, line for line where C++ allows.
//
// In Go, main is a goroutine; here the benchmark's "main" runs as a goroutine too (run_as_main
// below), so that both measure goroutines talking to goroutines, never a plain thread parking.
// The runtime uses its default thread count, one per core (GOMAXPROCS).
#include <gopp/gopp.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "harness.hpp"

using namespace std::chrono_literals;

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "gopp-bench: %s\n", what);
    std::abort();
  }
}

// Runs f() as a goroutine and waits for it from this plain thread; returns what f returns.
template <class F>
auto run_as_main(F f) {
  decltype(f()) result{};
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&] {
    result = f();
    wg.done();
  });
  wg.wait();
  return result;
}

// B1: two goroutines, two unbuffered channels; main sends i, the other sends it back.
void pingpong(int n) {
  gopp::chan<int> ping, pong;
  gopp::go([ping, pong] {
    for (int v : ping) pong.send(v);
    pong.close();
  });
  for (int i = 0; i < n; ++i) {
    ping.send(i);
    check(pong.recv() == i, "pingpong: wrong value");
  }
  ping.close();
}

// B2: one producer, one consumer (main), a channel of capacity 1024.
void spsc(int n) {
  gopp::chan<int> ch(1024);
  gopp::go([ch, n] {
    for (int i = 0; i < n; ++i) ch.send(i);
    ch.close();
  });
  int count = 0;
  for (int v : ch) {
    static_cast<void>(v);
    ++count;
  }
  check(count == n, "spsc: lost items");
}

// B3: 4 producers, 4 consumers, a channel of capacity 128; every item counted.
void mpmc(int per_producer) {
  constexpr int producers = 4, consumers = 4;
  gopp::chan<int> ch(128);
  gopp::wait_group pwg;
  for (int p = 0; p < producers; ++p) {
    pwg.add(1);
    gopp::go([&pwg, ch, per_producer] {
      for (int i = 0; i < per_producer; ++i) ch.send(i);
      pwg.done();
    });
  }
  int counts[consumers] = {};
  gopp::wait_group cwg;
  for (int c = 0; c < consumers; ++c) {
    cwg.add(1);
    gopp::go([&cwg, &counts, ch, c] {
      int n = 0;
      for (int v : ch) {
        static_cast<void>(v);
        ++n;
      }
      counts[c] = n;
      cwg.done();
    });
  }
  pwg.wait();
  ch.close();
  cwg.wait();
  int total = 0;
  for (int n : counts) total += n;
  check(total == producers * per_producer, "mpmc: lost items");
}

// B4: spawn n goroutines, each calls wg.done(); main waits.
void spawn(int n) {
  gopp::wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gopp::go([&wg] { wg.done(); });
  }
  wg.wait();
}

// B5 is "Go by Example: Worker Pools" with num_jobs jobs and no printing or sleeping.
void worker(int /*id*/, gopp::recv_chan<int> jobs, gopp::send_chan<int> results) {
  for (int j : jobs) results.send(j * 2);
}

void pool_tiny(int num_jobs) {
  gopp::chan<int> jobs(num_jobs);
  gopp::chan<int> results(num_jobs);
  for (int w = 1; w <= 3; ++w) gopp::go(worker, w, jobs, results);
  for (int j = 1; j <= num_jobs; ++j) jobs.send(j);
  jobs.close();
  for (int a = 1; a <= num_jobs; ++a) results.recv();
}

// B6: n goroutines each sleep 100 ms then call wg.done(); main waits.
void sleepers(int n) {
  gopp::wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gopp::go([&wg] {
      gopp::sleep_for(100ms);
      wg.done();
    });
  }
  wg.wait();
}

// B7: one receiver selects over two unbuffered channels fed by two producers of n ints each.
// A closed channel is replaced by the nil channel, whose case is never ready (Go: `a = nil`).
void select2(int n) {
  gopp::chan<int> a, b;
  auto produce = [n](gopp::send_chan<int> ch) {
    for (int i = 0; i < n; ++i) ch.send(i);
    ch.close();
  };
  gopp::go(produce, a);
  gopp::go(produce, b);
  const gopp::chan<int> nil(nullptr);
  int count = 0;
  for (int open = 2; open > 0;) {
    bool got = false;
    std::size_t i =
        gopp::select(gopp::recv_case(a, [&](std::optional<int> v) { got = v.has_value(); }),
                     gopp::recv_case(b, [&](std::optional<int> v) { got = v.has_value(); }));
    if (got) {
      ++count;
      continue;
    }
    (i == 0 ? a : b) = nil;
    --open;
  }
  check(count == 2 * n, "select2: lost items");
}

// B14: one receiver selects over 64 unbuffered channels built at run time (dynamic_select, Go's
// reflect.Select), fed by 64 producers of n / 64 ints each. A closed channel's case is replaced
// by a nil one (Go: `cases[i].Chan = reflect.Value{}`).
void select_dyn(int n) {
  constexpr int k = 64;
  const int per = n / k;
  std::vector<gopp::dynamic_case<int>> cases;
  for (int i = 0; i < k; ++i) {
    gopp::chan<int> ch;
    gopp::go([ch, per] {
      for (int j = 0; j < per; ++j) ch.send(j);
      ch.close();
    });
    cases.push_back(gopp::dynamic_case<int>::recv(ch));
  }
  int count = 0;
  for (int open = k; open > 0;) {
    gopp::select_result<int> r = gopp::dynamic_select(cases);
    if (r.value) {
      ++count;
      continue;
    }
    cases[r.index] = gopp::dynamic_case<int>::recv(nullptr);
    --open;
  }
  check(count == k * per, "select_dyn: lost items");
}

// B8 is the seed: "Go by Example: Worker Pools" as written (5 jobs, 3 workers, each job
// sleeps), without its printing; then the same jobs one after another.
void seed_worker(int /*id*/, gopp::recv_chan<int> jobs, gopp::send_chan<int> results,
                 std::chrono::nanoseconds d) {
  for (int j : jobs) {
    gopp::sleep_for(d);
    results.send(j * 2);
  }
}

void seed_pool(std::chrono::nanoseconds d) {
  constexpr int num_jobs = 5;
  gopp::chan<int> jobs(num_jobs);
  gopp::chan<int> results(num_jobs);
  for (int w = 1; w <= 3; ++w) gopp::go(seed_worker, w, jobs, results, d);
  for (int j = 1; j <= num_jobs; ++j) jobs.send(j);
  jobs.close();
  for (int a = 1; a <= num_jobs; ++a) results.recv();
}

void seed_sequential(std::chrono::nanoseconds d) {
  int sum = 0;
  for (int j = 1; j <= 5; ++j) {
    gopp::sleep_for(d);
    sum += j * 2;
  }
  check(sum == 30, "seed: wrong sum");
}

// B11: wake latency. A receiver parks on an unbuffered channel; the sender waits (computing,
// never blocking) until the receiver has said it is about to park, computes 200 us more (it is
// parked by then), sends it the time, and computes for 20 ms. Measured: from the send to the
// receiver running. A readied goroutine left to wait for its waker to block waits all 20 ms.
std::string wake_latency(int trials) {
  using clock = std::chrono::steady_clock;
  auto compute_for = [](clock::duration d) {
    const auto until = clock::now() + d;
    while (clock::now() < until) {
    }
  };
  gopp::chan<clock::time_point> wake;
  std::atomic<bool> about_to_park{false};
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(trials));
  gopp::chan<int> done;
  gopp::go([&] {
    for (;;) {
      about_to_park.store(true);
      std::optional<clock::time_point> t0 = wake.recv();
      if (!t0) break;
      us.push_back(std::chrono::duration<double, std::micro>(clock::now() - *t0).count());
    }
    done.close();
  });
  run_as_main([&] {
    for (int i = 0; i < trials; ++i) {
      // Bounded: a receiver stranded behind us (on our own thread) cannot say so.
      const auto give_up = clock::now() + 100ms;
      while (!about_to_park.load() && clock::now() < give_up) {
      }
      about_to_park.store(false);
      compute_for(200us);
      wake.send(clock::now());
      compute_for(20ms);
    }
    wake.close();
    done.recv();
    return 0;
  });
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * double(us.size() - 1))]; };
  return "p50_us=" + bench::fixed(pct(0.5), 1) + " p99_us=" + bench::fixed(pct(0.99), 1) +
         " max_us=" + bench::fixed(us.back(), 1);
}

// B12: 4 goroutines each lock and unlock one mutex n times around an increment.
void mutex_contended(int per) {
  constexpr int goroutines = 4;
  gopp::mutex mu;
  long counter = 0;
  gopp::wait_group wg;
  for (int g = 0; g < goroutines; ++g) {
    wg.add(1);
    gopp::go([&mu, &counter, &wg, per] {
      for (int i = 0; i < per; ++i) {
        mu.lock();
        ++counter;
        mu.unlock();
      }
      wg.done();
    });
  }
  wg.wait();
  check(counter == long{goroutines} * per, "mutex: lost increments");
}

// B13: 8 readers and 1 writer on one rw_mutex, 90% reads: of `total` operations, 9/10 are reads
// split evenly over the readers and 1/10 writes by the writer.
void rwmutex(int total) {
  gopp::rw_mutex mu;
  long value = 0;
  const int writes = total / 10;
  const int per_reader = (total - writes) / 8;
  std::atomic<long> sink{0};
  gopp::wait_group wg;
  wg.add(9);
  for (int r = 0; r < 8; ++r) {
    gopp::go([&] {
      long sum = 0;
      for (int i = 0; i < per_reader; ++i) {
        mu.lock_shared();
        sum += value;
        mu.unlock_shared();
      }
      sink += sum;
      wg.done();
    });
  }
  gopp::go([&] {
    for (int i = 0; i < writes; ++i) {
      mu.lock();
      ++value;
      mu.unlock();
    }
    wg.done();
  });
  wg.wait();
  check(value == writes, "rwmutex: lost writes");
}

// B15: 4 goroutines x n acquire(1)/release(1) pairs on a weighted semaphore of size 2.
void semaphore_pairs(int n) {
  gopp::semaphore sem(2);
  const gopp::context ctx = gopp::background();
  gopp::wait_group wg;
  wg.add(4);
  for (int g = 0; g < 4; ++g) {
    gopp::go([&] {
      for (int i = 0; i < n; ++i) {
        check(!sem.acquire(ctx, 1), "semaphore: acquire failed");
        sem.release(1);
      }
      wg.done();
    });
  }
  wg.wait();
}

// Warm-up and timed run of body, both inside one goroutine.
template <class F>
std::chrono::nanoseconds timed_as_main(F body) {
  return run_as_main([&] { return bench::timed(body); });
}

const bench::benchmark benchmarks[] = {
    {"B1", "pingpong",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ns_per("ns_per_roundtrip", timed_as_main([&] { pingpong(n); }), n);
     }},
    {"B2", "spsc",
     [](const bench::options& o) {
       int n = o.sized(10'000'000);
       return bench::ns_per("ns_per_item", timed_as_main([&] { spsc(n); }), n);
     }},
    {"B3", "mpmc",
     [](const bench::options& o) {
       int per = o.sized(2'500'000);
       return bench::ns_per("ns_per_item", timed_as_main([&] { mpmc(per); }), 4 * per);
     }},
    {"B4", "spawn",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ns_per("ns_per_goroutine", timed_as_main([&] { spawn(n); }), n);
     }},
    {"B5", "pool_tiny",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ms_total(timed_as_main([&] { pool_tiny(n); }));
     }},
    {"B6", "sleepers",
     [](const bench::options& o) {
       int n = o.sized(100'000);
       auto d = timed_as_main([&] { sleepers(n); });
       return bench::ms_total(d) + " " + bench::vmhwm_mb();
     }},
    {"B7", "select2",
     [](const bench::options& o) {
       int n = o.sized(500'000);
       return bench::ns_per("ns_per_item", timed_as_main([&] { select2(n); }), 2 * n);
     }},
    {"B8", "seed_demo",
     [](const bench::options& o) {
       std::chrono::nanoseconds d = std::chrono::nanoseconds(1s) / o.scale;
       auto [pool, seq] = run_as_main([&] {
         auto start = bench::clock::now();
         seed_pool(d);
         std::chrono::nanoseconds pool = bench::clock::now() - start;
         start = bench::clock::now();
         seed_sequential(d);
         std::chrono::nanoseconds seq = bench::clock::now() - start;
         return std::pair(pool, seq);
       });
       return "s_pool=" + bench::fixed(bench::seconds(pool), 3) +
              " s_sequential=" + bench::fixed(bench::seconds(seq), 3);
     }},
    {"B11", "wake_latency", [](const bench::options& o) { return wake_latency(o.sized(1'000)); }},
    {"B14", "select_dyn",
     [](const bench::options& o) {
       int n = o.sized(2'000'000);
       return bench::ns_per("ns_per_item", timed_as_main([&] { select_dyn(n); }), n / 64 * 64);
     }},
    {"B12", "mutex",
     [](const bench::options& o) {
       int per = o.sized(1'000'000);
       return bench::ns_per("ns_per_op", timed_as_main([&] { mutex_contended(per); }), 4 * per);
     }},
    {"B13", "rwmutex",
     [](const bench::options& o) {
       int n = o.sized(4'000'000);
       return bench::ns_per("ns_per_op", timed_as_main([&] { rwmutex(n); }), n);
     }},
    {"B15", "semaphore",
     [](const bench::options& o) {
       int per = o.sized(1'000'000);
       return bench::ns_per("ns_per_op", timed_as_main([&] { semaphore_pairs(per); }), 4 * per);
     }},
};

}  // namespace

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, benchmarks);
}
