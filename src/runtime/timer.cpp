// Timers; the algorithm and invariants are in timer.hpp.
#include "runtime/timer.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/deadline_queue.hpp"
#include "runtime/goroutine.hpp"
#include "runtime/scheduler.hpp"

namespace gopp::detail {

using clock = timer_node::clock;

namespace {
constexpr std::int64_t never = INT64_MAX;

std::int64_t ticks(clock::time_point t) noexcept {
  return t.time_since_epoch().count();
}
}  // namespace

// One heap of timers: a worker's, or the shared one of plain threads (timer.hpp), ordered by a
// deadline_queue.
// Work queued by callbacks with after_unlock(), run by fire_due once it lets the lock go. A
// batch fires at most 64 nodes, and each may queue one item, so the array never overflows.
struct deferred_work {
  static constexpr std::size_t capacity = 64;
  struct item {
    void (*run)(std::shared_ptr<void>) = nullptr;
    std::shared_ptr<void> arg;
  };
  item items[capacity];
  std::size_t count = 0;

  // Called with no lock held.
  void run_all() noexcept {
    for (std::size_t i = 0; i < count; ++i) {
      item& it = items[i];
      it.run(std::move(it.arg));
      it.arg.reset();
    }
    count = 0;
  }
};
thread_local deferred_work t_deferred;

struct alignas(64) timer_heap {
  explicit timer_heap(worker* w) : owner(w) {}

  worker* const owner;  // nullptr: the shared heap of plain threads
  std::mutex mu;
  deadline_queue queue;  // guarded by mu
  // Ticks of the earliest deadline, written under mu. On a line of its own: the timer thread
  // reads it while the owner takes `mu` for every sleep.
  alignas(64) std::atomic<std::int64_t> earliest{never};
  // The timer thread's own: when it set owner->timers_due, and the earliest deadline it last saw.
  clock::time_point flagged_at{};
  std::int64_t seen_earliest = never;

  // Publishes the earliest deadline after a change.
  void publish_earliest() {
    const std::int64_t e = queue.empty() ? never : ticks(queue.front_when());
    if (earliest.load(std::memory_order_relaxed) != e) {
      earliest.store(e, std::memory_order_seq_cst);
    }
  }

  static void prefetch_touches(const timer_node* n) {
    if (n->touches) __builtin_prefetch(n->touches, 1);
  }

  // Fires every node due at `now`, the lock taken here.
  //
  // In batches of up to 64: the due nodes are taken out of the heap first, then fired in
  // deadline order while what the next ones' callbacks touch loads (timer_node::touches: a
  // sleeper's parker, in a record that is a cache miss apiece when 100,000 goroutines sleep).
  // Between batches the lock is let go, so that 100,000 timers due at once do not hold up every
  // add() and cancel() for the whole run. (A node taken out but not yet fired is still covered
  // by the lock: a cancel() in between would wait, then find it fired.)
  void fire_due(clock::time_point now) {
    std::unique_lock lock(mu);
    constexpr std::size_t batch_size = 64;
    timer_node* batch[batch_size];
    while (!queue.empty() && queue.front_when() <= now) {
      std::size_t count = 0;
      while (count < batch_size && !queue.empty() && queue.front_when() <= now) {
        batch[count++] = queue.pop_front();
      }
      // Taking a node out wrote its heap_index, so the nodes are at hand; what their callbacks
      // touch is loaded a few fires ahead.
      constexpr std::size_t ahead = 8;
      for (std::size_t i = 0; i < count && i < ahead; ++i) prefetch_touches(batch[i]);
      for (std::size_t i = 0; i < count; ++i) {
        if (i + ahead < count) prefetch_touches(batch[i + ahead]);
        timer_node* n = batch[i];
        // Read before firing: a one-shot node may be freed by its own callback (gopp::after).
        const bool periodic = n->period.count() > 0;
        n->fire(n);
        if (periodic) {
          const auto missed = (now - n->when) / n->period;
          n->when += n->period * (missed + 1);
          queue.push(n);
        }
      }
      if (count == batch_size) {
        publish_earliest();
        lock.unlock();
        t_deferred.run_all();
        lock.lock();
      }
    }
    publish_earliest();
    lock.unlock();
    t_deferred.run_all();
  }
};

namespace timers {

void after_unlock(void (*run)(std::shared_ptr<void>), std::shared_ptr<void> arg) noexcept {
  deferred_work& d = t_deferred;
  if (d.count == deferred_work::capacity) {  // more than one per fire: a caller's bug
    static constexpr char msg[] = "fatal error: timers: after_unlock called twice in one fire\n";
    write_stderr(msg, sizeof msg - 1);
    std::abort();
  }
  d.items[d.count].run = run;
  d.items[d.count].arg = std::move(arg);
  ++d.count;
}

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
  // Read before the node is published: once the lock is let go, the timer thread may fire it,
  // re-queue it (a ticker moves its deadline) or free it (gopp::after).
  const std::int64_t when = ticks(n->when);
  bool front = false;
  {
    std::lock_guard lock(h.mu);
    front = when < h.earliest.load(std::memory_order_relaxed);
    h.queue.push(n);
    if (front) h.publish_earliest();
  }
  if (front) notify_if_earlier(when);
}

bool cancel(timer_node* n) {
  for (;;) {
    timer_heap* h = n->home.load(std::memory_order_relaxed);
    if (!h) return false;
    std::lock_guard lock(h->mu);
    if (n->home.load(std::memory_order_relaxed) != h) continue;  // re-added elsewhere meanwhile
    if (n->heap_index == timer_node::not_queued) return false;
    h->queue.remove(n);
    h->publish_earliest();
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
    n += h->queue.size();
  }
  return n;
}

void run_due(worker* w) {
  // Clear first: a flag the timer thread sets from here on is for deadlines this pass may miss.
  // Acquire: the deadlines the thread saw due are then due by our own clock reading too.
  w->timers_due.exchange(false, std::memory_order_acquire);
  timer_heap& h = *w->timers;
  const clock::time_point now = clock::now();
  if (h.earliest.load(std::memory_order_acquire) > ticks(now)) return;
  h.fire_due(now);
  notify_if_earlier(h.earliest.load(std::memory_order_relaxed));
}

}  // namespace timers
}  // namespace gopp::detail
