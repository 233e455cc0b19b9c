// Timers; the algorithm and invariants are in timer.hpp.
#include "runtime/timer.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/scheduler.hpp"

namespace gopp::detail::timers {

namespace {

using clock = timer_node::clock;

// A 4-ary min-heap of (deadline, node) pairs. The deadline is copied into the array so that
// sifting compares entries of one array: the nodes live on goroutine stacks all over memory, and
// reading each one's `when` cost a cache and TLB miss per comparison (100,000 sleepers spent most
// of the timer thread's time there). Four children per node halve the depth for the same reason
// (Go's timer heap is 4-ary too); a move still writes the moved node's heap_index.
struct timer_heap {
  struct entry {
    clock::time_point when;
    timer_node* node;
  };
  static constexpr std::size_t arity = 4;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<entry> heap;
  clock::time_point sleeping_until = clock::time_point::max();

  void place(std::size_t i, entry e) {
    heap[i] = e;
    e.node->heap_index = i;
  }
  void push(timer_node* n) {
    heap.push_back({n->when, n});
    sift_up(heap.size() - 1);
  }
  void sift_up(std::size_t i) {
    const entry e = heap[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / arity;
      if (heap[parent].when <= e.when) break;
      place(i, heap[parent]);
      i = parent;
    }
    place(i, e);
  }
  void sift_down(std::size_t i) {
    const entry e = heap[i];
    const std::size_t size = heap.size();
    for (;;) {
      const std::size_t first = arity * i + 1;
      if (first >= size) break;
      std::size_t child = first;
      const std::size_t last = std::min(first + arity, size);
      for (std::size_t c = first + 1; c < last; ++c) {
        if (heap[c].when < heap[child].when) child = c;
      }
      if (e.when <= heap[child].when) break;
      place(i, heap[child]);
      i = child;
    }
    place(i, e);
  }
  void remove(timer_node* n) {
    const std::size_t i = n->heap_index;
    const entry last = heap.back();
    heap.pop_back();
    n->heap_index = timer_node::not_queued;
    if (last.node == n) return;
    place(i, last);
    if (i > 0 && last.when < heap[(i - 1) / arity].when) {
      sift_up(i);
    } else {
      sift_down(i);
    }
  }
};

timer_heap& the_heap() {
  static auto* h = new timer_heap;  // never destroyed: timers may be touched during exit
  return *h;
}

void run() {
  timer_heap& h = the_heap();
  std::unique_lock lock(h.mu);
  for (;;) {
    const clock::time_point now = clock::now();
    std::size_t fired = 0;
    while (!h.heap.empty() && h.heap.front().when <= now) {
      timer_node* n = h.heap.front().node;
      h.remove(n);
      // Read before firing: a one-shot node may be freed by its own callback (gopp::after).
      const bool periodic = n->period.count() > 0;
      n->fire(n);
      if (periodic) {
        const auto missed = (now - n->when) / n->period;
        n->when += n->period * (missed + 1);
        h.push(n);
      }
      // Let add() and cancel() in between batches: 100,000 timers due at once would otherwise
      // hold every sleeper that wakes (its cancel) and every new one (its add) for the whole run.
      if (++fired % 64 == 0) {
        lock.unlock();
        lock.lock();
      }
    }
    clock::time_point until = h.heap.empty() ? clock::time_point::max() : h.heap.front().when;
    scheduler* s = scheduler::if_started();
    const bool monitor = s && s->any_worker_busy();
    if (monitor) until = std::min(until, now + std::chrono::milliseconds(10));
    h.sleeping_until = until;
    if (until == clock::time_point::max()) {
      h.cv.wait(lock);
    } else {
      h.cv.wait_until(lock, until);
    }
    h.sleeping_until = clock::time_point::min();  // awake: add() need not notify
    if (monitor) {
      lock.unlock();
      s->check_stuck_workers();
      lock.lock();
    }
  }
}

}  // namespace

void start() {
  static std::once_flag once;
  std::call_once(once, [] { std::thread(run).detach(); });
}

void add(timer_node* n) {
  start();  // a timer may be the first thing a program uses (gopp::after on main)
  timer_heap& h = the_heap();
  bool wake = false;
  {
    std::lock_guard lock(h.mu);
    h.push(n);
    wake = n->heap_index == 0 && n->when < h.sleeping_until;
    if (wake) h.sleeping_until = n->when;
  }
  if (wake) h.cv.notify_one();
}

bool cancel(timer_node* n) {
  timer_heap& h = the_heap();
  std::lock_guard lock(h.mu);
  if (n->heap_index == timer_node::not_queued) return false;
  h.remove(n);
  return true;
}

std::size_t pending() {
  timer_heap& h = the_heap();
  std::lock_guard lock(h.mu);
  return h.heap.size();
}

}  // namespace gopp::detail::timers
