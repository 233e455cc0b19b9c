// gopp::blocking: runs a blocking call on a helper OS thread while the calling goroutine parks
// (the contract is in gopp/pool.hpp). Go does the same job inside its runtime (entersyscall hands
// the P to another M); gopp's workers never block in the kernel, so the call moves instead.
//
// Algorithm: one FIFO of jobs under a mutex, served by helper threads that are started on
// demand and leave after `idle_exit` without work.
//   - A job lives on the parked goroutine's stack: {call, arg, parker, done}. The helper runs
//     it, reads the parker, sets done (release) and unparks. The goroutine loops on done, so a
//     stray token cannot end its wait early; a goroutine's parker outlives every unpark aimed at
//     it (records are recycled, never freed), so the unpark after done is safe.
//   - A new helper starts when more jobs wait than helpers idle, up to max_helpers; beyond that
//     jobs queue. So `n` goroutines blocked at once in blocking() cost at most n threads. If no
//     helper exists and none can be started, the call runs on the caller's own thread.
// Invariants (under mu): `idle` counts helpers inside cv.wait; `helpers` counts helper threads
// alive; the state is never destroyed (helpers may still wait on it at exit).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

#include "gopp/pool.hpp"

namespace gopp::detail {

namespace {

constexpr std::size_t max_helpers = 256;
constexpr auto idle_exit = std::chrono::seconds(10);

struct blocking_job {
  void (*call)(void*) noexcept;
  void* arg;
  parker* park;
  std::atomic<bool> done{false};
};

struct helper_pool {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<blocking_job*> jobs;
  std::size_t helpers = 0;
  std::size_t idle = 0;

  void run_helper() {
    std::unique_lock lock(mu);
    for (;;) {
      while (jobs.empty()) {
        ++idle;
        const bool woke = cv.wait_for(lock, idle_exit, [this] { return !jobs.empty(); });
        --idle;
        if (!woke) {
          --helpers;
          return;
        }
      }
      blocking_job* j = jobs.front();
      jobs.pop_front();
      lock.unlock();
      j->call(j->arg);
      parker* p = j->park;
      j->done.store(true, std::memory_order_release);  // j may be gone after this
      p->unpark();
      lock.lock();
    }
  }

  // Queues j; false if no helper thread exists or can be started (the caller then runs j).
  bool submit(blocking_job* j) {
    bool start = false;
    {
      std::lock_guard lock(mu);
      jobs.push_back(j);
      if (jobs.size() > idle && helpers < max_helpers) {
        ++helpers;
        start = true;
      }
    }
    if (start) {
      try {
        std::thread([this] { run_helper(); }).detach();
      } catch (const std::system_error&) {
        std::lock_guard lock(mu);
        --helpers;
        if (helpers == 0) {  // nobody will take it: run it on the caller's thread after all
          std::erase(jobs, j);
          return false;
        }
      }
    }
    cv.notify_one();
    return true;
  }
};

helper_pool& helpers() {
  static auto* p = new helper_pool;  // never destroyed: helper threads may outlive main
  return *p;
}

}  // namespace

void run_blocking(void (*call)(void*) noexcept, void* arg) {
  blocking_job job{call, arg, &current_parker()};
  if (!helpers().submit(&job)) {
    call(arg);
    return;
  }
  while (!job.done.load(std::memory_order_acquire)) {
    set_wait_reason(wait_reason::io_wait);
    job.park->park();
  }
}

}  // namespace gopp::detail
