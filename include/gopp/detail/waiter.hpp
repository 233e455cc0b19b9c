// Waiters and wait queues: how a blocked channel operation (plain or part of a select) is seen by
// the goroutine or thread that completes it. Go's sudog and waitq (runtime/chan.go, select.go).
//
// A blocked operation enqueues one `waiter` per channel it waits on (one for send/recv, one per
// case for select), all pointing at one `select_state` on the blocked party's stack.
//
// Invariants:
//   - A waiter is linked into at most one queue, and only while its channel's lock is held is it
//     linked, unlinked, or is `in_queue` read or written.
//   - Whoever dequeues a waiter must claim its select_state (CAS winner: -1 -> case) before
//     completing it. Exactly one claim succeeds per blocked operation; a waiter whose claim
//     fails is stale (another case won) and is dropped from the queue, never completed.
//   - The claimer writes the result (the value into `slot`, `ok`, `closed`), then publishes with
//     done.store(release), then unparks. After the store it touches neither the waiter nor the
//     select_state: the blocked party may return and destroy both as soon as it sees `done`.
#pragma once

#include <atomic>
#include <cstdint>

#include "gopp/detail/park.hpp"

namespace gopp::detail {

struct select_state {
  explicit select_state(parker& p) noexcept : park(&p) {}
  std::atomic<int> winner{-1};
  std::atomic<bool> done{false};
  parker* park;

  bool claim(int case_index) noexcept {
    int expected = -1;
    return winner.load(std::memory_order_relaxed) == -1 &&
           winner.compare_exchange_strong(expected, case_index, std::memory_order_acq_rel);
  }
  // Called by the claimer after writing the result; reads `park` first, since *this may be gone
  // as soon as `done` is set.
  void complete() noexcept {
    parker* p = park;
    done.store(true, std::memory_order_release);
    p->unpark();
  }
  // Called by the blocked party: parks until a claimer completed it.
  void wait(wait_reason reason) {
    while (!done.load(std::memory_order_acquire)) {
      set_wait_reason(reason);
      park->park();
    }
  }
};

struct waiter {
  waiter* prev = nullptr;
  waiter* next = nullptr;
  select_state* sel = nullptr;
  void* slot = nullptr;  // sender: T* to move from; receiver: std::optional<T>* to emplace into
  int case_index = 0;
  bool in_queue = false;
  bool ok = false;      // receiver: got a value (false: the channel was closed)
  bool closed = false;  // sender: the channel was closed while it waited
};

// FIFO of waiters, intrusive, doubly linked so a select can unlink its stale waiters.
// `head` is atomic only so that lock-free "would block" checks may peek at it.
class waiter_queue {
 public:
  bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }
  bool empty_acquire() const noexcept { return head_.load(std::memory_order_acquire) == nullptr; }

  void push_back(waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) {
      tail_->next = w;
    } else {
      head_.store(w, std::memory_order_relaxed);
    }
    tail_ = w;
    w->in_queue = true;
  }

  void remove(waiter* w) noexcept {
    if (w->prev) {
      w->prev->next = w->next;
    } else {
      head_.store(w->next, std::memory_order_relaxed);
    }
    if (w->next) {
      w->next->prev = w->prev;
    } else {
      tail_ = w->prev;
    }
    w->prev = w->next = nullptr;
    w->in_queue = false;
  }

  // Removes waiters from the front until one is claimed; returns it, or nullptr.
  waiter* dequeue_claimed() noexcept {
    while (waiter* w = head_.load(std::memory_order_relaxed)) {
      remove(w);
      if (w->sel->claim(w->case_index)) return w;
    }
    return nullptr;
  }

 private:
  std::atomic<waiter*> head_{nullptr};
  waiter* tail_ = nullptr;
};

}  // namespace gopp::detail
