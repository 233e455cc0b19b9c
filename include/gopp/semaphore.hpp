// gopp/semaphore.hpp: a weighted semaphore. Go: golang.org/x/sync/semaphore.Weighted.
//
//   gopp::semaphore sem(64 << 20);                    // at most 64 MiB of buffers in flight
//   for (const job& j : jobs) {
//     if (std::error_code e = sem.acquire(ctx, j.bytes)) return e;   // ctx ended first
//     gopp::go([&sem, j] {
//       process(j);
//       sem.release(j.bytes);
//     });
//   }
//
// Contract (Go's Weighted, word for word where Go says something):
//   - semaphore(size): `size` permits, none held. Waiters are served strictly in arrival order:
//     while anybody waits, a newcomer queues behind it even if enough permits are free, so a
//     large request is never starved by a stream of small ones.
//   - acquire(ctx, n) takes n permits, parking the goroutine (blocking a plain thread) until they
//     are free. It returns {} on success, or ctx.err() without having taken anything:
//       * if ctx has already ended when acquire is called (even if permits are free: Go prefers
//         to fail);
//       * if ctx ends while it waits (its queue place is given up, and if it was first in line
//         the waiters behind it are served from the permits free now);
//       * if ctx ends after the permits were handed over but before acquire returned (they are
//         released again, as Go's Acquire does).
//     acquire(ctx, n) with n greater than the size can never succeed: as Go does, it does not
//     queue (so it never holds up anybody), waits until ctx ends and returns ctx.err(). It
//     returns at once when ctx has already ended, and with background() (or any context that
//     can never end) it blocks forever, exactly as Go's Acquire does.
//   - try_acquire(n) takes n permits only if they are free and nobody waits; never blocks.
//   - release(n) gives back n permits and serves the waiters in order, as far as the free
//     permits go (it stops at the first waiter it cannot serve). Releasing more than is held
//     throws std::logic_error("semaphore: released more than held") (Go's panic) and changes
//     nothing.
//   - Memory: a release(n) happens-before the acquire it lets through returns.
//   - The semaphore must outlive every call on it. Any goroutine or thread may release permits
//     another took.
// Cost: acquire and release are a spinlock's critical section each when nobody waits; a waiter
// parks on its own stack node. Only a waiter whose ctx can end allocates: its cancellation hook
// (a context listener).
#pragma once

#include <cstdint>
#include <system_error>

#include "gopp/context.hpp"
#include "gopp/detail/spinlock.hpp"
#include "gopp/detail/waiter.hpp"

namespace gopp {

// Go: semaphore.Weighted (semaphore.NewWeighted(size)).
class semaphore {
 public:
  explicit semaphore(std::int64_t size) noexcept : size_(size) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  // Go: s.Acquire(ctx, n). {} once n permits are held, else ctx.err() (see above).
  [[nodiscard]] std::error_code acquire(const context& ctx, std::int64_t n);
  // Go: s.TryAcquire(n).
  [[nodiscard]] bool try_acquire(std::int64_t n) noexcept;
  // Go: s.Release(n).
  void release(std::int64_t n);

  // The size given at construction, and the permits held now (a snapshot, for tests and
  // metrics; Go has neither).
  std::int64_t size() const noexcept { return size_; }
  std::int64_t held() const noexcept;

 private:
  // One blocked acquire, on its stack. `sel` is claimed either by a release (case granted) or
  // by ctx's cancellation (case cancelled); see src/semaphore.cpp.
  struct waiter {
    waiter* prev = nullptr;
    waiter* next = nullptr;
    std::int64_t n = 0;
    detail::select_state* sel = nullptr;
    bool in_queue = false;
  };
  void push_back(waiter* w) noexcept;
  void unlink(waiter* w) noexcept;
  // Unlinks the waiters that the free permits now cover, in order; returns them chained
  // through `next`, for wake() to complete after the lock is released.
  waiter* take_served() noexcept;
  static void wake(waiter* list) noexcept;

  const std::int64_t size_;
  mutable detail::spinlock lock_;
  std::int64_t cur_ = 0;    // permits held, guarded by lock_
  waiter* head_ = nullptr;  // FIFO of blocked acquires, guarded by lock_
  waiter* tail_ = nullptr;
};

}  // namespace gopp
