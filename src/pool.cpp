// Worker pools and futures; the contracts are in gopp/pool.hpp.
//
// A pool is a pool_state shared by the worker_pool handle and its worker goroutines. Everything
// in it is guarded by one mutex `mu`, held for a few instructions at a time, never while a task
// runs, a user callback runs, or anybody parks.
//
//   queue      an intrusive doubly linked FIFO of task_base (doubly linked so that rule 2's
//              inline run can take a task out of the middle).
//   idle       the workers parked for want of work, a LIFO stack (the most recently active
//              worker has the warmest cache). A submit pops one and wakes it; shutdown, stop and
//              resize wake all of them so they can leave.
//   epochs     wait()'s bookkeeping (rule 3). Tasks are counted per epoch in epoch_counts, the
//              oldest first (epoch number first_epoch). A task submitted from outside belongs to
//              the newest epoch; one submitted by a running task belongs to that task's epoch.
//              wait() closes the newest epoch (opens a new one) and waits until every epoch up to
//              the closed one has drained: first_epoch moves past an epoch only when its count
//              and every older count are zero.
//   registry   goroutine id -> worker record, for every worker of every pool: how a submit or a
//              future wait learns that it runs on a worker of a given pool (rules 1 and 2).
//              Only a goroutine looks up its own id, so a record is never seen after its worker
//              has left.
//
// Invariants (under mu):
//   - queued == length of the queue; a task is in the queue iff t->queued.
//   - pending == sum(epoch_counts) == tasks accepted and not yet finished (queued, running, or
//     dropped but not yet published). epoch_counts is never empty; its back is the newest epoch.
//   - A worker is in `idle` iff it is parked (or about to park) with signaled == false; whoever
//     pops it sets signaled and unparks it while holding mu, and the worker re-takes mu before it
//     looks at anything, so no wake-up is lost and none reaches a worker that has left.
//   - live counts worker goroutines started and not yet gone; live > target makes workers leave.
//   - A task's result is published (future ready) under mu, after its counters are updated and
//     before its epoch is counted out: when get() returns, stats() shows the task finished; when
//     wait() returns, every covered future is ready.
//
// Rejected designs:
//   - A gopp::chan as the queue (the seed's shape): it cannot let a task's own submissions past
//     the bound (rule 1), take a queued task out of the middle to run it inline (rule 2), or be
//     emptied at once by stop().
//   - wait() as "until nothing is pending": under a steady stream of submissions from other
//     goroutines it may never return; the epochs bound it to what was submitted before.
//   - Growing the pool while all workers wait on futures (as Go would start more goroutines):
//     the pool's size would no longer be what the user asked; running the awaited task inline
//     needs no extra worker and keeps its stack warm.
//   - A thread_local "current worker": a goroutine may resume on another OS thread after any
//     park, so the worker is found by goroutine id instead.
#include "gopp/pool.hpp"

#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gopp {

namespace detail {

namespace {

using clock = std::chrono::steady_clock;

// Parks the caller on `q` with `lk` held on entry and on return (released while parked). Returns
// false if `deadline` passed before a waker marked it woken; it is then off the queue.
template <class Lock>
bool park_on(wait_queue& q, Lock& lk, const steady_time* deadline, wait_reason why) {
  wait_node n;
  n.park = &current_parker();
  q.push_back(&n);
  while (!n.woken) {
    lk.unlock();
    set_wait_reason(why);
    bool in_time = true;
    if (deadline) {
      in_time = n.park->park_until(*deadline);
    } else {
      n.park->park();
    }
    lk.lock();
    if (!in_time && !n.woken) {
      q.remove(&n);
      return false;
    }
  }
  return true;
}

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// wait_queue, error_sink

void wait_queue::push_back(wait_node* n) noexcept {
  n->next = nullptr;
  n->prev = tail_;
  if (tail_) {
    tail_->next = n;
  } else {
    head_ = n;
  }
  tail_ = n;
}

void wait_queue::remove(wait_node* n) noexcept {
  if (n->prev) {
    n->prev->next = n->next;
  } else {
    head_ = n->next;
  }
  if (n->next) {
    n->next->prev = n->prev;
  } else {
    tail_ = n->prev;
  }
  n->prev = n->next = nullptr;
}

bool wait_queue::wake_one() noexcept {
  wait_node* n = head_;
  if (!n) return false;
  remove(n);
  n->woken = true;
  n->park->unpark();
  return true;
}

void wait_queue::wake_all() noexcept {
  while (wake_one()) {
  }
}

void error_sink::report(const std::exception_ptr& e) const noexcept {
  try {
    if (handler) {
      handler(e);
      return;
    }
    std::fprintf(stderr, "gopp: worker_pool task threw: %s\n", describe(e).c_str());
  } catch (...) {
    std::fprintf(stderr, "gopp: worker_pool on_error handler threw: %s\n",
                 describe(std::current_exception()).c_str());
  }
}

std::exception_ptr canceled_error() {
  return std::make_exception_ptr(task_canceled_error("worker_pool: task canceled before it ran"));
}

void throw_pool_closed() {
  throw pool_closed_error("worker_pool: submit on closed pool");
}

void throw_no_state() {
  throw std::future_error(std::future_errc::no_state);
}

std::size_t default_workers(std::size_t workers) {
  return workers != 0 ? workers : num_threads();
}

// ---------------------------------------------------------------------------------------------
// The registry of workers

struct worker_rec {
  pool_state* pool = nullptr;
  parker* park = nullptr;
  std::uint64_t epoch = 0;  // the epoch of the task this worker runs (inline runs nest)
  worker_rec* next_idle = nullptr;
  bool signaled = false;  // guarded by pool->mu
};

namespace {

class worker_registry {
 public:
  void add(std::uint64_t id, worker_rec* w) {
    shard& s = of(id);
    std::lock_guard lock(s.mu);
    s.map.emplace(id, w);
  }
  void remove(std::uint64_t id) noexcept {
    shard& s = of(id);
    std::lock_guard lock(s.mu);
    s.map.erase(id);
  }
  worker_rec* find(std::uint64_t id) noexcept {
    shard& s = of(id);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(id);
    return it == s.map.end() ? nullptr : it->second;
  }

 private:
  struct alignas(64) shard {
    std::mutex mu;
    std::unordered_map<std::uint64_t, worker_rec*> map;
  };
  shard& of(std::uint64_t id) noexcept { return shards_[id % shard_count]; }
  static constexpr std::size_t shard_count = 64;
  shard shards_[shard_count];
};

worker_registry& registry() {
  static auto* r = new worker_registry;  // never destroyed: workers may outlive static teardown
  return *r;
}

// The record of the worker the caller runs on, if it is one of `pool`'s.
worker_rec* worker_of(const pool_state* pool) noexcept {
  if (!in_goroutine()) return nullptr;
  worker_rec* w = registry().find(goroutine_id());
  return w && w->pool == pool ? w : nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// pool_state

struct pool_state : std::enable_shared_from_this<pool_state> {
  mutable std::mutex mu;
  std::size_t target = 0;
  std::size_t live = 0;
  std::size_t capacity = 0;
  bool closed = false;

  task_base* head = nullptr;
  task_base* tail = nullptr;
  std::size_t queued = 0;
  std::size_t running = 0;
  worker_rec* idle = nullptr;
  wait_queue space_waiters;  // submitters blocked by the bound
  wait_queue state_waiters;  // wait() and the destructor: woken when an epoch or a worker ends

  std::deque<std::uint64_t> epoch_counts{0};
  std::uint64_t first_epoch = 0;
  std::uint64_t pending = 0;

  std::uint64_t submitted = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::uint64_t canceled = 0;
  std::chrono::nanoseconds queued_time{0};
  std::chrono::nanoseconds running_time{0};

  std::shared_ptr<error_sink> sink;
  context ctx;
  std::function<void()> cancel_ctx;
  std::shared_ptr<cancel_listener> ctx_listener;

  // --- Under mu ---

  std::uint64_t newest_epoch() const noexcept { return first_epoch + epoch_counts.size() - 1; }

  void count_in(task_base* t, const worker_rec* self) {
    t->epoch = self ? self->epoch : newest_epoch();
    ++epoch_counts[t->epoch - first_epoch];
    ++pending;
  }
  void count_out(const task_base* t) noexcept {
    --epoch_counts[t->epoch - first_epoch];
    --pending;
    bool moved = pending == 0;
    while (epoch_counts.size() > 1 && epoch_counts.front() == 0) {
      epoch_counts.pop_front();
      ++first_epoch;
      moved = true;
    }
    if (moved) state_waiters.wake_all();
  }

  void push_back(task_base* t) noexcept {
    t->next = nullptr;
    t->prev = tail;
    if (tail) {
      tail->next = t;
    } else {
      head = t;
    }
    tail = t;
    t->queued = true;
    ++queued;
  }
  void unlink(task_base* t) noexcept {
    if (t->prev) {
      t->prev->next = t->next;
    } else {
      head = t->next;
    }
    if (t->next) {
      t->next->prev = t->prev;
    } else {
      tail = t->prev;
    }
    t->prev = t->next = nullptr;
    t->queued = false;
    --queued;
    if (capacity != 0) space_waiters.wake_one();
  }

  bool wake_idle_worker() noexcept {
    worker_rec* w = idle;
    if (!w) return false;
    idle = w->next_idle;
    w->signaled = true;
    w->park->unpark();
    return true;
  }
  void wake_idle_workers() noexcept {
    while (wake_idle_worker()) {
    }
  }

  // A task leaves the queue to run: stats.
  void start_locked(task_base* t, clock::time_point now) noexcept {
    ++running;
    queued_time += now - t->enqueued;
  }
  struct outcome {
    bool failed;
    std::chrono::nanoseconds took;
  };
  // A task has run: stats, publication, then its epoch.
  void finish_locked(task_base* t, outcome o) noexcept {
    --running;
    ++(o.failed ? failed : completed);
    running_time += o.took;
    t->publish();
    count_out(t);
  }

  // --- Without mu ---

  outcome run_task(worker_rec& w, task_base* t) noexcept {
    const std::uint64_t outer = w.epoch;
    w.epoch = t->epoch;
    bool threw = false;
    const auto start = clock::now();
    std::exception_ptr report = t->run(threw, sink);
    const auto took = clock::now() - start;
    w.epoch = outer;
    if (report) sink->report(report);
    return {threw, took};
  }

  submit_status enqueue(task_base* t, bool try_only) {
    const worker_rec* self = worker_of(this);
    std::unique_lock lock(mu);
    for (;;) {
      if (closed) {
        lock.unlock();
        t->release();
        return submit_status::closed;
      }
      if (capacity == 0 || queued < capacity || self) break;  // rule 1: own tasks bypass
      if (try_only) {
        lock.unlock();
        t->release();
        return submit_status::full;
      }
      park_on(space_waiters, lock, nullptr, wait_reason::sync_cond);
    }
    t->owner = this;
    try {
      count_in(t, self);
    } catch (...) {  // the deque could not grow
      lock.unlock();
      t->release();
      throw;
    }
    t->enqueued = clock::now();
    push_back(t);
    ++submitted;
    wake_idle_worker();
    return submit_status::accepted;
  }

  // Rule 2: runs `t` on the calling worker if it is still queued here.
  bool run_inline(worker_rec& w, task_base* t) {
    std::unique_lock lock(mu);
    if (!t->queued) return false;
    unlink(t);
    start_locked(t, clock::now());
    lock.unlock();
    const outcome o = run_task(w, t);
    lock.lock();
    finish_locked(t, o);
    lock.unlock();
    t->release();  // the pool's reference; the waiting future holds another
    return true;
  }

  void shutdown() {
    std::lock_guard lock(mu);
    if (closed) return;
    closed = true;
    wake_idle_workers();
    space_waiters.wake_all();
  }

  std::size_t stop_now() noexcept {
    task_base* list = nullptr;
    std::size_t n = 0;
    {
      std::lock_guard lock(mu);
      closed = true;
      list = head;
      head = tail = nullptr;
      n = queued;
      queued = 0;
      for (task_base* t = list; t; t = t->next) t->queued = false;
      wake_idle_workers();
      space_waiters.wake_all();
    }
    if (n == 0) return 0;
    for (task_base* t = list; t; t = t->next) t->cancel();  // the callables die outside mu
    {
      std::lock_guard lock(mu);
      canceled += n;
      for (task_base* t = list; t; t = t->next) {
        t->publish();
        count_out(t);
      }
    }
    while (list) {
      task_base* next = list->next;
      list->release();
      list = next;
    }
    return n;
  }

  // Waits until every task accepted so far (and what they submit) has finished; rule 3.
  bool wait_epochs(const steady_time* deadline) {
    std::unique_lock lock(mu);
    if (pending == 0) return true;
    std::uint64_t last;
    if (epoch_counts.back() == 0) {
      last = newest_epoch() - 1;  // the newest epoch is empty: nothing to close
    } else {
      last = newest_epoch();
      epoch_counts.push_back(0);
    }
    while (first_epoch <= last) {
      if (!park_on(state_waiters, lock, deadline, wait_reason::sync_cond)) return false;
    }
    return true;
  }

  void wait_workers_gone() {
    std::unique_lock lock(mu);
    while (live > 0) park_on(state_waiters, lock, nullptr, wait_reason::sync_cond);
  }

  // Starts n workers (live already counts them); on failure, uncounts the rest and rethrows.
  void spawn_workers(std::size_t n) {
    start_workers(
        n, [this](std::size_t) { gopp::go(&worker_main, shared_from_this()); },
        [this](std::size_t missing) {
          std::lock_guard lock(mu);
          live -= missing;
          state_waiters.wake_all();
        });
  }

  // `s` by value: the worker owns a reference to the pool for as long as it runs.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  static void worker_main(std::shared_ptr<pool_state> s) {
    worker_rec self;
    self.pool = s.get();
    self.park = &current_parker();
    const std::uint64_t id = goroutine_id();
    registry().add(id, &self);
    task_base* finished = nullptr;  // released once mu is let go
    std::unique_lock lock(s->mu);
    for (;;) {
      // Before leaving, drop the last task: whoever waits for the workers to be gone (the
      // destructor) must find every task released, so a dropped future's report has been made.
      if (finished && (s->live > s->target || (!s->head && s->closed))) {
        lock.unlock();
        std::exchange(finished, nullptr)->release();
        lock.lock();
        continue;
      }
      if (s->live > s->target) break;
      task_base* t = s->head;
      if (!t) {
        if (s->closed) break;
        self.signaled = false;
        self.next_idle = s->idle;
        s->idle = &self;
        if (finished) {
          lock.unlock();
          std::exchange(finished, nullptr)->release();
          lock.lock();
        }
        while (!self.signaled) {
          lock.unlock();
          set_wait_reason(wait_reason::chan_receive);  // as a Go worker in `for j := range jobs`
          self.park->park();
          lock.lock();
        }
        continue;
      }
      s->unlink(t);
      s->start_locked(t, clock::now());
      lock.unlock();
      if (finished) std::exchange(finished, nullptr)->release();
      const outcome o = s->run_task(self, t);
      lock.lock();
      s->finish_locked(t, o);
      finished = t;
    }
    --s->live;
    s->state_waiters.wake_all();
    lock.unlock();
    registry().remove(id);
  }
};

namespace {

struct pool_ctx_listener final : cancel_listener {
  explicit pool_ctx_listener(std::weak_ptr<pool_state> p) : pool(std::move(p)) {}
  void on_cancel(std::error_code) noexcept override {
    if (auto s = pool.lock()) s->stop_now();
  }
  std::weak_ptr<pool_state> pool;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// future_core

future_core::~future_core() {
  if (error_ && sink_ && !observed_) sink_->report(error_);
}

void future_core::publish() noexcept {
  chan<std::monostate> done;
  lock_.lock();
  ready_.store(true, std::memory_order_release);
  waiters_.wake_all();
  done = done_;
  lock_.unlock();
  if (!done.is_nil()) done.close();
}

void future_core::set_failed(std::exception_ptr e,
                             const std::shared_ptr<error_sink>& sink) noexcept {
  error_ = std::move(e);
  sink_ = sink;
}

void future_core::set_canceled() noexcept {
  error_ = canceled_error();
}

void future_core::wait() {
  if (ready()) return;
  if (owner && in_goroutine()) {
    if (worker_rec* w = registry().find(goroutine_id()); w && w->pool == owner) {
      owner->run_inline(*w, this);
    }
  }
  lock_.lock();
  if (!ready_.load(std::memory_order_relaxed))
    park_on(waiters_, lock_, nullptr, wait_reason::future);
  lock_.unlock();
}

bool future_core::wait_until(steady_time deadline) {
  if (ready()) return true;
  lock_.lock();
  bool ok = ready_.load(std::memory_order_relaxed) ||
            park_on(waiters_, lock_, &deadline, wait_reason::future);
  lock_.unlock();
  return ok;
}

recv_chan<std::monostate> future_core::done() {
  lock_.lock();
  if (done_.is_nil()) {
    done_ = chan<std::monostate>();
    if (ready_.load(std::memory_order_relaxed)) done_.close();
  }
  recv_chan<std::monostate> c = done_;
  lock_.unlock();
  return c;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// worker_pool

namespace {
void throw_if_inside(const detail::pool_state* s, const char* what) {
  if (detail::worker_of(s)) {
    throw std::logic_error(std::string("worker_pool: ") + what +
                           " from one of the pool's own tasks would wait for itself");
  }
}
}  // namespace

worker_pool::worker_pool(std::size_t workers) : worker_pool(pool_options{.workers = workers}) {}

worker_pool::worker_pool(pool_options options) : state_(std::make_shared<detail::pool_state>()) {
  detail::pool_state& s = *state_;
  s.capacity = options.queue_capacity;
  s.sink = std::make_shared<detail::error_sink>();
  s.sink->handler = std::move(options.on_error);
  auto [ctx, cancel] = with_cancel(options.ctx);
  s.ctx = std::move(ctx);
  s.cancel_ctx = std::move(cancel);
  s.target = detail::default_workers(options.workers);
  s.live = s.target;
  try {
    s.spawn_workers(s.target);
  } catch (...) {
    s.shutdown();  // the workers that did start leave at once
    throw;
  }
  s.ctx_listener = std::make_shared<detail::pool_ctx_listener>(state_);
  detail::add_cancel_listener(s.ctx, s.ctx_listener);  // stops at once if ctx has ended
}

worker_pool::~worker_pool() {
  detail::pool_state& s = *state_;
  s.shutdown();
  if (!detail::worker_of(&s)) {
    s.wait_epochs(nullptr);
    s.wait_workers_gone();
  }
  detail::remove_cancel_listener(s.ctx, s.ctx_listener.get());
  s.cancel_ctx();
}

submit_status worker_pool::enqueue(detail::task_base* t, bool try_only) {
  return state_->enqueue(t, try_only);
}

void worker_pool::wait() {
  throw_if_inside(state_.get(), "wait()");
  state_->wait_epochs(nullptr);
}

bool worker_pool::wait_for(std::chrono::nanoseconds d) {
  return wait_until(std::chrono::steady_clock::now() + d);
}

bool worker_pool::wait_until(std::chrono::steady_clock::time_point t) {
  throw_if_inside(state_.get(), "wait_for()");
  return state_->wait_epochs(&t);
}

void worker_pool::shutdown() {
  state_->shutdown();
}

bool worker_pool::shutdown_for(std::chrono::nanoseconds d) {
  throw_if_inside(state_.get(), "shutdown_for()");
  const auto deadline = std::chrono::steady_clock::now() + d;
  state_->shutdown();
  return state_->wait_epochs(&deadline);
}

std::size_t worker_pool::stop() {
  const std::size_t dropped = state_->stop_now();
  state_->cancel_ctx();
  return dropped;
}

void worker_pool::resize(std::size_t workers) {
  if (workers == 0) throw std::invalid_argument("worker_pool: resize to 0 workers");
  detail::pool_state& s = *state_;
  std::size_t start = 0;
  {
    std::lock_guard lock(s.mu);
    s.target = workers;
    if (s.live < s.target) {
      start = s.target - s.live;
      s.live = s.target;
    } else if (s.live > s.target) {
      s.wake_idle_workers();  // surplus idle workers leave; busy ones after their task
    }
  }
  if (start) s.spawn_workers(start);
}

std::size_t worker_pool::size() const {
  std::lock_guard lock(state_->mu);
  return state_->target;
}

pool_stats worker_pool::stats() const {
  const detail::pool_state& s = *state_;
  std::lock_guard lock(s.mu);
  pool_stats r;
  r.workers = s.live;
  r.running = s.running;
  r.queued = s.queued;
  r.submitted = s.submitted;
  r.completed = s.completed;
  r.failed = s.failed;
  r.canceled = s.canceled;
  r.queued_time = s.queued_time;
  r.running_time = s.running_time;
  return r;
}

bool worker_pool::closed() const {
  std::lock_guard lock(state_->mu);
  return state_->closed;
}

context worker_pool::ctx() const {
  return state_->ctx;
}

}  // namespace gopp
