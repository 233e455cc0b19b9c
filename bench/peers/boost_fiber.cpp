// bench/peers/boost_fiber.cpp: the benchmark set (bench/README.md) written with Boost.Fiber, as its
// documentation recommends: fibers scheduled by the work_stealing algorithm on every core
// (Boost's examples/work_stealing.cpp: one thread per core joins the scheduler; suspend=true so
// an idle thread sleeps instead of spinning), boost::fibers::buffered_channel and
// unbuffered_channel, this_fiber::sleep_for.
//
// Differences from Go that Boost.Fiber imposes, and how they are handled:
// - A buffered_channel's capacity must be a power of two and it holds capacity - 1 values.
//   B2 (1024) and B3 (128) use the sizes as given; B5's 1,000,000 becomes the next power of
//   two, 2^20, which holds every job just like Go's make(chan int, numJobs).
// - There is no wait group; wait_group below is the usual counter + fibers::mutex +
//   fibers::condition_variable.
// - There is no select over channels, so B7 is n/a.
// - The main thread's fiber runs the benchmark's "main" (as main is a goroutine in Go); like
//   every thread's main fiber it is pinned to its thread, the fibers it starts may be stolen.
#include <boost/fiber/all.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace fibers = boost::fibers;
using namespace std::chrono_literals;
using fibers::channel_op_status;

namespace {

// Puts the work_stealing scheduler on every core for the program's lifetime: the constructor
// starts hardware_concurrency - 1 threads that join it (their main fiber then waits for the
// destructor), the calling thread joins last.
class work_stealing_runtime {
 public:
  work_stealing_runtime() : threads_(std::max(1u, std::thread::hardware_concurrency())) {
    for (unsigned i = 1; i < threads_; ++i) {
      workers_.emplace_back([this] {
        fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads_, true);
        std::unique_lock<fibers::mutex> lock(mutex_);
        stopped_.wait(lock, [this] { return stop_; });
      });
    }
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads_, true);
  }
  ~work_stealing_runtime() {
    {
      std::lock_guard<fibers::mutex> lock(mutex_);
      stop_ = true;
    }
    stopped_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

 private:
  unsigned threads_;
  std::vector<std::thread> workers_;
  fibers::mutex mutex_;
  fibers::condition_variable stopped_;
  bool stop_ = false;
};

// Go's sync.WaitGroup: done() is one atomic decrement unless it is the last one.
class wait_group {
 public:
  void add(int n = 1) { count_.fetch_add(n, std::memory_order_relaxed); }
  void done() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<fibers::mutex> lock(mutex_);
      zero_.notify_all();
    }
  }
  void wait() {
    std::unique_lock<fibers::mutex> lock(mutex_);
    zero_.wait(lock, [this] { return count_.load(std::memory_order_acquire) == 0; });
  }

 private:
  std::atomic<int> count_{0};
  fibers::mutex mutex_;
  fibers::condition_variable zero_;
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "boost-fiber-bench: %s\n", what);
    std::abort();
  }
}

// B1: two fibers, two unbuffered channels; main sends i, the other sends it back.
void pingpong(int n) {
  fibers::unbuffered_channel<int> ping, pong;
  fibers::fiber echo([&] {
    int v;
    while (ping.pop(v) == channel_op_status::success) pong.push(v);
    pong.close();
  });
  for (int i = 0; i < n; ++i) {
    ping.push(i);
    int v = -1;
    pong.pop(v);
    check(v == i, "pingpong: wrong value");
  }
  ping.close();
  echo.join();
}

// B2: one producer, one consumer (main), a channel of capacity 1024.
void spsc(int n) {
  fibers::buffered_channel<int> ch(1024);
  fibers::fiber producer([&] {
    for (int i = 0; i < n; ++i) ch.push(i);
    ch.close();
  });
  int count = 0, v;
  while (ch.pop(v) == channel_op_status::success) ++count;
  producer.join();
  check(count == n, "spsc: lost items");
}

// B3: 4 producers, 4 consumers, a channel of capacity 128; every item counted.
void mpmc(int per_producer) {
  constexpr int producers = 4, consumers = 4;
  fibers::buffered_channel<int> ch(128);
  std::vector<fibers::fiber> ps, cs;
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back([&] {
      for (int i = 0; i < per_producer; ++i) ch.push(i);
    });
  }
  int counts[consumers] = {};
  for (int c = 0; c < consumers; ++c) {
    cs.emplace_back([&, c] {
      int n = 0, v;
      while (ch.pop(v) == channel_op_status::success) ++n;
      counts[c] = n;
    });
  }
  for (fibers::fiber& f : ps) f.join();
  ch.close();
  for (fibers::fiber& f : cs) f.join();
  int total = 0;
  for (int n : counts) total += n;
  check(total == producers * per_producer, "mpmc: lost items");
}

// B4 and B6 share one wait group that outlives the benchmark, since a detached fiber may still
// be inside done() (after its decrement) when wait() returns.
wait_group shared_wg;

// MemAvailable from /proc/meminfo, in KiB (-1 if unknown).
long mem_available_kib() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  long kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib;
  }
  return -1;
}

// B4: spawn n fibers, each calls wg.done(); main waits. With launch::post the new fibers wait
// in the spawner's queue, each holding its stack (about 9 KiB of it resident, measured), until
// the spawner waits: a million of them hold about 9 GiB.
constexpr long resident_kib_per_queued_fiber = 10;

void spawn(int n) {
  for (int i = 0; i < n; ++i) {
    shared_wg.add(1);
    fibers::fiber([] { shared_wg.done(); }).detach();
  }
  shared_wg.wait();
}

// B5: Go by Example's worker pool, 3 workers, channels holding every job.
void worker(int /*id*/, fibers::buffered_channel<int>& jobs,
            fibers::buffered_channel<int>& results) {
  int j;
  while (jobs.pop(j) == channel_op_status::success) results.push(j * 2);
}

std::size_t power_of_two_holding(int n) {
  std::size_t cap = 2;
  while (cap - 1 < std::size_t(n)) cap *= 2;
  return cap;
}

void pool_tiny(int num_jobs) {
  fibers::buffered_channel<int> jobs(power_of_two_holding(num_jobs));
  fibers::buffered_channel<int> results(power_of_two_holding(num_jobs));
  std::vector<fibers::fiber> workers;
  for (int w = 1; w <= 3; ++w) workers.emplace_back(worker, w, std::ref(jobs), std::ref(results));
  for (int j = 1; j <= num_jobs; ++j) jobs.push(j);
  jobs.close();
  int r;
  for (int a = 1; a <= num_jobs; ++a) results.pop(r);
  for (fibers::fiber& f : workers) f.join();
}

// B6: n fibers each sleep 100 ms then call wg.done(); main waits.
void sleepers(int n) {
  for (int i = 0; i < n; ++i) {
    shared_wg.add(1);
    fibers::fiber([] {
      boost::this_fiber::sleep_for(100ms);
      shared_wg.done();
    }).detach();
  }
  shared_wg.wait();
}

// B8: the seed, 5 jobs and 3 workers that sleep d per job; then the same jobs in sequence.
void seed_worker(int /*id*/, fibers::buffered_channel<int>& jobs,
                 fibers::buffered_channel<int>& results, std::chrono::nanoseconds d) {
  int j;
  while (jobs.pop(j) == channel_op_status::success) {
    boost::this_fiber::sleep_for(d);
    results.push(j * 2);
  }
}

void seed_pool(std::chrono::nanoseconds d) {
  constexpr int num_jobs = 5;
  fibers::buffered_channel<int> jobs(8), results(8);
  std::vector<fibers::fiber> workers;
  for (int w = 1; w <= 3; ++w) {
    workers.emplace_back(seed_worker, w, std::ref(jobs), std::ref(results), d);
  }
  for (int j = 1; j <= num_jobs; ++j) jobs.push(j);
  jobs.close();
  int r;
  for (int a = 1; a <= num_jobs; ++a) results.pop(r);
  for (fibers::fiber& f : workers) f.join();
}

void seed_sequential(std::chrono::nanoseconds d) {
  int sum = 0;
  for (int j = 1; j <= 5; ++j) {
    boost::this_fiber::sleep_for(d);
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
       long need_kib = n * resident_kib_per_queued_fiber, have_kib = mem_available_kib();
       if (have_kib >= 0 && need_kib > have_kib / 2) {
         return bench::not_applicable("needs about " + std::to_string(need_kib >> 20) +
                                      " GiB resident (every queued " +
                                      "fiber holds its stack) and only " +
                                      std::to_string(have_kib >> 20) + " GiB is available");
       }
       return bench::ns_per("ns_per_goroutine", bench::timed([&] { spawn(n); }), n);
     }},
    {"B5", "pool_tiny",
     [](const bench::options& o) {
       int n = o.sized(1'000'000);
       return bench::ms_total(bench::timed([&] { pool_tiny(n); }));
     }},
    {"B6", "sleepers",
     [](const bench::options& o) {
       int n = o.sized(100'000);
       auto d = bench::timed([&] { sleepers(n); });
       return bench::ms_total(d) + " " + bench::vmhwm_mb();
     }},
    {"B7", "select2",
     [](const bench::options&) {
       return bench::not_applicable("Boost.Fiber has no select over channels");
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
       return bench::not_applicable("Boost.Fiber has no select over channels");
     }},
};

}  // namespace

int main(int argc, char** argv) {
  work_stealing_runtime runtime;
  return bench::run_main(argc, argv, benchmarks);
}
