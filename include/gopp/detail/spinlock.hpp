// A test-and-test-and-set spin lock for the short critical sections of channels and sync
// objects (a few loads and stores, never a park or a system call while held). A futex-backed
// mutex costs a system call on contention; these sections are shorter than that call.
// After a bounded spin it yields the OS thread, so a preempted holder cannot starve a waiter.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GOPP_CPU_RELAX() _mm_pause()
#else
#define GOPP_CPU_RELAX() ((void)0)
#endif

namespace gopp::detail {

class spinlock {
 public:
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      int spins = 0;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          GOPP_CPU_RELAX();
        } else {
          std::this_thread::yield();
          spins = 0;
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace gopp::detail
