// bench/peers/std_thread.cpp: the benchmark set (bench/README.md) as a C++ programmer writes it by
// hand with the standard library alone: each goroutine is a std::thread, each channel the
// bounded queue below (std::mutex, two std::condition_variables, a std::deque), the wait group
// a counter under a mutex.
//
// Where threads cannot stand in for goroutines it prints n/a with the reason:
// - B4 creates 1,000,000 threads one after another (detached, so that each one's stack is
//   reused once it exits). That works, but at tens of microseconds a thread it takes most of a
//   minute, so it runs at full size only: under --quick it prints n/a, which keeps
//   `compare --quick` quick.
// - B6 needs 100,000 threads alive at once; it runs only when the machine's limits (pid_max,
//   threads-max, the cgroup's pids.max, RLIMIT_NPROC, vm.max_map_count) leave room for twice
//   that many, so that the benchmark cannot starve the rest of the machine of tasks.
// - B7: a condition-variable channel has no select; waiting on two of them needs machinery
//   (a shared notifier registered with both) that the standard library does not offer.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <semaphore>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace std::chrono_literals;

namespace {

// Go's channel written by hand. Capacity 0 is a rendezvous: the sender waits until a receiver
// has taken its value. close() wakes every waiter; values sent before close are still received.
template <class T>
class channel {
 public:
  explicit channel(std::size_t capacity = 0) : capacity_(capacity) {}

  void send(T v) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock,
                   [&] { return closed_ || queue_.size() < std::max<std::size_t>(capacity_, 1); });
    if (closed_) throw std::logic_error("send on closed channel");
    queue_.push_back(std::move(v));
    std::uint64_t ticket = ++sent_;
    if (capacity_ == 0) {
      not_empty_.notify_one();
      taken_.wait(lock, [&] { return received_ >= ticket; });
      return;
    }
    lock.unlock();
    not_empty_.notify_one();
  }

  // std::nullopt once the channel is closed and drained.
  std::optional<T> recv() {
    std::unique_lock<std::mutex> lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    T v = std::move(queue_.front());
    queue_.pop_front();
    ++received_;
    lock.unlock();
    if (capacity_ == 0) taken_.notify_all();
    not_full_.notify_one();
    return v;
  }

  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_, taken_;
  std::deque<T> queue_;
  std::size_t capacity_;
  std::uint64_t sent_ = 0, received_ = 0;
  bool closed_ = false;
};

// Go's sync.WaitGroup written by hand.
class wait_group {
 public:
  void add(int n = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    count_ += n;
  }
  void done() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--count_ == 0) zero_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    zero_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable zero_;
  int count_ = 0;
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "std-thread-bench: %s\n", what);
    std::abort();
  }
}

// B1: two threads, two unbuffered channels; main sends i, the echo thread sends it back.
void pingpong(int n) {
  channel<int> ping, pong;
  std::thread echo([&] {
    while (std::optional<int> v = ping.recv()) pong.send(*v);
    pong.close();
  });
  for (int i = 0; i < n; ++i) {
    ping.send(i);
    check(pong.recv() == i, "pingpong: wrong value");
  }
  ping.close();
  echo.join();
}

// B2: one producer thread, one consumer (main), a channel of capacity 1024.
void spsc(int n) {
  channel<int> ch(1024);
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) ch.send(i);
    ch.close();
  });
  int count = 0;
  while (ch.recv()) ++count;
  producer.join();
  check(count == n, "spsc: lost items");
}

// B3: 4 producer threads, 4 consumer threads, a channel of capacity 128; every item counted.
void mpmc(int per_producer) {
  constexpr int producers = 4, consumers = 4;
  channel<int> ch(128);
  std::vector<std::thread> ps, cs;
  for (int p = 0; p < producers; ++p) {
    ps.emplace_back([&] {
      for (int i = 0; i < per_producer; ++i) ch.send(i);
    });
  }
  int counts[consumers] = {};
  for (int c = 0; c < consumers; ++c) {
    cs.emplace_back([&, c] {
      int n = 0;
      while (ch.recv()) ++n;
      counts[c] = n;
    });
  }
  for (std::thread& t : ps) t.join();
  ch.close();
  for (std::thread& t : cs) t.join();
  int total = 0;
  for (int n : counts) total += n;
  check(total == producers * per_producer, "mpmc: lost items");
}

// B4: n detached threads, each calls wg.done(); main waits. (Joinable threads would keep every
// finished thread's stack mapped until joined.)
void spawn(int n) {
  wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    std::thread([&wg] { wg.done(); }).detach();
  }
  wg.wait();
}

// B5: Go by Example's worker pool with 3 worker threads and channels holding every job.
void worker(int /*id*/, channel<int>& jobs, channel<int>& results) {
  while (std::optional<int> j = jobs.recv()) results.send(*j * 2);
}

void pool_tiny(int num_jobs) {
  channel<int> jobs(num_jobs), results(num_jobs);
  std::vector<std::thread> ws;
  for (int w = 1; w <= 3; ++w) ws.emplace_back(worker, w, std::ref(jobs), std::ref(results));
  for (int j = 1; j <= num_jobs; ++j) jobs.send(j);
  jobs.close();
  for (int a = 1; a <= num_jobs; ++a) results.recv();
  for (std::thread& t : ws) t.join();
}

// B12: 4 threads each lock and unlock one std::mutex n times around an increment.
void mutex_contended(int per) {
  constexpr int threads = 4;
  std::mutex mu;
  long counter = 0;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&mu, &counter, per] {
      for (int i = 0; i < per; ++i) {
        mu.lock();
        ++counter;
        mu.unlock();
      }
    });
  }
  for (std::thread& t : ts) t.join();
  if (counter != long{threads} * per) throw std::runtime_error("mutex: lost increments");
}

// The number of further threads this process may start, by the tightest of the machine's
// limits, with the name of that limit.
std::pair<long, std::string> thread_room() {
  auto read_long = [](const std::string& path) -> long {
    std::ifstream in(path);
    std::string s;
    if (!(in >> s) || s == "max") return -1;
    return std::atol(s.c_str());
  };
  long best = -1;
  std::string name = "none";
  auto consider = [&](long room, const char* what) {
    if (room >= 0 && (best < 0 || room < best)) best = room, name = what;
  };
  // Tasks on the machine now: the fourth field of /proc/loadavg is "running/total".
  long tasks = 0;
  {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c, run_total;
    if (in >> a >> b >> c >> run_total)
      tasks = std::atol(run_total.substr(run_total.find('/') + 1).c_str());
  }
  long pid_max = read_long("/proc/sys/kernel/pid_max");
  if (pid_max >= 0) consider(pid_max - tasks, "kernel.pid_max");
  long threads_max = read_long("/proc/sys/kernel/threads-max");
  if (threads_max >= 0) consider(threads_max - tasks, "kernel.threads-max");
  long pids_max = read_long("/sys/fs/cgroup/pids.max");
  long pids_current = read_long("/sys/fs/cgroup/pids.current");
  if (pids_max >= 0 && pids_current >= 0)
    consider(pids_max - pids_current, "the cgroup's pids.max");
  rlimit nproc{};
  if (getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != RLIM_INFINITY) {
    consider(long(nproc.rlim_cur) - tasks, "RLIMIT_NPROC");
  }
  long maps = read_long("/proc/sys/vm/max_map_count");
  if (maps >= 0) consider(maps / 2, "vm.max_map_count (two mappings per thread stack)");
  return {best, name};
}

// B6: n threads each sleep 100 ms then call wg.done(); main waits.
void sleepers(int n) {
  wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    std::thread([&wg] {
      std::this_thread::sleep_for(100ms);
      wg.done();
    }).detach();
  }
  wg.wait();
}

// B8: the seed, 5 jobs and 3 worker threads that sleep d per job; then the jobs in sequence.
void seed_worker(int /*id*/, channel<int>& jobs, channel<int>& results,
                 std::chrono::nanoseconds d) {
  while (std::optional<int> j = jobs.recv()) {
    std::this_thread::sleep_for(d);
    results.send(*j * 2);
  }
}

void seed_pool(std::chrono::nanoseconds d) {
  constexpr int num_jobs = 5;
  channel<int> jobs(num_jobs), results(num_jobs);
  std::vector<std::thread> ws;
  for (int w = 1; w <= 3; ++w) {
    ws.emplace_back(seed_worker, w, std::ref(jobs), std::ref(results), d);
  }
  for (int j = 1; j <= num_jobs; ++j) jobs.send(j);
  jobs.close();
  for (int a = 1; a <= num_jobs; ++a) results.recv();
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

// B13: 8 reader threads and 1 writer thread on one std::shared_mutex, 90% reads.
void rwmutex(int total) {
  std::shared_mutex mu;
  long value = 0;
  const int writes = total / 10;
  const int per_reader = (total - writes) / 8;
  std::atomic<long> sink{0};
  std::vector<std::thread> ts;
  for (int r = 0; r < 8; ++r) {
    ts.emplace_back([&] {
      long sum = 0;
      for (int i = 0; i < per_reader; ++i) {
        mu.lock_shared();
        sum += value;
        mu.unlock_shared();
      }
      sink += sum;
    });
  }
  ts.emplace_back([&] {
    for (int i = 0; i < writes; ++i) {
      mu.lock();
      ++value;
      mu.unlock();
    }
  });
  for (auto& t : ts) t.join();
  check(value == writes, "rwmutex: lost writes");
}

// B15: 4 threads x n acquire/release pairs on a std::counting_semaphore of 2.
void semaphore_pairs(int n) {
  std::counting_semaphore<2> sem(2);
  std::vector<std::thread> ts;
  for (int g = 0; g < 4; ++g) {
    ts.emplace_back([&] {
      for (int i = 0; i < n; ++i) {
        sem.acquire();
        sem.release();
      }
    });
  }
  for (auto& t : ts) t.join();
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
       if (o.scale != 1) {
         return bench::not_applicable(
             "not run under --quick: a thread per goroutine makes it the slowest run of the "
             "set (tens of seconds); run without --quick");
       }
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
       int n = o.sized(100'000);
       auto [room, limit] = thread_room();
       if (room >= 0 && 2 * n > room) {
         return bench::not_applicable(std::to_string(n) + " threads alive at once: " + limit +
                                      " leaves room for " + std::to_string(room));
       }
       auto d = bench::timed([&] { sleepers(n); });
       return bench::ms_total(d) + " " + bench::vmhwm_mb();
     }},
    {"B7", "select2",
     [](const bench::options&) {
       return bench::not_applicable("no select over condition-variable channels in std");
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
       return bench::not_applicable("no select over condition-variable channels in std");
     }},
    {"B12", "mutex",
     [](const bench::options& o) {
       int per = o.sized(1'000'000);
       return bench::ns_per("ns_per_op", bench::timed([&] { mutex_contended(per); }), 4 * per);
     }},
    {"B13", "rwmutex",
     [](const bench::options& o) {
       int n = o.sized(4'000'000);
       return bench::ns_per("ns_per_op", bench::timed([&] { rwmutex(n); }), n);
     }},
    {"B15", "semaphore",
     [](const bench::options& o) {
       int per = o.sized(1'000'000);
       return bench::ns_per("ns_per_op", bench::timed([&] { semaphore_pairs(per); }), 4 * per);
     }},
};

}  // namespace

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, benchmarks);
}
