// gopp/sync.hpp: wait_group, mutex, once. Go: sync.WaitGroup, sync.Mutex, sync.Once.
//
//   gopp::wait_group wg;
//   for (int i = 0; i < 3; ++i) {
//     wg.add(1);
//     gopp::go([&wg] { work(); wg.done(); });
//   }
//   wg.wait();                      // parks the goroutine (blocks a plain thread)
//
//   gopp::mutex mu;
//   { std::lock_guard lock(mu); ++shared; }   // fiber-aware: a waiting goroutine parks
//
// Contracts:
//   - wait_group: done() happens-before the wait() it releases returns. A counter that goes
//     negative throws std::logic_error("sync: negative WaitGroup counter") and the add is undone.
//     As in Go, a new round's add() must come after every wait() of the previous round has
//     returned; a wait() that finds one came first throws std::logic_error("sync: WaitGroup is
//     reused before previous Wait has returned").
//     The wait_group may be destroyed as soon as wait() returns, even while the done() that
//     released it is still returning (it touches nothing of the wait_group after that point).
//   - mutex: Lockable (lock, try_lock, unlock), so std::lock_guard / std::unique_lock work. A
//     goroutine blocked in lock() parks; its thread runs others. An unlock happens-before the next
//     lock that succeeds. As in Go, a mutex locked by one goroutine may be unlocked by another.
//     Unlocking an unlocked mutex prints "fatal error: sync: unlock of unlocked mutex" and aborts
//     (Go's fatal error; an exception cannot leave lock_guard's destructor). Not recursive.
//     Fairness is Go's. In normal mode unlock() wakes the longest waiter, which then competes
//     for the mutex with lockers arriving meanwhile (who often win: they are already running on
//     a CPU); a woken waiter that loses waits again at the front of the queue. A waiter that has
//     waited more than 1 ms switches the mutex to starvation mode: unlock() then hands it to the
//     first waiter directly, in arrival order, and newcomers queue behind instead of barging. It
//     goes back to normal mode when a waiter that waited less than 1 ms, or the last waiter, gets
//     it. So no waiter waits for ever, and under contention the mutex keeps passing among
//     running lockers instead of paying a wake-up per hand-over (a lock convoy).
//   - once: call(f) runs f exactly once among all callers; every caller returns after it has
//     finished. As Go's Once.Do, the once is done even if f throws: the exception reaches that
//     first caller, and later calls do nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "gopp/detail/spinlock.hpp"
#include "gopp/detail/waiter.hpp"

namespace gopp {

// Go: sync.WaitGroup.
class wait_group {
 public:
  wait_group() = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  void add(std::ptrdiff_t n = 1);
  void done() { add(-1); }
  void wait();

 private:
  // Go's packing: the counter in the high 32 bits, waiters in the low 32, so a done() that takes
  // the counter to zero learns in the same atomic step whether anybody must be woken.
  std::atomic<std::uint64_t> state_{0};
  detail::spinlock lock_;
  detail::waiter* waiters_ = nullptr;   // guarded by lock_
  std::uint32_t pending_releases_ = 0;  // guarded by lock_: wake-ups for waiters not queued yet
};

// Go: sync.Mutex.
class mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    std::uint32_t expected = 0;
    if (state_.compare_exchange_strong(expected, locked_bit, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock() noexcept {
    std::uint32_t old = state_.load(std::memory_order_relaxed);
    if (old & (locked_bit | starving_bit)) return false;
    return state_.compare_exchange_strong(old, old | locked_bit, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() {
    const std::uint32_t now = state_.fetch_sub(locked_bit, std::memory_order_release) - locked_bit;
    if (now != 0) unlock_slow(now);
  }

 private:
  // state_: locked, woken (a waiter is awake and will compete: unlock() need wake no other),
  // starving (starvation mode), and the number of waiters above them.
  static constexpr std::uint32_t locked_bit = 1, woken_bit = 2, starving_bit = 4;
  static constexpr std::uint32_t waiter_shift = 3, one_waiter = 1u << waiter_shift;

  void lock_slow();
  void unlock_slow(std::uint32_t now);
  // The queue of waiters, a semaphore: release() wakes the first waiter, or leaves a token for
  // the next acquire() when nobody is queued yet.
  void sem_acquire(bool at_front);
  void sem_release();

  std::atomic<std::uint32_t> state_{0};
  detail::spinlock queue_lock_;
  detail::waiter* head_ = nullptr;  // guarded by queue_lock_
  detail::waiter* tail_ = nullptr;
  std::uint32_t tokens_ = 0;
};

// Go: sync.Once.
class once {
 public:
  template <class F>
  void call(F&& f) {
    if (done_.load(std::memory_order_acquire)) return;
    std::lock_guard lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return;
    struct mark_done {
      std::atomic<bool>& d;
      ~mark_done() { d.store(true, std::memory_order_release); }
    } guard{done_};
    std::invoke(std::forward<F>(f));
  }

 private:
  std::atomic<bool> done_{false};
  mutex mu_;
};

}  // namespace gopp
