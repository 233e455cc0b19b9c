// The parking primitive (gopp/detail/park.hpp): one token per goroutine or thread.
//
// States: empty (no token, not parked), parked (the owner sleeps), notified (a token waits).
//   goroutine owner:
//     park():   notified -> empty and return; else switch to the worker loop, which, with the
//               goroutine's context saved, CASes empty -> parked. If that CAS fails, a token came
//               meanwhile: the loop sets empty and resumes the goroutine at once.
//     unpark(): empty -> notified; or parked -> empty and scheduler::ready(owner) (only the one
//               unpark that wins that CAS readies it: no double wake-up); notified: nothing.
//   thread owner:
//     park():   CAS empty -> parked, futex-wait while parked; then notified -> empty.
//     unpark(): exchange to notified; if it was parked, futex-wake.
// Every transition that hands a token over is acq_rel or stronger, so a waker's writes before
// unpark() happen-before the owner's return from park().
//
// Thread parkers are records from a pool that never frees them. A thread takes one the first
// time it needs a parker; a thread_local holder gives it back when the thread ends. A waker may
// still be inside unpark() on a record after its thread saw the result and ended (it publishes
// `done` first, see waiter.hpp), so the record must stay mapped: it does, forever. If the record
// has meanwhile gone to another thread, that late unpark leaves it one surplus token, which makes
// one park() of the new owner return early; every caller parks in a loop on its own condition,
// so that costs one more look at the condition and nothing else.
#include <atomic>
#include <chrono>
#include <mutex>

#include "gopp/detail/park.hpp"
#include "gopp/detail/spinlock.hpp"
#include "runtime/futex.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/timer.hpp"

namespace gopp::detail {

namespace {

// A thread's parker, from the pool below.
struct thread_parker_record {
  parker p;
  thread_parker_record* next_free = nullptr;
  thread_parker_record* next_all = nullptr;  // every record ever made (keeps them reachable)
};

// The pool: a free list and a list of all records, under a spin lock (taken twice in a thread's
// life). Trivially destructible, so threads that end after static destruction may still use it.
spinlock g_thread_parkers_mu;
thread_parker_record* g_free_thread_parkers = nullptr;
thread_parker_record* g_all_thread_parkers = nullptr;

thread_parker_record* take_thread_parker() {
  {
    std::lock_guard lock(g_thread_parkers_mu);
    if (thread_parker_record* r = g_free_thread_parkers) {
      g_free_thread_parkers = r->next_free;
      return r;
    }
  }
  // never deleted; current_parker() is noexcept, so a failure to allocate these few bytes ends
  // the process
  auto* r = new thread_parker_record;
  std::lock_guard lock(g_thread_parkers_mu);
  r->next_all = g_all_thread_parkers;
  g_all_thread_parkers = r;
  return r;
}

void give_back_thread_parker(thread_parker_record* r) noexcept {
  std::lock_guard lock(g_thread_parkers_mu);
  r->next_free = g_free_thread_parkers;
  g_free_thread_parkers = r;
}

// The current thread's record (trivially destructible: readable in any thread_local destructor).
thread_local thread_parker_record* t_parker = nullptr;
// Set once the holder below is destroyed: a parker needed after that is never given back.
thread_local bool t_parker_holder_gone = false;

struct thread_parker_holder {
  thread_parker_record* record = nullptr;
  ~thread_parker_holder() {
    t_parker_holder_gone = true;
    t_parker = nullptr;
    if (record) give_back_thread_parker(record);
  }
};
thread_local thread_parker_holder t_parker_holder;

[[gnu::noinline]] parker& first_thread_parker() {
  thread_parker_record* r = take_thread_parker();
  // A record taken by a thread in its last destructors stays with it for good (still reachable
  // through g_all_thread_parkers, and still never freed).
  if (!t_parker_holder_gone) t_parker_holder.record = r;
  t_parker = r;
  return r->p;
}

parker& thread_parker() {
  if (thread_parker_record* r = t_parker) return r->p;
  return first_thread_parker();
}

struct park_timeout : timer_node {
  parker* target = nullptr;
  // Set by the callback (release) before it unparks, its last touch of this node: a parker that
  // sees it set (acquire) may return, and destroy the node, without taking the timer lock.
  std::atomic<bool> fired{false};
};
}  // namespace

parker& current_parker() noexcept {
  goroutine* g = current_goroutine();
  return g ? g->park_token : thread_parker();
}

void set_wait_reason(wait_reason r) noexcept {
  if (goroutine* g = current_goroutine()) g->reason.store(r, std::memory_order_relaxed);
}

void parker::park() {
  if (state_.load(std::memory_order_acquire) == notified) {
    state_.exchange(empty, std::memory_order_acq_rel);
    if (owner_) owner_->reason.store(wait_reason::none, std::memory_order_relaxed);
    return;
  }
  if (owner_) {
    scheduler::instance().park_current();
    owner_->reason.store(wait_reason::none, std::memory_order_relaxed);
    return;
  }
  std::uint32_t expected = empty;
  if (state_.compare_exchange_strong(expected, parked, std::memory_order_acq_rel)) {
    while (state_.load(std::memory_order_acquire) == parked) futex::wait(state_, parked);
  }
  state_.exchange(empty, std::memory_order_acq_rel);
}

bool parker::park_until(std::chrono::steady_clock::time_point deadline) {
  if (state_.load(std::memory_order_acquire) == notified) {
    state_.exchange(empty, std::memory_order_acq_rel);
    return true;
  }
  if (std::chrono::steady_clock::now() >= deadline) return false;
  if (owner_) {
    park_timeout t;
    t.when = deadline;
    t.target = this;
    t.touches = this;
    t.fire = [](timer_node* n) {
      auto* self = static_cast<park_timeout*>(n);
      parker* target = self->target;  // read first: once `fired` is set the node may be gone
      self->fired.store(true, std::memory_order_release);
      target->unpark();
    };
    timers::add(&t);
    park();
    // The common case, a sleep that ran its course: the timer is out of the heap and done with
    // the node, so no cancel() (and no timer lock) is needed.
    if (t.fired.load(std::memory_order_acquire)) return false;
    // After cancel() the callback has finished or never runs: `fired` is stable.
    if (timers::cancel(&t)) return true;
    return !t.fired.load(std::memory_order_relaxed);
  }
  std::uint32_t expected = empty;
  if (state_.compare_exchange_strong(expected, parked, std::memory_order_acq_rel)) {
    for (;;) {
      if (state_.load(std::memory_order_acquire) != parked) break;
      const auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) {
        // Time is up: take back the parked state unless a token raced in.
        expected = parked;
        if (state_.compare_exchange_strong(expected, empty, std::memory_order_acq_rel)) {
          return false;
        }
        break;
      }
      futex::wait_for(state_, parked, std::chrono::duration_cast<std::chrono::nanoseconds>(left));
    }
  }
  state_.exchange(empty, std::memory_order_acq_rel);
  return true;
}

void parker::unpark() noexcept {
  if (owner_) {
    std::uint32_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if (s == notified) return;
      if (s == parked) {
        if (state_.compare_exchange_weak(s, empty, std::memory_order_acq_rel)) {
          scheduler::instance().ready(owner_);
          return;
        }
      } else if (state_.compare_exchange_weak(s, notified, std::memory_order_acq_rel)) {
        return;
      }
    }
  }
  if (state_.exchange(notified, std::memory_order_acq_rel) == parked) futex::wake(state_);
}

}  // namespace gopp::detail
