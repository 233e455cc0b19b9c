// A worker's local run queue: Go's P.runq (runtime/proc.go), a bounded ring that one owner
// pushes and pops and any other worker may steal half of.
//
// Invariants:
//   - Only the owner writes `tail_` (release); anyone may advance `head_`, by CAS only.
//   - Slots in [head_, tail_) hold runnable goroutines. A stealer copies slots first and claims
//     them with one CAS on head_ afterwards: if the CAS fails, somebody else took them and the
//     copy is discarded, so a goroutine is handed out exactly once.
//   - Slots are atomics read relaxed: a stealer may read a slot the owner is overwriting, but
//     then its CAS on head_ fails (the owner only reuses slots below head_).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gopp::detail {

struct goroutine;

class run_queue {
 public:
  static constexpr std::uint32_t capacity = 256;

  // Owner only. False when full (the caller moves half to the global queue: push_overflow).
  bool push(goroutine* g) noexcept {
    const std::uint32_t h = head_.load(std::memory_order_acquire);
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= capacity) return false;
    slots_[t % capacity].store(g, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only, when push() failed: takes the older half of the queue out into `out` (room for
  // capacity / 2), for the global queue. Returns how many; 0 if a stealer raced us (then push
  // again: the stealer made room).
  std::uint32_t take_half(goroutine** out) noexcept {
    const std::uint32_t h = head_.load(std::memory_order_acquire);
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    const std::uint32_t n = (t - h) / 2;
    for (std::uint32_t i = 0; i < n; ++i)
      out[i] = slots_[(h + i) % capacity].load(std::memory_order_relaxed);
    std::uint32_t expected = h;
    if (!head_.compare_exchange_strong(expected, h + n, std::memory_order_acq_rel)) return 0;
    return n;
  }

  // Owner only.
  goroutine* pop() noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      const std::uint32_t t = tail_.load(std::memory_order_relaxed);
      if (t == h) return nullptr;
      goroutine* g = slots_[h % capacity].load(std::memory_order_relaxed);
      if (head_.compare_exchange_weak(h, h + 1, std::memory_order_acq_rel)) return g;
    }
  }

  // Called by `thief`'s owner: moves about half of this queue into `thief` (which must be empty)
  // and returns one of them to run now, or nullptr. With `only_from`, only while the queue's head
  // is still there (the goroutine at the front has not run or been taken since it was seen).
  goroutine* steal_into(run_queue& thief, const std::uint32_t* only_from = nullptr) noexcept {
    for (;;) {
      std::uint32_t h = head_.load(std::memory_order_acquire);
      if (only_from && h != *only_from) return nullptr;
      const std::uint32_t t = tail_.load(std::memory_order_acquire);
      const std::uint32_t available = t - h;
      if (available == 0 || available > capacity) {
        if (available == 0) return nullptr;
        continue;  // torn read of head/tail: try again
      }
      const std::uint32_t n = available - available / 2;
      const std::uint32_t tt = thief.tail_.load(std::memory_order_relaxed);
      for (std::uint32_t i = 0; i < n; ++i) {
        thief.slots_[(tt + i) % capacity].store(
            slots_[(h + i) % capacity].load(std::memory_order_relaxed), std::memory_order_relaxed);
      }
      if (!head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel)) continue;
      // Keep the last one to run; publish the rest in the thief's queue.
      goroutine* g = thief.slots_[(tt + n - 1) % capacity].load(std::memory_order_relaxed);
      if (n > 1) thief.tail_.store(tt + n - 1, std::memory_order_release);
      return g;
    }
  }

  // Owner only: the goroutine k places from the front, or nullptr. A hint (for prefetching): a
  // stealer may take it at any moment.
  goroutine* peek(std::uint32_t k) const noexcept {
    const std::uint32_t h = head_.load(std::memory_order_relaxed);
    const std::uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h <= k || t - h > capacity) return nullptr;
    return slots_[(h + k) % capacity].load(std::memory_order_relaxed);
  }

  // Where the front of the queue is: it moves each time a goroutine is taken from it.
  std::uint32_t head_position() const noexcept { return head_.load(std::memory_order_acquire); }

  bool empty() const noexcept {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }
  std::uint32_t size() const noexcept {
    return tail_.load(std::memory_order_acquire) - head_.load(std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<std::uint32_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  alignas(64) std::atomic<goroutine*> slots_[capacity] = {};
};

// The global run queue's storage: a FIFO ring of goroutine pointers, guarded by its owner's lock,
// that doubles when full and never shrinks. Batches go in and out by copying pointers, so moving
// n goroutines touches none of them (the linked list it replaced walked n records under the lock,
// records that another core had just written: 13% of B4's profile).
class goroutine_ring {
 public:
  std::size_t size() const noexcept { return size_; }

  // Appends n goroutines. Growing may throw std::bad_alloc; callers that cannot drop a runnable
  // goroutine let it end the process (Go: "out of memory" is fatal too).
  void push(goroutine* const* items, std::size_t n) {
    if (size_ + n > slots_.size()) grow(size_ + n);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = 0; i < n; ++i) slots_[(head_ + size_ + i) & mask] = items[i];
    size_ += n;
  }

  // Moves up to n goroutines from the front into out; returns how many.
  std::size_t pop(goroutine** out, std::size_t n) noexcept {
    n = std::min(n, size_);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(head_ + i) & mask];
    head_ = (head_ + n) & mask;
    size_ -= n;
    return n;
  }

 private:
  void grow(std::size_t need) {
    std::size_t capacity = std::max<std::size_t>(slots_.size() * 2, 1024);
    while (capacity < need) capacity *= 2;
    std::vector<goroutine*> bigger(capacity);
    const std::size_t n = pop(bigger.data(), size_);
    slots_.swap(bigger);
    head_ = 0;
    size_ = n;
  }

  std::vector<goroutine*> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace gopp::detail
