// semaphore: golang.org/x/sync/semaphore.Weighted on gopp's parking primitive.
//
// State, all under `lock_`: `cur_` permits held, and a FIFO of blocked acquires (intrusive nodes
// on the acquirers' stacks). Go's algorithm: an acquire is served at once only if the permits
// are free AND nobody waits; release() (and a cancelled front waiter) serve waiters from the
// front while the free permits cover the front waiter's n, and stop at the first they cannot.
//
// Cancellation: each blocked acquire has a select_state with two cases, granted (0) and
// cancelled (1). A release that serves a waiter claims case 0 under lock_ (adding its n to cur_
// and unlinking it); ctx's cancellation listener claims case 1. Exactly one claim wins:
//   - granted: the permits are the waiter's; it returns without touching the queue.
//   - cancelled: the node may still be queued. The waiter takes lock_, unlinks itself if it is
//     (a release that met the node first has unlinked it as stale without counting it), and, if
//     it was first in line, serves those behind it (Go's isFront rule), then returns ctx.err().
// The listener lives on the heap (the context keeps only a weak reference and holds a strong
// one while it runs on_cancel), and the select_state it claims lives inside it, so a listener
// that fires late, after the waiter has returned, touches only memory it owns. A context that can
// never end (background) gets no listener: the select_state is then on the stack.
// No lost wake-up: the claimer writes nothing after select_state::complete(), whose done flag
// and parker token are checked by the waiter before it parks.
#include "gopp/semaphore.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>

namespace gopp {

namespace {
constexpr int granted = 0;
constexpr int cancelled = 1;

struct acquire_listener final : detail::cancel_listener {
  explicit acquire_listener(detail::parker& p) noexcept : sel(p) {}
  detail::select_state sel;
  void on_cancel(std::error_code) noexcept override {
    if (sel.claim(cancelled)) sel.complete();
  }
};
}  // namespace

void semaphore::push_back(waiter* w) noexcept {
  w->next = nullptr;
  w->prev = tail_;
  if (tail_) {
    tail_->next = w;
  } else {
    head_ = w;
  }
  tail_ = w;
  w->in_queue = true;
}

void semaphore::unlink(waiter* w) noexcept {
  if (w->prev) {
    w->prev->next = w->next;
  } else {
    head_ = w->next;
  }
  if (w->next) {
    w->next->prev = w->prev;
  } else {
    tail_ = w->prev;
  }
  w->prev = w->next = nullptr;
  w->in_queue = false;
}

semaphore::waiter* semaphore::take_served() noexcept {
  waiter* served = nullptr;
  waiter** last = &served;
  while (waiter* w = head_) {
    if (size_ - cur_ < w->n) break;  // not enough for the front: everyone behind it waits too
    unlink(w);
    if (!w->sel->claim(granted)) continue;  // its ctx ended first: it is leaving, skip it
    cur_ += w->n;
    *last = w;
    last = &w->next;
  }
  return served;
}

void semaphore::wake(waiter* list) noexcept {
  while (list) {
    waiter* next = list->next;  // read first: the acquirer may return once completed
    list->sel->complete();
    list = next;
  }
}

std::error_code semaphore::acquire(const context& ctx, std::int64_t n) {
  // Go checks ctx first: an ended ctx fails even when the permits are free.
  if (std::error_code e = ctx.err()) return e;
  {
    std::lock_guard lock(lock_);
    if (size_ - cur_ >= n && !head_) {
      cur_ += n;
      return {};
    }
  }
  if (n > size_) {  // never satisfiable: Go waits for ctx without queueing, so nobody waits on it
    ctx.done().recv();  // background's done() is the nil channel: blocks forever, as Go's <-nil
    return ctx.err();
  }

  // Slow path. The cancellation hook is made before the node is linked (it may allocate), and
  // registered after (it may fire at once, and must then find the node to unlink).
  detail::parker& self = detail::current_parker();
  std::shared_ptr<acquire_listener> listener;
  std::optional<detail::select_state> local;
  if (ctx.done().is_nil()) {
    local.emplace(self);
  } else {
    listener = std::make_shared<acquire_listener>(self);
  }
  waiter w;
  w.n = n;
  w.sel = listener ? &listener->sel : &*local;
  {
    std::lock_guard lock(lock_);
    if (size_ - cur_ >= n && !head_) {  // freed while we got ready
      cur_ += n;
      return {};
    }
    push_back(&w);
  }
  if (listener) detail::add_cancel_listener(ctx, listener);
  w.sel->wait(detail::wait_reason::select);  // Go's Acquire waits in a select

  if (w.sel->winner.load(std::memory_order_acquire) == granted) {
    if (listener) detail::remove_cancel_listener(ctx, listener.get());
    // Go: permits that arrive after ctx ended are given back, and the acquire fails.
    if (std::error_code e = ctx.err()) {
      release(n);
      return e;
    }
    return {};
  }
  // Cancelled: leave the queue (unless a release already dropped the node as stale).
  waiter* served = nullptr;
  {
    std::lock_guard lock(lock_);
    if (w.in_queue) {
      const bool was_front = head_ == &w;
      unlink(&w);
      if (was_front) served = take_served();
    }
  }
  wake(served);
  return ctx.err();
}

bool semaphore::try_acquire(std::int64_t n) noexcept {
  std::lock_guard lock(lock_);
  if (size_ - cur_ >= n && !head_) {
    cur_ += n;
    return true;
  }
  return false;
}

void semaphore::release(std::int64_t n) {
  waiter* served;
  {
    std::lock_guard lock(lock_);
    if (cur_ - n < 0) throw std::logic_error("semaphore: released more than held");
    cur_ -= n;
    served = take_served();
  }
  wake(served);
}

std::int64_t semaphore::held() const noexcept {
  std::lock_guard lock(lock_);
  return cur_;
}

}  // namespace gopp
