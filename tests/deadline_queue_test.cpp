// tests/deadline_queue_test.cpp: the runtime's deadline queue (src/runtime/deadline_queue.hpp),
// the order in which a timer heap fires its nodes: a run for deadlines added in order and a
// 4-ary heap for the rest. Checked against a model (a multiset of deadlines) under random
// operation mixes: in-order adds only (the run, its tombstones, its compaction and the give-back
// of its consumed front), random adds only (the heap), and both with many removals.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "runtime/deadline_queue.hpp"

namespace {

using gopp::detail::deadline_queue;
using gopp::detail::timer_node;
using clock_type = timer_node::clock;

clock_type::time_point at(long us) {
  return clock_type::time_point(std::chrono::microseconds(us));
}

// A queue and its model side by side; nodes are owned here, as a timer's owner owns its node.
class checked_queue {
 public:
  explicit checked_queue(std::size_t capacity) : nodes_(capacity) {
    for (auto& n : nodes_) free_.push_back(&n);
  }

  bool can_push() const { return !free_.empty(); }
  bool empty() const { return model_.empty(); }

  void push(long us) {
    timer_node* n = free_.back();
    free_.pop_back();
    n->when = at(us);
    q_.push(n);
    ASSERT_NE(n->heap_index, timer_node::not_queued);
    model_.insert({n->when, n});
    queued_.push_back(n);
    check_front();
  }

  void pop() {
    timer_node* n = q_.pop_front();
    ASSERT_EQ(n->heap_index, timer_node::not_queued);
    ASSERT_FALSE(model_.empty());
    ASSERT_EQ(n->when, model_.begin()->first) << "a node that is not the earliest was taken";
    ASSERT_EQ(model_.erase({n->when, n}), 1u) << "a node taken twice, or never added";
    forget(n);
    check_front();
  }

  void remove_random(std::mt19937& rng) {
    std::uniform_int_distribution<std::size_t> pick(0, queued_.size() - 1);
    timer_node* n = queued_[pick(rng)];
    q_.remove(n);
    ASSERT_EQ(n->heap_index, timer_node::not_queued);
    ASSERT_EQ(model_.erase({n->when, n}), 1u);
    forget(n);
    check_front();
  }

  void drain() {
    while (!model_.empty()) pop();
    EXPECT_TRUE(q_.empty());
  }

 private:
  void check_front() {
    ASSERT_EQ(q_.size(), model_.size());
    ASSERT_EQ(q_.empty(), model_.empty());
    if (!model_.empty()) {
      ASSERT_EQ(q_.front_when(), model_.begin()->first);
    }
  }
  void forget(timer_node* n) {
    for (auto& q : queued_) {
      if (q == n) {
        q = queued_.back();
        queued_.pop_back();
        break;
      }
    }
    free_.push_back(n);
  }

  deadline_queue q_;
  std::vector<timer_node> nodes_;
  std::vector<timer_node*> free_;
  std::vector<timer_node*> queued_;
  std::set<std::pair<clock_type::time_point, timer_node*>> model_;
};

enum class adds { in_order, random, mixed };

// `steps` random operations: add (deadlines by `how`), take the earliest, or remove any queued
// node, with weights push:pop:remove; then a drain in order.
void run_mix(adds how, int push_weight, int pop_weight, int remove_weight, int steps,
             unsigned seed) {
  std::mt19937 rng(seed);
  checked_queue q(4096);
  long clock_us = 0;
  std::uniform_int_distribution<int> op(0, push_weight + pop_weight + remove_weight - 1);
  std::uniform_int_distribution<long> jitter(0, 1000);
  std::uniform_int_distribution<int> coin(0, 3);
  for (int i = 0; i < steps; ++i) {
    const int o = op(rng);
    if (o < push_weight && q.can_push()) {
      long when;
      if (how == adds::in_order || (how == adds::mixed && coin(rng) != 0)) {
        clock_us += jitter(rng) % 3;  // equal deadlines too
        when = clock_us;
      } else {
        when = clock_us - 500 + jitter(rng);
      }
      ASSERT_NO_FATAL_FAILURE(q.push(when));
    } else if (o < push_weight + pop_weight) {
      if (!q.empty()) {
        ASSERT_NO_FATAL_FAILURE(q.pop());
      }
    } else if (!q.empty()) {
      ASSERT_NO_FATAL_FAILURE(q.remove_random(rng));
    }
  }
  ASSERT_NO_FATAL_FAILURE(q.drain());
}

TEST(DeadlineQueue, InOrderAddsComeOutInOrder) {
  run_mix(adds::in_order, 2, 1, 0, 100'000, 1);
}

TEST(DeadlineQueue, InOrderAddsWithManyRemovalsStayConsistent) {
  // More removals than takes: tombstones pile up and the run is compacted again and again.
  run_mix(adds::in_order, 3, 1, 2, 200'000, 2);
}

TEST(DeadlineQueue, RandomAddsComeOutInOrder) {
  run_mix(adds::random, 2, 1, 0, 100'000, 3);
}

TEST(DeadlineQueue, RandomAddsWithRemovalsStayConsistent) {
  run_mix(adds::random, 3, 1, 2, 200'000, 4);
}

TEST(DeadlineQueue, MixedAddsWithRemovalsStayConsistent) {
  for (unsigned seed = 5; seed < 10; ++seed) run_mix(adds::mixed, 3, 2, 1, 100'000, seed);
}

TEST(DeadlineQueue, ALongRunIsTakenFromItsFrontAndItsNodesCanStillBeRemoved) {
  // 3,000 in-order adds, 2,000 takes (past the point where the consumed front is given back),
  // then removal of every other remaining node by its recorded position.
  deadline_queue q;
  std::vector<timer_node> nodes(3000);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].when = at(static_cast<long>(i));
    q.push(&nodes[i]);
  }
  for (std::size_t i = 0; i < 2000; ++i) ASSERT_EQ(q.pop_front(), &nodes[i]);
  for (std::size_t i = 2000; i < nodes.size(); i += 2) q.remove(&nodes[i]);
  EXPECT_EQ(q.size(), 500u);
  for (std::size_t i = 2001; i < nodes.size(); i += 2) ASSERT_EQ(q.pop_front(), &nodes[i]);
  EXPECT_TRUE(q.empty());
}

TEST(DeadlineQueue, AnEarlierDeadlineAfterALaterOneIsTakenFirst) {
  deadline_queue q;
  timer_node late, early, latest;
  late.when = at(100);
  early.when = at(50);  // earlier than the run's last: goes to the heap
  latest.when = at(200);
  q.push(&late);
  q.push(&early);
  q.push(&latest);
  EXPECT_EQ(q.front_when(), at(50));
  EXPECT_EQ(q.pop_front(), &early);
  EXPECT_EQ(q.pop_front(), &late);
  EXPECT_EQ(q.pop_front(), &latest);
  EXPECT_TRUE(q.empty());
}

}  // namespace
