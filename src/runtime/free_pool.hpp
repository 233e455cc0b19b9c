// A pool of free objects of one kind (goroutine records, stacks) shared by every thread.
//
// Each thread keeps up to `Capacity` pointers in an array of its own and serves itself from it
// without a lock. When the array is empty it takes half an array's worth from a global stack of
// pointers, and when it is full it gives the older half back, both under one lock. Pointers move
// by memcpy: a trade never reads the objects. (The linked free lists this replaces walked their
// objects under the lock; objects freed on another core are cold there, and that pointer chase
// was 15% of B4's profile.)
//
// Invariants:
//   - The global array's capacity is at least the number of objects ever created (the owner calls
//     created() as it makes them, where allocation may throw), so giving objects back never
//     allocates and release paths stay noexcept.
//   - A thread that ends gives its whole array back (thread_local destructor).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <vector>

namespace gopp::detail {

template <class T, std::size_t Capacity>
class free_pool {
  static_assert(Capacity >= 2 && Capacity % 2 == 0);

 public:
  // One thread's share.
  class local {
   public:
    explicit local(free_pool& pool) noexcept : pool_(pool) {}
    ~local() { pool_.give(items_, count_); }
    local(const local&) = delete;
    local& operator=(const local&) = delete;

    // A free object, or nullptr when the whole pool is empty.
    T* take() noexcept {
      if (count_ == 0) count_ = pool_.refill(items_, Capacity / 2);
      return count_ ? items_[--count_] : nullptr;
    }
    void put(T* p) noexcept {
      if (count_ == Capacity) {
        // The bottom half has waited longest here: the coldest in this cache, the ones to share.
        pool_.give(items_, Capacity / 2);
        std::memmove(items_, items_ + Capacity / 2, Capacity / 2 * sizeof(T*));
        count_ = Capacity / 2;
      }
      items_[count_++] = p;
    }
    std::size_t size() const noexcept { return count_; }
    // What the (k+1)-th next take() returns without a refill, or nullptr. For prefetching.
    T* peek(std::size_t k) const noexcept { return count_ > k ? items_[count_ - 1 - k] : nullptr; }

   private:
    free_pool& pool_;
    T* items_[Capacity];
    std::size_t count_ = 0;
  };

  // `n` more objects exist: make room to hold them all. May throw std::bad_alloc.
  void created(std::size_t n) {
    std::lock_guard lock(mu_);
    total_ += n;
    if (free_.capacity() < total_) free_.reserve(std::max(total_, 2 * free_.capacity()));
  }
  // Objects made by the caller go straight to the global array (created() already counted them).
  void give(T* const* items, std::size_t n) noexcept {
    if (n == 0) return;
    std::lock_guard lock(mu_);
    free_.insert(free_.end(), items, items + n);  // within capacity: cannot allocate
  }
  std::size_t total() const noexcept {
    std::lock_guard lock(mu_);
    return total_;
  }

 private:
  std::size_t refill(T** out, std::size_t want) noexcept {
    std::lock_guard lock(mu_);
    const std::size_t n = std::min(want, free_.size());
    if (n == 0) return 0;  // free_.data() may be null then, which memcpy must not get
    std::memcpy(out, free_.data() + (free_.size() - n), n * sizeof(T*));
    free_.resize(free_.size() - n);
    return n;
  }

  mutable std::mutex mu_;
  std::vector<T*> free_;
  std::size_t total_ = 0;
};

}  // namespace gopp::detail
