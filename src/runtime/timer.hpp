// Timers: one min-heap of deadlines and the thread that fires them.
//
// A timer_node is intrusive: its owner (a sleeping goroutine's frame, a gopp::timer, a
// park_until) embeds it and keeps it alive until it fired or cancel() returned.
//
// Algorithm and invariants:
//   - The heap is a 4-ary array of (when, node) pairs ordered by `when`, the deadline copied in so
//     that sifting never reads the nodes themselves; each node knows its index, so cancel()
//     removes it in O(log n) instead of leaving a tombstone behind (tickers reset often).
//   - The timer thread sleeps until the earliest deadline (the runtime's idle sleep bounded by the
//     next deadline: workers themselves sleep without a time-out, and this thread wakes them by
//     making goroutines runnable). add() wakes it only when the new node becomes the earliest.
//   - fire() runs on the timer thread WITH the heap lock held. So cancel() is linearizable: once
//     it returns, the callback has either finished or will never run, and the owner may destroy
//     the node. The price: a callback must be short and must not call add/cancel; and nobody may
//     add or cancel a timer while holding a lock that a callback takes (channel locks). Between
//     batches of 64 fires the thread lets the lock go, so adds and cancels are not held up for
//     the whole of a burst (100,000 sleepers due at once).
//   - While any worker is busy the thread also wakes every 10 ms to run the scheduler's monitor
//     (scheduler::check_stuck_workers), Go's sysmon.
#pragma once

#include <chrono>
#include <cstddef>

namespace gopp::detail {

struct timer_node {
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);

  clock::time_point when{};
  void (*fire)(timer_node*) = nullptr;
  // > 0: a periodic timer (a ticker). After each fire the timer thread re-queues it at the next
  // multiple of `period` after `when` that lies in the future: ticks a slow receiver missed are
  // dropped, and the schedule does not drift.
  std::chrono::nanoseconds period{0};
  std::size_t heap_index = not_queued;  // guarded by the timer lock
};

// now + d, saturating: a huge duration means "never", not an overflow into the past (Go too).
inline std::chrono::steady_clock::time_point deadline_after(std::chrono::nanoseconds d) noexcept {
  using clock = std::chrono::steady_clock;
  const clock::time_point now = clock::now();
  if (d > clock::time_point::max() - now) return clock::time_point::max();
  return now + d;
}

namespace timers {
void start();
// Schedules `n` at n->when (which may be in the past: it fires at once). `n` must not be queued.
void add(timer_node* n);
// Unschedules `n`. True if it was pending (it will not fire); false if it already fired.
bool cancel(timer_node* n);
// Timers queued now (for tests and diagnostics).
std::size_t pending();
}  // namespace timers

}  // namespace gopp::detail
