// Timers; the algorithm and invariants are in timer.hpp.
#include "runtime/timer.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/scheduler.hpp"

namespace gopp::detail::timers {

namespace {

using clock = timer_node::clock;

struct timer_heap {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<timer_node*> heap;
  clock::time_point sleeping_until = clock::time_point::max();

  void place(std::size_t i, timer_node* n) {
    heap[i] = n;
    n->heap_index = i;
  }
  void sift_up(std::size_t i) {
    timer_node* n = heap[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (heap[parent]->when <= n->when) break;
      place(i, heap[parent]);
      i = parent;
    }
    place(i, n);
  }
  void sift_down(std::size_t i) {
    timer_node* n = heap[i];
    const std::size_t size = heap.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && heap[child + 1]->when < heap[child]->when) ++child;
      if (n->when <= heap[child]->when) break;
      place(i, heap[child]);
      i = child;
    }
    place(i, n);
  }
  void remove(timer_node* n) {
    const std::size_t i = n->heap_index;
    timer_node* last = heap.back();
    heap.pop_back();
    n->heap_index = timer_node::not_queued;
    if (last == n) return;
    place(i, last);
    if (i > 0 && last->when < heap[(i - 1) / 2]->when) {
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
    while (!h.heap.empty() && h.heap.front()->when <= now) {
      timer_node* n = h.heap.front();
      h.remove(n);
      // Read before firing: a one-shot node may be freed by its own callback (gopp::after).
      const bool periodic = n->period.count() > 0;
      n->fire(n);
      if (periodic) {
        const auto missed = (now - n->when) / n->period;
        n->when += n->period * (missed + 1);
        h.heap.push_back(n);
        h.sift_up(h.heap.size() - 1);
      }
    }
    clock::time_point until = h.heap.empty() ? clock::time_point::max() : h.heap.front()->when;
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
    h.heap.push_back(n);
    h.sift_up(h.heap.size() - 1);
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
