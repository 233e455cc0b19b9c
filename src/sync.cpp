// wait_group and mutex on the parking primitive.
//
// wait_group (Go's sync/waitgroup.go): state = counter << 32 | waiters.
//   add(n):  one fetch_add. If the counter is now > 0, or nobody waits, done: nothing of the
//            wait_group is touched afterwards. If it reached 0 with w waiters, the adder resets
//            the state and releases w waiters: those already queued are completed (outside the
//            lock), the rest get a pending release they consume when they queue. A waiter cannot
//            return before it is released, so the wait_group is alive while the adder uses it.
//   wait():  returns at once if the counter is 0; else counts itself as a waiter (CAS), then
//            queues and parks (or consumes a pending release). Once released it finds the state
//            zero, unless a new round's add() came first: Go's "reused before previous Wait has
//            returned", thrown as std::logic_error.
// mutex: `locked_` is taken by CAS. Contended lockers queue under `queue_lock_` and park; unlock()
//   takes queue_lock_ and either hands the mutex to the first waiter (locked_ stays 1: no one can
//   barge between) or clears locked_. Because unlock() and a queuing locker both decide under
//   queue_lock_, and the locker re-tries the CAS under it, no wake-up is lost.
// rw_mutex (Go's sync/rwmutex.go): reader_count_ counts readers; a writer, once it holds writer_,
//   subtracts max_readers, so the count goes negative and every later lock_shared() sees it and
//   parks on reader_sem_ (writer preference). The readers already inside, r of them, are moved
//   to reader_wait_; each of their unlock_shared() calls sees a negative count and decrements
//   reader_wait_, and the one that takes it to zero posts writer_sem_. The writer's own add of r
//   may come after some of those decrements (reader_wait_ is briefly negative): whoever brings it
//   to zero knows it, so exactly one party wakes the writer, or the writer does not wait at all.
//   unlock() adds max_readers back (new readers go straight in again), posts reader_sem_ once for
//   each reader that queued meanwhile, then unlocks writer_. Misuse shows as a count out of range.
// cond: a FIFO of waiters under a spinlock. wait() queues before it unlocks the mutex, so a
//   signal() that comes after the unlock always finds it; the wake-up is a select_state's
//   `done` plus the parker's token, so it cannot be lost even if it lands before the park.
// sema: see gopp/detail/sema.hpp.
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include "gopp/go.hpp"
#include "gopp/sync.hpp"

namespace gopp {

namespace {
constexpr std::uint64_t one_count = std::uint64_t{1} << 32;

[[noreturn]] void fatal(const char* msg) {
  // Best effort: we abort whether or not the message got out.
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, msg, __builtin_strlen(msg));
  std::abort();
}
}  // namespace

void wait_group::add(std::ptrdiff_t n) {
  const std::uint64_t delta = static_cast<std::uint64_t>(static_cast<std::int64_t>(n)) << 32;
  const std::uint64_t s = state_.fetch_add(delta, std::memory_order_acq_rel) + delta;
  const auto counter = static_cast<std::int32_t>(s >> 32);
  const auto waiters = static_cast<std::uint32_t>(s);
  if (counter < 0) {
    state_.fetch_sub(delta, std::memory_order_acq_rel);  // undo: the misuse loses nothing
    throw std::logic_error("sync: negative WaitGroup counter");
  }
  if (n > 0 && waiters > 0 && counter == n) {
    state_.fetch_sub(delta, std::memory_order_acq_rel);
    throw std::logic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  }
  if (counter > 0 || waiters == 0) return;
  // Counter reached zero with waiters: release all of them. Nobody may add concurrently now
  // (Go's rule: Add with a positive delta that starts from zero must happen before Wait).
  state_.store(0, std::memory_order_release);
  detail::waiter* list;
  {
    std::lock_guard lock(lock_);
    list = waiters_;
    waiters_ = nullptr;
    std::uint32_t queued = 0;
    for (detail::waiter* w = list; w; w = w->next) ++queued;
    pending_releases_ += waiters - queued;
  }
  while (list) {
    detail::waiter* next = list->next;
    list->sel->complete();
    list = next;
  }
}

void wait_group::wait() {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((s >> 32) == 0) return;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) break;
  }
  detail::select_state sel(detail::current_parker());
  detail::waiter w;  // w.sel stays null if a pending release is consumed instead of queueing
  {
    std::lock_guard lock(lock_);
    if (pending_releases_ > 0) {
      --pending_releases_;
    } else {
      w.next = waiters_;
      waiters_ = &w;
      w.sel = &sel;
    }
  }
  if (w.sel) sel.wait(detail::wait_reason::wait_group);
  // Released: the releasing add() set the state to zero. Anything else means a new round's add()
  // came before this wait() returned (Go panics the same way; without the check a new round's
  // waiter could even take this round's pending release and return early).
  if (state_.load(std::memory_order_acquire) != 0) {
    throw std::logic_error("sync: WaitGroup is reused before previous Wait has returned");
  }
}

void mutex::lock_slow() {
  // A short spin first: critical sections are often shorter than a park and unpark.
  for (int i = 0; i < 64; ++i) {
    GOPP_CPU_RELAX();
    if (locked_.load(std::memory_order_relaxed) == 0 && try_lock()) return;
  }
  detail::select_state sel(detail::current_parker());
  detail::waiter w;
  w.sel = &sel;
  {
    std::lock_guard lock(queue_lock_);
    if (try_lock()) return;
    if (tail_) {
      tail_->next = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
  }
  sel.wait(detail::wait_reason::mutex);
  // unlock() handed the mutex over to us: locked_ stayed 1. Its release ordering reaches us
  // through `done` (release/acquire).
}

void mutex::unlock() {
  detail::waiter* next = nullptr;
  {
    std::lock_guard lock(queue_lock_);
    if (locked_.load(std::memory_order_relaxed) == 0) {
      fatal("fatal error: sync: unlock of unlocked mutex\n");
    }
    next = head_;
    if (next) {
      head_ = next->next;
      if (!head_) tail_ = nullptr;
    } else {
      locked_.store(0, std::memory_order_release);
    }
  }
  if (next) next->sel->complete();
}

// ---------------------------------------------------------------------------------------------
// sema

namespace detail {

void sema::acquire(wait_reason reason) {
  // Before parking, look for a permit a few times. A goroutine yields between looks rather than
  // spinning: the party it waits for (the writer, or the last reader) is often queued on this
  // very thread, and can only release it once this goroutine lets it run; a spin would burn its
  // time slice for nothing (B13 went bimodal, 30 or 1,000 ns per op, with a 100-pause spin). A
  // plain thread spins briefly: the other party runs elsewhere.
  const bool goroutine = in_goroutine();
  for (int i = 0; i < (goroutine ? 32 : 100); ++i) {
    if (count_.load(std::memory_order_relaxed) > 0) {
      std::lock_guard lock(lock_);
      if (const std::uint32_t c = count_.load(std::memory_order_relaxed); c > 0) {
        count_.store(c - 1, std::memory_order_relaxed);
        return;
      }
    }
    if (goroutine) {
      gopp::yield();
    } else {
      GOPP_CPU_RELAX();
    }
  }
  select_state sel(current_parker());
  waiter w;
  w.sel = &sel;
  {
    std::lock_guard lock(lock_);
    if (const std::uint32_t c = count_.load(std::memory_order_relaxed); c > 0) {
      count_.store(c - 1, std::memory_order_relaxed);
      return;
    }
    if (tail_) {
      tail_->next = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
  }
  sel.wait(reason);
}

void sema::release(std::uint32_t n) noexcept {
  waiter* woken = nullptr;  // unlinked waiters, chained through `next`, completed after the lock
  {
    std::lock_guard lock(lock_);
    waiter** last = &woken;
    while (n > 0 && head_) {
      waiter* w = head_;
      head_ = w->next;
      if (!head_) tail_ = nullptr;
      w->next = nullptr;
      *last = w;
      last = &w->next;
      --n;
    }
    count_.store(count_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  while (woken) {
    waiter* next = woken->next;  // read first: the waiter may be gone once completed
    woken->sel->complete();
    woken = next;
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// rw_mutex

void rw_mutex::lock() {
  writer_.lock();  // first, resolve competition with other writers
  // Announce the writer to readers; r is the number of readers inside.
  const std::int32_t r = reader_count_.fetch_sub(max_readers, std::memory_order_acq_rel);
  // Wait for the active readers, unless they have all left already.
  if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_acq_rel) + r != 0) {
    writer_sem_.acquire(detail::wait_reason::mutex);
  }
}

bool rw_mutex::try_lock() noexcept {
  if (!writer_.try_lock()) return false;
  std::int32_t expected = 0;
  if (!reader_count_.compare_exchange_strong(expected, -max_readers, std::memory_order_acq_rel)) {
    writer_.unlock();
    return false;
  }
  return true;
}

void rw_mutex::unlock() {
  // Announce to readers that there is no active writer.
  const std::int32_t r =
      reader_count_.fetch_add(max_readers, std::memory_order_acq_rel) + max_readers;
  if (r >= max_readers) fatal("fatal error: sync: Unlock of unlocked RWMutex\n");
  // Let in the readers that queued behind this writer, then the next writer.
  if (r > 0) reader_sem_.release(static_cast<std::uint32_t>(r));
  writer_.unlock();
}

void rw_mutex::unlock_shared_slow(std::int32_t r) {
  if (r + 1 == 0 || r + 1 == -max_readers) {
    fatal("fatal error: sync: RUnlock of unlocked RWMutex\n");
  }
  // A writer is pending: the last reader it waits for wakes it.
  if (reader_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) writer_sem_.release();
}

// ---------------------------------------------------------------------------------------------
// cond

void cond::wait() {
  detail::select_state sel(detail::current_parker());
  detail::waiter w;
  w.sel = &sel;
  {
    std::lock_guard lock(lock_);
    if (tail_) {
      tail_->next = &w;
    } else {
      head_ = &w;
    }
    tail_ = &w;
  }
  mu_->unlock();
  sel.wait(detail::wait_reason::sync_cond);
  mu_->lock();
}

void cond::signal() noexcept {
  detail::waiter* w;
  {
    std::lock_guard lock(lock_);
    w = head_;
    if (!w) return;
    head_ = w->next;
    if (!head_) tail_ = nullptr;
  }
  w->sel->complete();
}

void cond::broadcast() noexcept {
  detail::waiter* list;
  {
    std::lock_guard lock(lock_);
    list = head_;
    head_ = tail_ = nullptr;
  }
  while (list) {
    detail::waiter* next = list->next;
    list->sel->complete();
    list = next;
  }
}

}  // namespace gopp
