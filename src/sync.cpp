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
// mutex, Go's design (sync/mutex.go), in our own code: one state word holds locked, woken,
//   starving and the waiter count; a semaphore (a FIFO of parked waiters plus a count of tokens,
//   under queue_lock_) holds the waiters.
//   lock():   a CAS 0 -> locked; else lock_slow(). There, while the mutex is held in normal mode a
//             locker spins a little (setting woken so unlock() wakes nobody meanwhile), then in
//             one CAS either takes the mutex (when it is free and not starving) or counts itself
//             as a waiter, and waits on the semaphore (at the back the first time, at the front
//             after a lost race). Woken in normal mode, it competes again like a newcomer;
//             having waited more than 1 ms it sets starving in its next CAS. Woken in starvation
//             mode, the mutex is already its own: it sets locked, uncounts itself, and clears
//             starving if it waited under 1 ms or was the last waiter.
//   unlock(): one fetch_sub of locked; a non-zero result goes to unlock_slow(). In normal mode it
//             wakes one waiter (uncounting it and setting woken) unless there are none, or the
//             mutex was taken again, or a waiter is already awake; in starvation mode it hands
//             the mutex to the first waiter (locked stays clear, and newcomers see starving and
//             queue).
//   No lost wake-up: a waiter is counted in state_ before it waits, every release is counted
//   by a token when nobody is queued yet, and acquire takes a token or queues under one lock.
//   An unlock of an unlocked mutex borrows from the bits above locked: unlock_slow() sees locked
//   was clear and aborts with Go's message.
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

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

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

namespace {
// Spinning helps only if the holder can run meanwhile on another CPU. Go's numbers: up to 4
// rounds of 30 pauses each.
constexpr int max_spin_rounds = 4;
constexpr int pauses_per_round = 30;
constexpr auto starvation_threshold = std::chrono::milliseconds(1);

bool may_spin() noexcept {
  static const bool multicore = std::thread::hardware_concurrency() > 1;
  return multicore;
}
}  // namespace

void mutex::lock_slow() {
  using clock = std::chrono::steady_clock;
  clock::time_point wait_start{};  // the epoch: has not waited yet
  bool starving = false;           // this locker has waited more than the threshold
  bool awoke = false;              // this locker owns the woken bit
  int spins = 0;
  std::uint32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    if ((old & (locked_bit | starving_bit)) == locked_bit && spins < max_spin_rounds &&
        may_spin()) {
      // Held in normal mode: spin a little. Setting woken tells unlock() not to wake a waiter
      // that would only compete with us.
      if (!awoke && !(old & woken_bit) && (old >> waiter_shift) != 0 &&
          state_.compare_exchange_weak(old, old | woken_bit, std::memory_order_relaxed)) {
        awoke = true;
      }
      for (int i = 0; i < pauses_per_round; ++i) GOPP_CPU_RELAX();
      ++spins;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::uint32_t next = old;
    if (!(old & starving_bit)) next |= locked_bit;  // a starving mutex belongs to the waiters
    if (old & (locked_bit | starving_bit)) next += one_waiter;
    if (starving && (old & locked_bit)) next |= starving_bit;
    if (awoke) next &= ~woken_bit;
    if (!state_.compare_exchange_weak(old, next, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
      continue;  // `old` is fresh
    }
    if (!(old & (locked_bit | starving_bit))) return;  // took it
    const bool waited_before = wait_start != clock::time_point{};
    if (!waited_before) wait_start = clock::now();
    sem_acquire(waited_before);
    starving = starving || clock::now() - wait_start > starvation_threshold;
    old = state_.load(std::memory_order_acquire);
    if (old & starving_bit) {
      // Handed over: locked is clear and we are still counted among the waiters.
      std::uint32_t delta = locked_bit - one_waiter;  // modulo 2^32
      if (!starving || (old >> waiter_shift) == 1) delta -= starving_bit;
      state_.fetch_add(delta, std::memory_order_acquire);
      return;
    }
    awoke = true;  // unlock_slow() set woken for us
    spins = 0;
  }
}

void mutex::unlock_slow(std::uint32_t now) {
  if (((now + locked_bit) & locked_bit) == 0) {
    fatal("fatal error: sync: unlock of unlocked mutex\n");
  }
  if (now & starving_bit) {
    sem_release();  // hand-off: the first waiter owns the mutex now
    return;
  }
  std::uint32_t old = now;
  for (;;) {
    // Nobody to wake, or the mutex was taken again, or a waiter is awake already, or it
    // turned starving (then the locker that set it hands over when it unlocks).
    if ((old >> waiter_shift) == 0 || (old & (locked_bit | woken_bit | starving_bit))) return;
    const std::uint32_t next = (old - one_waiter) | woken_bit;
    if (state_.compare_exchange_weak(old, next, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      sem_release();
      return;
    }
  }
}

void mutex::sem_acquire(bool at_front) {
  detail::select_state sel(detail::current_parker());
  detail::waiter w;
  w.sel = &sel;
  {
    std::lock_guard lock(queue_lock_);
    if (tokens_ > 0) {
      --tokens_;
      return;
    }
    if (at_front) {
      w.next = head_;
      head_ = &w;
      if (!tail_) tail_ = &w;
    } else {
      if (tail_) {
        tail_->next = &w;
      } else {
        head_ = &w;
      }
      tail_ = &w;
    }
  }
  sel.wait(detail::wait_reason::mutex);
}

void mutex::sem_release() {
  detail::waiter* w;
  {
    std::lock_guard lock(queue_lock_);
    w = head_;
    if (!w) {
      ++tokens_;
      return;
    }
    head_ = w->next;
    if (!head_) tail_ = nullptr;
  }
  w->sel->complete();
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
