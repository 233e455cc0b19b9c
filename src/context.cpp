// Contexts (Go's package context) and groups (errgroup); the contracts are in gopp/context.hpp.
//
// The cancellation tree, as Go's context.go, with C++ ownership:
//   - A context handle owns a context_node. Value nodes only carry a key and a value; cancel
//     nodes (with_cancel/deadline/timeout) also own a done channel, an error and the listeners to
//     end with them. Every node points at its `canceller`: itself for a cancel node, else the
//     nearest cancel ancestor's (nullptr below background: such contexts never end).
//   - A child holds its parent alive (shared_ptr). A cancel node registers itself with its
//     parent's canceller, which holds it weakly: dropping the last handle of a child unregisters
//     it at once (its destructor), so a long-lived parent does not accumulate dead children.
//     after_func registrations are held strongly, so f still runs if its stop function is lost.
//   - Ending a node (cancel): under its lock, set err (once; the first reason wins), move the
//     listener table out and take the deadline timer. Then, with no lock held: close done, end
//     every listener with the same err, stop the timer, unregister from the parent. Listeners are
//     ended outside the lock so that a listener's destructor (which locks its parent to
//     unregister) never runs under that same lock.
// Invariants:
//   - err is written once, under `mu`, before done is closed; so done() closed implies err() set.
//   - A listener is in at most one table; once a node has ended its table stays empty: a child
//     added later is ended at once instead (born cancelled).
//   - The deadline timer (gopp::after_func) holds the node weakly, and is stopped when the node
//     ends or dies: an ended or dropped context leaves no timer behind.
// Lock order: a parent's `mu` is never held while a child's is taken, nor the reverse.
#include "gopp/context.hpp"

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "gopp/detail/park.hpp"
#include "gopp/detail/spinlock.hpp"
#include "gopp/sync.hpp"
#include "gopp/time.hpp"

namespace gopp {

namespace {

class context_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gopp.context"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::canceled:
        return "context canceled";
      case errc::deadline_exceeded:
        return "context deadline exceeded";
    }
    return "unknown context error";
  }
  std::error_condition default_error_condition(int code) const noexcept override {
    switch (static_cast<errc>(code)) {
      case errc::canceled:
        return std::errc::operation_canceled;
      case errc::deadline_exceeded:
        return std::errc::timed_out;
    }
    return {code, *this};
  }
};

using time_point = std::chrono::steady_clock::time_point;

// now + d without overflow (with_timeout(ctx, nanoseconds::max()) means "no practical deadline").
time_point saturating_add(time_point now, std::chrono::nanoseconds d) {
  if (d > time_point::max() - now) return time_point::max();
  return now + d;
}

}  // namespace

const std::error_category& context_category() noexcept {
  static const context_error_category category;
  return category;
}

namespace detail {

struct context_node final : cancel_listener, std::enable_shared_from_this<context_node> {
  std::shared_ptr<context_node> parent;
  context_node* canceller = nullptr;        // this, an ancestor, or nullptr (never ends)
  context_node* registered_with = nullptr;  // the parent's canceller, if this registered
  std::optional<time_point> deadline;       // effective: min(own, parent's)
  const void* key = nullptr;                // value nodes
  std::shared_ptr<const void> value;

  // Cancel nodes only.
  struct entry {
    std::weak_ptr<cancel_listener> weak;
    std::shared_ptr<cancel_listener> strong;  // after_func: kept alive by the registration
  };
  std::mutex mu;
  std::atomic<int> err{0};
  std::error_code cause;  // written once, under mu, before err (release); read after err (acquire)
  chan<std::monostate> done{nullptr};
  std::unordered_map<cancel_listener*, entry> listeners;  // guarded by mu
  std::optional<timer> deadline_timer;                    // guarded by mu

  context_node() = default;
  context_node(const context_node&) = delete;
  context_node& operator=(const context_node&) = delete;

  ~context_node() override {
    if (registered_with) registered_with->remove(this);
    // deadline_timer's destructor stops it.
  }

  // The parent ended: this node ends with the same err and the same cause (Go: a child's Cause
  // is its parent's). The parent wrote its cause before calling its listeners or, for a child
  // added after it ended, before the err that add() saw under its lock.
  void on_cancel(std::error_code why) noexcept override {
    end(why, registered_with ? registered_with->cause : why, false);
  }

  // Ends this (cancel) node with `why` and `why_cause` (Go's Cause); the first call wins.
  void end(std::error_code why, std::error_code why_cause, bool unregister) noexcept {
    std::unordered_map<cancel_listener*, entry> taken;
    std::optional<timer> t;
    {
      std::lock_guard lock(mu);
      if (err.load(std::memory_order_relaxed) != 0) return;
      cause = why_cause ? why_cause : why;
      err.store(why.value(), std::memory_order_release);
      taken.swap(listeners);
      t.swap(deadline_timer);
    }
    done.close();  // cannot throw: only the first end() gets here
    for (auto& [raw, e] : taken) {
      std::shared_ptr<cancel_listener> l = e.strong ? std::move(e.strong) : e.weak.lock();
      if (l) l->on_cancel(why);
    }
    if (t) t->stop();
    if (unregister && registered_with) registered_with->remove(this);
  }

  // Registers l; ends it at once if this node has ended.
  void add(const std::shared_ptr<cancel_listener>& l, bool keep_alive) {
    int e = 0;
    {
      std::lock_guard lock(mu);
      e = err.load(std::memory_order_relaxed);
      if (e == 0) {
        entry& slot = listeners[l.get()];
        slot.weak = l;
        if (keep_alive) slot.strong = l;
        return;
      }
    }
    l->on_cancel(make_error_code(static_cast<errc>(e)));
  }

  void remove(cancel_listener* l) noexcept {
    std::shared_ptr<cancel_listener> strong;  // released after the lock (it may be the last ref)
    std::lock_guard lock(mu);
    auto it = listeners.find(l);
    if (it == listeners.end()) return;
    strong = std::move(it->second.strong);
    listeners.erase(it);
  }
};

struct context_access {
  static const std::shared_ptr<context_node>& node(const context& c) noexcept { return c.node_; }
  static context make(std::shared_ptr<context_node> n) noexcept { return context(std::move(n)); }
};

namespace {

// A new cancel node under `parent`, registered with the parent's canceller (and so ended at once
// if the parent has ended).
std::shared_ptr<context_node> new_cancel_node(const context& parent,
                                              std::optional<time_point> own_deadline) {
  auto n = std::make_shared<context_node>();
  n->parent = context_access::node(parent);
  n->canceller = n.get();
  n->done = chan<std::monostate>();
  std::optional<time_point> inherited = parent.deadline();
  n->deadline = inherited;
  if (own_deadline && (!inherited || *own_deadline < *inherited)) n->deadline = own_deadline;
  if (n->parent && n->parent->canceller) {
    n->registered_with = n->parent->canceller;
    n->registered_with->add(n, /*keep_alive=*/false);
  }
  return n;
}

std::function<void()> cancel_function(const std::shared_ptr<context_node>& n) {
  return [n] {
    const std::error_code canceled = make_error_code(errc::canceled);
    n->end(canceled, canceled, /*unregister=*/true);
  };
}

// after_func(ctx, f): starts f once, unless stopped first.
struct after_func_listener final : cancel_listener {
  enum : int { armed, fired, stopped };
  std::atomic<int> state{armed};
  std::function<void()> f;
  std::weak_ptr<context_node> registered_with;

  void on_cancel(std::error_code) noexcept override {
    int expected = armed;
    if (!state.compare_exchange_strong(expected, fired, std::memory_order_acq_rel)) return;
    try {
      gopp::go(std::move(f));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gopp: after_func could not start its goroutine: %s\n", e.what());
    }
  }
};

}  // namespace

bool add_cancel_listener(const context& ctx, const std::shared_ptr<cancel_listener>& l) {
  const auto& n = context_access::node(ctx);
  if (!n || !n->canceller) return false;
  n->canceller->add(l, /*keep_alive=*/false);
  return true;
}

void remove_cancel_listener(const context& ctx, cancel_listener* l) noexcept {
  const auto& n = context_access::node(ctx);
  if (n && n->canceller) n->canceller->remove(l);
}

context make_value_context(const context& parent, const void* key,
                           std::shared_ptr<const void> value) {
  auto n = std::make_shared<context_node>();
  n->parent = context_access::node(parent);
  n->canceller = n->parent ? n->parent->canceller : nullptr;
  n->deadline = parent.deadline();
  n->key = key;
  n->value = std::move(value);
  return context_access::make(std::move(n));
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// context

recv_chan<std::monostate> context::done() const {
  if (!node_ || !node_->canceller) return nullptr;
  return node_->canceller->done;
}

std::error_code context::err() const noexcept {
  if (!node_ || !node_->canceller) return {};
  const int e = node_->canceller->err.load(std::memory_order_acquire);
  return e == 0 ? std::error_code() : make_error_code(static_cast<errc>(e));
}

std::optional<std::chrono::steady_clock::time_point> context::deadline() const noexcept {
  return node_ ? node_->deadline : std::nullopt;
}

const void* context::find_value(const void* key) const noexcept {
  for (const detail::context_node* n = node_.get(); n; n = n->parent.get()) {
    if (n->key == key) return n->value.get();
  }
  return nullptr;
}

void context::throw_if_done() const {
  if (std::error_code e = err()) throw std::system_error(e);
}

context background() noexcept {
  return context();
}

std::pair<context, std::function<void()>> with_cancel(const context& parent) {
  auto n = detail::new_cancel_node(parent, std::nullopt);
  auto cancel = detail::cancel_function(n);
  return {detail::context_access::make(std::move(n)), std::move(cancel)};
}

std::pair<context, std::function<void(std::error_code)>> with_cancel_cause(const context& parent) {
  auto n = detail::new_cancel_node(parent, std::nullopt);
  std::function<void(std::error_code)> cancel = [n](std::error_code why) {
    n->end(make_error_code(errc::canceled), why, /*unregister=*/true);
  };
  return {detail::context_access::make(std::move(n)), std::move(cancel)};
}

std::error_code cause(const context& ctx) noexcept {
  const auto& n = detail::context_access::node(ctx);
  if (!n || !n->canceller) return {};
  if (n->canceller->err.load(std::memory_order_acquire) == 0) return {};
  return n->canceller->cause;
}

std::pair<context, std::function<void()>> with_deadline(const context& parent,
                                                        std::chrono::steady_clock::time_point t) {
  if (std::optional<time_point> inherited = parent.deadline(); inherited && *inherited <= t) {
    return with_cancel(parent);  // Go: the parent's earlier deadline governs
  }
  auto n = detail::new_cancel_node(parent, t);
  auto cancel = detail::cancel_function(n);
  const auto left = t - std::chrono::steady_clock::now();
  if (left <= std::chrono::nanoseconds::zero()) {
    const std::error_code exceeded = make_error_code(errc::deadline_exceeded);
    n->end(exceeded, exceeded, /*unregister=*/true);
  } else if (t != time_point::max() && n->err.load(std::memory_order_acquire) == 0) {
    timer deadline = after_func(std::chrono::duration_cast<std::chrono::nanoseconds>(left),
                                [w = std::weak_ptr<detail::context_node>(n)] {
                                  if (auto node = w.lock()) {
                                    const std::error_code exceeded =
                                        make_error_code(errc::deadline_exceeded);
                                    node->end(exceeded, exceeded, true);
                                  }
                                });
    std::unique_lock lock(n->mu);
    if (n->err.load(std::memory_order_relaxed) == 0) n->deadline_timer.emplace(std::move(deadline));
    // else: ended meanwhile (by the parent); `deadline` stops when it goes out of scope, after
    // the lock is released.
    lock.unlock();
  }
  return {detail::context_access::make(std::move(n)), std::move(cancel)};
}

std::pair<context, std::function<void()>> with_timeout(const context& parent,
                                                       std::chrono::nanoseconds d) {
  return with_deadline(parent, saturating_add(std::chrono::steady_clock::now(), d));
}

std::function<bool()> after_func(const context& ctx, std::function<void()> f) {
  auto l = std::make_shared<detail::after_func_listener>();
  l->f = std::move(f);
  const auto& n = detail::context_access::node(ctx);
  if (n && n->canceller) {
    l->registered_with = n->canceller->weak_from_this();
    n->canceller->add(l, /*keep_alive=*/true);
  }
  return [l] {
    int expected = detail::after_func_listener::armed;
    if (!l->state.compare_exchange_strong(expected, detail::after_func_listener::stopped,
                                          std::memory_order_acq_rel)) {
      return false;
    }
    if (auto node = l->registered_with.lock()) node->remove(l.get());
    l->f = nullptr;
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// group
//
// As errgroup.go: a wait_group counts the tasks, and the first failure is recorded once and
// cancels ctx. Where errgroup's limit is a buffered channel used as a semaphore, gopp's is
// group_limit below: the same FIFO hand-off, but a go() waiting for a slot parks with its own
// wait reason, so the goroutine dump says "errgroup limit" instead of "chan send" (a task that
// calls go() on its own full group waits there forever: docs/pools.md). `active` counts the
// tasks holding a slot, for set_limit's check and its message.
//
// group_limit invariants (all under `lock`):
//   - used <= limit, except after set_limit lowered the limit (only allowed with used == 0).
//   - A waiter is queued only while used == limit; release() hands its slot straight to the
//     first waiter (used unchanged), so a slot is never taken by a later try_go first (FIFO).
//   - A waiter's node lives on its stack: release() unlinks it and reads its parker under the
//     lock, then sets `granted` (release) and unparks; after that store it touches the node no
//     more, since the waiter may return as soon as it sees `granted`.

namespace detail {

namespace {

struct limit_waiter {
  limit_waiter* next = nullptr;
  parker* park = nullptr;
  std::atomic<bool> granted{false};
};

class group_limit {
 public:
  bool try_acquire() noexcept {
    std::lock_guard lock(lock_);
    if (used_ >= limit_) return false;
    ++used_;
    return true;
  }

  void acquire() {
    limit_waiter w;
    {
      std::lock_guard lock(lock_);
      if (used_ < limit_) {
        ++used_;
        return;
      }
      w.park = &current_parker();
      if (tail_) {
        tail_->next = &w;
      } else {
        head_ = &w;
      }
      tail_ = &w;
    }
    while (!w.granted.load(std::memory_order_acquire)) {
      set_wait_reason(wait_reason::errgroup_limit);
      w.park->park();
    }
  }

  void release() noexcept {
    limit_waiter* w = nullptr;
    parker* p = nullptr;
    {
      std::lock_guard lock(lock_);
      if (head_ && used_ <= limit_) {
        w = head_;  // the slot passes to it: used_ stays
        head_ = w->next;
        if (!head_) tail_ = nullptr;
        p = w->park;
      } else {
        --used_;
      }
    }
    if (w) {
      w->granted.store(true, std::memory_order_release);
      p->unpark();
    }
  }

  // Sets the limit (the caller checked that no task holds a slot) and admits the waiters the new
  // limit allows (Go's SetLimit would leave them blocked on the old channel forever).
  void set(std::size_t n) noexcept {
    std::lock_guard lock(lock_);
    limit_ = n;
    while (head_ && used_ < limit_) {
      limit_waiter* w = head_;
      head_ = w->next;
      if (!head_) tail_ = nullptr;
      ++used_;
      parker* p = w->park;
      w->granted.store(true, std::memory_order_release);
      p->unpark();  // safe under the lock: unpark never blocks, nor takes this lock
    }
  }

 private:
  spinlock lock_;
  std::size_t limit_ = group::no_limit;  // guarded by lock_
  std::size_t used_ = 0;                 // guarded by lock_
  limit_waiter* head_ = nullptr;         // guarded by lock_
  limit_waiter* tail_ = nullptr;         // guarded by lock_
};

}  // namespace

struct group_state {
  context ctx;
  std::function<void()> cancel;
  group_limit limit;
  std::atomic<std::size_t> active{0};
  wait_group wg;
  std::atomic<bool> failed{false};
  std::exception_ptr first;  // written by the first failing task, read after wg.wait()
  std::atomic<bool> observed{false};
};

void group_enter(group_state& s) {
  s.limit.acquire();
  s.wg.add(1);
  s.active.fetch_add(1, std::memory_order_relaxed);
}

bool group_try_enter(group_state& s) {
  if (!s.limit.try_acquire()) return false;
  s.wg.add(1);
  s.active.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void group_enter_inline(group_state& s) {
  s.wg.add(1);
}

// A task leaves: active is decremented before its slot is given back, so active() never
// exceeds the limit.
void release_slot(group_state& s) noexcept {
  s.active.fetch_sub(1, std::memory_order_release);
  s.limit.release();
  s.wg.done();
}

void group_abort(group_state& s) noexcept {
  release_slot(s);
}

void group_leave(group_state& s, std::exception_ptr error, bool holds_slot) noexcept {
  if (error && !s.failed.exchange(true, std::memory_order_acq_rel)) {
    s.first = std::move(error);
    s.cancel();
  }
  if (holds_slot) {
    release_slot(s);
  } else {
    s.wg.done();
  }
}

std::exception_ptr group_error(std::error_code ec) noexcept {
  return std::make_exception_ptr(std::system_error(ec));
}

const context& group_context(const group_state& s) noexcept {
  return s.ctx;
}

}  // namespace detail

group::group() : group(background()) {}

group::group(const context& parent) : state_(std::make_shared<detail::group_state>()) {
  auto [ctx, cancel] = with_cancel(parent);
  state_->ctx = std::move(ctx);
  state_->cancel = std::move(cancel);
}

group::~group() {
  if (state_->active.load(std::memory_order_acquire) != 0) state_->wg.wait();
  state_->cancel();
  if (state_->failed.load(std::memory_order_acquire) &&
      !state_->observed.load(std::memory_order_relaxed)) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(state_->first);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "gopp: group destroyed with an unobserved task exception: %s\n",
                 what.c_str());
  }
}

context group::ctx() const {
  return state_->ctx;
}

void group::set_limit(std::size_t n) {
  if (const std::size_t running = state_->active.load(std::memory_order_acquire)) {
    throw std::logic_error("errgroup: modify limit while " + std::to_string(running) +
                           " goroutines in the group are still active");
  }
  state_->limit.set(n);
}

void group::wait() {
  state_->wg.wait();
  state_->cancel();
  if (state_->failed.load(std::memory_order_acquire)) {
    state_->observed.store(true, std::memory_order_relaxed);
    std::rethrow_exception(state_->first);
  }
}

std::size_t group::active() const noexcept {
  return state_->active.load(std::memory_order_acquire);
}

}  // namespace gopp
