// gopp/sync.hpp: wait_group, mutex, rw_mutex, cond, once. Go: sync.WaitGroup, sync.Mutex,
// sync.RWMutex, sync.Cond, sync.Once.
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
//   gopp::rw_mutex rw;                         // a read-mostly cache
//   { std::shared_lock r(rw); hit = cache.find(k); }     // many readers at once
//   { std::unique_lock w(rw); cache[k] = v; }            // one writer, no reader
//
//   gopp::cond ready(mu);                      // Go: sync.NewCond(&mu)
//   { std::unique_lock l(mu); while (!done) ready.wait(); }   // waiter
//   { std::lock_guard l(mu); done = true; } ready.broadcast();  // waker
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
//   - rw_mutex: Go's RWMutex algorithm (writer preference). Lockable for writers (lock, try_lock,
//     unlock) and SharedLockable for readers (lock_shared, try_lock_shared, unlock_shared), so
//     std::unique_lock and std::shared_lock work. Writers exclude each other through a gopp::mutex;
//     a writer that has announced itself makes every later lock_shared() wait, so a steady stream
//     of readers cannot starve it, and when it unlocks, the readers that queued behind it all get
//     in before the next writer. So, as in Go, recursive read locking deadlocks: a reader that
//     calls lock_shared() again while a writer waits blocks behind that writer, which waits for
//     the first read lock. An unlock happens-before every later lock or lock_shared that succeeds;
//     an unlock_shared happens-before the lock that follows it. Either lock may be released by
//     another goroutine or thread than the one that took it. Misuse is fatal, with Go's words:
//     "fatal error: sync: RUnlock of unlocked RWMutex", "fatal error: sync: Unlock of unlocked
//     RWMutex".
//   - cond: Go's Cond over a gopp::mutex. wait() must be called with the mutex held: it queues the
//     caller, unlocks, parks, and locks again before returning. signal() wakes the waiter that has
//     queued longest, broadcast() every queued waiter (Go's notify list: FIFO). A wait() that has
//     queued (under the mutex) is woken by any signal() that comes after it, even one that runs
//     before it has parked. As in Go, there are no spurious wake-ups, but the condition may have
//     changed again before the woken waiter locks: wait in a loop. signal() and broadcast() need
//     not hold the mutex. A wait() with the mutex unlocked is the mutex's fatal "unlock of unlocked
//     mutex".
//   - once: call(f) runs f exactly once among all callers; every caller returns after it has
//     finished. As Go's Once.Do, the once is done even if f throws: the exception reaches that
//     first caller, and later calls do nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "gopp/detail/sema.hpp"
#include "gopp/detail/spinlock.hpp"
#include "gopp/detail/waiter.hpp"
#include "gopp/go.hpp"

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
  // Go 1.25: wg.Go(f). add(1), then f() as a goroutine that calls done() when f returns: the
  // same as gopp::go(wg, f) (go.hpp), which says what happens when the goroutine cannot start.
  template <class F>
  void go(F&& f) {
    ::gopp::go(*this, std::forward<F>(f));
  }

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

// Go: sync.RWMutex.
class rw_mutex {
 public:
  rw_mutex() = default;
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  // Go: rw.Lock(). Waits for the writer before it, then for the readers inside.
  void lock();
  // Go: rw.TryLock(). Takes the write lock only if nobody holds either lock.
  bool try_lock() noexcept;
  // Go: rw.Unlock(). Lets in the readers that waited for this writer, then the next writer.
  void unlock();

  // Go: rw.RLock(). Waits only while a writer holds the lock or waits for it.
  void lock_shared() {
    if (reader_count_.fetch_add(1, std::memory_order_acquire) < 0) {
      reader_sem_.acquire(detail::wait_reason::mutex);  // a writer is pending: wait for its unlock
    }
  }
  // Go: rw.TryRLock().
  bool try_lock_shared() noexcept {
    std::int32_t c = reader_count_.load(std::memory_order_relaxed);
    while (c >= 0) {
      if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_acquire)) return true;
    }
    return false;
  }
  // Go: rw.RUnlock().
  void unlock_shared() {
    const std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_release) - 1;
    if (r < 0) unlock_shared_slow(r);
  }

 private:
  // Go's rwmutexMaxReaders: a writer subtracts it from reader_count_ to announce itself.
  static constexpr std::int32_t max_readers = 1 << 30;
  void unlock_shared_slow(std::int32_t r);

  mutex writer_;                               // held by the writer, and by one waiting for readers
  std::atomic<std::int32_t> reader_count_{0};  // readers in (or waiting, minus max_readers)
  std::atomic<std::int32_t> reader_wait_{0};   // readers the pending writer still waits for
  detail::sema writer_sem_;                    // the pending writer parks here
  detail::sema reader_sem_;                    // readers that came after a pending writer park here
};

// Go: sync.Cond (sync.NewCond(&mu)).
class cond {
 public:
  explicit cond(mutex& m) noexcept : mu_(&m) {}
  cond(const cond&) = delete;
  cond& operator=(const cond&) = delete;

  // Go: c.L.
  mutex& locker() const noexcept { return *mu_; }
  // Go: c.Wait(). Called with locker() held; returns with it held again.
  void wait();
  // Go: c.Signal(). Wakes the longest-waiting wait(), if any.
  void signal() noexcept;
  // Go: c.Broadcast(). Wakes every waiting wait().
  void broadcast() noexcept;

 private:
  mutex* mu_;
  detail::spinlock lock_;
  detail::waiter* head_ = nullptr;  // FIFO of queued waits, guarded by lock_
  detail::waiter* tail_ = nullptr;
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
