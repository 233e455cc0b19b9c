// Timers: a min-heap of deadlines per worker (plus one for plain threads), fired by the workers
// that own them, and a timer thread that watches every heap's earliest deadline.
//
// A timer_node is intrusive: its owner (a sleeping goroutine's frame, a gopp::timer, a
// park_until) embeds it and keeps it alive until it fired or cancel() returned.
//
// Algorithm and invariants:
//   - add() puts a node in the heap of the worker it runs on (Go's per-P timers), or in the shared
//     heap on a plain thread. So goroutines on different workers starting sleeps at once do not
//     meet on one lock: 100,000 sleepers went from one contended lock per sleep to none. A node
//     records its heap (`home`), so cancel() from any thread finds it.
//   - Each heap orders its nodes in a deadline_queue (deadline_queue.hpp): deadlines added in
//     order (sleeps of one duration) go to an O(1) run, the rest to a 4-ary heap; each node knows
//     its position, so cancel() removes it at once instead of leaving it behind (tickers reset
//     often). A heap publishes its earliest deadline in an atomic, for the timer thread to read
//     without its lock.
//   - Work a callback may not do under the lock goes through after_unlock(): it runs on the
//     firing thread after the batch, with the lock let go (after_func's go()).
//   - fire() runs WITH the heap's lock held. So cancel() is linearizable: once it returns, the
//     callback has either finished or will never run, and the owner may destroy the node. The
//     price: a callback must be short and must not call add/cancel; and nobody may add or cancel
//     a timer while holding a lock that a callback takes (channel locks). Between batches of 64
//     fires the lock is let go, so a cancel is not held up for the whole of a burst.
//   - The timer thread sleeps until the earliest deadline of all heaps (the runtime's idle sleep
//     bounded by the next deadline: workers themselves sleep without a time-out). When a
//     worker's heap is due, the thread sets the worker's `timers_due` flag; the worker fires its
//     own timers the next time it looks for work (run_due), so a burst of expiries is spread
//     over the workers and each woken goroutine lands in the local run queue of the worker that
//     fired it, not in the global queue. The thread fires a worker's heap itself when that
//     worker sleeps (a seq_cst flag/asleep handshake: one of the two always sees the other), or
//     when the flag is still unseen after `stuck_grace` (a goroutine that never switches holds
//     the worker). The shared heap it always fires itself.
//   - Sleeping and adding: the thread publishes `sleeping_until` (seq_cst), then reads every
//     heap's earliest again before it waits; add() publishes a new earliest (seq_cst), then reads
//     `sleeping_until` and notifies if it is later. Whichever comes second sees the other, so
//     an earlier deadline never waits for a later wake-up.
//   - While any worker is busy the thread also wakes every 10 ms to run the scheduler's monitor
//     (scheduler::check_stuck_workers), Go's sysmon.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

namespace gopp::detail {

struct timer_heap;  // timer.cpp
struct worker;      // scheduler.hpp

struct timer_node {
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);

  clock::time_point when{};
  void (*fire)(timer_node*) = nullptr;
  // > 0: a periodic timer (a ticker). After each fire it is re-queued at the next multiple of
  // `period` after `when` that lies in the future: ticks a slow receiver missed are dropped, and
  // the schedule does not drift.
  std::chrono::nanoseconds period{0};
  std::size_t heap_index = not_queued;  // its place in the deadline_queue of `home`, under its lock
  // What `fire` touches first, if known (a sleeper's parker): loaded ahead of a burst of fires.
  const void* touches = nullptr;
  std::atomic<timer_heap*> home{nullptr};  // the heap add() last put it in
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
// Schedules `n` at n->when (which may be in the past: it fires soon). `n` must not be queued.
void add(timer_node* n);
// Unschedules `n`. True if it was pending (it will not fire); false if it already fired.
bool cancel(timer_node* n);
// Timers queued now, in all heaps (for tests and diagnostics).
std::size_t pending();

// For a callback that must do what a fire may not (start a goroutine: go() may map a stack,
// allocate or throw): queues run(arg) to run on the firing thread once the heap lock is let go,
// right after the batch of fires it belongs to. At most one per fire (a batch holds up to 64).
void after_unlock(void (*run)(std::shared_ptr<void>), std::shared_ptr<void> arg) noexcept;

// The scheduler's side. attach() makes worker `w`'s heap (before `w` runs). run_due() is called
// by `w`'s loop, with no goroutine running, when w->timers_due is set: it fires w's due timers.
timer_heap* attach(worker* w);
void run_due(worker* w);
}  // namespace timers

}  // namespace gopp::detail
