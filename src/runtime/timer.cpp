// Timers; the algorithm and invariants are in timer.hpp.
#include "runtime/timer.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/scheduler.hpp"

namespace gopp::detail {

using clock = timer_node::clock;

namespace {
constexpr std::int64_t never = INT64_MAX;

std::int64_t ticks(clock::time_point t) noexcept {
  return t.time_since_epoch().count();
}
}  // namespace

// A 4-ary min-heap of (deadline, node) pairs. The deadline is copied into the array so that
// sifting compares entries of one array: the nodes live on goroutine stacks all over memory, and
// reading each one's `when` cost a cache and TLB miss per comparison (100,000 sleepers spent most
// of the timer thread's time there). Four children per node halve the depth for the same reason
// (Go's timer heap is 4-ary too); a move still writes the moved node's heap_index.
struct alignas(64) timer_heap {
  struct entry {
    clock::time_point when;
    timer_node* node;
  };
  static constexpr std::size_t arity = 4;

  explicit timer_heap(worker* w) : owner(w) {}

  worker* const owner;  // nullptr: the shared heap of plain threads
  std::mutex mu;
  std::vector<entry> heap;  // guarded by mu
  // Ticks of heap.front().when, written under mu. On a line of its own: the timer thread reads
  // it while the owner takes `mu` for every sleep.
  alignas(64) std::atomic<std::int64_t> earliest{never};
  // The timer thread's own: when it set owner->timers_due, and the earliest deadline it last saw.
  clock::time_point flagged_at{};
  std::int64_t seen_earliest = never;

  void publish_earliest() {
    const std::int64_t e = heap.empty() ? never : ticks(heap.front().when);
    if (earliest.load(std::memory_order_relaxed) != e) {
      earliest.store(e, std::memory_order_seq_cst);
    }
  }
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

  // Fires every node due at `now`, the lock taken here. Returns how many fired.
  std::size_t fire_due(clock::time_point now) {
    std::unique_lock lock(mu);
    std::size_t fired = 0;
    while (!heap.empty() && heap.front().when <= now) {
      timer_node* n = heap.front().node;
      remove(n);
      // Read before firing: a one-shot node may be freed by its own callback (gopp::after).
      const bool periodic = n->period.count() > 0;
      n->fire(n);
      if (periodic) {
        const auto missed = (now - n->when) / n->period;
        n->when += n->period * (missed + 1);
        push(n);
      }
      // Let add() and cancel() in between batches: 100,000 timers due at once would otherwise
      // hold every sleeper that wakes (its cancel) and every new one (its add) for the whole run.
      if (++fired % 64 == 0) {
        publish_earliest();
        lock.unlock();
        lock.lock();
      }
    }
    publish_earliest();
    return fired;
  }
};

namespace timers {

namespace {

// How long the timer thread lets a busy worker's due timers wait for that worker before it
// fires them itself: the worker looks at its flag every time it picks a goroutine, so only one
// that runs a goroutine which does not switch misses it for this long.
constexpr auto stuck_grace = std::chrono::microseconds(200);

struct timer_thread {
  std::mutex mu;  // guards the registry and the condition variable's wait
  std::condition_variable cv;
  std::vector<timer_heap*> registry;       // guarded by mu; heaps are never destroyed
  std::atomic<std::size_t> generation{0};  // bumped when registry grows
  // Ticks until which the thread sleeps; `never` while it waits with no deadline, INT64_MIN
  // while it is awake (then add() need not notify: the thread looks at every heap before it
  // sleeps again).
  std::atomic<std::int64_t> sleeping_until{INT64_MIN};
  timer_heap shared{nullptr};
};

timer_thread& the_thread() {
  static auto* t = [] {
    auto* p = new timer_thread;  // never destroyed: timers may be touched during exit
    p->registry.push_back(&p->shared);
    return p;
  }();
  return *t;
}

// Fires what is due in `h` for the timer thread: the shared heap and sleeping or stuck workers'
// heaps at once, a busy worker's by flagging it. Returns the time the thread must look again.
clock::time_point service(timer_heap& h, clock::time_point now) {
  h.seen_earliest = h.earliest.load(std::memory_order_seq_cst);
  if (h.seen_earliest > ticks(now)) return clock::time_point(clock::duration(h.seen_earliest));
  worker* w = h.owner;
  if (w) {
    if (!w->timers_due.load(std::memory_order_relaxed)) {
      h.flagged_at = now;
      w->timers_due.store(true, std::memory_order_seq_cst);
    }
    const bool asleep = w->asleep.load(std::memory_order_seq_cst);
    if (!asleep && now - h.flagged_at < stuck_grace) return h.flagged_at + stuck_grace;
  }
  h.fire_due(now);
  h.seen_earliest = h.earliest.load(std::memory_order_relaxed);
  return clock::time_point(clock::duration(h.seen_earliest));
}

void run() {
  timer_thread& t = the_thread();
  std::vector<timer_heap*> heaps;
  std::size_t seen_generation = static_cast<std::size_t>(-1);
  for (;;) {
    if (t.generation.load(std::memory_order_acquire) != seen_generation) {
      std::lock_guard lock(t.mu);
      heaps = t.registry;
      seen_generation = t.generation.load(std::memory_order_relaxed);
    }
    const clock::time_point now = clock::now();
    clock::time_point until = clock::time_point::max();
    for (timer_heap* h : heaps) until = std::min(until, service(*h, now));
    scheduler* s = scheduler::if_started();
    const bool monitor = s && s->any_worker_busy();
    if (monitor) until = std::min(until, now + std::chrono::milliseconds(10));
    {
      std::unique_lock lock(t.mu);
      t.sleeping_until.store(ticks(until), std::memory_order_seq_cst);
      // An add() that published an earlier deadline before our store may not have seen it:
      // look again.
      bool earlier = false;
      for (timer_heap* h : heaps) {
        const std::int64_t e = h->earliest.load(std::memory_order_seq_cst);
        earlier |= e < h->seen_earliest && e < ticks(until);
      }
      if (!earlier) {
        if (until == clock::time_point::max()) {
          t.cv.wait(lock);
        } else {
          t.cv.wait_until(lock, until);
        }
      }
      t.sleeping_until.store(INT64_MIN, std::memory_order_relaxed);
    }
    if (monitor) s->check_stuck_workers();
  }
}

// After `h`'s earliest deadline became `e`: wakes the timer thread if it sleeps past it.
void notify_if_earlier(std::int64_t e) {
  timer_thread& t = the_thread();
  if (e >= t.sleeping_until.load(std::memory_order_seq_cst)) return;
  std::lock_guard lock(t.mu);
  if (e >= t.sleeping_until.load(std::memory_order_relaxed)) return;
  t.sleeping_until.store(e, std::memory_order_relaxed);
  t.cv.notify_one();
}

timer_heap& heap_for_this_thread() {
  worker* w = current_worker();
  return w ? *w->timers : the_thread().shared;
}

}  // namespace

void start() {
  static std::once_flag once;
  std::call_once(once, [] {
    the_thread();
    std::thread(run).detach();
  });
}

timer_heap* attach(worker* w) {
  timer_thread& t = the_thread();
  auto* h = new timer_heap(w);  // never destroyed, as its worker
  std::lock_guard lock(t.mu);
  t.registry.push_back(h);
  t.generation.fetch_add(1, std::memory_order_release);
  return h;
}

void add(timer_node* n) {
  start();  // a timer may be the first thing a program uses (gopp::after on main)
  timer_heap& h = heap_for_this_thread();
  n->home.store(&h, std::memory_order_relaxed);
  bool front = false;
  {
    std::lock_guard lock(h.mu);
    h.push(n);
    front = n->heap_index == 0;
    if (front) h.publish_earliest();
  }
  if (front) notify_if_earlier(ticks(n->when));
}

bool cancel(timer_node* n) {
  for (;;) {
    timer_heap* h = n->home.load(std::memory_order_relaxed);
    if (!h) return false;
    std::lock_guard lock(h->mu);
    if (n->home.load(std::memory_order_relaxed) != h) continue;  // re-added elsewhere meanwhile
    if (n->heap_index == timer_node::not_queued) return false;
    const bool was_front = n->heap_index == 0;
    h->remove(n);
    if (was_front) h->publish_earliest();
    return true;
  }
}

std::size_t pending() {
  timer_thread& t = the_thread();
  std::vector<timer_heap*> heaps;
  {
    std::lock_guard lock(t.mu);
    heaps = t.registry;
  }
  std::size_t n = 0;
  for (timer_heap* h : heaps) {
    std::lock_guard lock(h->mu);
    n += h->heap.size();
  }
  return n;
}

void run_due(worker* w) {
  // Clear first: a flag the timer thread sets from here on is for deadlines this pass may miss.
  // Acquire: the deadlines the thread saw due are then due by our own clock reading too.
  w->timers_due.exchange(false, std::memory_order_acquire);
  timer_heap& h = *w->timers;
  if (h.earliest.load(std::memory_order_acquire) > ticks(clock::now())) return;
  h.fire_due(clock::now());
  notify_if_earlier(h.earliest.load(std::memory_order_relaxed));
}

}  // namespace timers
}  // namespace gopp::detail
