// A counting semaphore of permits with a FIFO of parked waiters: the runtime semaphore Go's
// sync.RWMutex sleeps on (runtime_Semacquire / runtime_Semrelease), for rw_mutex's readers and
// writer. release() may come before the acquire() it is meant for: the permit is banked.
//
// Invariants (all under lock_): count_ > 0 only while no waiter is queued; release(n) first hands
// permits to queued waiters in arrival order (unlinked under the lock, completed after it, so no
// park or unpark is done while holding the spinlock), and banks the rest.
// acquire() first looks for a permit a few times before parking, peeking at count_ without the
// lock (only a hint: the permit is taken under lock_): a goroutine yields between looks (the
// party it waits for is often queued on its own thread), a plain thread spins. rw_mutex's
// critical sections are far shorter than a park and unpark.
#pragma once

#include <atomic>
#include <cstdint>

#include "gopp/detail/park.hpp"
#include "gopp/detail/spinlock.hpp"
#include "gopp/detail/waiter.hpp"

namespace gopp::detail {

class sema {
 public:
  sema() = default;
  sema(const sema&) = delete;
  sema& operator=(const sema&) = delete;

  // Takes one permit, parking (blocking a thread) until there is one.
  void acquire(wait_reason reason);
  // Gives n permits: wakes up to n waiters, oldest first, and banks the rest.
  void release(std::uint32_t n = 1) noexcept;

 private:
  spinlock lock_;
  std::atomic<std::uint32_t> count_{0};  // banked permits; written under lock_, peeked without
  waiter* head_ = nullptr;               // FIFO of parked acquirers, guarded by lock_
  waiter* tail_ = nullptr;
};

}  // namespace gopp::detail
