// tests/merge_test.cpp: gopp::merge (gopp/merge.hpp), the fan-in of Go's pipelines blog: every
// value of every input arrives once, in each input's order, and the result closes only after
// every input has closed. Producers and the consumer run on goroutines and on plain threads.
#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace {

using gopp::chan;
using gopp::recv_chan;
using namespace gopp_test;
using namespace std::chrono_literals;

class Merge : public sides {};

TEST_P(Merge, DeliversEveryValueOnceKeepsEachInputsOrderAndClosesAfterAllInputs) {
  const int inputs = 16;
  const int per = static_cast<int>(scaled(2000, 200));
  std::vector<recv_chan<int>> ins;
  std::vector<task> producers;
  for (int k = 0; k < inputs; ++k) {
    chan<int> c(k % 2 ? 0 : 4);  // unbuffered and buffered inputs
    ins.push_back(c);
    producers.push_back(start(GetParam(), [c, k, per] {
      for (int i = 0; i < per; ++i) c.send(k * per + i);
      c.close();
    }));
  }
  recv_chan<int> all = gopp::merge(std::move(ins));
  std::vector<int> last(inputs, -1);
  std::vector<int> got;
  for (int v : all) {
    const int k = v / per;
    EXPECT_GT(v, last[static_cast<std::size_t>(k)]) << "input " << k << " out of order";
    last[static_cast<std::size_t>(k)] = v;
    got.push_back(v);
  }
  for (auto& p : producers) p.join();
  std::sort(got.begin(), got.end());
  ASSERT_EQ(got.size(), static_cast<std::size_t>(inputs * per)) << "values lost or duplicated";
  for (int i = 0; i < inputs * per; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(all.recv(), std::nullopt);
}

TEST_P(Merge, StaysOpenWhileAnyInputIsOpen) {
  chan<int> a, b, c;
  recv_chan<int> all = gopp::merge(a, recv_chan<int>(b), c);
  auto finished = std::make_shared<std::atomic<bool>>(false);
  auto count = std::make_shared<std::atomic<int>>(0);
  auto consumer = start(GetParam(), [all, finished, count] {
    for (int v : all) count->fetch_add(v);
    finished->store(true);
  });
  a.send(1);
  a.close();
  c.send(2);
  c.close();
  settle();
  EXPECT_FALSE(finished->load()) << "closed while b was open";
  b.send(4);
  b.close();
  consumer.join();
  EXPECT_TRUE(finished->load());
  EXPECT_EQ(count->load(), 7);
}

TEST_P(Merge, ManyInputs) {
  const int inputs = static_cast<int>(scaled_goroutines(1000, 20));
  std::vector<recv_chan<int>> ins;
  std::vector<chan<int>> outs;
  for (int k = 0; k < inputs; ++k) {
    chan<int> c(1);
    ins.push_back(c);
    outs.push_back(c);
  }
  recv_chan<int> all = gopp::merge(std::move(ins));
  auto producer = start(GetParam(), [outs] {
    for (std::size_t k = 0; k < outs.size(); ++k) {
      outs[k].send(static_cast<int>(k));
      outs[k].close();
    }
  });
  long sum = 0;
  int n = 0;
  for (int v : all) {
    sum += v;
    ++n;
  }
  producer.join();
  EXPECT_EQ(n, inputs);
  EXPECT_EQ(sum, static_cast<long>(inputs) * (inputs - 1) / 2);
}

GOPP_INSTANTIATE_SIDES(Merge);

class MergeBasics : public leak_checked {};

TEST_F(MergeBasics, NoInputsGivesAClosedChannel) {
  recv_chan<int> all = gopp::merge(std::vector<recv_chan<int>>{});
  EXPECT_EQ(all.recv(), std::nullopt);
}

TEST_F(MergeBasics, OneInputIsForwarded) {
  chan<int> a(3);
  a.send(1);
  a.send(2);
  a.close();
  recv_chan<int> all = gopp::merge(a);
  EXPECT_EQ(all.recv(), 1);
  EXPECT_EQ(all.recv(), 2);
  EXPECT_EQ(all.recv(), std::nullopt);
}

TEST_F(MergeBasics, MoveOnlyValuesAreMovedThrough) {
  chan<std::unique_ptr<int>> a(1), b(1);
  recv_chan<std::unique_ptr<int>> all = gopp::merge(a, b);
  a.send(std::make_unique<int>(1));
  b.send(std::make_unique<int>(2));
  a.close();
  b.close();
  int sum = 0;
  for (std::unique_ptr<int> p : all) sum += *p;
  EXPECT_EQ(sum, 3);
}

TEST_F(MergeBasics, ANilInputKeepsTheResultOpen) {
  chan<int> a(1);
  recv_chan<int> all = gopp::merge(a, chan<int>(nullptr));
  a.send(1);
  a.close();
  EXPECT_EQ(all.recv(), 1);
  settle();
  EXPECT_EQ(all.try_recv(), std::nullopt);
  EXPECT_FALSE(gopp::select(gopp::recv_case(all), gopp::default_case()) == 0)
      << "the result closed although an input (nil) never will";
  expect_stranded(1);  // the nil input's forwarder, as in Go
}

}  // namespace
