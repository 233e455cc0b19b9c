// bench/peers/tbb.cpp: the benchmark set (bench/README.md) written with oneTBB, as its
// documentation recommends: tbb::task_group for work that runs to completion, and
// tbb::concurrent_bounded_queue, TBB's blocking queue, as the channel.
//
// oneTBB's tasks must not block: a task waiting on a queue holds its worker thread, and with
// one worker per core a few blocked tasks deadlock the arena. So a party that blocks (a
// goroutine that waits on a channel or sleeps) is a std::thread here, the way
// concurrent_bounded_queue is meant to be used, and task_group carries the benchmark whose
// goroutines never block (B4). Where neither expresses a benchmark, it prints n/a:
// - B6: 100,000 sleeping parties would be 100,000 threads (oneTBB has no timers).
// - B7: there is no select over queues.
// The queue has no close: the producer pushes one end marker per consumer, the usual idiom.
#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace std::chrono_literals;
using queue = tbb::concurrent_bounded_queue<int>;

namespace {

constexpr int end_marker = -1;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tbb-bench: %s\n", what);
    std::abort();
  }
}

// B1: two threads, two queues of capacity 1 (oneTBB has no rendezvous queue; a round trip
// waits for the reply, so one slot behaves as unbuffered here); main sends i, the echo thread
// sends it back.
void pingpong(int n) {
  queue ping, pong;
  ping.set_capacity(1);
  pong.set_capacity(1);
  std::thread echo([&] {
    int v;
    for (;;) {
      ping.pop(v);
      if (v == end_marker) break;
      pong.push(v);
    }
  });
  for (int i = 0; i < n; ++i) {
    ping.push(i);
    int v = -2;
    pong.pop(v);
    check(v == i, "pingpong: wrong value");
  }
  ping.push(end_marker);
  echo.join();
}

// B2: one producer thread, one consumer (main), a queue of capacity 1024.
void spsc(int n) {
  queue ch;
  ch.set_capacity(1024);
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) ch.push(i);
    ch.push(end_marker);
  });
  int count = 0, v;
  for (;;) {
    ch.pop(v);
    if (v == end_marker) break;
    ++count;
  }
  producer.join();
  check(count == n, "spsc: lost items");
}

// B3: 4 producer threads, 4 consumer threads, a queue of capacity 128; every item counted.
void mpmc(int per_producer) {
  constexpr int producers = 4, consumers = 4;
  queue ch;
  ch.set_capacity(128);
  std::vector<std::thread> ps, cs;
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back([&] {
      for (int i = 0; i < per_producer; ++i) ch.push(i);
    });
  }
  int counts[consumers] = {};
  for (int c = 0; c < consumers; ++c) {
    cs.emplace_back([&, c] {
      int n = 0, v;
      for (;;) {
        ch.pop(v);
        if (v == end_marker) break;
        ++n;
      }
      counts[c] = n;
    });
  }
  for (std::thread& t : ps) t.join();
  for (int c = 0; c < consumers; ++c) ch.push(end_marker);
  for (std::thread& t : cs) t.join();
  int total = 0;
  for (int n : counts) total += n;
  check(total == producers * per_producer, "mpmc: lost items");
}

// B4: n tasks in a task_group; the group is the wait group (each task's completion counts it
// down, task_group::wait is wg.Wait).
void spawn(int n) {
  tbb::task_group tg;
  for (int i = 0; i < n; ++i) tg.run([] {});
  tg.wait();
}

// B5: Go by Example's worker pool with 3 worker threads and queues holding every job.
void worker(int /*id*/, queue& jobs, queue& results) {
  int j;
  for (;;) {
    jobs.pop(j);
    if (j == end_marker) return;
    results.push(j * 2);
  }
}

void pool_tiny(int num_jobs) {
  constexpr int workers = 3;
  queue jobs, results;
  jobs.set_capacity(num_jobs + workers);  // room for the end markers too
  results.set_capacity(num_jobs);
  std::vector<std::thread> ws;
  for (int w = 1; w <= workers; ++w) ws.emplace_back(worker, w, std::ref(jobs), std::ref(results));
  for (int j = 1; j <= num_jobs; ++j) jobs.push(j);
  for (int w = 0; w < workers; ++w) jobs.push(end_marker);
  int r;
  for (int a = 1; a <= num_jobs; ++a) results.pop(r);
  for (std::thread& t : ws) t.join();
}

// B8: the seed, 5 jobs and 3 worker threads that sleep d per job; then the jobs in sequence.
void seed_worker(int /*id*/, queue& jobs, queue& results, std::chrono::nanoseconds d) {
  int j;
  for (;;) {
    jobs.pop(j);
    if (j == end_marker) return;
    std::this_thread::sleep_for(d);
    results.push(j * 2);
  }
}

void seed_pool(std::chrono::nanoseconds d) {
  constexpr int num_jobs = 5;
  constexpr int workers = 3;
  queue jobs, results;
  jobs.set_capacity(num_jobs + workers);
  results.set_capacity(num_jobs);
  std::vector<std::thread> ws;
  for (int w = 1; w <= workers; ++w) {
    ws.emplace_back(seed_worker, w, std::ref(jobs), std::ref(results), d);
  }
  for (int j = 1; j <= num_jobs; ++j) jobs.push(j);
  for (int w = 0; w < workers; ++w) jobs.push(end_marker);
  int r;
  for (int a = 1; a <= num_jobs; ++a) results.pop(r);
  for (std::thread& t : ws) t.join();
}

void seed_sequential(std::chrono::nanoseconds d) {
  int sum = 0;
  for (int j = 1; j <= 5; ++j) {
    std::this_thread::sleep_for(d);
    sum += j * 2;
  }
  check(sum == 30, "seed: wrong sum");
}

const bench::benchmark benchmarks[] = {
    {"B1", "pingpong",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ns_per("ns_per_roundtrip", bench::timed([&] { pingpong(n); }), n);
     }},
    {"B2", "spsc",
     [](const bench::options& o) {
       int n = o.sized(10'000'000);
       return bench::ns_per("ns_per_item", bench::timed([&] { spsc(n); }), n);
     }},
    {"B3", "mpmc",
     [](const bench::options& o) {
       int per = o.sized(2'500'000);
       return bench::ns_per("ns_per_item", bench::timed([&] { mpmc(per); }), 4 * per);
     }},
    {"B4", "spawn",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ns_per("ns_per_goroutine", bench::timed([&] { spawn(n); }), n);
     }},
    {"B5", "pool_tiny",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ms_total(bench::timed([&] { pool_tiny(n); }));
     }},
    {"B6", "sleepers",
     [](const bench::options& o) {
       std::string n = std::to_string(o.sized(100'000));
       return bench::not_applicable("oneTBB has no timers and a sleeping task holds its thread: " +
                                    n + " sleepers would be " + n + " threads");
     }},
    {"B7", "select2",
     [](const bench::options&) {
       return bench::not_applicable("oneTBB has no select over concurrent_bounded_queues");
     }},
    {"B8", "seed_demo",
     [](const bench::options& o) {
       std::chrono::nanoseconds d = std::chrono::nanoseconds(1s) / o.scale;
       auto start = bench::clock::now();
       seed_pool(d);
       auto pool = bench::clock::now() - start;
       start = bench::clock::now();
       seed_sequential(d);
       auto seq = bench::clock::now() - start;
       return "s_pool=" + bench::fixed(bench::seconds(pool), 3) +
              " s_sequential=" + bench::fixed(bench::seconds(seq), 3);
     }},
    {"B14", "select_dyn",
     [](const bench::options&) {
       return bench::not_applicable("oneTBB has no select over concurrent_bounded_queues");
     }},
};

}  // namespace

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, benchmarks);
}
