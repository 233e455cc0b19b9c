// A test-and-test-and-set spin lock for the short critical sections of channels and sync
// objects (a few loads and stores, never a park or a system call while held). A futex-backed
// mutex costs a system call on contention; these sections are shorter than that call.
//
// Contention is handled by exponential backoff between attempts (1, 2, 4 ... 256 pauses), and
// the waiter neither writes nor reads the lock's line while it backs off. Why: moving a cache
// line between two cores costs about 230 ns on the 2-core machine we measure on (a pause is 31
// ns), and a waiter that polls the line every pause pulls it away from the holder, whose unlock
// and next lock then each wait for it to come back. Backing off lets the holder finish bursts of
// operations with the line in its own cache: an unfair lock, but channels under contention go
// several times faster (bench B3, 4x4 goroutines on one buffered channel: 138 -> 19 ns per item;
// B5: 205 -> 59 ms; B1, B2, B7 unchanged; Go 60 ns and 124 ms, same run). After about 4096
// pauses (some 130 us) it yields the OS thread, so a holder preempted by the kernel gets to run.
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
  static constexpr unsigned max_backoff = 256;   // pauses between two looks at the lock
  static constexpr unsigned yield_after = 4096;  // pauses before the OS thread yields

 public:
  void lock() noexcept {
    unsigned backoff = 1, spent = 0;
    while (!try_lock()) {
      for (unsigned i = 0; i < backoff; ++i) GOPP_CPU_RELAX();
      spent += backoff;
      if (backoff < max_backoff) backoff *= 2;
      if (spent >= yield_after) {
        std::this_thread::yield();
        spent = 0;
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
