// The M:N scheduler: `threads` workers (OS threads), each running goroutines from its own run
// queue, Go-style (runtime/proc.go, much reduced: there is one worker per P and no M hand-off,
// because a goroutine never blocks its thread in a system call: gopp::blocking moves such calls
// off the workers).
//
// Where a worker finds its next goroutine, in order:
//   1. every 61st pick, the global queue first (so goroutines woken from outside are not starved
//      by a busy local queue, Go's schedtick % 61);
//   2. `runnext`: the goroutine this worker's running goroutine just woke, so a ping-pong pair
//      stays on one thread and shares a warm cache; at most 64 picks in a row, then the queue;
//   3. its local run queue (run_queue.hpp);
//   4. the global queue (a batch of up to half a local queue, under one lock);
//   5. the network poller, without blocking, when it has descriptors and nobody blocks in it
//      (netpoll.hpp): the goroutines whose sockets became ready join the local queue;
//   6. as a "spinning" worker, stealing what has waited (the wake policy below).
// With nothing found, a worker sleeps on its own futex word, except that once the program has
// opened a descriptor, the first worker to go to sleep while nobody else does blocks in the
// network poller instead (Go's "last M blocks in netpoll"): a socket becoming ready then wakes
// it directly, and a waker that picks it interrupts the poll (an eventfd write).
//
// The wake policy: a readied goroutine runs where its data is unless it would wait.
//   - ready() puts the goroutine in its waker's `runnext` (the pair shares a warm cache) and, if
//     no worker spins and one sleeps, wakes one (Go's wakep). The relaxed pre-check may miss a
//     worker that is registering as idle at that instant; the monitor bounds that case.
//   - A spinning worker (steal_waiting) takes at once what nobody runs (the global queue, the
//     network poller), but another worker's goroutines only once they have waited there
//     `steal_after` (20 us): a run queue whose front has not moved, or a `runnext` holding the
//     same goroutine while its worker has not switched. It only reads the other workers' state
//     until then. So a partner that blocks within microseconds keeps its readied goroutine on its
//     own core (ping-pong, a select draining producers, a pipeline whose steps are tiny), and a
//     waker that computes on loses it to the idle core after 20 us instead of stranding it until
//     it blocks.
//   - A spinner looks (every ~16 us) for up to `spin_for` (200 us) before it sleeps: while one
//     spins, ready() wakes nobody, so a program that readies goroutines all the time pays one
//     wake-up per 200 us, not one per hand-off.
//   Invariant: a goroutine made runnable while a worker is idle waits at most steal_after plus
//   one wake-up (or, missed by the pre-check, one monitor period) while its worker runs something
//   else. Measured on (2 cores): B11 wake latency (send, then 20 ms of computing): p50 from
//   20 ms or 16 us (bimodal, stranded behind the waker) to 24-37 us; tests/go_wake_test.cpp
//   fails 5/5 with the old policy. Throughput figures are in the commit that made this policy.
//
// Sleeping and waking (no lost wake-up, no thundering herd), as Go's wakep/resetspinning:
//   - n_spinning counts workers looking for work; n_idle those asleep (in idle_list).
//   - Whoever makes a goroutine runnable then calls wake_idle(): if nobody spins and somebody
//     sleeps, it wakes one sleeper, which starts out spinning.
//   - A spinning worker that finds work stops spinning and, if it was the last spinner, wakes
//     another: work arrives in bursts, and the next goroutine should not wait for a wake-up.
//   - A worker going to sleep registers as idle, stops spinning, then (after a seq_cst fence)
//     checks every queue once more. A producer publishes its goroutine, fences, then reads the
//     counters. Whichever of the two comes second in the fences' total order sees the other:
//     either the producer wakes someone, or the sleeper finds the goroutine.
//   - The timer thread (timer.hpp) doubles as Go's sysmon: while work is queued behind a worker
//     that has not switched for a while and others sleep, it wakes one to steal it; and when
//     every worker is busy and nobody has polled the network for 10 ms, it polls.
//
// Switching: a worker's loop runs on the thread's own stack (its "scheduler context"); it switches
// into a goroutine and the goroutine switches back with a request (yield, park, exit). Requests
// are carried out by the worker after the switch, once the goroutine's context is saved: this is
// what lets a park race safely with an unpark from another thread (park.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/fiber.hpp"
#include "runtime/goroutine.hpp"
#include "runtime/run_queue.hpp"
#include "runtime/timer.hpp"

namespace gopp::detail {

enum class switch_request : std::uintptr_t { yield = 1, park = 2, exit = 3 };

struct worker {
  unsigned index = 0;
  run_queue runq;
  alignas(64) std::atomic<goroutine*> runnext{nullptr};
  unsigned runnext_streak = 0;
  std::uint32_t schedtick = 0;
  std::atomic<std::uint32_t> switches{0};  // read by the monitor to see a worker stuck on one g
  goroutine* current = nullptr;
  fiber_context sched;     // the worker loop's own context
  eh_state* eh = nullptr;  // this thread's C++ exception state (fiber.hpp: thread_eh_state)
  bool spinning = false;
  std::uint64_t rng = 0;
  timer_heap* timers = nullptr;  // the deadlines of sleeps begun on this worker (timer.hpp)

  // Sleep: the worker waits on `wake_word` while it is in the idle list, first polling it, then
  // in the kernel (in_futex). A waker sets `woken`, and makes the futex call only for in_futex.
  // A worker blocked in the network poller instead of its futex (netpoll.hpp) is `in_poll`: a
  // waker then interrupts the poll.
  static constexpr std::uint32_t waiting = 0, woken = 1, in_futex = 2, in_poll = 3;
  alignas(64) std::atomic<std::uint32_t> wake_word{waiting};
  worker* next_idle = nullptr;
  bool in_idle_list = false;  // guarded by scheduler::idle_mu_
  // The timer thread's handshake with this worker (timer.hpp): it sets timers_due when the heap
  // has due timers, and fires them itself while `asleep` (this worker is in sleep()).
  std::atomic<bool> timers_due{false};
  std::atomic<bool> asleep{false};

  goroutine* batch[run_queue::capacity / 2 + 1];  // scratch for global-queue transfers

  // What this worker, spinning, last saw of each other worker (scheduler::steal_waiting): work
  // still in the same place `steal_after` later has waited that long, and is taken.
  struct sighting {
    std::uint32_t head = 0;  // the victim's run queue front
    bool had_queue = false;
    std::int64_t queue_since = 0;  // ns: since when the front has not moved
    goroutine* runnext = nullptr;
    std::uint32_t switches = 0;
    std::int64_t runnext_since = 0;  // ns: since when runnext and the switch count stand still
  };
  std::vector<sighting> sightings;  // indexed by worker; sized before the worker runs
};

class scheduler {
 public:
  static scheduler& instance();  // starts the runtime on first use
  static scheduler* if_started() noexcept;

  unsigned threads() const noexcept { return static_cast<unsigned>(workers_.size()); }

  // A new goroutine: onto the current worker's queue, or the global queue from a plain thread.
  void spawn(goroutine* g);
  // A parked goroutine became runnable (park.cpp): runnext of the current worker; the local
  // queue when a worker's loop fires its timers; else the global queue.
  void ready(goroutine* g);

  // Called by the running goroutine: switch to the worker loop with a request.
  void yield_current();
  void park_current();
  [[noreturn]] void exit_current();

  // For the monitor in the timer thread: wake a sleeper if work waits behind a busy worker.
  void check_stuck_workers();
  // The monitor's network poll: when nobody blocks in the poller and nobody has polled for
  // 10 ms (every worker is busy), poll once without blocking.
  void poll_network_if_stale();
  // A descriptor was opened, or a plain thread waits on one: make sure somebody will poll.
  void ensure_poller();
  bool any_worker_busy() const noexcept {
    return n_idle_.load(std::memory_order_relaxed) < static_cast<int>(workers_.size());
  }

 private:
  explicit scheduler(unsigned threads);
  void run_worker(worker* w);
  goroutine* find_runnable(worker* w);
  goroutine* steal_waiting(worker* w);
  void wake_if_nobody_looks();
  goroutine* global_get(worker* w, bool batch);
  void global_put(goroutine* const* items, std::size_t n);
  void push_local(worker* w, goroutine* g);
  void wake_idle();
  void stop_spinning(worker* w);
  bool work_anywhere() const noexcept;
  bool global_nonempty() const noexcept {
    return global_size_.load(std::memory_order_seq_cst) > 0 ||
           inject_count_.load(std::memory_order_seq_cst) > 0;
  }
  void sleep(worker* w);
  void execute(worker* w, goroutine* g);
  void switch_out(switch_request r);

  std::vector<worker*> workers_;
  // The monitor's (the timer thread's) record of each worker's switch count at its last look.
  // Sized here, so that the runtime's background threads allocate nothing once it runs.
  std::vector<std::uint32_t> monitor_last_seen_;
  std::vector<std::thread> threads_;

  // Goroutines made runnable by plain threads (spawned from main, woken by a std::thread or the
  // timer thread) enter through a Vyukov intrusive MPSC queue: a push is one exchange, so main
  // spawning a million goroutines never contends with the workers' lock, and a pop (by whoever
  // holds global_mu_) is O(1), so a long queue is never walked under the lock. `inject_count_`
  // says whether it is empty: the queue's own pointers cannot say so to other threads exactly.
  alignas(64) std::atomic<goroutine*> inject_tail_;
  alignas(64) std::atomic<std::size_t> inject_count_{0};
  goroutine* inject_head_;  // guarded by global_mu_
  goroutine inject_stub_;
  void inject(goroutine* g) noexcept;
  void inject_link(goroutine* g) noexcept;
  goroutine* inject_pop_locked() noexcept;

  alignas(64) std::mutex global_mu_;
  goroutine_ring global_;                    // guarded by global_mu_
  std::atomic<std::size_t> global_size_{0};  // global_.size(), for checks without the lock

  std::mutex idle_mu_;
  worker* idle_list_ = nullptr;
  alignas(64) std::atomic<int> n_idle_{0};
  alignas(64) std::atomic<int> n_spinning_{0};
  // A worker is blocked in netpoll::poll(-1) (at most one at a time).
  alignas(64) std::atomic<bool> poller_blocked_{false};
  bool sleep_in_poller(worker* w);
};

// The worker this thread is (nullptr on plain threads). Never cache its result across a switch.
worker* current_worker() noexcept;

}  // namespace gopp::detail
