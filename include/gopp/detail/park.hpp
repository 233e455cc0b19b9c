// The parking primitive: the one seam between Go-level objects (channels, select, sync, timers)
// and the runtime. Nothing above this header touches run queues or threads.
//
// A parker belongs to one goroutine, or to one plain thread (main, std::thread). It holds a
// single wake-up token, like Rust's thread::park:
//   - park() consumes the token, blocking until there is one. Inside a goroutine it parks only
//     the goroutine (its OS thread goes on running others); on a plain thread it blocks the thread
//     in the kernel (futex), with no busy waiting.
//   - unpark() gives the token, from any thread, and makes a parked owner runnable.
// Invariants:
//   - No lost wake-up: an unpark() that happens before park() makes park() return at once.
//   - No double wake-up: a parked goroutine is made runnable exactly once per park, however many
//     unpark() calls race; surplus calls leave one token, so park() may return "spuriously".
//     Every caller therefore waits in a loop on its own condition: `while (!done) p.park();`.
//   - A waker writes its result before unpark() and touches the waiter no more after it: the
//     waiter may return and destroy it as soon as it sees the result, and a thread may even end.
//     The parker itself outlives every unpark aimed at it, from any thread (a channel's waker,
//     a timer, the poller): a goroutine's parker lives in its goroutine record, and a thread's is
//     a record from a pool that is never freed, taken when the thread first needs a parker and
//     given back when it ends. Records are reused, goroutine and thread alike, so an unpark that
//     lands late may reach the parker's next owner: that only leaves a surplus token (a spurious
//     return from park(), which the loop below absorbs), never a write to freed memory.
//   - Memory order: everything a waker wrote before unpark() happens-before park() returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "gopp/detail/link_check.hpp"

namespace gopp::detail {

struct goroutine;
goroutine* allocate_goroutine();

class parker {
 public:
  parker() = default;
  parker(const parker&) = delete;
  parker& operator=(const parker&) = delete;

  // Blocks until a token is available, then consumes it.
  void park();
  // As park(), but gives up at `deadline`; returns false on time-out (the token may still arrive
  // later and be left for the next park).
  bool park_until(std::chrono::steady_clock::time_point deadline);
  // Gives the token; wakes the owner if it is parked. Safe from any thread, any number of times.
  void unpark() noexcept;

  // For the runtime: the goroutine that owns this parker (nullptr for a plain thread).
  goroutine* owner() const noexcept { return owner_; }

 private:
  friend goroutine* allocate_goroutine();
  friend class scheduler;
  enum : std::uint32_t { empty = 0, parked = 1, notified = 2 };
  std::atomic<std::uint32_t> state_{empty};
  goroutine* owner_ = nullptr;
};

// The parker of whoever is running: the current goroutine's, or the current thread's.
parker& current_parker() noexcept;

// Why a goroutine is parked, for the diagnostic dump of parked goroutines (Go's wait reasons).
enum class wait_reason : std::uint8_t {
  none,
  chan_receive,
  chan_send,
  select,
  select_no_cases,
  sleep,
  wait_group,
  mutex,
  sync_cond,
  future,
  io_wait,
  errgroup_limit,  // group::go() waiting for a slot of set_limit
};
// Sets the wait reason shown for the current goroutine until its next resume (no-op on a thread).
void set_wait_reason(wait_reason r) noexcept;

}  // namespace gopp::detail
