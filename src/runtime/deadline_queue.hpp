// The deadline queue of one timer heap (timer.hpp): the timer nodes it holds, earliest first.
//
// Two structures, one order:
//   - the run: deadlines added in non-decreasing order, appended to an array and taken from its
//     front. Sleeps of one duration begun one after another, the usual case (100,000 sleepers,
//     a loop's timeout), arrive in that order, and then an add and a take are O(1), touch one
//     entry each and the memory next to the last one, and write no other node.
//   - a 4-ary min-heap for the rest: a deadline earlier than the run's last one.
// The earliest node is the earlier of the run's front and the heap's root.
//
// Entries are (deadline, node) pairs: the deadline is copied in so that ordering compares
// entries of one array, never the nodes themselves, which live on goroutine stacks all over
// memory (100,000 sleepers spent most of the timer thread's time on those misses). Four children
// per heap node halve the depth for the same reason (Go's timer heap is 4-ary too).
//
// Each node knows where it is (timer_node::heap_index: a heap index, or a run position tagged
// with `in_run`), so remove() is O(log n) in the heap and O(1) in the run, where it leaves a
// tombstone (a null node): the run is compacted once tombstones outnumber live entries, so
// cancelled timeouts cost memory for at most as long as the live ones.
//
// Not thread-safe: its timer heap's lock guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/timer.hpp"

namespace gopp::detail {

class deadline_queue {
 public:
  using clock = timer_node::clock;

  // Room for a few sleeps from the start: a heap is made when the runtime starts, and its first
  // timers then allocate nothing on a worker or the timer thread.
  deadline_queue() {
    heap_.reserve(initial_capacity);
    run_.reserve(initial_capacity);
  }

  bool empty() const noexcept { return heap_.empty() && run_live_ == 0; }
  std::size_t size() const noexcept { return heap_.size() + run_live_; }

  // The earliest deadline. Not empty().
  clock::time_point front_when() const noexcept {
    if (run_live_ == 0) return heap_.front().when;
    const clock::time_point r = run_[run_head_].when;  // the run's front is never a tombstone
    return heap_.empty() || r <= heap_.front().when ? r : heap_.front().when;
  }

  void push(timer_node* n) {
    if (run_live_ == 0 || n->when >= run_.back().when) {
      n->heap_index = in_run | (run_base_ + run_.size());
      run_.push_back({n->when, n});
      ++run_live_;
      return;
    }
    heap_.push_back({n->when, n});
    sift_up(heap_.size() - 1);
  }

  // Takes out the earliest node. Not empty().
  timer_node* pop_front() noexcept {
    timer_node* n;
    if (run_live_ != 0 && (heap_.empty() || run_[run_head_].when <= heap_.front().when)) {
      n = run_[run_head_].node;
      run_[run_head_].node = nullptr;
      --run_live_;
      ++run_dead_;
      trim_run();
    } else {
      n = heap_.front().node;
      remove_from_heap(0);
    }
    n->heap_index = timer_node::not_queued;
    return n;
  }

  // Takes out `n`, which is queued here.
  void remove(timer_node* n) noexcept {
    const std::size_t where = n->heap_index;
    n->heap_index = timer_node::not_queued;
    if ((where & in_run) == 0) {
      remove_from_heap(where);
      return;
    }
    run_[(where & ~in_run) - run_base_].node = nullptr;
    --run_live_;
    ++run_dead_;
    trim_run();
  }

 private:
  struct entry {
    clock::time_point when;
    timer_node* node;  // nullptr: a tombstone (run only)
  };
  static constexpr std::size_t arity = 4;
  static constexpr std::size_t initial_capacity = 64;
  // Tags a run position in heap_index. timer_node::not_queued has it too, but is never stored
  // in a queued node.
  static constexpr std::size_t in_run = std::size_t{1} << (sizeof(std::size_t) * 8 - 1);

  // Drops tombstones at both ends of the run, gives back the consumed front of its array, and
  // compacts it when tombstones outnumber live entries.
  void trim_run() noexcept {
    while (run_head_ < run_.size() && !run_[run_head_].node) {
      ++run_head_;
      --run_dead_;
    }
    while (run_.size() > run_head_ && !run_.back().node) {
      run_.pop_back();
      --run_dead_;
    }
    if (run_live_ == 0) {
      run_base_ += run_.size();
      run_.clear();
      run_head_ = 0;
      run_dead_ = 0;
      return;
    }
    if (run_dead_ > 64 && run_dead_ > run_live_) {
      compact_run();
    } else if (run_head_ >= 1024 && 2 * run_head_ >= run_.size()) {
      // Shift the live part down: O(size) once per `run_head_` takes, so O(1) amortized.
      run_.erase(run_.begin(), run_.begin() + static_cast<std::ptrdiff_t>(run_head_));
      run_base_ += run_head_;
      run_head_ = 0;
    }
  }

  void compact_run() noexcept {
    std::size_t kept = 0;
    for (std::size_t i = run_head_; i < run_.size(); ++i) {
      if (!run_[i].node) continue;
      run_[kept] = run_[i];
      run_[kept].node->heap_index = in_run | (run_base_ + kept);
      ++kept;
    }
    run_.resize(kept);
    run_head_ = 0;
    run_dead_ = 0;
  }

  void place(std::size_t i, entry e) noexcept {
    heap_[i] = e;
    e.node->heap_index = i;
  }
  void sift_up(std::size_t i) noexcept {
    const entry e = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / arity;
      if (heap_[parent].when <= e.when) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void sift_down(std::size_t i) noexcept {
    const entry e = heap_[i];
    const std::size_t size = heap_.size();
    for (;;) {
      const std::size_t first = arity * i + 1;
      if (first >= size) break;
      std::size_t child = first;
      const std::size_t last = first + arity < size ? first + arity : size;
      for (std::size_t c = first + 1; c < last; ++c) {
        if (heap_[c].when < heap_[child].when) child = c;
      }
      if (e.when <= heap_[child].when) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }
  void remove_from_heap(std::size_t i) noexcept {
    const entry last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;  // it was the last entry
    place(i, last);
    if (i > 0 && last.when < heap_[(i - 1) / arity].when) {
      sift_up(i);
    } else {
      sift_down(i);
    }
  }

  std::vector<entry> heap_;
  std::vector<entry> run_;    // [run_head_, size): the run, tombstones included
  std::size_t run_head_ = 0;  // index of the run's front
  std::size_t run_base_ = 0;  // the run position of run_[0]
  std::size_t run_live_ = 0;  // non-tombstone entries in the run
  std::size_t run_dead_ = 0;  // tombstones in [run_head_, size)
};

}  // namespace gopp::detail
